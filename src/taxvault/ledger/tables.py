"""The ledger's tables: the unpostable queue, adjustments, and posting-cycle runs.

Why a queue: a transaction that breaks a posting rule must not post, and must
not be lost either. It waits in ``ledger_unpostables`` with the rule it broke
(``unpostable_code``, ``reason``) and every field it was submitted with, so it
can be corrected and re-submitted; ``status`` moves from ``open`` to
``resolved`` (``resolution``: reposted or voided, by whom, when). It is written
in the caller's transaction, so posted + unpostable = submitted holds whatever
happens to that transaction.

Why adjustments are their own rows: an employee's adjustment is a request
first. Within her dollar authority it is ``pending`` until the next posting
cycle posts it; above it, it is ``awaiting_approval`` until a manager, a second
person, approves (``pending``) or rejects it. The store itself refuses a
decision by the requester (CHECK ``second_person``), whatever the code above it
does.
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
    sa.Column("resolution", sa.String(16), nullable=True),
    sa.Column("resolved_by", sa.String(40), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_transaction_id", Id, nullable=True),
    sa.CheckConstraint("status IN ('open', 'resolved')", name="status"),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('reposted', 'voided')", name="resolution"),
    sa.Index(None, "module_id", "status"),
    sa.Index(None, "status", "created_at"),
)

ADJUSTMENT_STATES = ("awaiting_approval", "pending", "posted", "unpostable", "rejected")

ledger_adjustments = sa.Table(
    "ledger_adjustments",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True, index=True),
    sa.Column("module_id", Id, sa.ForeignKey("tax_modules.id"), nullable=False),
    sa.Column("tc", sa.SmallInteger, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("reason_code", sa.SmallInteger, nullable=True),
    sa.Column("requested_by", sa.String(40), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("within_authority", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("decided_by", sa.String(40), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision_note", sa.String(200), nullable=True),
    sa.Column("transaction_id", Id, nullable=True),
    sa.Column("unpostable_id", Id, nullable=True),
    sa.Column("posted_on", sa.Date, nullable=True),
    sa.CheckConstraint("state IN ('" + "', '".join(ADJUSTMENT_STATES) + "')", name="state"),
    sa.CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="second_person"),
    sa.Index(None, "state", "module_id"),
    sa.Index(None, "module_id"),
)

cycle_runs = sa.Table(
    "cycle_runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_date", sa.Date, nullable=False),
    sa.Column("principal_id", sa.String(40), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("posted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unpostable", sa.Integer, nullable=False, server_default="0"),
    sa.Column("notices", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "run_date"),
)
