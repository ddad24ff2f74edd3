"""``/v1/oversight/``: the alert queue, reviews, the report and a scan; ``/v1/break-glass/{id}``: its review.

Routes authenticate and take the purpose of use (``Depends(read(...))``), then hand the
door and the session to the oversight services, where Cedar decides and every outcome,
refusals included, is audited. Alerts carry opaque refs, principal ids and counts only.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from taxvault.access.door import REF_PATTERN, Access
from taxvault.access.http import PROBLEM_JSON, PROBLEM_RESPONSES, ProblemDetail, read
from taxvault.access.resources import Resource
from taxvault.errors import TaxvaultError, Unavailable
from taxvault.oversight import queue
from taxvault.oversight.break_glass import manager_queue, review_break_glass
from taxvault.oversight.review import REASON_MAX
from taxvault.oversight.service import review
from taxvault.oversight.tables import STATES

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    409: {"model": ProblemDetail, "content": {PROBLEM_JSON: {}}, "description": "Already reviewed"},
}
router = APIRouter(tags=["oversight"], responses=_RESPONSES)
log = logging.getLogger("taxvault.oversight")

QueueAccess = Annotated[Access, Depends(read(Resource.OVERSIGHT_ALERT, located_by="body"))]
BreakGlassAccess = Annotated[Access, Depends(read(Resource.BREAK_GLASS_REVIEW, located_by="body"))]
AlertId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque alert id")]
ReviewId = Annotated[int, Path(ge=1, lt=2**62, description="Break-glass review id")]
Reason = Annotated[str, Field(min_length=10, max_length=REASON_MAX)]


class Window(BaseModel):
    start: str
    end: str


class AlertOut(BaseModel):
    """One alert: the rule, who is under review, the taxpayer's ref, the audit leaves it rests on."""

    ref: str
    rule: str
    severity: str
    state: str
    principal: str | None
    subject: str | None
    leaves: list[int]
    window: Window | None
    summary: str
    created_at: str
    updated_at: str
    confirmed_by: list[str]


class ReviewIn(BaseModel):
    """A review: ``confirm`` (UNAX; two different reviewers), ``dismiss`` or ``refer`` (with a reason)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["confirm", "dismiss", "refer"]
    reason: str | None = Field(default=None, max_length=REASON_MAX)


class ReviewOut(BaseModel):
    ref: str
    previous: str
    state: str
    reviewer: str
    letters: list[str]


class BreakGlassIn(BaseModel):
    """A reason (10 to 1000 characters): a break-glass review, a dismissal or a referral."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason


class BreakGlassOut(BaseModel):
    id: int
    state: str
    reviewer: str
    alert: str | None


@router.get("/v1/oversight/alerts", response_model=list[AlertOut])
def alerts(
    access: QueueAccess,
    state: Annotated[str | None, Query(description=f"One of {', '.join(STATES)}")] = None,
    rule: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,39}$")] = None,
    limit: Annotated[int, Query(ge=1, le=queue.MAX_LIMIT)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """The alert queue, newest first (oversight reviewers)."""
    return queue.list_alerts(access.door, access.session, state=state, rule=rule, limit=limit, offset=offset)


@router.get("/v1/oversight/alerts/{alert_id}")
def alert(alert_id: AlertId, access: QueueAccess) -> Any:
    """One alert with its review history and the refs of the letters it led to."""
    return queue.get_alert(access.door, access.session, alert_id)


@router.post("/v1/oversight/alerts/{alert_id}/review", response_model=ReviewOut)
def review_route(alert_id: AlertId, body: ReviewIn, access: QueueAccess) -> Any:
    """Confirm, dismiss or refer; the confirmation that completes a UNAX writes the taxpayer's letter."""
    result = review(access.door, access.session, alert_id, body.action, body.reason)
    done = result.reviewed
    return {
        "ref": done.ref,
        "previous": done.previous,
        "state": done.state,
        "reviewer": done.reviewer,
        "letters": result.letters,
    }


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=REASON_MAX)


@router.post("/v1/oversight/alerts/{alert_id}/confirm", response_model=ReviewOut)
def confirm_route(alert_id: AlertId, access: QueueAccess, body: ReasonIn | None = None) -> Any:
    """Confirm UNAX (a second, different reviewer must too; the second confirmation writes the letter)."""
    return review_route(alert_id, ReviewIn(action="confirm", reason=body.reason if body else None), access)


@router.post("/v1/oversight/alerts/{alert_id}/dismiss", response_model=ReviewOut)
def dismiss_route(alert_id: AlertId, body: BreakGlassIn, access: QueueAccess) -> Any:
    """Dismiss, with a reason."""
    return review_route(alert_id, ReviewIn(action="dismiss", reason=body.reason), access)


@router.post("/v1/oversight/alerts/{alert_id}/refer", response_model=ReviewOut)
def refer_route(alert_id: AlertId, body: BreakGlassIn, access: QueueAccess) -> Any:
    """Refer (e.g. to the inspector general), with a reason."""
    return review_route(alert_id, ReviewIn(action="refer", reason=body.reason), access)


@router.get("/v1/oversight/report")
def report(access: QueueAccess) -> Any:
    """Alerts by rule and state, break-glass reviews by state, letters sent."""
    return queue.report(access.door, access.session)


@router.post("/v1/oversight/scan")
def scan(access: QueueAccess, limit: Annotated[int | None, Query(ge=1)] = None) -> Any:
    """Run one scan pass now (the server also runs one on a timer)."""
    try:
        return queue.scan_now(access.door, access.session, limit=limit)
    except TaxvaultError:
        raise
    except Exception as exc:  # a detector or store failure: the cursor did not move past it
        log.exception("oversight scan failed")
        raise Unavailable("the scan failed; the scheduled job retries it") from exc


@router.get("/v1/break-glass")
def break_glass_queue(
    access: BreakGlassAccess,
    state: Annotated[Literal["pending", "upheld", "referred"] | None, Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> Any:
    """The break-glass accesses of the people who report to you (managers), oldest first."""
    return manager_queue(access.door, access.session, state=state, limit=limit)


@router.post("/v1/break-glass/{review_id}/uphold", response_model=BreakGlassOut)
def uphold(review_id: ReviewId, body: BreakGlassIn, access: BreakGlassAccess) -> Any:
    """The employee's manager upholds a break-glass access, with a reason."""
    done = review_break_glass(access.door, access.session, review_id, "uphold", body.reason)
    return {"id": done.id, "state": done.state, "reviewer": done.reviewer, "alert": done.alert}


@router.post("/v1/break-glass/{review_id}/refer", response_model=BreakGlassOut)
def refer(review_id: ReviewId, body: BreakGlassIn, access: BreakGlassAccess) -> Any:
    """The employee's manager refers a break-glass access to oversight (raises an alert), with a reason."""
    done = review_break_glass(access.door, access.session, review_id, "refer", body.reason)
    return {"id": done.id, "state": done.state, "reviewer": done.reviewer, "alert": done.alert}
