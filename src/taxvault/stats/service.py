"""The stats answers through the door: decide, compute, charge and audit in one unit of work.

``answer`` is one write unit (``door.unit(session, write=True)``): the decision
(``release_stats`` on :attr:`Resource.STATS`), the true aggregates, the charge to the
analyst's budget and the audit event (carrying the shape's hash) commit together. A
refusal (policy, or the budget) is audited and nothing is charged or released.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from taxvault.access.door import Door, Session, Target
from taxvault.access.resources import Resource
from taxvault.errors import Invalid, TaxvaultError, Unavailable
from taxvault.stats import budget
from taxvault.stats.release import release, shape_hash
from taxvault.stats.shapes import Shape, truths
from taxvault.store.tables import principals

RELEASE = "release_stats"
SET_BUDGET = "set_stats_budget"


def audit_ref(digest: str) -> str:
    """The audit event's resource for an answer: the hash of what was asked."""
    return f"stats-{digest[:24]}"


def answer(door: Door, session: Session, shape: Shape, *, today: dt.date | None = None) -> dict[str, Any]:
    """A differentially private answer to ``shape`` for the session's analyst, with her budget left."""
    today = today or door.clock().date()
    spec = shape.spec(today)
    spec.check()  # Invalid before anything is read or charged
    digest = shape_hash(shape.description())
    ref = audit_ref(digest)
    fields = [f"{shape.measure}:{shape.field or shape.dataset}", *(f"by:{d}" for d in shape.by)]
    with door.unit(session, write=True) as unit:
        target = unit.locate(Resource.STATS, "")
        decided = unit.authorize(Resource.STATS, target, RELEASE)
        try:
            found = truths(unit.conn, shape, today)
            out = release(unit.conn, session.principal, found, spec, request_id=session.request_id, shape=digest)
        except TaxvaultError as exc:
            reason = "privacy-budget-spent" if isinstance(exc, budget.BudgetSpent) else f"release-failed:{exc.kind}"
            unit.audit(RELEASE, Resource.STATS, ref, decided.decision, fields, reason=reason)
            raise
        except Exception as exc:
            unit.audit(RELEASE, Resource.STATS, ref, decided.decision, fields, reason="release-failed:error")
            raise Unavailable("the statistics could not be computed; nothing was released or charged") from exc
        suppressed = sum(g.suppressed for g in out.groups)
        shape_of_answer = [f"answer:groups={len(out.groups)}", f"answer:suppressed={suppressed}", "answer:noised"]
        unit.audit(RELEASE, Resource.STATS, ref, decided.decision, [*fields, *shape_of_answer])
    return out.as_dict(shape.by)


def budget_left(door: Door, session: Session) -> dict[str, Any]:
    """The session's analyst's privacy budget: limits, spent, left (audited read)."""
    with door.unit(session) as unit:
        target = unit.locate(Resource.STATS, "")
        decided = unit.authorize(Resource.STATS, target, "read")
        left = budget.read(unit.conn, session.principal)
        unit.audit("read", Resource.STATS, target.ref, decided.decision, ["budget"])
    return {"principal": session.principal, **left.as_dict()}


def set_budget(door: Door, session: Session, analyst: str, *, epsilon: float, delta: float) -> dict[str, Any]:
    """Set ``analyst``'s limits (the privacy officer; audited; never below what is spent)."""
    if not 0 < epsilon <= 100 or not 0 <= delta < 1e-2:
        raise Invalid("epsilon must be in (0, 100] and delta in [0, 0.01)")
    with door.unit(session, write=True) as unit:
        roles = unit.conn.execute(sa.select(principals.c.roles).where(principals.c.id == analyst)).scalar()
        if roles is None or "analyst" not in str(roles).split():
            raise Invalid("budgets are for analysts: no analyst with that id")
        target = Target(analyst)
        decided = unit.authorize(Resource.STATS, target, SET_BUDGET)
        with unit.failures_recorded(SET_BUDGET, Resource.STATS, target, decided, "write-failed"):
            left = budget.set_limits(unit.conn, analyst, epsilon=epsilon, delta=delta)
        unit.audit(SET_BUDGET, Resource.STATS, target.ref, decided.decision, ["epsilon_limit", "delta_limit"])
    return {"principal": analyst, **left.as_dict()}
