"""The oversight domain's tables: alerts, their review history, UNAX letters.

An alert names what it is about only by opaque refs and principal ids (never a TIN
nor a name) and cites the audit leaves it rests on, so a verifier can prove them.
``dedupe`` makes raising idempotent: a scan that runs twice over the same events, or
resumes after a crash, raises nothing new.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

SEVERITIES = ("low", "medium", "high", "critical")
# "confirming": one reviewer confirmed UNAX, a second, different reviewer must agree (two-person rule).
STATES = ("open", "confirming", "dismissed", "confirmed", "referred")
REVIEW_ACTIONS = ("confirm", "dismiss", "refer")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


oversight_alerts = sa.Table(
    "oversight_alerts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("state", sa.String(12), nullable=False, server_default="open"),
    sa.Column("principal_id", sa.String(64), nullable=True),  # the employee under review (no FK: may be unknown)
    sa.Column("subject", sa.String(32), nullable=True),  # the taxpayer's entity ref
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("leaves", sa.JSON, nullable=False),  # audit leaf indexes the alert rests on
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
    sa.Column("dedupe", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("first_confirmer", sa.String(40), nullable=True),  # set while "confirming"
    sa.CheckConstraint(f"severity IN ({_in(SEVERITIES)})", name="severity"),
    sa.CheckConstraint(f"state IN ({_in(STATES)})", name="state"),
    sa.CheckConstraint("state <> 'confirming' OR first_confirmer IS NOT NULL", name="confirming_has_first"),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "principal_id"),
    sa.Index(None, "rule"),
)

oversight_reviews = sa.Table(
    "oversight_reviews",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("alert_id", Id, sa.ForeignKey("oversight_alerts.id"), nullable=False),
    sa.Column("reviewer_id", sa.String(40), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("from_state", sa.String(12), nullable=False),
    sa.Column("to_state", sa.String(12), nullable=False),
    sa.Column("reason", sa.String(1000), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"action IN ({_in(REVIEW_ACTIONS)})", name="action"),
    sa.Index(None, "alert_id"),
)

oversight_letters = sa.Table(
    "oversight_letters",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("alert_id", Id, sa.ForeignKey("oversight_alerts.id"), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),  # the taxpayer's entity ref
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("pdf", sa.LargeBinary, nullable=False),
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("alert_id", "subject"),  # one letter per taxpayer an alert is about
)

# Where an incremental scan resumes: one row per named cursor (the scan's last leaf and its state).
oversight_cursors = sa.Table(
    "oversight_cursors",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("leaf", sa.BigInteger, nullable=False),
    sa.Column("state", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
