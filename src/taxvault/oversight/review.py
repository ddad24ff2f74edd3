"""The alert review queue: dismiss with a reason, refer, confirm UNAX with two reviewers.

Every change goes through the door in one write unit: the alert row is locked, the
policies decide (``oversight_review.cedar``), the state moves, the history row is
written and the event appended, all in one transaction. Refusals are audited too,
and named: the employee under review never reviews her own alert, the same reviewer
never confirms twice (confirming takes two different people), nobody reviews an
alert about her own or a related taxpayer's account.

States: ``open`` -> ``confirming`` (one reviewer confirmed) -> ``confirmed``; any of
``open``, ``confirming``, ``referred`` -> ``dismissed``; ``open`` or ``confirming`` ->
``referred``; a referred alert may still be confirmed or dismissed. ``dismissed`` and
``confirmed`` are final. A confirmed UNAX is followed by a letter to each taxpayer the
alert is about (:mod:`taxvault.oversight.letters`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import REF_PATTERN, Door, Session, Target, Unit
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.errors import Conflict, Denied, Invalid, NotFound
from taxvault.oversight.alerts import TIN_LIKE
from taxvault.oversight.tables import oversight_alerts, oversight_reviews
from taxvault.store.tables import entities

ReviewAction = Literal["confirm", "dismiss", "refer"]
REVIEW_ACTIONS: dict[str, str] = {"confirm": "confirm_unax", "dismiss": "dismiss_alert", "refer": "refer_alert"}
REASON_MIN, REASON_MAX = 10, 1000
FINAL = frozenset({"dismissed", "confirmed"})
QUEUE = "oversight-alerts"  # the audit resource of a listing of the queue

_A = oversight_alerts.c

_REFUSALS = {
    "under-review": "the employee under review cannot review her own alert",
    "confirmed-twice": "you already confirmed this alert: a second, different reviewer must confirm it",
    "related-to-subject": "you cannot review an alert about your own or a related taxpayer's account",
    "not-oversight": "only oversight reviewers review alerts",
}


@dataclass(frozen=True, slots=True)
class Reviewed:
    """What a review did: the alert's state before and after."""

    ref: str
    previous: str
    state: str
    reviewer: str

    @property
    def confirmed(self) -> bool:
        return self.state == "confirmed"


def check_reason(reason: str | None, *, required: bool) -> str | None:
    """A reviewer's reason: 10 to 1000 characters, never a TIN (it is stored)."""
    if reason is None or not reason.strip():
        if required:
            raise Invalid(f"a reason of {REASON_MIN} to {REASON_MAX} characters is required", code="review-reason")
        return None
    reason = reason.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise Invalid(f"a reason is {REASON_MIN} to {REASON_MAX} characters", code="review-reason")
    if TIN_LIKE.search(reason):
        raise Invalid("a reason never carries a TIN: name the taxpayer by her ref", code="review-reason-tin")
    return reason


def review_alert(door: Door, session: Session, ref: str, action: ReviewAction, reason: str | None = None) -> Reviewed:
    """Apply one reviewer's decision on alert ``ref`` (one write unit; every outcome audited)."""
    if action not in REVIEW_ACTIONS:
        raise Invalid("a review confirms, dismisses or refers", code="review-action")
    cedar_action = REVIEW_ACTIONS[action]
    with door.unit(session, write=True) as unit:
        row = find_alert(unit, ref, cedar_action, lock=True)
        target = _target(unit.conn, row)
        me = session.principal
        refusal = None
        if row["principal_id"] is not None and row["principal_id"] == me:
            refusal = "under-review"
        elif action == "confirm" and row["first_confirmer"] == me:
            refusal = "confirmed-twice"
        decided = door.decide(
            unit.conn, session, cedar_action, Resource.OVERSIGHT_ALERT, target, second_person=refusal is None, lock=True
        )
        if not decided.decision.allowed:
            refusal = refusal or _why_denied(decided.decision)
            unit.audit(cedar_action, Resource.OVERSIGHT_ALERT, target.ref, decided.decision, reason=refusal)
            raise Denied(_REFUSALS[refusal], code=refusal)
        previous = str(row["state"])
        try:
            text = check_reason(reason, required=action != "confirm")
            state, first = _next_state(action, previous, row["first_confirmer"], me)
        except (Invalid, Conflict) as exc:
            unit.audit(cedar_action, Resource.OVERSIGHT_ALERT, target.ref, decided.decision, reason=exc.code)
            raise
        now = door_now(door)
        unit.conn.execute(
            oversight_alerts.update()
            .where(_A.id == row["id"])
            .values(state=state, first_confirmer=first, updated_at=now)
        )
        unit.conn.execute(
            oversight_reviews.insert().values(
                alert_id=row["id"], reviewer_id=me, action=action, from_state=previous, to_state=state,
                reason=text, request_id=session.request_id, at=now,
            )
        )  # fmt: skip
        fields = ["state", "reason"] if text else ["state"]
        unit.audit(cedar_action, Resource.OVERSIGHT_ALERT, target.ref, decided.decision, fields)
    return Reviewed(ref, previous, state, me)


def door_now(door: Door) -> dt.datetime:
    """The door's clock (simulated time in a simulation), or now."""
    clock = getattr(door, "clock", None)
    return clock() if callable(clock) else dt.datetime.now(dt.UTC)


def _next_state(action: str, state: str, first: str | None, me: str) -> tuple[str, str | None]:
    if state in FINAL:
        raise Conflict(f"the alert is already {state}", code=f"already-{state}")
    if action == "dismiss":
        return "dismissed", first
    if action == "refer":
        if state == "referred":
            raise Conflict("the alert is already referred", code="already-referred")
        return "referred", first
    if first is None:  # the first of the two confirmations
        return "confirming", me
    return "confirmed", first


def _why_denied(decision: PolicyDecision) -> str:
    if "forbid-review-related-alert" in decision.policies:
        return "related-to-subject"
    if "forbid-review-own-alert" in decision.policies:
        return "under-review"
    return "not-oversight"


def find_alert(unit: Unit, ref: str, action: str, *, lock: bool = False) -> sa.RowMapping:
    """The alert row (``lock``: locked for a write unit on PostgreSQL), or :class:`NotFound` (audited)."""
    row = None
    if isinstance(ref, str) and re.fullmatch(REF_PATTERN, ref, flags=re.ASCII):
        stmt = sa.select(oversight_alerts).where(_A.ref == ref)
        if lock and not unit.door.is_sqlite:
            stmt = stmt.with_for_update()
        row = unit.conn.execute(stmt).mappings().first()
    if row is None:
        shown = ref if isinstance(ref, str) and re.fullmatch(REF_PATTERN, ref, flags=re.ASCII) else "none"
        unit.audit(action, Resource.OVERSIGHT_ALERT, shown, PolicyDecision(False, ("not-found",)))
        raise NotFound("no such alert", code="alert-not-found")
    return row


def _target(conn: Connection, row: sa.RowMapping) -> Target:
    """The alert as the door's target, with its taxpayer's id and address (the reviewer's relation to her)."""
    subject = row["subject"]
    if subject is None:
        return Target(str(row["ref"]))
    e = entities.c
    found = conn.execute(sa.select(e.id, e.address_line, e.city, e.state, e.zip).where(e.ref == subject)).first()
    if found is None:
        return Target(str(row["ref"]))
    return Target(str(row["ref"]), int(found.id), address=(found.address_line, found.city, found.state, found.zip))
