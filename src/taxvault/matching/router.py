"""``/v1/matching``: agreements, leads and a partner's outcomes, every route through the door.

Routes declare their resource (``Depends(read(Resource.X))``) for authentication and
the purpose of use, and hand the door and the caller's session to
:mod:`taxvault.matching.front`, where the policies decide every action (draft,
approve, read, move a lead) in the request's one unit of work and every decision is
audited. A lead is located by the taxpayer it names, so every rule about that
taxpayer applies, and what it shows is masked for the caller's purpose. A partner
sees only the tokens and outcome states of its own agreements' leads. Imports, runs
and destruction are the matching job's work (:mod:`taxvault.jobs.matching`, CLI).
Domain errors are the error tree's (:mod:`taxvault.errors`): ``api/`` maps them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from taxvault.access.door import REF_PATTERN, Access
from taxvault.access.http import PROBLEM_JSON, PROBLEM_RESPONSES, ProblemDetail, read, write
from taxvault.access.resources import Resource
from taxvault.matching import front
from taxvault.matching.schemas import (
    AgreementDraft,
    AgreementOut,
    AgreementPage,
    LeadDetail,
    LeadPage,
    OutcomePage,
    RenewalRequest,
    TransitionRequest,
)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    409: {"model": ProblemDetail, "content": {PROBLEM_JSON: {}}, "description": "Conflict with the due-process rules"},
}
router = APIRouter(prefix="/v1/matching", tags=["matching"], responses=_RESPONSES)

AgreementAccess = Annotated[Access, Depends(read(Resource.MATCHING_AGREEMENT))]
AgreementWrite = Annotated[Access, Depends(write(Resource.MATCHING_AGREEMENT))]
LeadAccess = Annotated[Access, Depends(read(Resource.MATCHING_LEAD, located_by="body"))]
LeadWrite = Annotated[Access, Depends(write(Resource.MATCHING_LEAD, located_by="body"))]
OutcomeAccess = Annotated[Access, Depends(read(Resource.MATCHING_OUTCOMES))]
AgreementId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque agreement id")]
LeadId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque lead id")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
AgreementFilter = Annotated[str | None, Query(pattern=REF_PATTERN, description="Only this agreement's.")]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# -- agreements ------------------------------------------------------------------------------------


@router.get("/agreements", response_model=AgreementPage)
def list_matching_agreements(
    access: AgreementAccess,
    state: Annotated[Literal["draft", "approved", "revoked", "destroyed"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Matching agreements (a partner: its own), newest first."""
    return front.agreements_page(access.door, access.session, state=state, limit=limit, offset=offset, today=_today())


@router.post("/agreements", response_model=AgreementOut, status_code=201)
def draft_matching_agreement(body: AgreementDraft, access: AgreementWrite) -> Any:
    """Record a draft agreement; nothing is matched until a second person approves it."""
    terms = front.Terms(
        partner_id=body.partner_id,
        program=body.program,
        purpose=body.purpose,
        legal_authority=body.legal_authority,
        agency_fields=list(body.agency_fields),
        partner_fields=list(body.partner_fields),
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        destroy_on=body.destroy_on,
        threshold=body.threshold,
    )
    return front.draft(access.door, access.session, terms, today=_today())


@router.get("/agreements/{agreement_id}", response_model=AgreementOut)
def get_matching_agreement(agreement_id: AgreementId, access: AgreementAccess) -> Any:
    """One agreement: its terms, state and status today."""
    return front.show_agreement(access.door, access.session, agreement_id, today=_today())


@router.post("/agreements/{agreement_id}/approve", response_model=AgreementOut)
def approve_matching_agreement(agreement_id: AgreementId, access: AgreementWrite) -> Any:
    """Approve a draft: a second person with the grant_approver or manager role, never the drafter."""
    return front.approve(access.door, access.session, agreement_id, today=_today())


@router.post("/agreements/{agreement_id}/renew", response_model=AgreementOut)
def renew_matching_agreement(agreement_id: AgreementId, body: RenewalRequest, access: AgreementWrite) -> Any:
    """The one renewal (at most 12 months, asked for in the last 3), by a second person."""
    return front.renew(
        access.door, access.session, agreement_id, until=body.until, destroy_on=body.destroy_on, today=_today()
    )


@router.post("/agreements/{agreement_id}/revoke", response_model=AgreementOut)
def revoke_matching_agreement(agreement_id: AgreementId, access: AgreementWrite) -> Any:
    """Stop an agreement: nothing more is imported, run or linked under it."""
    return front.revoke(access.door, access.session, agreement_id, today=_today())


# -- leads -------------------------------------------------------------------------------------------


@router.get("/leads", response_model=LeadPage)
def list_matching_leads(
    access: LeadAccess,
    agreement_id: AgreementFilter = None,
    state: Annotated[Literal["new", "verified", "notified", "contested", "closed"] | None, Query()] = None,
    program: Annotated[Literal["death_refunds", "state_wages"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Leads the caller may work (each decided against the taxpayer it names, masked, audited)."""
    return front.leads_page(
        access.door,
        access.session,
        agreement_ref=agreement_id,
        state=state,
        program=program,
        limit=limit,
        offset=offset,
    )


@router.get("/leads/{lead_id}", response_model=LeadDetail)
def get_matching_lead(lead_id: LeadId, access: LeadAccess) -> Any:
    """One lead: why it matched, what each side says (masked for the purpose), and its history."""
    return front.show_lead(access.door, access.session, lead_id)


@router.post("/leads/{lead_id}/transitions", response_model=LeadDetail)
def move_matching_lead(lead_id: LeadId, body: TransitionRequest, access: LeadWrite) -> Any:
    """Verify, notify, record a contest or close a lead (no adverse action without verification, notice, 30 days)."""
    return front.move_lead(access.door, access.session, lead_id, to=body.to, outcome=body.outcome, note=body.note)


# -- a partner's view -----------------------------------------------------------------------------------


@router.get("/outcomes", response_model=OutcomePage)
def list_matching_outcomes(
    access: OutcomeAccess, agreement_id: AgreementFilter = None, limit: Limit = 100, offset: Offset = 0
) -> Any:
    """Keyed tokens of the partner's records and the state and outcome of each lead (nothing else)."""
    return front.outcomes_page(access.door, access.session, agreement_ref=agreement_id, limit=limit, offset=offset)
