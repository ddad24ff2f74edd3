"""The ledger's table: the unpostable queue.

Why a table: a transaction that breaks a posting rule must not post, and must
not be lost either. It waits here with the rule it broke (``unpostable_code``,
``reason``) and every field it was submitted with, so it can be corrected and
re-submitted; ``status`` moves from ``open`` to ``resolved`` when it is. It is
written in the caller's transaction, so posted + unpostable = submitted holds
whatever happens to that transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

ledger_unpostables = sa.Table(
    "ledger_unpostables",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("module_id", Id, sa.ForeignKey("tax_modules.id"), nullable=False),
    sa.Column("tc", sa.SmallInteger, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("posted_date", sa.Date, nullable=False),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("dln", sa.String(14), nullable=False),
    sa.Column("reason_code", sa.SmallInteger, nullable=True),
    sa.Column("reverses_id", Id, nullable=True),
    sa.Column("posted_by", sa.String(40), nullable=False),
    sa.Column("unpostable_code", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("source_id", Id, sa.ForeignKey("sources.id"), nullable=False),
    sa.Column("source_record", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'resolved')", name="status"),
    sa.Index(None, "module_id", "status"),
    sa.Index(None, "status", "created_at"),
)
