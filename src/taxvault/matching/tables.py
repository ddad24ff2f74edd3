"""The matching domain's tables: agreements, imported partner data, runs, leads and their history.

Why these shapes:

- ``matching_agreements`` is the written matching agreement the law requires before
  any comparison (Computer Matching and Privacy Protection Act, 5 USC 552a(o)): who
  the partner is, why, under which authority, which data elements on each side, when
  it starts and ends, when what it produced is destroyed, and who (a second person)
  approved it. The store itself refuses self-approval, an end before the start, a
  destruction before the end and a second renewal.
- ``matching_partner_rows`` never holds a partner's raw values: the record id is a
  keyed token and the payload (keyed encodings of the quasi-identifiers plus the
  program's fields) is sealed with AES-GCM under the agreement's key. Destroying the
  key (crypto-shredding) makes every copy of these rows unreadable, backups included.
- ``matching_leads`` are leads, not verdicts: a state machine with its history in
  ``matching_lead_events``. The store refuses a notice before a person verified the
  lead and an adverse closing without a notice. What the partner said about the
  person (``evidence``) is sealed under the agreement's key like the partner rows,
  so it is shredded with them; what the agency itself holds (``agency_facts``) stays.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

AGREEMENT_STATES = ("draft", "approved", "revoked", "destroyed")
LEAD_STATES = ("new", "verified", "notified", "contested", "closed")
LEAD_OUTCOMES = ("adverse_action", "no_action", "not_a_match")


def _principal(name: str, nullable: bool) -> sa.Column[str]:
    return sa.Column(name, sa.String(40), sa.ForeignKey("principals.id"), nullable=nullable)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


matching_agreements = sa.Table(
    "matching_agreements",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True, index=True),
    _principal("partner_id", nullable=False),
    sa.Column("program", sa.String(24), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("legal_authority", sa.String(300), nullable=False),
    sa.Column("agency_fields", sa.JSON, nullable=False),
    sa.Column("partner_fields", sa.JSON, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("original_ends_on", sa.Date, nullable=False),
    sa.Column("renewals", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("destroy_on", sa.Date, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    _principal("created_by", nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    _principal("approver_id", nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    _principal("renewed_by", nullable=True),
    sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
    _principal("revoked_by", nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    _principal("destroyed_by", nullable=True),
    sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("destroyed_rows", sa.BigInteger, nullable=True),
    sa.CheckConstraint(_in("state", AGREEMENT_STATES), name="state"),
    sa.CheckConstraint("approver_id IS NULL OR approver_id <> created_by", name="second_person"),
    sa.CheckConstraint("renewed_by IS NULL OR renewed_by <> created_by", name="second_person_renewal"),
    sa.CheckConstraint("state <> 'approved' OR approver_id IS NOT NULL", name="approved"),
    sa.CheckConstraint("ends_on > starts_on", name="ends_after_start"),
    sa.CheckConstraint("ends_on >= original_ends_on", name="renewal_extends"),
    sa.CheckConstraint("destroy_on >= ends_on", name="destroyed_after_end"),
    sa.CheckConstraint("renewals IN (0, 1)", name="one_renewal"),
    sa.CheckConstraint("threshold > 0 AND threshold < 1", name="threshold"),
    sa.Index(None, "partner_id"),
    sa.Index(None, "state", "destroy_on"),
)

matching_imports = sa.Table(
    "matching_imports",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True, index=True),
    sa.Column("agreement_id", Id, sa.ForeignKey("matching_agreements.id"), nullable=False),
    _principal("imported_by", nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("file_format", sa.String(8), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("rejected", sa.BigInteger, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("encoded_schema", sa.LargeBinary, nullable=False),
    sa.CheckConstraint("file_format IN ('csv', 'parquet')", name="file_format"),
    sa.Index(None, "agreement_id", "content_hash", unique=True),
)

matching_partner_rows = sa.Table(
    "matching_partner_rows",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("agreement_id", Id, sa.ForeignKey("matching_agreements.id"), nullable=False),
    sa.Column("import_id", Id, sa.ForeignKey("matching_imports.id"), nullable=False),
    sa.Column("record_token", sa.String(64), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Index(None, "agreement_id", "record_token"),
    sa.Index(None, "import_id"),
)

matching_runs = sa.Table(
    "matching_runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True, index=True),
    sa.Column("agreement_id", Id, sa.ForeignKey("matching_agreements.id"), nullable=False),
    sa.Column("program", sa.String(24), nullable=False),
    _principal("run_by", nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("fields_read", sa.JSON, nullable=False),
    sa.Column("agency_rows", sa.BigInteger, nullable=False),
    sa.Column("partner_records", sa.BigInteger, nullable=False),
    sa.Column("pairs_compared", sa.BigInteger, nullable=False),
    sa.Column("matched", sa.BigInteger, nullable=False),
    sa.Column("leads_new", sa.BigInteger, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Index(None, "agreement_id", "started_at"),
)

matching_leads = sa.Table(
    "matching_leads",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True, index=True),
    sa.Column("agreement_id", Id, sa.ForeignKey("matching_agreements.id"), nullable=False),
    sa.Column("run_id", Id, sa.ForeignKey("matching_runs.id"), nullable=False),
    sa.Column("program", sa.String(24), nullable=False),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("partner_token", sa.String(64), nullable=False),
    sa.Column("finding_key", sa.String(64), nullable=False),
    sa.Column("tax_year", sa.SmallInteger, nullable=True),
    sa.Column("match_probability", sa.Float, nullable=False),
    sa.Column("contributions", sa.JSON, nullable=False),
    sa.Column("agency_facts", sa.JSON, nullable=False),
    sa.Column("evidence", sa.LargeBinary, nullable=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=True),
    _principal("verified_by", nullable=True),
    sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("contested_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(_in("state", LEAD_STATES), name="state"),
    sa.CheckConstraint("outcome IS NULL OR " + _in("outcome", LEAD_OUTCOMES), name="outcome"),
    sa.CheckConstraint("(state = 'closed') = (outcome IS NOT NULL)", name="closed_with_outcome"),
    sa.CheckConstraint(
        "state NOT IN ('verified', 'notified', 'contested') OR verified_by IS NOT NULL", name="verified_by_a_person"
    ),
    sa.CheckConstraint("state NOT IN ('notified', 'contested') OR notified_at IS NOT NULL", name="notified"),
    sa.CheckConstraint(
        "outcome IS NULL OR outcome <> 'adverse_action' OR notified_at IS NOT NULL", name="notice_first"
    ),
    sa.CheckConstraint("match_probability >= 0 AND match_probability <= 1", name="probability"),
    sa.Index(None, "agreement_id", "entity_id", "finding_key", unique=True),
    sa.Index(None, "agreement_id", "state"),
    sa.Index(None, "entity_id"),
    sa.Index(None, "state", "created_at"),
)

matching_lead_events = sa.Table(
    "matching_lead_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("lead_id", Id, sa.ForeignKey("matching_leads.id"), nullable=False),
    sa.Column("from_state", sa.String(10), nullable=True),
    sa.Column("to_state", sa.String(10), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=True),
    _principal("actor", nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.String(1000), nullable=True),
    sa.Index(None, "lead_id", "at"),
)

MATCHING_TABLES: tuple[sa.Table, ...] = (
    matching_agreements,
    matching_imports,
    matching_partner_rows,
    matching_runs,
    matching_leads,
    matching_lead_events,
)
"""Parents first."""
