"""The canonical model's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Every row carries an internal integer key (joins, bulk loads) and, where the API
will name it, an opaque ``ref`` (random, unguessable): URLs and logs carry refs,
never TINs nor sequential keys. Every loaded row also knows its provenance:
``source_id`` (a file by content hash, or a generator and seed) and
``source_record`` (record number in that source).

Money columns are ``*_cents`` BIGINT: integer cents, never floating point.
Other domains (audit, ingest, ...) add their own tables to the same ``metadata``.
"""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only aliases the rowid (fast inserts, autoincrement) for INTEGER PRIMARY KEY.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _pk() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _ref() -> sa.Column[str]:
    # A unique index rather than a constraint: bulk loads into an empty store drop
    # and rebuild indexes (sorted builds beat random inserts by far).
    return sa.Column("ref", sa.String(32), nullable=False, unique=True, index=True)


_Item = TypeVar("_Item", sa.Index, sa.ForeignKeyConstraint)


def only_on(dialect: str, item: _Item) -> _Item:
    """Mark an index or key as existing on one store only (created, bulk-rebuilt and checked there).

    The partitioned tables on PostgreSQL (migration 0015, :mod:`taxvault.store.partitions`)
    need their partition key in every unique index and referenced key, which SQLite's
    plain tables do not: those objects differ by store, the rest of the schema is shared.
    """
    item.info["dialects"] = (dialect,)
    return item.ddl_if(dialect=dialect)


def applies_to(item: sa.Index | sa.Constraint, dialect: str) -> bool:
    """True unless ``item`` was marked :func:`only_on` another store."""
    dialects = item.info.get("dialects")
    return dialects is None or dialect in dialects


def _provenance() -> list[sa.Column[int]]:
    return [
        sa.Column("source_id", Id, sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("source_record", sa.BigInteger, nullable=False),
    ]


def _cents(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=nullable, server_default=None if nullable else "0")


sources = sa.Table(
    "sources",
    metadata,
    _pk(),
    sa.Column("kind", sa.String(16), nullable=False),  # file | synth | job (a posting cycle) | api (a request)
    sa.Column("name", sa.String(255), nullable=False),  # file name or generator name
    sa.Column("content_hash", sa.String(64), nullable=True, unique=True),  # sha256 of a file
    sa.Column("generator_version", sa.String(32), nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('file', 'synth', 'job', 'api')", name="kind"),
)

entities = sa.Table(
    "entities",
    metadata,
    _pk(),
    _ref(),
    sa.Column("tin_hash", sa.LargeBinary(32), nullable=False),  # HMAC of the TIN (store/tins.py)
    sa.Column("tin_enc", sa.LargeBinary(64), nullable=False),  # the TIN, AES-GCM under a data key
    sa.Column("tin_last4", sa.String(4), nullable=False),
    sa.Column("tin_type", sa.String(4), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("last_name", sa.String(60), nullable=True),
    sa.Column("first_name", sa.String(60), nullable=True),
    sa.Column("middle_name", sa.String(60), nullable=True),
    sa.Column("business_name", sa.String(120), nullable=True),
    sa.Column("name_control", sa.String(4), nullable=False),
    sa.Column("address_line", sa.String(120), nullable=False),
    sa.Column("city", sa.String(60), nullable=False),
    sa.Column("state", sa.String(2), nullable=False),
    sa.Column("zip", sa.String(10), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=True),
    sa.Column("death_date", sa.Date, nullable=True),
    sa.Column("spouse_id", Id, sa.ForeignKey("entities.id"), nullable=True),
    sa.Column("household_id", sa.BigInteger, nullable=True),
    sa.Column("is_employee", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_restricted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_deceased", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ip_pin_hash", sa.String(128), nullable=True),
    *_provenance(),
    sa.Index(None, "tin_hash", "tin_type", unique=True),
    sa.CheckConstraint("tin_type IN ('SSN', 'ITIN', 'EIN')", name="tin_type"),
    sa.CheckConstraint("kind IN ('individual', 'business', 'exempt_org')", name="kind"),
    sa.Index(None, "household_id"),
    sa.Index(None, "spouse_id"),
    sa.Index(None, "state", "zip", "address_line"),
)

tax_modules = sa.Table(
    "tax_modules",
    metadata,
    _pk(),
    _ref(),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("mft", sa.SmallInteger, nullable=False),
    sa.Column("tax_period", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    *_provenance(),
    sa.Index(None, "entity_id", "mft", "tax_period", unique=True),
)

transactions = sa.Table(
    "transactions",
    metadata,
    _pk(),
    sa.Column("module_id", Id, sa.ForeignKey("tax_modules.id"), nullable=False),
    sa.Column("tc", sa.SmallInteger, nullable=False),
    _cents("amount_cents"),
    sa.Column("posted_date", sa.Date, nullable=False),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("dln", sa.String(14), nullable=False),
    sa.Column("reason_code", sa.SmallInteger, nullable=True),
    sa.Column("reverses_id", Id, nullable=True),
    sa.Column("posted_by", sa.String(40), nullable=False),
    *_provenance(),
    sa.Index(None, "module_id", "posted_date"),
    sa.Index(None, "reverses_id"),
    # PostgreSQL: HASH (module_id) partitions, primary key (id, module_id); a reversal is of its own module.
    only_on("sqlite", sa.ForeignKeyConstraint(["reverses_id"], ["transactions.id"])),
    only_on(
        "postgresql",
        sa.ForeignKeyConstraint(["reverses_id", "module_id"], ["transactions.id", "transactions.module_id"]),
    ),
)

returns = sa.Table(
    "returns",
    metadata,
    _pk(),
    _ref(),
    sa.Column("module_id", Id, sa.ForeignKey("tax_modules.id"), nullable=False),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("spouse_id", Id, sa.ForeignKey("entities.id"), nullable=True),
    sa.Column("tax_year", sa.SmallInteger, nullable=False),
    sa.Column("form", sa.String(8), nullable=False),
    sa.Column("filing_status", sa.String(4), nullable=False),
    sa.Column("dependents", sa.SmallInteger, nullable=False),
    sa.Column("filed_date", sa.Date, nullable=False),
    sa.Column("dln", sa.String(14), nullable=False),
    _cents("wages_cents"),
    _cents("interest_cents"),
    _cents("dividends_cents"),
    _cents("business_income_cents"),
    _cents("retirement_income_cents"),
    _cents("total_income_cents"),
    _cents("agi_cents"),
    _cents("deduction_cents"),
    _cents("taxable_income_cents"),
    _cents("tax_cents"),
    _cents("credits_cents"),
    _cents("total_tax_cents"),
    _cents("withholding_cents"),
    _cents("payments_cents"),
    _cents("refund_cents"),
    _cents("balance_due_cents"),
    sa.Column("bank_routing", sa.String(9), nullable=True),
    sa.Column("bank_account", sa.String(17), nullable=True),
    *_provenance(),
    sa.Index(None, "module_id"),
    sa.Index(None, "entity_id", "tax_year"),
    sa.Index(None, "spouse_id"),
    sa.CheckConstraint("filing_status IN ('S', 'MFJ', 'MFS', 'HOH', 'QSS')", name="filing_status"),
)

information_returns = sa.Table(
    "information_returns",
    metadata,
    _pk(),
    sa.Column("ref", sa.String(32), nullable=False),
    sa.Column("form", sa.String(10), nullable=False),
    sa.Column("tax_year", sa.SmallInteger, nullable=False),
    sa.Column("payer_tin_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("payer_tin_enc", sa.LargeBinary(64), nullable=False),
    sa.Column("payer_tin_last4", sa.String(4), nullable=False),
    sa.Column("payer_tin_type", sa.String(4), nullable=False),
    sa.Column("payee_tin_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("payee_tin_enc", sa.LargeBinary(64), nullable=False),
    sa.Column("payee_tin_last4", sa.String(4), nullable=False),
    sa.Column("payee_tin_type", sa.String(4), nullable=False),
    sa.Column("payer_id", Id, sa.ForeignKey("entities.id"), nullable=True),
    sa.Column("payee_id", Id, sa.ForeignKey("entities.id"), nullable=True),
    sa.Column("payee_name_control", sa.String(4), nullable=True),
    _cents("income_cents"),
    _cents("withholding_cents"),
    sa.Column("boxes", sa.JSON, nullable=False),
    *_provenance(),
    sa.Index(None, "payee_tin_hash", "tax_year"),
    sa.Index(None, "payee_id", "tax_year"),
    sa.Index(None, "payer_tin_hash", "tax_year"),
    sa.Index(None, "payer_id"),
    # PostgreSQL: RANGE (tax_year) partitions, primary key (id, tax_year): ref is unique with its year.
    only_on("sqlite", sa.Index(None, "ref", unique=True)),
    only_on("postgresql", sa.Index(None, "ref", "tax_year", unique=True)),
)

tin_keys = sa.Table(
    "tin_keys",
    metadata,
    # What the store's protected TINs depend on (store/tins.py): the lookup key's
    # fingerprint, and data keys wrapped by the key-encryption key (never a clear key).
    sa.Column("kid", sa.String(16), primary_key=True),
    sa.Column("purpose", sa.String(8), nullable=False),
    sa.Column("wrapped", sa.LargeBinary(64), nullable=True),
    sa.Column("kek_id", sa.String(16), nullable=True),
    sa.Column("uses", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("purpose IN ('lookup', 'data')", name="purpose"),
)

return_dependents = sa.Table(
    "return_dependents",
    metadata,
    sa.Column("return_id", Id, sa.ForeignKey("returns.id"), primary_key=True),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), primary_key=True),
    sa.Column("relationship", sa.String(16), nullable=False),
    sa.Index(None, "entity_id"),
)

principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("display_name", sa.String(120), nullable=False),
    sa.Column("roles", sa.String(200), nullable=False),  # space-separated role names
    sa.Column("unit", sa.String(40), nullable=True),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), nullable=True),
    sa.Column("manager_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("dollar_limit_cents", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(
        "kind IN ('employee', 'contractor', 'analyst', 'oversight', 'partner', 'system', 'taxpayer')",
        name="kind",
    ),
    sa.Index(None, "entity_id"),
    sa.Index(None, "unit"),
    sa.Index(None, "manager_id"),
)

principal_relations = sa.Table(
    "principal_relations",
    metadata,
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), primary_key=True),
    sa.Column("relation", sa.String(16), nullable=False),  # self | spouse | relative | household
    sa.Index(None, "entity_id"),
)

cases = sa.Table(
    "cases",
    metadata,
    _pk(),
    _ref(),
    sa.Column("unit", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("assigned_to", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("opened_at", sa.Date, nullable=False),
    sa.Column("closed_at", sa.Date, nullable=True),
    *_provenance(),
    sa.CheckConstraint("kind IN ('assistance', 'collection', 'examination', 'aur')", name="kind"),
    sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
    sa.Index(None, "assigned_to", "status"),
)

case_subjects = sa.Table(
    "case_subjects",
    metadata,
    sa.Column("case_id", Id, sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("entity_id", Id, sa.ForeignKey("entities.id"), primary_key=True),
    sa.Column("module_id", Id, sa.ForeignKey("tax_modules.id"), nullable=True),
    sa.Index(None, "entity_id"),
    sa.Index(None, "module_id"),
)

grants = sa.Table(
    "grants",
    metadata,
    _pk(),
    _ref(),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("datasets", sa.JSON, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    # NULL while requested (lifecycle: taxvault/oversight/grants.py, migration 0011)
    sa.Column("approver_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("renewals", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("requested_by", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("renewed_by", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_by", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_reason", sa.String(200), nullable=True),
    sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('requested', 'active', 'expired', 'revoked')", name="state"),
    sa.CheckConstraint("approver_id <> principal_id", name="second_person"),
    sa.CheckConstraint("approver_id <> requested_by", name="approver_not_requester"),
    sa.CheckConstraint("renewed_by <> principal_id", name="renewer_not_holder"),
    sa.CheckConstraint("state IN ('requested', 'revoked') OR approver_id IS NOT NULL", name="approved"),
    sa.CheckConstraint("renewals BETWEEN 0 AND 1", name="renewed_once"),
    sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    sa.Index(None, "principal_id", "state"),
    sa.Index(None, "approver_id"),
)

notices = sa.Table(
    "notices",
    metadata,
    _pk(),
    _ref(),
    sa.Column("module_id", Id, sa.ForeignKey("tax_modules.id"), nullable=False),
    sa.Column("notice_type", sa.String(12), nullable=False),
    sa.Column("issued_date", sa.Date, nullable=False),
    _cents("amount_due_cents"),
    _cents("tax_cents"),
    _cents("penalty_cents"),
    _cents("interest_cents"),
    sa.Column("respond_by", sa.Date, nullable=True),
    sa.Column("pdf", sa.LargeBinary, nullable=True),
    *_provenance(),
    sa.Index(None, "module_id", "notice_type", "issued_date", unique=True),
)

CANONICAL_TABLES: tuple[sa.Table, ...] = (
    sources,
    entities,
    tax_modules,
    transactions,
    returns,
    information_returns,
    return_dependents,
    principals,
    principal_relations,
    cases,
    case_subjects,
    grants,
    notices,
)
"""Foundation tables in dependency order (parents first), for stats and bulk loads."""
