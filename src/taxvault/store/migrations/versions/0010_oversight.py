"""oversight: alerts, their review history, UNAX letters, scan cursors; a reason on break-glass reviews

Revision ID: 0010
Revises: 0001
Depends on: 0004 (break_glass_reviews)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("oversight",)
depends_on: str | Sequence[str] | None = ("0004",)

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oversight_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=12), server_default="open", nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("leaves", sa.JSON(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedupe", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_confirmer", sa.String(length=40), nullable=True),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')", name=op.f("ck_oversight_alerts_severity")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'confirming', 'dismissed', 'confirmed', 'referred')",
            name=op.f("ck_oversight_alerts_state"),
        ),
        sa.CheckConstraint(
            "state <> 'confirming' OR first_confirmer IS NOT NULL",
            name=op.f("ck_oversight_alerts_confirming_has_first"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_alerts")),
        sa.UniqueConstraint("ref", name=op.f("uq_oversight_alerts_ref")),
        sa.UniqueConstraint("dedupe", name=op.f("uq_oversight_alerts_dedupe")),
    )
    op.create_index(op.f("ix_oversight_alerts_state_created_at"), "oversight_alerts", ["state", "created_at"])
    op.create_index(op.f("ix_oversight_alerts_principal_id"), "oversight_alerts", ["principal_id"])
    op.create_index(op.f("ix_oversight_alerts_rule"), "oversight_alerts", ["rule"])
    op.create_table(
        "oversight_reviews",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("from_state", sa.String(length=12), nullable=False),
        sa.Column("to_state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('confirm', 'dismiss', 'refer')", name=op.f("ck_oversight_reviews_action")),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["oversight_alerts.id"], name=op.f("fk_oversight_reviews_alert_id_oversight_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_reviews")),
    )
    op.create_index(op.f("ix_oversight_reviews_alert_id"), "oversight_reviews", ["alert_id"])
    op.create_table(
        "oversight_letters",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["oversight_alerts.id"], name=op.f("fk_oversight_letters_alert_id_oversight_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_letters")),
        sa.UniqueConstraint("ref", name=op.f("uq_oversight_letters_ref")),
        sa.UniqueConstraint("alert_id", "subject", name=op.f("uq_oversight_letters_alert_id_subject")),
    )
    op.create_table(
        "oversight_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("leaf", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_oversight_cursors")),
    )
    with op.batch_alter_table("break_glass_reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("break_glass_reviews", schema=None) as batch_op:
        batch_op.drop_column("reason")
    op.drop_table("oversight_cursors")
    op.drop_table("oversight_letters")
    op.drop_index(op.f("ix_oversight_reviews_alert_id"), table_name="oversight_reviews")
    op.drop_table("oversight_reviews")
    op.drop_index(op.f("ix_oversight_alerts_rule"), table_name="oversight_alerts")
    op.drop_index(op.f("ix_oversight_alerts_principal_id"), table_name="oversight_alerts")
    op.drop_index(op.f("ix_oversight_alerts_state_created_at"), table_name="oversight_alerts")
    op.drop_table("oversight_alerts")
