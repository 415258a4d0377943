"""readers' reports of comments, and when reports hid a comment

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:41:49.159599
"""

import sqlalchemy as sa
from alembic import op

import moderation.db.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("comment_id", sa.String(length=200), nullable=False),
        sa.Column("reporter_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column(
            "reconsidered_at", moderation.db.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "comment_id", "reporter_id", name="uq_comment_reports_comment_reporter"
        ),
    )
    with op.batch_alter_table("comment_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_comment_reports_reconsidered_created",
            ["reconsidered_at", "created_at"],
            unique=False,
        )

    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hidden_at", moderation.db.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("hidden_at")

    with op.batch_alter_table("comment_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_comment_reports_reconsidered_created")

    op.drop_table("comment_reports")
