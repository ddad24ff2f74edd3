"""oversight scan state: hourly counts per principal, unjustified readers per taxpayer and day

Revision ID: 0013
Revises: 0001
Depends on: 0009 (the audit index the scan reads beside)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("oversight_scan",)
depends_on: str | Sequence[str] | None = ("0009",)


def upgrade() -> None:
    op.create_table(
        "oversight_hourly",
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reads", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refused_lookups", sa.Integer(), server_default="0", nullable=False),
        sa.Column("break_glass", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "hour", name=op.f("pk_oversight_hourly")),
    )
    op.create_index(op.f("ix_oversight_hourly_hour"), "oversight_hourly", ["hour"])
    op.create_table(
        "oversight_subject_readers",
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("first_leaf", sa.BigInteger(), nullable=False),
        sa.Column("last_leaf", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "day", "principal_id", name=op.f("pk_oversight_subject_readers")),
    )
    op.create_index(op.f("ix_oversight_subject_readers_day"), "oversight_subject_readers", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_oversight_subject_readers_day"), table_name="oversight_subject_readers")
    op.drop_table("oversight_subject_readers")
    op.drop_index(op.f("ix_oversight_hourly_hour"), table_name="oversight_hourly")
    op.drop_table("oversight_hourly")
