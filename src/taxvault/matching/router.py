"""``/v1/matching``: agreements, leads and a partner's outcomes, every route through the Gate.

Routes declare their resource (``Depends(read(Resource.X))``) for authentication and
the purpose of use; the policies decide every action (draft, approve, read, move a
lead) and every decision is audited. A lead is located by the taxpayer it names, so
every rule about that taxpayer applies (own or related account, restricted and
employee accounts). A partner sees only the tokens and outcome states of its own
agreements' leads. Imports, runs and destruction are the matching job's work (CLI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from taxvault.access.gate import REF_PATTERN, Access, Target, read, write
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.api.problems import PROBLEM_JSON, PROBLEM_RESPONSES, Problem, ProblemDetail
from taxvault.matching import leads as lead_service
from taxvault.matching.agreements import (
    Agreement,
    AgreementError,
    AgreementNotFound,
    MatchingDenied,
    MatchingError,
    approve_agreement,
    audit_event,
    authorize,
    draft_agreement,
    get_agreement,
    list_agreements,
    new_ref,
    renew_agreement,
    revoke_agreement,
    validate_terms,
)
from taxvault.matching.leads import LeadError, LeadNotFound
from taxvault.matching.schemas import (
    AgreementDraft,
    AgreementOut,
    AgreementPage,
    LeadDetail,
    LeadPage,
    OutcomePage,
    RenewalRequest,
    TransitionRequest,
    agreement_json,
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
_AGREEMENT_FIELDS = ("agreement", "partner_id", "program", "purpose", "legal_authority", "fields", "dates", "state")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@contextmanager
def _problems(conflict: int = 409) -> Iterator[None]:
    """Domain errors as problems (their messages carry ids, never a TIN)."""
    try:
        yield
    except MatchingDenied:
        raise Problem(403, "not authorized for this matching action", type_="urn:taxvault:problem:forbidden") from None
    except (AgreementNotFound, LeadNotFound) as exc:
        raise Problem(404, str(exc)) from None
    except (AgreementError, LeadError) as exc:
        raise Problem(conflict, str(exc)) from None
    except MatchingError as exc:
        raise Problem(409, str(exc)) from None


def _record(access: Access, action: str, ref: str, decision: PolicyDecision, fields: tuple[str, ...]) -> None:
    access.gate.record(
        audit_event(
            access.caller.id,
            action,
            access.resource,
            ref,
            decision,
            request_id=access.request_id,
            purpose=access.purpose,
            fields=fields,
        )
    )


def _load(access: Access, ref: str) -> Agreement:
    with access.gate.engine.connect() as conn:
        return get_agreement(conn, ref)


def _own(access: Access, agreement: Agreement) -> bool:
    """A partner sees only its own agreements (others: as if they did not exist)."""
    return access.caller.facts.kind != "partner" or agreement.partner_id == access.caller.id


# -- agreements ------------------------------------------------------------------------------------


@router.get("/agreements", response_model=AgreementPage)
def list_matching_agreements(
    access: AgreementAccess,
    state: Annotated[Literal["draft", "approved", "revoked", "destroyed"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Matching agreements (a partner: its own), newest first."""
    with _problems():
        target = Target("matching-agreements")
        decision = authorize(
            access.gate, access.caller, "read", access.resource, target, access.purpose, request_id=access.request_id
        )
        partner = access.caller.id if access.caller.facts.kind == "partner" else None
        with access.gate.engine.connect() as conn:
            found = list_agreements(conn, partner_id=partner, state=state, limit=limit + 1, offset=offset)
        _record(access, "read", target.ref, decision, (*_AGREEMENT_FIELDS, f"items={min(len(found), limit)}"))
        today = _today()
        return {
            "items": [agreement_json(a, today) for a in found[:limit]],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(found) > limit else None,
        }


@router.post("/agreements", response_model=AgreementOut, status_code=201)
def draft_matching_agreement(body: AgreementDraft, access: AgreementWrite) -> Any:
    """Record a draft agreement; nothing is matched until a second person approves it."""
    with _problems(conflict=422):
        ref = new_ref("a")
        target = Target(ref)
        decision = authorize(
            access.gate,
            access.caller,
            "draft_agreement",
            access.resource,
            target,
            access.purpose,
            request_id=access.request_id,
        )
        validate_terms(
            program=body.program,
            purpose=body.purpose,
            legal_authority=body.legal_authority,
            agency_fields=body.agency_fields,
            partner_fields=body.partner_fields,
            starts_on=body.starts_on,
            ends_on=body.ends_on,
            destroy_on=body.destroy_on,
            threshold=body.threshold,
        )
        _record(access, "draft_agreement", ref, decision, _AGREEMENT_FIELDS)
        with access.gate.engine.begin() as conn:
            created = draft_agreement(
                conn,
                partner_id=body.partner_id,
                program=body.program,
                purpose=body.purpose,
                legal_authority=body.legal_authority,
                agency_fields=body.agency_fields,
                partner_fields=body.partner_fields,
                starts_on=body.starts_on,
                ends_on=body.ends_on,
                destroy_on=body.destroy_on,
                threshold=body.threshold,
                created_by=access.caller.id,
                ref=ref,
            )
        return agreement_json(created, _today())


@router.get("/agreements/{agreement_id}", response_model=AgreementOut)
def get_matching_agreement(agreement_id: AgreementId, access: AgreementAccess) -> Any:
    """One agreement: its terms, state and status today."""
    with _problems():
        target = Target(agreement_id)
        decision = authorize(
            access.gate, access.caller, "read", access.resource, target, access.purpose, request_id=access.request_id
        )
        agreement = _load(access, agreement_id)
        if not _own(access, agreement):
            _record(access, "read", agreement_id, PolicyDecision(False, ("not-own-agreement",)), ())
            raise AgreementNotFound(f"no matching agreement {agreement_id}")
        _record(access, "read", agreement_id, decision, _AGREEMENT_FIELDS)
        return agreement_json(agreement, _today())


def _approver_action(
    access: Access, agreement_id: str, label: str, perform: Any, *, second_person_rule: bool = True
) -> Any:
    """Authorize a second-person action on an agreement, audit it, then perform it in one transaction."""
    with _problems():
        agreement = _load(access, agreement_id)
        target = Target(agreement_id)
        decision = authorize(
            access.gate,
            access.caller,
            "approve_agreement" if second_person_rule else "draft_agreement",
            access.resource,
            target,
            access.purpose,
            request_id=access.request_id,
            second_person=access.caller.id != agreement.created_by,
        )
        _record(access, label, agreement_id, decision, ("state",))
        with access.gate.engine.begin() as conn:
            done: Agreement = perform(conn)
        return agreement_json(done, _today())


@router.post("/agreements/{agreement_id}/approve", response_model=AgreementOut)
def approve_matching_agreement(agreement_id: AgreementId, access: AgreementWrite) -> Any:
    """Approve a draft: a second person with the grant_approver or manager role, never the drafter."""
    return _approver_action(
        access,
        agreement_id,
        "approve_agreement",
        lambda c: approve_agreement(c, agreement_id, approver=access.caller.id),
    )


@router.post("/agreements/{agreement_id}/renew", response_model=AgreementOut)
def renew_matching_agreement(agreement_id: AgreementId, body: RenewalRequest, access: AgreementWrite) -> Any:
    """The one renewal (at most 12 months, asked for in the last 3), by a second person."""
    return _approver_action(
        access,
        agreement_id,
        "renew_agreement",
        lambda c: renew_agreement(
            c, agreement_id, until=body.until, destroy_on=body.destroy_on, approver=access.caller.id
        ),
    )


@router.post("/agreements/{agreement_id}/revoke", response_model=AgreementOut)
def revoke_matching_agreement(agreement_id: AgreementId, access: AgreementWrite) -> Any:
    """Stop an agreement: nothing more is imported, run or linked under it."""
    return _approver_action(
        access,
        agreement_id,
        "revoke_agreement",
        lambda c: revoke_agreement(c, agreement_id, actor=access.caller.id),
        second_person_rule=False,
    )


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
    """Leads the caller may work (each decided by the policies against the taxpayer it names)."""
    with _problems():
        return lead_service.gated_list(
            access.gate,
            access.caller,
            access.purpose,
            request_id=access.request_id,
            agreement_ref=agreement_id,
            state=state,
            program=program,
            limit=limit,
            offset=offset,
        )


@router.get("/leads/{lead_id}", response_model=LeadDetail)
def get_matching_lead(lead_id: LeadId, access: LeadAccess) -> Any:
    """One lead: why it matched, what each side says, and its history."""
    with _problems():
        return lead_service.gated_get(access.gate, access.caller, access.purpose, lead_id, request_id=access.request_id)


@router.post("/leads/{lead_id}/transitions", response_model=LeadDetail)
def move_matching_lead(lead_id: LeadId, body: TransitionRequest, access: LeadWrite) -> Any:
    """Verify, notify, record a contest or close a lead (no adverse action without verification, notice, 30 days)."""
    with _problems():
        return lead_service.gated_move(
            access.gate,
            access.caller,
            access.purpose,
            lead_id,
            to=body.to,
            outcome=body.outcome,
            note=body.note,
            request_id=access.request_id,
        )


# -- a partner's view -----------------------------------------------------------------------------------


@router.get("/outcomes", response_model=OutcomePage)
def list_matching_outcomes(
    access: OutcomeAccess, agreement_id: AgreementFilter = None, limit: Limit = 100, offset: Offset = 0
) -> Any:
    """Keyed tokens of the partner's records and the state and outcome of each lead (nothing else)."""
    with _problems():
        return lead_service.gated_outcomes(
            access.gate,
            access.caller,
            access.purpose,
            request_id=access.request_id,
            agreement_ref=agreement_id,
            limit=limit,
            offset=offset,
        )
