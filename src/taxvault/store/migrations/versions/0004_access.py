"""access: break-glass review queue

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("access",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "break_glass_reviews",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("justification", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'upheld', 'referred')", name=op.f("ck_break_glass_reviews_state")),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_break_glass_reviews_principal_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["principals.id"], name=op.f("fk_break_glass_reviews_reviewer_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_reviews")),
    )
    op.create_index(op.f("ix_break_glass_reviews_state_created_at"), "break_glass_reviews", ["state", "created_at"])
    op.create_index(op.f("ix_break_glass_reviews_principal_id"), "break_glass_reviews", ["principal_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_break_glass_reviews_principal_id"), table_name="break_glass_reviews")
    op.drop_index(op.f("ix_break_glass_reviews_state_created_at"), table_name="break_glass_reviews")
    op.drop_table("break_glass_reviews")
