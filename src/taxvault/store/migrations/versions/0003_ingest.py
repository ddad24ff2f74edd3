"""ingest: quarantine of records that failed validation

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("ingest",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_quarantine",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("record_number", sa.BigInteger(), nullable=False),
        sa.Column("record_type", sa.String(length=16), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name=op.f("fk_ingest_quarantine_source_id_sources")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_quarantine")),
    )
    with op.batch_alter_table("ingest_quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingest_quarantine_source_id_record_number"),
            ["source_id", "record_number"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_quarantine_source_id_record_number"))
    op.drop_table("ingest_quarantine")
