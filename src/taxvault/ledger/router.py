"""``/v1`` routes of account work: accruals and payoff, adjustments and their approval, unpostables.

Each route declares its resource and action; the Gate authorizes (Cedar), audits and
only then performs. Whether an adjustment is within the requester's authority, and
whether an approver may approve it, are the policies' answers, never a check here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.engine import Connection

from taxvault.access.door import REF_PATTERN, Access, Target, WriteFacts
from taxvault.access.http import PROBLEM_RESPONSES, read, write
from taxvault.access.resources import Resource
from taxvault.errors import Conflict, Denied, Invalid, NotFound, TaxvaultError
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import AccrualError, accrual_invalid, payoff
from taxvault.ledger.schemas import Accruals, Adjustment, AdjustmentPage, AdjustmentRequest, Decision, UnpostablePage
from taxvault.ledger.tables import ledger_unpostables

router = APIRouter(prefix="/v1", tags=["ledger"], responses=PROBLEM_RESPONSES)

AdjustmentId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque adjustment id")]


def _module_id(target: Target) -> int:
    assert target.module_id is not None
    return target.module_id


def _view(adj: adjustments.Adjustment, module_ref: str) -> dict[str, Any]:
    def iso(v: dt.date | dt.datetime | None) -> str | None:
        return None if v is None else v.isoformat()

    return {
        "id": adj.ref,
        "module_id": module_ref,
        "tc": adj.tc,
        "amount_cents": adj.amount_cents,
        "reason_code": adj.reason_code,
        "state": adj.state,
        "within_authority": adj.within_authority,
        "requested_by": adj.requested_by,
        "requested_at": iso(adj.requested_at),
        "decided_by": adj.decided_by,
        "decided_at": iso(adj.decided_at),
        "posted_on": iso(adj.posted_on),
    }


def _problem(exc: adjustments.AdjustmentError) -> TaxvaultError:
    if isinstance(exc, adjustments.AdjustmentNotFound):
        return NotFound(str(exc))
    if isinstance(exc, adjustments.SelfApproval):
        return Denied(str(exc), code="forbidden")
    if isinstance(exc, adjustments.WrongState):
        return Conflict(str(exc))
    return Invalid(str(exc))


@router.get("/modules/{module_id}/accruals", response_model=Accruals)
def module_accruals(
    access: Annotated[Access, Depends(read(Resource.MODULE_TRANSCRIPT))],
    as_of: Annotated[dt.date, Query(description="The date to compute penalties, interest and payoff for.")],
) -> Any:
    """Penalties and interest as of a date, and the payoff amount (never stored: derived from postings)."""

    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        try:
            p = payoff(conn, _module_id(t), as_of)
        except AccrualError as exc:
            raise accrual_invalid(exc) from None
        return {
            "module_id": t.ref,
            "as_of": as_of.isoformat(),
            "tax_cents": p.tax,
            "penalty_ftf_cents": p.penalty_ftf,
            "penalty_ftp_cents": p.penalty_ftp,
            "interest_cents": p.interest,
            "payoff_cents": p.total,
        }

    return access.serve(fetch, label="read_accruals")


@router.post("/modules/{module_id}/adjustments", response_model=Adjustment, status_code=202)
def request_adjustment(
    body: AdjustmentRequest, access: Annotated[Access, Depends(write(Resource.MODULE_TRANSCRIPT))]
) -> Any:
    """Request an adjustment on a module of your case. Within your dollar authority it posts at the next
    cycle; above it, it waits for your manager's approval."""
    try:
        adjustments.signed_amount(body.tc, body.amount_cents)
    except adjustments.AdjustmentError as exc:
        raise _problem(exc) from None

    def perform(conn: Connection, target: Target) -> dict[str, Any]:
        within = access.permits(conn, target, "adjust", body.amount_cents)
        adj = adjustments.request(
            conn,
            _module_id(target),
            tc=body.tc,
            amount_cents=body.amount_cents,
            reason_code=body.reason_code,
            requested_by=access.caller.id,
            request_id=access.request_id,
            within_authority=within,
        )
        return _view(adj, target.ref)

    return access.write(body.amount_cents, perform, ["tc", "amount_cents", "reason_code"], "request_adjustment")


@router.get("/modules/{module_id}/adjustments", response_model=AdjustmentPage)
def list_adjustments(access: Annotated[Access, Depends(read(Resource.MODULE_TRANSCRIPT))]) -> Any:
    """Every adjustment requested on the module, newest first, with where it stands."""

    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        items = [_view(a, t.ref) for a in adjustments.for_module(conn, _module_id(t))]
        return {"items": items, "limit": len(items), "offset": 0, "next_offset": None}

    return access.serve(fetch, label="read_adjustments")


def _decide(access: Access, adjustment_id: str, approve: bool, note: str | None) -> dict[str, Any]:
    def facts(conn: Connection, target: Target) -> WriteFacts:
        """Read inside the write's own transaction: the amount and who asked decide who may approve."""
        try:
            adj = adjustments.get(conn, adjustment_id)
        except adjustments.AdjustmentError as exc:
            raise _problem(exc) from None
        if adj.module_id != target.module_id:
            raise NotFound("no such adjustment on this module")
        return WriteFacts(
            abs(adj.amount_cents),
            second_person=adj.requested_by != access.caller.id,
            manages_requester=adjustments.manages(conn, access.caller.id, adj.requested_by),
        )

    def perform(conn: Connection, target: Target) -> dict[str, Any]:
        try:
            if approve:
                done = adjustments.approve(conn, adjustment_id, approver=access.caller.id, note=note)
            else:
                done = adjustments.reject(conn, adjustment_id, by=access.caller.id, note=note)
        except adjustments.AdjustmentError as exc:
            raise _problem(exc) from None
        return _view(done, target.ref)

    return access.write(0, perform, ["adjustment", "tc", "amount_cents"], "approve_adjustment", facts=facts)


@router.post("/modules/{module_id}/adjustments/{adjustment_id}/approve", response_model=Adjustment)
def approve_adjustment(
    adjustment_id: AdjustmentId,
    access: Annotated[Access, Depends(write(Resource.MODULE_TRANSCRIPT))],
    body: Decision | None = None,
) -> Any:
    """Approve an adjustment over the requester's authority: a manager, never the requester."""
    return _decide(access, adjustment_id, True, body.note if body else None)


@router.post("/modules/{module_id}/adjustments/{adjustment_id}/reject", response_model=Adjustment)
def reject_adjustment(
    adjustment_id: AdjustmentId,
    access: Annotated[Access, Depends(write(Resource.MODULE_TRANSCRIPT))],
    body: Decision | None = None,
) -> Any:
    """Reject an adjustment awaiting approval: it never posts."""
    return _decide(access, adjustment_id, False, body.note if body else None)


@router.get("/me/approvals", response_model=AdjustmentPage)
def my_approval_queue(
    access: Annotated[Access, Depends(read(Resource.APPROVALS))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Adjustments awaiting your approval: requests over the authority of the people who report to you."""

    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        found = adjustments.awaiting_approval_for(conn, access.caller.id, limit=limit + 1, offset=offset)
        refs = adjustments.module_refs(conn, [a.module_id for a in found])
        items = [_view(a, refs[a.module_id]) for a in found[:limit]]
        return {
            "items": items,
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(found) > limit else None,
        }

    return access.serve(fetch)


@router.get("/modules/{module_id}/unpostables", response_model=UnpostablePage)
def list_unpostables(
    access: Annotated[Access, Depends(read(Resource.MODULE_TRANSCRIPT))],
    status: Annotated[str, Query(pattern=r"^(open|resolved|all)$", description="open, resolved or all")] = "open",
) -> Any:
    """Transactions that did not post on this module, with the rule each broke."""

    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        u = ledger_unpostables.c
        q = sa.select(ledger_unpostables).where(u.module_id == _module_id(t)).order_by(u.id)
        if status != "all":
            q = q.where(u.status == status)
        items = [
            {
                "id": int(r.id),
                "tc": int(r.tc),
                "amount_cents": int(r.amount_cents),
                "posted_date": r.posted_date.isoformat(),
                "unpostable_code": r.unpostable_code,
                "reason": r.reason,
                "status": r.status,
                "resolution": r.resolution,
            }
            for r in conn.execute(q)
        ]
        return {"items": items}

    return access.serve(fetch, label="read_unpostables")
