"""Request and response bodies of ``/v1/matching`` (no TIN anywhere: opaque ids and keyed tokens)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taxvault.matching.agreements import Agreement

FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
Program = Literal["death_refunds", "state_wages", "linkage_only"]
LeadState = Literal["new", "verified", "notified", "contested", "closed"]
Outcome = Literal["adverse_action", "no_action", "not_a_match"]


class AgreementDraft(BaseModel):
    """A matching agreement to record as a draft (a second person approves it)."""

    model_config = ConfigDict(extra="forbid")

    partner_id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description="The partner principal, e.g. partner-ssa.")
    program: Program
    purpose: str = Field(min_length=10, max_length=500)
    legal_authority: str = Field(min_length=3, max_length=300)
    agency_fields: list[FieldName] = Field(min_length=1, max_length=24)
    partner_fields: list[FieldName] = Field(min_length=1, max_length=24)
    starts_on: dt.date
    ends_on: dt.date = Field(description="Inclusive; at most 18 months after the start.")
    destroy_on: dt.date = Field(description="When the partner data and keys are destroyed; not before the end.")
    threshold: float = Field(0.9, gt=0.0, lt=1.0, description="Match probability a pair needs to count.")


class RenewalRequest(BaseModel):
    """The one renewal (at most 12 months), asked for in the agreement's last 3 months."""

    model_config = ConfigDict(extra="forbid")

    until: dt.date
    destroy_on: dt.date | None = None


class AgreementOut(BaseModel):
    agreement_id: str
    partner_id: str
    program: str
    purpose: str
    legal_authority: str
    agency_fields: list[str]
    partner_fields: list[str]
    threshold: float
    starts_on: dt.date
    ends_on: dt.date
    renewals: int
    destroy_on: dt.date
    state: str
    status: str = Field(description="draft, pending, active, expired, revoked or destroyed, today.")
    created_by: str
    approver_id: str | None = None
    approved_at: str | None = None
    destroyed_at: str | None = None
    destroyed_rows: int | None = None


class AgreementPage(BaseModel):
    items: list[AgreementOut]
    limit: int
    offset: int
    next_offset: int | None = None


class LeadSummary(BaseModel):
    lead_id: str
    agreement_id: str
    program: str
    taxpayer_id: str = Field(description="The opaque id of the taxpayer the match found.")
    tax_year: int | None = None
    match_probability: float
    state: str
    outcome: str | None = None
    agency_facts: dict[str, Any] = Field(description="The agency's own data behind the lead (amounts in cents).")
    created_at: str
    updated_at: str


_MASKED = "Fields shown masked for this purpose (last four of a TIN, the year of a date of birth...)."
_WITHHELD = "Fields withheld for this purpose (null)."


class LeadPage(BaseModel):
    items: list[LeadSummary]
    limit: int
    offset: int
    next_offset: int | None = None
    masked: list[str] = Field(default_factory=list, description=_MASKED)
    withheld: list[str] = Field(default_factory=list, description=_WITHHELD)


class LeadEventOut(BaseModel):
    from_state: str | None = None
    to_state: str
    outcome: str | None = None
    actor: str
    at: str
    note: str | None = None


class LeadDetail(LeadSummary):
    contributions: dict[str, float] = Field(description="Per compared field, its Bayes factor: why this is a match.")
    partner_token: str = Field(description="The partner's record, as a keyed token.")
    verified_by: str | None = None
    contest_deadline: str | None = None
    evidence: dict[str, Any] | None = Field(None, description="What the partner's data says; null once destroyed.")
    evidence_destroyed: bool
    history: list[LeadEventOut]
    masked: list[str] = Field(default_factory=list, description=_MASKED)
    withheld: list[str] = Field(default_factory=list, description=_WITHHELD)


class TransitionRequest(BaseModel):
    """Move a lead: verify, notify, record a contest, close (with an outcome)."""

    model_config = ConfigDict(extra="forbid")

    to: LeadState
    outcome: Outcome | None = None
    note: str | None = Field(None, max_length=1000)


class OutcomeOut(BaseModel):
    agreement_id: str
    partner_token: str
    program: str
    state: str
    outcome: str | None = None
    updated_at: str


class OutcomePage(BaseModel):
    items: list[OutcomeOut]
    limit: int
    offset: int
    next_offset: int | None = None


def agreement_json(agreement: Agreement, today: dt.date) -> dict[str, Any]:
    """An agreement as its response body (and the CLI's JSON)."""
    return {
        "agreement_id": agreement.ref,
        "partner_id": agreement.partner_id,
        "program": agreement.program,
        "purpose": agreement.purpose,
        "legal_authority": agreement.legal_authority,
        "agency_fields": list(agreement.agency_fields),
        "partner_fields": list(agreement.partner_fields),
        "threshold": agreement.threshold,
        "starts_on": agreement.starts_on.isoformat(),
        "ends_on": agreement.ends_on.isoformat(),
        "renewals": agreement.renewals,
        "destroy_on": agreement.destroy_on.isoformat(),
        "state": agreement.state,
        "status": agreement.status(today),
        "created_by": agreement.created_by,
        "approver_id": agreement.approver_id,
        "approved_at": None if agreement.approved_at is None else agreement.approved_at.isoformat(),
        "destroyed_at": None if agreement.destroyed_at is None else agreement.destroyed_at.isoformat(),
        "destroyed_rows": agreement.destroyed_rows,
    }
