"""Response and request bodies of the records API (OpenAPI 3.1 via pydantic).

Masked and full values have the same shape: sensitive fields are strings either way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from taxvault.access.masking import SENSITIVE


class Disclosed(BaseModel):
    """Which fields of this response are masked, and which withheld (null) by the caller's scope."""

    masked: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)


class PageMeta(Disclosed):
    limit: int
    offset: int
    next_offset: int | None = None


class LookupRequest(BaseModel):
    """A TIN look-up: the TIN travels in the body, never in a URL."""

    tin: str = Field(pattern=r"^[0-9]{9}$", description="Nine ASCII digits, no dashes.")
    tin_type: Literal["SSN", "ITIN", "EIN"] | None = None


class LookupResult(Disclosed):
    id: str = Field(description="Opaque taxpayer id for every other route.")
    kind: str


class Taxpayer(Disclosed):
    id: str
    kind: str
    tin_type: str
    tin: str | None = Field(description="Last four unless the purpose needs the full TIN.", json_schema_extra=SENSITIVE)
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    business_name: str | None = None
    name_control: str | None = None
    address_line: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    birth_date: str | None = Field(
        None, description="Year only unless the purpose needs the date.", json_schema_extra=SENSITIVE
    )
    death_date: str | None = None
    is_deceased: bool


class Module(BaseModel):
    id: str
    mft: int
    tax_period: int
    status: str
    balance_cents: int


class ModulePage(PageMeta):
    items: list[Module]


class ModuleHead(BaseModel):
    id: str
    mft: int
    tax_period: int
    status: str


class Transaction(BaseModel):
    tc: int
    amount_cents: int
    posted_date: str
    cycle: int
    dln: str
    reason_code: int | None = None


class TranscriptAccruals(BaseModel):
    """What settles the module on ``as_of``: unpaid tax, IRC 6651 penalties, IRC 6621 interest."""

    as_of: str
    tax_cents: int
    penalty_ftf_cents: int
    penalty_ftp_cents: int
    interest_cents: int
    payoff_cents: int


class Transcript(Disclosed):
    module: ModuleHead
    transactions: list[Transaction]
    balance_cents: int
    accruals: TranscriptAccruals | None = None


class TaxReturn(BaseModel):
    id: str
    module_id: str
    tax_year: int
    form: str
    filing_status: str | None = None
    dependents: int
    filed_date: str
    dln: str
    wages_cents: int | None = None
    interest_cents: int | None = None
    dividends_cents: int | None = None
    business_income_cents: int | None = None
    retirement_income_cents: int | None = None
    total_income_cents: int | None = None
    agi_cents: int | None = None
    deduction_cents: int | None = None
    taxable_income_cents: int | None = None
    tax_cents: int | None = None
    credits_cents: int | None = None
    total_tax_cents: int | None = None
    withholding_cents: int | None = None
    payments_cents: int | None = None
    refund_cents: int | None = None
    balance_due_cents: int | None = None
    bank_routing: str | None = Field(None, json_schema_extra=SENSITIVE)
    bank_account: str | None = Field(None, json_schema_extra=SENSITIVE)


class ReturnPage(PageMeta):
    items: list[TaxReturn]


class InformationReturn(BaseModel):
    id: str
    form: str
    tax_year: int
    payer_tin: str | None = Field(None, json_schema_extra=SENSITIVE)
    payer_tin_type: str
    payee_tin: str | None = Field(None, json_schema_extra=SENSITIVE)
    income_cents: int | None = None
    withholding_cents: int | None = None
    boxes: dict[str, int] | None = None


class InformationReturnPage(PageMeta):
    items: list[InformationReturn]


class CaseSubject(BaseModel):
    taxpayer_id: str
    module_id: str | None = None


class Case(BaseModel):
    id: str
    unit: str
    kind: str
    purpose: str
    status: str
    opened_at: str
    closed_at: str | None = None
    subjects: list[CaseSubject]


class CasePage(PageMeta):
    items: list[Case]
