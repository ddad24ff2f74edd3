"""Break-glass review: the employee's manager upholds or refers each emergency access.

A break-glass read is allowed at once (the door queues it in ``break_glass_reviews``);
what makes it safe is the review after the fact. The manager of the employee (never
the employee herself, never another unit's manager) upholds it or refers it to
oversight, with a reason, in one write unit through the door (audited, refusals too).
A referral raises an alert; an access left unreviewed longer than
``TAXVAULT_BREAK_GLASS_REVIEW_DAYS`` (default 3) raises ``break_glass_unreviewed``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Session, Target, Unit
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.access.tables import break_glass_reviews
from taxvault.errors import Conflict, Denied, Invalid, NotFound
from taxvault.oversight.alerts import AlertDraft, raise_alerts
from taxvault.oversight.review import check_reason, door_now
from taxvault.store.tables import entities, principals, tax_modules

BreakGlassAction = Literal["uphold", "refer"]
ACTIONS = {"uphold": ("uphold_break_glass", "upheld"), "refer": ("refer_break_glass", "referred")}
DAYS_ENV = "TAXVAULT_BREAK_GLASS_REVIEW_DAYS"
DEFAULT_DAYS = 3.0

_B = break_glass_reviews.c
QUEUE = "break-glass-queue"  # the audit resource of a manager's listing
_REFUSALS = {
    "own-break-glass": "nobody reviews her own break-glass access",
    "not-her-manager": "only the manager of the employee who broke the glass reviews it",
}


@dataclass(frozen=True, slots=True)
class BreakGlassReviewed:
    """A break-glass review's outcome; ``alert`` is the alert a referral raised."""

    id: int
    state: str
    reviewer: str
    alert: str | None


def review_days() -> float:
    """``TAXVAULT_BREAK_GLASS_REVIEW_DAYS``: how long a break-glass access may wait for review."""
    raw = os.environ.get(DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_DAYS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{DAYS_ENV} must be a number of days, not {raw!r}") from None
    if not 0 < value <= 365:
        raise ValueError(f"{DAYS_ENV} must be between 0 and 365 days")
    return value


def review_ref(review_id: int) -> str:
    """The audit resource naming one break-glass review."""
    return f"break-glass-{review_id}"


def review_break_glass(
    door: Door, session: Session, review_id: int, action: BreakGlassAction, reason: str | None
) -> BreakGlassReviewed:
    """The manager upholds or refers break-glass review ``review_id`` (one write unit, audited)."""
    if action not in ACTIONS:
        raise Invalid("a break-glass review upholds or refers", code="review-action")
    cedar_action, new_state = ACTIONS[action]
    with door.unit(session, write=True) as unit:
        row = _find(unit, review_id, cedar_action)
        me = session.principal
        employee = str(row["principal_id"])
        manager = unit.conn.execute(sa.select(principals.c.manager_id).where(principals.c.id == employee)).scalar()
        target = Target(review_ref(review_id))
        own = employee == me
        decided = door.decide(
            unit.conn, session, cedar_action, Resource.BREAK_GLASS_REVIEW, target,
            second_person=not own, manages_requester=manager == me, lock=True,
        )  # fmt: skip
        if not decided.decision.allowed:
            refusal = "own-break-glass" if own else "not-her-manager"
            unit.audit(cedar_action, Resource.BREAK_GLASS_REVIEW, target.ref, decided.decision, reason=refusal)
            raise Denied(_REFUSALS[refusal], code=refusal)
        try:
            if row["state"] != "pending":
                raise Conflict(f"this break-glass access was already {row['state']}", code=f"already-{row['state']}")
            text = check_reason(reason, required=True)
        except (Invalid, Conflict) as exc:
            unit.audit(cedar_action, Resource.BREAK_GLASS_REVIEW, target.ref, decided.decision, reason=exc.code)
            raise
        now = door_now(door)
        unit.conn.execute(
            break_glass_reviews.update()
            .where(_B.id == review_id)
            .values(state=new_state, reviewer_id=me, reviewed_at=now, reason=text)
        )
        alert = None
        if new_state == "referred":
            draft = AlertDraft(
                rule="break_glass_referred",
                severity="high",
                summary=f"break-glass access {review_id} by {employee} referred by her manager {me}",
                leaves=[int(row["leaf_index"])],
                principal_id=employee,
                subject=_subjects(unit.conn, [str(row["resource"])]).get(str(row["resource"])),
                window=(_aware(row["created_at"]), _aware(row["created_at"])),
                dedupe=f"break_glass_referred:{review_id}",
            )
            alert = raise_alerts(unit.conn, [draft], now=now)[0]
        unit.audit(cedar_action, Resource.BREAK_GLASS_REVIEW, target.ref, decided.decision, ["state", "reason"])
    return BreakGlassReviewed(review_id, new_state, me, alert)


def manager_queue(
    door: Door, session: Session, *, state: str | None = "pending", limit: int = 200
) -> list[dict[str, Any]]:
    """The break-glass accesses of the people who report to the caller (a read unit, audited)."""
    if state is not None and state not in ("pending", "upheld", "referred"):
        raise Invalid("state is one of pending, upheld, referred", code="break-glass-state")
    if not 1 <= limit <= 10_000:
        raise Invalid("limit is 1 to 10000", code="paging")
    with door.unit(session) as unit:
        target = Target(QUEUE)
        decided = unit.authorize(Resource.BREAK_GLASS_REVIEW, target, "read")
        p = principals.c
        stmt = (
            sa.select(break_glass_reviews)
            .join(principals, p.id == _B.principal_id)
            .where(p.manager_id == session.principal)
            .order_by(_B.created_at, _B.id)
            .limit(limit)
        )
        if state is not None:
            stmt = stmt.where(_B.state == state)
        rows = [
            {
                "id": int(r["id"]), "principal": r["principal_id"], "action": r["action"], "resource": r["resource"],
                "purpose": r["purpose"], "justification": r["justification"], "state": r["state"],
                "created_at": _aware(r["created_at"]).isoformat(), "reviewer": r["reviewer_id"], "reason": r["reason"],
            }
            for r in unit.conn.execute(stmt).mappings()
        ]  # fmt: skip
        unit.audit("read", Resource.BREAK_GLASS_REVIEW, target.ref, decided.decision, ["break_glass_reviews"])
    return rows


def unreviewed_drafts(conn: Connection, *, now: dt.datetime, days: float) -> list[AlertDraft]:
    """One ``break_glass_unreviewed`` draft per break-glass access pending longer than ``days``."""
    cutoff = now - dt.timedelta(days=days)
    rows = conn.execute(
        sa.select(_B.id, _B.leaf_index, _B.principal_id, _B.resource, _B.created_at)
        .where(_B.state == "pending", _B.created_at < cutoff)
        .order_by(_B.id)
    ).all()
    subjects = _subjects(conn, [str(r.resource) for r in rows])
    return [
        AlertDraft(
            rule="break_glass_unreviewed",
            severity="medium",
            summary=f"break-glass access {r.id} by {r.principal_id} unreviewed for more than {days:g} days",
            leaves=[int(r.leaf_index)],
            principal_id=str(r.principal_id),
            subject=subjects.get(str(r.resource)),
            window=(_aware(r.created_at), _aware(r.created_at)),
            dedupe=f"break_glass_unreviewed:{r.id}",
        )
        for r in rows
    ]


def raise_unreviewed(conn: Connection, *, now: dt.datetime | None = None, days: float | None = None) -> list[str]:
    """Raise ``break_glass_unreviewed`` alerts (idempotent); callable from the scan. Flushes, never commits."""
    now = now or dt.datetime.now(dt.UTC)
    drafts = unreviewed_drafts(conn, now=now, days=review_days() if days is None else days)
    return raise_alerts(conn, drafts, now=now)


def _find(unit: Unit, review_id: int, action: str) -> sa.RowMapping:
    row = None
    if isinstance(review_id, int) and 0 < review_id < 2**62:
        stmt = sa.select(break_glass_reviews).where(_B.id == review_id)
        if not unit.door.is_sqlite:
            stmt = stmt.with_for_update()
        row = unit.conn.execute(stmt).mappings().first()
    if row is None:
        shown = review_ref(review_id) if isinstance(review_id, int) else "none"
        unit.audit(action, Resource.BREAK_GLASS_REVIEW, shown, PolicyDecision(False, ("not-found",)))
        raise NotFound("no such break-glass review", code="break-glass-not-found")
    return row


def _subjects(conn: Connection, refs: list[str]) -> dict[str, str]:
    """Resource ref -> the ref of the taxpayer it belongs to (an entity's own, a module's owner)."""
    found: dict[str, str] = {}
    unique = sorted(set(refs))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        for (ref,) in conn.execute(sa.select(entities.c.ref).where(entities.c.ref.in_(chunk))):
            found[str(ref)] = str(ref)
        for mref, eref in conn.execute(
            sa.select(tax_modules.c.ref, entities.c.ref)
            .select_from(tax_modules.join(entities, entities.c.id == tax_modules.c.entity_id))
            .where(tax_modules.c.ref.in_(chunk))
        ):
            found[str(mref)] = str(eref)
    return found


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
