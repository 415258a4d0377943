"""authors (the status moderators set), their notes, author events in the webhook outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:12:00.000000
"""

import sqlalchemy as sa
from alembic import op

import moderation.db.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "suspended_until", moderation.db.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_reason_code", sa.String(length=100), nullable=True),
        sa.Column("status_set_by", sa.String(length=200), nullable=True),
        sa.Column("status_set_at", moderation.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "author_notes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("author_id", sa.String(length=200), nullable=False),
        sa.Column("moderator", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("author_notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_author_notes_author_created", ["author_id", "created_at"], unique=False
        )

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.String(length=200), nullable=True))
        batch_op.alter_column("comment_id", existing_type=sa.String(length=200), nullable=True)
        batch_op.create_index("ix_webhook_deliveries_author", ["author_id"], unique=False)


def downgrade() -> None:
    # Author events have no comment: they go with the column that allowed them.
    op.execute("DELETE FROM webhook_deliveries WHERE comment_id IS NULL")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_author")
        batch_op.alter_column("comment_id", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_column("author_id")

    with op.batch_alter_table("author_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_author_notes_author_created")

    op.drop_table("author_notes")
    op.drop_table("authors")
