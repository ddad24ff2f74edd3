"""query: plans proposed to a principal (run by id, exactly as shown)

Revision ID: 0014
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("query",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "query_plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("translator", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_query_plans_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_plans")),
    )
    with op.batch_alter_table("query_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_query_plans_principal_id_created_at"), ["principal_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("query_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_query_plans_principal_id_created_at"))
    op.drop_table("query_plans")
