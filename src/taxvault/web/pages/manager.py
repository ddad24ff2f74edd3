"""Manager pages: the approvals queue (approve / reject) and break-glass reviews (uphold / refer).

Why through the same services as the API: approving is ``POST /v1/modules/{m}/adjustments/{a}/approve``
(:func:`taxvault.ledger.service.decide`, which the router calls too: read inside the write's transaction,
the two-person rule and "manages the requester" are the policies' answers, refusals audited); a break-glass review is
:func:`~taxvault.oversight.break_glass.review_break_glass`. Forms carry the CSRF token; every
page and action is one audited unit of the door on the channel ``web``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from taxvault.access.door import REF_PATTERN, Target
from taxvault.access.resources import Resource
from taxvault.ledger.service import approval_queue as ledger_approval_queue
from taxvault.ledger.service import decide
from taxvault.oversight.break_glass import manager_queue, review_break_glass
from taxvault.oversight.review import REASON_MAX, REASON_MIN
from taxvault.web.kit import NAV, NavItem, Page, WebUser, current_user, door_access, page_router, render, roles_any

router = page_router("/web")
User = Annotated[WebUser, Depends(current_user)]
Ref = Annotated[str, Path(pattern=REF_PATTERN)]
Note = Annotated[str, Form(max_length=500)]
Reason = Annotated[str, Form(max_length=REASON_MAX)]
BG_STATES = ("pending", "upheld", "referred")

NAV.append(NavItem("Approvals", "/web/approvals/", roles_any("manager")))
NAV.append(NavItem("Break-glass reviews", "/web/reviews/", roles_any("manager")))


# -- approvals ---------------------------------------------------------------------------------------


def approval_queue(request: Request, user: WebUser, limit: int = 100) -> dict[str, Any]:
    """Adjustments awaiting her approval (as ``GET /v1/me/approvals``), one audited read."""

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        return {"items": ledger_approval_queue(conn, user.id, limit=limit)}

    return door_access(request, user, Resource.APPROVALS).serve(fetch)


@router.get("/approvals/")
def approvals(
    request: Request,
    user: User,
    done: Annotated[str | None, Query(pattern=REF_PATTERN)] = None,
    outcome: Annotated[Literal["approved", "rejected"] | None, Query()] = None,
) -> HTMLResponse:
    """The queue: requests over the authority of the people who report to her, oldest first."""
    body = approval_queue(request, user)
    return render(
        request,
        "manager/approvals.html",
        Page("Approvals"),
        items=body["items"],
        done=done,
        outcome=outcome,
    )


def _decide_page(
    request: Request, user: WebUser, module_ref: str, adjustment_ref: str, approve: bool, note: str
) -> Response:
    access = door_access(request, user, Resource.MODULE_TRANSCRIPT, module_ref)
    decide(access, adjustment_ref, approve, note.strip() or None)
    outcome = "approved" if approve else "rejected"
    return RedirectResponse(f"/web/approvals/?done={adjustment_ref}&outcome={outcome}", status_code=303)


@router.post("/approvals/{module_ref}/{adjustment_ref}/approve")
def approve(request: Request, user: User, module_ref: Ref, adjustment_ref: Ref, note: Note = "") -> Response:
    """Approve as the second person (never her own request; only for her staff; within her authority)."""
    return _decide_page(request, user, module_ref, adjustment_ref, True, note)


@router.post("/approvals/{module_ref}/{adjustment_ref}/reject")
def reject(request: Request, user: User, module_ref: Ref, adjustment_ref: Ref, note: Note = "") -> Response:
    """Reject: the adjustment never posts."""
    return _decide_page(request, user, module_ref, adjustment_ref, False, note)


# -- break-glass reviews -----------------------------------------------------------------------------


@router.get("/reviews/")
def reviews(
    request: Request,
    user: User,
    state: Annotated[Literal["pending", "upheld", "referred"], Query()] = "pending",
    done: Annotated[int | None, Query(ge=1, lt=2**62)] = None,
) -> HTMLResponse:
    """Break-glass accesses by the people who report to her, oldest first."""
    access = door_access(request, user, Resource.BREAK_GLASS_REVIEW)
    rows = manager_queue(access.door, access.session, state=state, limit=200)
    return render(
        request,
        "manager/reviews.html",
        Page("Break-glass reviews"),
        items=rows,
        state=state,
        states=BG_STATES,
        done=done,
        reason_min=REASON_MIN,
        reason_max=REASON_MAX,
    )


@router.post("/reviews/{review_id}/{verb}")
def review(
    request: Request,
    user: User,
    review_id: Annotated[int, Path(ge=1, lt=2**62)],
    verb: Annotated[Literal["uphold", "refer"], Path()],
    reason: Reason = "",
) -> Response:
    """Uphold or refer one break-glass access, with a reason (a referral raises an oversight alert)."""
    access = door_access(request, user, Resource.BREAK_GLASS_REVIEW)
    done = review_break_glass(access.door, access.session, review_id, verb, reason)
    return RedirectResponse(f"/web/reviews/?state={done.state}&done={done.id}", status_code=303)
