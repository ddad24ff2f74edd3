"""ledger: adjustments awaiting approval, unpostable resolution, posting-cycle runs

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STATES = "state IN ('awaiting_approval', 'pending', 'posted', 'unpostable', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("ledger_unpostables", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolved_transaction_id", _ID, nullable=True))
        batch_op.create_check_constraint("resolution", "resolution IS NULL OR resolution IN ('reposted', 'voided')")
    op.create_table(
        "ledger_adjustments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("module_id", _ID, nullable=False),
        sa.Column("tc", sa.SmallInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("reason_code", sa.SmallInteger(), nullable=True),
        sa.Column("requested_by", sa.String(length=40), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("within_authority", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=200), nullable=True),
        sa.Column("transaction_id", _ID, nullable=True),
        sa.Column("unpostable_id", _ID, nullable=True),
        sa.Column("posted_on", sa.Date(), nullable=True),
        sa.CheckConstraint(_STATES, name=op.f("ck_ledger_adjustments_state")),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> requested_by", name=op.f("ck_ledger_adjustments_second_person")
        ),
        sa.ForeignKeyConstraint(
            ["module_id"], ["tax_modules.id"], name=op.f("fk_ledger_adjustments_module_id_tax_modules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_adjustments")),
    )
    with op.batch_alter_table("ledger_adjustments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_adjustments_ref"), ["ref"], unique=True)
        batch_op.create_index(batch_op.f("ix_ledger_adjustments_state_module_id"), ["state", "module_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_adjustments_module_id"), ["module_id"], unique=False)
    op.create_table(
        "cycle_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unpostable", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notices", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_runs")),
    )
    with op.batch_alter_table("cycle_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cycle_runs_run_date"), ["run_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cycle_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cycle_runs_run_date"))
    op.drop_table("cycle_runs")
    with op.batch_alter_table("ledger_adjustments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_adjustments_module_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_adjustments_state_module_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_adjustments_ref"))
    op.drop_table("ledger_adjustments")
    with op.batch_alter_table("ledger_unpostables", schema=None) as batch_op:
        batch_op.drop_constraint("ck_ledger_unpostables_resolution", type_="check")
        batch_op.drop_column("resolved_transaction_id")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolution")
