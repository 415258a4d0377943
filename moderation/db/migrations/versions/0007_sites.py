"""sites: every row belongs to a site; comment, article and author ids are unique per site

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00.000000

Everything stored before belongs to the ``default`` site afterwards (each ``site_id`` is
filled with it), so a single-site database keeps every comment, decision, review, delivery
and audit row, and its API keys (given without a site) keep working on them.

The primary keys of articles, comments, authors and the rows keyed by a comment or an
article gain the site in front, and the foreign keys to them follow. PostgreSQL alters the
tables in place (the old foreign keys go first, so that the old primary keys can go);
SQLite rebuilds them (batch mode), with its foreign keys switched off around the migration
by ``moderation.db.migrate.upgrade``, which checks them all before it commits.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import moderation.db.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEFAULT_SITE = "default"

# Names for SQLite's unnamed constraints (batch mode reflects them under these names).
NAMING = {
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KEYED_BY_COMMENT = ["scores", "decisions", "comment_reports", "review_claims", "webhook_deliveries"]
OTHER_SCOPED = ["author_notes", "audit_log", "perspective_requests", "perspective_suggestions"]
NEW_PRIMARY_KEYS = {
    "articles": ["site_id", "id"],
    "article_features": ["site_id", "article_id", "scorer"],
    "comments": ["site_id", "id"],
    "scores": ["site_id", "comment_id", "name"],
    "authors": ["site_id", "id"],
    "review_claims": ["site_id", "comment_id"],
}
# Indexes whose columns gain the site: name -> (table, old columns, new columns).
REINDEXED = {
    "ix_comments_author_created": ("comments", ["author_id", "created_at"],
                                   ["site_id", "author_id", "created_at"]),
    "ix_comments_article": ("comments", ["article_id"], ["site_id", "article_id"]),
    "ix_decisions_comment": ("decisions", ["comment_id"], ["site_id", "comment_id"]),
    "ix_author_notes_author_created": ("author_notes", ["author_id", "created_at"],
                                       ["site_id", "author_id", "created_at"]),
    "ix_audit_subject": ("audit_log", ["subject_type", "subject_id"],
                         ["site_id", "subject_type", "subject_id"]),
    "ix_webhook_deliveries_comment": ("webhook_deliveries", ["comment_id"],
                                      ["site_id", "comment_id"]),
    "ix_webhook_deliveries_author": ("webhook_deliveries", ["author_id"],
                                     ["site_id", "author_id"]),
}  # fmt: skip
REPORTS_UNIQUE = "uq_comment_reports_comment_reporter"


def _fk_name(table: str, column: str, referred: str) -> str:
    """The name of ``table``'s foreign key from ``column`` to ``referred`` (PostgreSQL's own
    name, or the name batch mode gives SQLite's unnamed one)."""
    for fk in sa.inspect(op.get_bind()).get_foreign_keys(table):
        if fk["constrained_columns"] == [column] and fk["referred_table"] == referred:
            return str(fk["name"] or f"fk_{table}_{column}_{referred}")
    raise RuntimeError(f"{table} has no foreign key from {column} to {referred}")


def _pk_name(table: str) -> str:
    return str(sa.inspect(op.get_bind()).get_pk_constraint(table)["name"] or f"pk_{table}")


def _site_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("site_id", sa.String(length=64), nullable=False, server_default=DEFAULT_SITE)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rules_path", sa.Text(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("community_ids", sa.JSON(), nullable=False),
        sa.Column("requests_per_second", sa.Float(), nullable=True),
        sa.Column("burst", sa.Integer(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sites = sa.table(
        "sites",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("community_ids", sa.JSON),
        sa.column("created_at", moderation.db.models.UTCDateTime(timezone=True)),
    )
    op.bulk_insert(
        sites,
        [{"id": DEFAULT_SITE, "name": "Default site", "community_ids": [],
          "created_at": moderation.db.models.utcnow()}],
    )  # fmt: skip
    op.create_table(
        "api_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("requests_per_second", sa.Float(), nullable=True),
        sa.Column("burst", sa.Integer(), nullable=True),
        sa.Column("created_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", moderation.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )

    # The old foreign keys to comments and articles go first: their primary keys change.
    old_fks = [(t, "comment_id", "comments") for t in KEYED_BY_COMMENT]
    old_fks += [
        ("comments", "article_id", "articles"),
        ("article_features", "article_id", "articles"),
    ]
    old_fk_names = {(t, c): _fk_name(t, c, r) for t, c, r in old_fks}
    old_pk_names = {t: _pk_name(t) for t in NEW_PRIMARY_KEYS}
    if not sqlite:
        for (table, _), name in old_fk_names.items():
            op.drop_constraint(name, table, type_="foreignkey")

    tables = ["articles", "article_features", "comments", "authors", *KEYED_BY_COMMENT]
    for table in [*tables, *OTHER_SCOPED]:
        with op.batch_alter_table(
            table, recreate="always" if sqlite else "auto", naming_convention=NAMING
        ) as batch:
            batch.add_column(_site_column())
            if table == "comments":
                batch.add_column(
                    sa.Column(
                        "text_erased_at",
                        moderation.db.models.UTCDateTime(timezone=True),
                        nullable=True,
                    )
                )
            if sqlite:
                for (fk_table, _), name in old_fk_names.items():
                    if fk_table == table:
                        batch.drop_constraint(name, type_="foreignkey")
            if table in NEW_PRIMARY_KEYS:
                batch.drop_constraint(old_pk_names[table], type_="primary")
                batch.create_primary_key(f"pk_{table}", NEW_PRIMARY_KEYS[table])
            for index, (index_table, _old, new) in REINDEXED.items():
                if index_table == table:
                    batch.drop_index(index)
                    batch.create_index(index, new, unique=False)
            if table == "comments":
                batch.create_index(
                    "ix_comments_site_status_received", ["site_id", "status", "received_at"]
                )
            if table == "comment_reports":
                batch.drop_constraint(REPORTS_UNIQUE, type_="unique")
                batch.create_unique_constraint(
                    REPORTS_UNIQUE, ["site_id", "comment_id", "reporter_id"]
                )
            batch.create_foreign_key(f"fk_{table}_site_id_sites", "sites", ["site_id"], ["id"])
            _parent_keys(batch, table)


def _parent_keys(batch: object, table: str) -> None:
    """The foreign keys to the (site, id) of the comment or article a row belongs to."""
    create = batch.create_foreign_key  # type: ignore[attr-defined]
    if table in KEYED_BY_COMMENT:
        create(
            f"fk_{table}_site_id_comments",
            "comments",
            ["site_id", "comment_id"],
            ["site_id", "id"],
            ondelete="CASCADE",
        )
    elif table == "comments":
        create("fk_comments_site_id_articles", "articles", ["site_id", "article_id"],
               ["site_id", "id"])  # fmt: skip
    elif table == "article_features":
        create(
            "fk_article_features_site_id_articles",
            "articles",
            ["site_id", "article_id"],
            ["site_id", "id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    others = [
        table
        for table in ["articles", "comments", "authors", "audit_log", "perspective_requests",
                      "perspective_suggestions"]
        if bind.execute(
            sa.text(f"SELECT 1 FROM {table} WHERE site_id <> :site LIMIT 1"), {"site": DEFAULT_SITE}
        ).first()
    ]  # fmt: skip
    if others:
        raise RuntimeError(
            "cannot go below revision 0007: rows of sites other than 'default' in "
            + ", ".join(others)
            + " (ids are unique per site only; erase or export those sites first)"
        )
    new_fks = {t: f"fk_{t}_site_id_comments" for t in KEYED_BY_COMMENT}
    new_fks |= {"comments": "fk_comments_site_id_articles",
                "article_features": "fk_article_features_site_id_articles"}  # fmt: skip
    tables = ["articles", "article_features", "comments", "authors", *KEYED_BY_COMMENT]
    if not sqlite:
        for table, name in new_fks.items():
            op.drop_constraint(name, table, type_="foreignkey")
    for table in [*KEYED_BY_COMMENT, "article_features", "comments", *OTHER_SCOPED, "authors",
                  "articles"][::-1]:  # fmt: skip
        with op.batch_alter_table(
            table, recreate="always" if sqlite else "auto", naming_convention=NAMING
        ) as batch:
            if sqlite and table in new_fks:
                batch.drop_constraint(new_fks[table], type_="foreignkey")
            batch.drop_constraint(f"fk_{table}_site_id_sites", type_="foreignkey")
            for index, (index_table, old, _new) in REINDEXED.items():
                if index_table == table:
                    batch.drop_index(index)
                    batch.create_index(index, old, unique=False)
            if table == "comments":
                batch.drop_index("ix_comments_site_status_received")
                batch.drop_column("text_erased_at")
            if table == "comment_reports":
                batch.drop_constraint(REPORTS_UNIQUE, type_="unique")
                batch.create_unique_constraint(REPORTS_UNIQUE, ["comment_id", "reporter_id"])
            if table in NEW_PRIMARY_KEYS:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                old_key: Sequence[str] = [c for c in NEW_PRIMARY_KEYS[table] if c != "site_id"]
                batch.create_primary_key(f"{table}_pkey", list(old_key))
            batch.drop_column("site_id")
    # The single-column foreign keys of revision 0006, in dependency order.
    for table in tables:
        if table in KEYED_BY_COMMENT:
            _old_fk(table, "comment_id", "comments", "CASCADE", sqlite)
        elif table == "comments":
            _old_fk(table, "article_id", "articles", None, sqlite)
        elif table == "article_features":
            _old_fk(table, "article_id", "articles", "CASCADE", sqlite)
    op.drop_table("api_keys")
    op.drop_table("sites")


def _old_fk(table: str, column: str, referred: str, ondelete: str | None, sqlite: bool) -> None:
    with op.batch_alter_table(
        table, recreate="always" if sqlite else "auto", naming_convention=NAMING
    ) as batch:
        batch.create_foreign_key(
            f"{table}_{column}_fkey", referred, [column], ["id"], ondelete=ondelete
        )
