"""ledger: the unpostable queue

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("ledger",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_unpostables",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("module_id", _ID, nullable=False),
        sa.Column("tc", sa.SmallInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("posted_date", sa.Date(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("dln", sa.String(length=14), nullable=False),
        sa.Column("reason_code", sa.SmallInteger(), nullable=True),
        sa.Column("reverses_id", _ID, nullable=True),
        sa.Column("posted_by", sa.String(length=40), nullable=False),
        sa.Column("unpostable_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("source_record", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_ledger_unpostables_status")),
        sa.ForeignKeyConstraint(
            ["module_id"], ["tax_modules.id"], name=op.f("fk_ledger_unpostables_module_id_tax_modules")
        ),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name=op.f("fk_ledger_unpostables_source_id_sources")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_unpostables")),
    )
    with op.batch_alter_table("ledger_unpostables", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_unpostables_module_id_status"), ["module_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_unpostables_status_created_at"), ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_unpostables", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_unpostables_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_ledger_unpostables_module_id_status"))
    op.drop_table("ledger_unpostables")
