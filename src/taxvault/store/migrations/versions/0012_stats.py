"""stats: each analyst's differential-privacy budget and the charges against it

Revision ID: 0012
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("stats",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stats_budgets",
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("epsilon_limit_micro", sa.BigInteger(), nullable=False),
        sa.Column("epsilon_spent_micro", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("delta_limit_pico", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("delta_spent_pico", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "epsilon_spent_micro <= epsilon_limit_micro", name=op.f("ck_stats_budgets_epsilon_within_limit")
        ),
        sa.CheckConstraint("delta_spent_pico <= delta_limit_pico", name=op.f("ck_stats_budgets_delta_within_limit")),
        sa.CheckConstraint(
            "epsilon_spent_micro >= 0 AND delta_spent_pico >= 0", name=op.f("ck_stats_budgets_spent_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_stats_budgets_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("principal_id", name=op.f("pk_stats_budgets")),
    )
    op.create_table(
        "stats_charges",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("shape_hash", sa.String(length=64), nullable=False),
        sa.Column("mechanism", sa.String(length=12), nullable=False),
        sa.Column("epsilon_micro", sa.BigInteger(), nullable=False),
        sa.Column("delta_pico", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mechanism IN ('laplace', 'gaussian')", name=op.f("ck_stats_charges_mechanism")),
        sa.CheckConstraint("epsilon_micro > 0 AND delta_pico >= 0", name=op.f("ck_stats_charges_positive")),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_stats_charges_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_charges")),
    )
    with op.batch_alter_table("stats_charges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stats_charges_principal_id_charged_at"), ["principal_id", "charged_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stats_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stats_charges_principal_id_charged_at"))
    op.drop_table("stats_charges")
    op.drop_table("stats_budgets")
