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

from taxvault.access.door import REF_PATTERN, Access, Target
from taxvault.access.http import PROBLEM_RESPONSES, read, write
from taxvault.access.resources import Resource
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import AccrualError, accrual_invalid, payoff
from taxvault.ledger.schemas import Accruals, Adjustment, AdjustmentPage, AdjustmentRequest, Decision, UnpostablePage
from taxvault.ledger.service import adjustment_error, adjustment_view, approval_queue, decide
from taxvault.ledger.tables import ledger_unpostables

router = APIRouter(prefix="/v1", tags=["ledger"], responses=PROBLEM_RESPONSES)

AdjustmentId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque adjustment id")]


def _module_id(target: Target) -> int:
    assert target.module_id is not None
    return target.module_id


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
        raise adjustment_error(exc) from None

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
        return adjustment_view(adj, target.ref)

    return access.write(body.amount_cents, perform, ["tc", "amount_cents", "reason_code"], "request_adjustment")


@router.get("/modules/{module_id}/adjustments", response_model=AdjustmentPage)
def list_adjustments(access: Annotated[Access, Depends(read(Resource.MODULE_TRANSCRIPT))]) -> Any:
    """Every adjustment requested on the module, newest first, with where it stands."""

    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        items = [adjustment_view(a, t.ref) for a in adjustments.for_module(conn, _module_id(t))]
        return {"items": items, "limit": len(items), "offset": 0, "next_offset": None}

    return access.serve(fetch, label="read_adjustments")


@router.post("/modules/{module_id}/adjustments/{adjustment_id}/approve", response_model=Adjustment)
def approve_adjustment(
    adjustment_id: AdjustmentId,
    access: Annotated[Access, Depends(write(Resource.MODULE_TRANSCRIPT))],
    body: Decision | None = None,
) -> Any:
    """Approve an adjustment over the requester's authority: a manager, never the requester."""
    return decide(access, adjustment_id, True, body.note if body else None)


@router.post("/modules/{module_id}/adjustments/{adjustment_id}/reject", response_model=Adjustment)
def reject_adjustment(
    adjustment_id: AdjustmentId,
    access: Annotated[Access, Depends(write(Resource.MODULE_TRANSCRIPT))],
    body: Decision | None = None,
) -> Any:
    """Reject an adjustment awaiting approval: it never posts."""
    return decide(access, adjustment_id, False, body.note if body else None)


@router.get("/me/approvals", response_model=AdjustmentPage)
def my_approval_queue(
    access: Annotated[Access, Depends(read(Resource.APPROVALS))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Adjustments awaiting your approval: requests over the authority of the people who report to you."""

    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        found = approval_queue(conn, access.caller.id, limit=limit + 1, offset=offset)
        return {
            "items": found[:limit],
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
