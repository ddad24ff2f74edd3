"""Break-glass review: the employee's manager upholds or refers, with a reason; unreviewed ones alert."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from review_world import door, entity_ref, last_event, module_ref, reads_by, session, world
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.tables import break_glass_reviews
from taxvault.errors import Conflict, Denied, Invalid, NotFound, TaxvaultError
from taxvault.oversight.break_glass import manager_queue, raise_unreviewed, review_break_glass
from taxvault.oversight.tables import oversight_alerts

__all__ = ["door", "world"]  # fixtures

NOW = dt.datetime.now(dt.UTC)
REASON = "the taxpayer called about a levy; the case was opened the next day"


def _queue(world: Engine, door: Door, who: str, age_days: float) -> int:
    leaf = reads_by(door, who, [module_ref("tp")])[0]
    with world.begin() as conn:
        key = conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=leaf, request_id="cli-0000000000000000", principal_id=who, action="read:module_transcript",
                resource=module_ref("tp"), purpose="collection", justification="taxpayer on the phone, urgent levy",
                created_at=NOW - dt.timedelta(days=age_days), state="pending",
            )
        ).inserted_primary_key  # fmt: skip
    assert key is not None
    return int(key[0])


Step = tuple[str, str, str | None]
CASES: list[tuple[str, str, list[Step], Step, type[TaxvaultError] | None, str | None, str]] = [
    ("her manager upholds", "cw-alice", [], ("mgr-carol", "uphold", REASON), None, None, "upheld"),
    ("her manager refers", "cw-alice", [], ("mgr-carol", "refer", REASON), None, None, "referred"),
    ("never her own", "cw-alice", [], ("cw-alice", "uphold", REASON), Denied, "own-break-glass", "pending"),
    ("a manager never reviews herself", "mgr-carol", [], ("mgr-carol", "uphold", REASON), Denied,
     "own-break-glass", "pending"),
    ("another unit's manager may not", "cw-alice", [], ("mgr-dan", "uphold", REASON), Denied, "not-her-manager",
     "pending"),
    ("oversight is not her manager", "cw-alice", [], ("ovs-a", "refer", REASON), Denied, "not-her-manager",
     "pending"),
    ("a reason is required", "cw-alice", [], ("mgr-carol", "uphold", None), Invalid, "review-reason", "pending"),
    ("reviewed once", "cw-alice", [("mgr-carol", "uphold", REASON)], ("mgr-carol", "refer", REASON), Conflict,
     "already-upheld", "upheld"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("employee", "steps", "step", "error", "code", "state"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_break_glass_review_rules(
    world: Engine,
    door: Door,
    employee: str,
    steps: list[Step],
    step: Step,
    error: type[TaxvaultError] | None,
    code: str | None,
    state: str,
) -> None:
    review_id = _queue(world, door, employee, 1)
    for who, action, reason in steps:
        review_break_glass(door, session(door, who, "break_glass_review"), review_id, action, reason)  # type: ignore[arg-type]
    who, action, reason = step
    s = session(door, who, "break_glass_review")
    if error is None:
        done = review_break_glass(door, s, review_id, action, reason)  # type: ignore[arg-type]
        assert done.state == state and (done.alert is not None) == (action == "refer")
    else:
        with pytest.raises(error) as info:
            review_break_glass(door, s, review_id, action, reason)  # type: ignore[arg-type]
        assert info.value.code == code
    with world.connect() as conn:
        row = conn.execute(sa.select(break_glass_reviews).where(break_glass_reviews.c.id == review_id)).mappings().one()
        referred = conn.execute(
            sa.select(oversight_alerts.c.principal_id, oversight_alerts.c.subject).where(
                oversight_alerts.c.rule == "break_glass_referred"
            )
        ).all()
    assert row["state"] == state
    if error is None:
        assert row["reviewer_id"] == who and row["reason"] == REASON
    assert referred == ([(employee, entity_ref("tp"))] if state == "referred" else [])
    ev = last_event(door)
    assert (ev.principal, ev.action, ev.resource) == (who, f"{action}_break_glass:break_glass_review",
                                                      f"break-glass-{review_id}")  # fmt: skip
    assert (ev.decision.value == "allow") == (error is None)
    if code is not None:
        assert code in (ev.policy or "")


def test_unknown_break_glass_review(world: Engine, door: Door) -> None:
    with pytest.raises(NotFound):
        review_break_glass(door, session(door, "mgr-carol", "break_glass_review"), 999, "uphold", REASON)
    ev = last_event(door)
    assert ev.decision.value == "deny" and ev.policy == "not-found" and ev.resource == "break-glass-999"


def test_unreviewed_break_glass_raises_an_alert_once(
    world: Engine, door: Door, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _queue(world, door, "cw-alice", 4)
    _queue(world, door, "cw-alice", 1)  # young enough
    reviewed = _queue(world, door, "cw-alice", 5)
    review_break_glass(door, session(door, "mgr-carol", "break_glass_review"), reviewed, "uphold", REASON)
    with world.begin() as conn:
        refs = raise_unreviewed(conn, now=NOW)
    with world.begin() as conn:
        assert raise_unreviewed(conn, now=NOW) == refs  # idempotent on its dedupe key
        rows = conn.execute(sa.select(oversight_alerts).where(oversight_alerts.c.rule == "break_glass_unreviewed"))
        alerts = rows.mappings().all()
    assert [(a["dedupe"], a["principal_id"], a["subject"]) for a in alerts] == [
        (f"break_glass_unreviewed:{old}", "cw-alice", entity_ref("tp"))
    ]
    monkeypatch.setenv("TAXVAULT_BREAK_GLASS_REVIEW_DAYS", "0.5")
    with world.begin() as conn:
        assert len(raise_unreviewed(conn, now=NOW)) == 2


def test_a_manager_sees_the_break_glass_of_her_reports_only(world: Engine, door: Door) -> None:
    alices = _queue(world, door, "cw-alice", 1)
    _queue(world, door, "mgr-carol", 1)  # carol's own: her manager (none here) would see it, not carol
    s = session(door, "mgr-carol", "break_glass_review")
    assert [r["id"] for r in manager_queue(door, s)] == [alices]
    assert manager_queue(door, session(door, "mgr-dan", "break_glass_review")) == []
    review_break_glass(door, s, alices, "uphold", REASON)
    assert manager_queue(door, s) == []
    assert [(r["id"], r["reviewer"], r["reason"]) for r in manager_queue(door, s, state="upheld")] == [
        (alices, "mgr-carol", REASON)
    ]
    for who in ("cw-alice", "ovs-a"):
        with pytest.raises(Denied):
            manager_queue(door, session(door, who, "break_glass_review"))
        assert last_event(door).decision.value == "deny"
