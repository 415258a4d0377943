"""analyze requests kept (doNotStore false) and suggested scores of the Perspective API

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:50:49.834513
"""

import sqlalchemy as sa
from alembic import op

import moderation.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "perspective_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_name", sa.String(length=200), nullable=False),
        sa.Column("community_id", sa.String(length=500), nullable=True),
        sa.Column("session_id", sa.String(length=500), nullable=True),
        sa.Column("client_token", sa.String(length=500), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_type", sa.String(length=32), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("detected_languages", sa.JSON(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("attribute_scores", sa.JSON(), nullable=False),
        sa.Column("rules_version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("perspective_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_perspective_requests_community_received",
            ["community_id", "received_at"],
            unique=False,
        )

    op.create_table(
        "perspective_suggestions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", moderation.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_name", sa.String(length=200), nullable=False),
        sa.Column("community_id", sa.String(length=500), nullable=True),
        sa.Column("client_token", sa.String(length=500), nullable=True),
        sa.Column("session_id", sa.String(length=500), nullable=True),
        sa.Column("attribute", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("perspective_suggestions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_perspective_suggestions_attribute", ["attribute", "id"], unique=False
        )
        batch_op.create_index(
            "ix_perspective_suggestions_community_attribute",
            ["community_id", "attribute", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("perspective_suggestions", schema=None) as batch_op:
        batch_op.drop_index("ix_perspective_suggestions_community_attribute")
        batch_op.drop_index("ix_perspective_suggestions_attribute")

    op.drop_table("perspective_suggestions")
    with op.batch_alter_table("perspective_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_perspective_requests_community_received")

    op.drop_table("perspective_requests")
