"""Canonical record types: the shape every source is translated into.

These are plain typed records for small data (one taxpayer on screen, one
posting). Bulk paths (synth, ingest) move the same fields as columns, not as one
object per row. Field names match the store's columns; money is integer cents.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from taxvault.model.values import DLN, TIN, InvalidValue, NameControl, TaxPeriod


class EntityKind(StrEnum):
    INDIVIDUAL = "individual"
    BUSINESS = "business"
    EXEMPT_ORG = "exempt_org"


class FilingStatus(StrEnum):
    SINGLE = "S"
    MARRIED_JOINT = "MFJ"
    MARRIED_SEPARATE = "MFS"
    HEAD_OF_HOUSEHOLD = "HOH"
    QUALIFYING_SURVIVING_SPOUSE = "QSS"


class MFT(IntEnum):
    """Master File Tax account code: which form a module is for (Document 6209 section 2)."""

    FORM_1040 = 30
    FORM_941 = 1
    FORM_1120 = 2
    FORM_990 = 67


class CaseKind(StrEnum):
    ASSISTANCE = "assistance"
    COLLECTION = "collection"
    EXAMINATION = "examination"
    AUR = "aur"


class PrincipalKind(StrEnum):
    EMPLOYEE = "employee"
    CONTRACTOR = "contractor"
    ANALYST = "analyst"
    OVERSIGHT = "oversight"
    PARTNER = "partner"
    SYSTEM = "system"
    TAXPAYER = "taxpayer"


class GrantState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class InformationReturnForm(StrEnum):
    W2 = "W-2"
    NEC = "1099-NEC"
    INT = "1099-INT"
    DIV = "1099-DIV"
    MISC = "1099-MISC"
    R = "1099-R"
    G = "1099-G"
    B = "1099-B"


@dataclass(frozen=True, slots=True)
class Address:
    line: str
    city: str
    state: str
    zip: str


@dataclass(frozen=True, slots=True)
class Entity:
    """A taxpayer: an individual, a business or an exempt organisation."""

    ref: str
    tin: TIN
    kind: EntityKind
    name_control: NameControl
    address: Address
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    business_name: str | None = None
    birth_date: dt.date | None = None
    death_date: dt.date | None = None
    spouse_ref: str | None = None
    is_employee: bool = False
    is_restricted: bool = False
    is_deceased: bool = False

    def __post_init__(self) -> None:
        if self.kind is EntityKind.INDIVIDUAL and not self.last_name:
            raise InvalidValue("an individual needs a last name")
        if self.kind is not EntityKind.INDIVIDUAL and not self.business_name:
            raise InvalidValue("a business or exempt organisation needs a name")
        if self.is_deceased != (self.death_date is not None):
            raise InvalidValue("deceased flag and death date disagree")


@dataclass(frozen=True, slots=True)
class TaxModule:
    """An account for one form (MFT) and one tax period of one entity."""

    ref: str
    entity_ref: str
    mft: int
    tax_period: TaxPeriod
    status: str


@dataclass(frozen=True, slots=True)
class Transaction:
    """One posted transaction on a module (transaction codes per IRS Document 6209)."""

    module_ref: str
    tc: int
    amount_cents: int
    posted_date: dt.date
    cycle: int
    dln: DLN
    posted_by: str
    reason_code: int | None = None
    reverses_id: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.tc < 1000:
            raise InvalidValue("transaction code must be 001-999")


@dataclass(frozen=True, slots=True)
class ReturnLines:
    """The 1040 line items taxvault keeps, all in cents."""

    wages_cents: int = 0
    interest_cents: int = 0
    dividends_cents: int = 0
    business_income_cents: int = 0
    retirement_income_cents: int = 0
    total_income_cents: int = 0
    agi_cents: int = 0
    deduction_cents: int = 0
    taxable_income_cents: int = 0
    tax_cents: int = 0
    credits_cents: int = 0
    total_tax_cents: int = 0
    withholding_cents: int = 0
    payments_cents: int = 0
    refund_cents: int = 0
    balance_due_cents: int = 0


@dataclass(frozen=True, slots=True)
class TaxReturn:
    """A filed return posted to a module (TC 150)."""

    ref: str
    module_ref: str
    tax_year: int
    filing_status: FilingStatus
    lines: ReturnLines
    filed_date: dt.date
    dln: DLN
    dependents: int = 0
    bank_routing: str | None = None
    bank_account: str | None = None


@dataclass(frozen=True, slots=True)
class InformationReturn:
    """What a payer reported about a payee (W-2, 1099s)."""

    ref: str
    form: InformationReturnForm
    tax_year: int
    payer_tin: TIN
    payee_tin: TIN
    income_cents: int
    withholding_cents: int
    boxes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Case:
    """Work assigned to an employee; its subjects are what she may need to see."""

    ref: str
    unit: str
    kind: CaseKind
    purpose: str
    assigned_to: str | None
    status: str
    opened_at: dt.date
    subject_refs: tuple[str, ...] = ()
    closed_at: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Anyone or anything that calls taxvault: staff, partner systems, jobs, taxpayers."""

    id: str
    kind: PrincipalKind
    display_name: str
    roles: frozenset[str]
    unit: str | None = None
    entity_ref: str | None = None
    manager_id: str | None = None
    dollar_limit_cents: int = 0
    related_entity_refs: frozenset[str] = frozenset()


MAX_GRANT_DAYS = 120
"""A grant to an engineer or contractor lasts at most 120 days; renewal needs an approver."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Time-boxed access for a principal who otherwise sees no taxpayer data."""

    ref: str
    principal_id: str
    datasets: tuple[str, ...]
    fields: tuple[str, ...]
    purpose: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    approver_id: str
    state: GrantState = GrantState.ACTIVE
    renewals: int = 0

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise InvalidValue("a grant must end after it starts")
        if self.ends_at - self.starts_at > dt.timedelta(days=MAX_GRANT_DAYS):
            raise InvalidValue(f"a grant lasts at most {MAX_GRANT_DAYS} days")
        if self.approver_id == self.principal_id:
            raise InvalidValue("a grant is approved by a second person, never its holder")


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice or letter issued on a module (CP14, CP501, ..., CP2000)."""

    ref: str
    module_ref: str
    notice_type: str
    issued_date: dt.date
    amount_due_cents: int
    tax_cents: int = 0
    penalty_cents: int = 0
    interest_cents: int = 0
    respond_by: dt.date | None = None
