"""The alert review queue: the two-person rule, nobody reviews herself, every outcome audited."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from review_world import (
    alert,
    build,
    door_over,
    entity_ref,
    last_event,
    module_ref,
    reads_by,
    root_conftest,
    session,
    state_of,
)
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.errors import Conflict, Denied, Invalid, NotFound, TaxvaultError
from taxvault.oversight.queue import get_alert, list_alerts
from taxvault.oversight.review import review_alert


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One world per store for the module: every test raises its own alerts (their own dedupe keys)."""
    tmp = tmp_path_factory.mktemp("review")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAXVAULT_VAR_DIR", str(tmp / "var"))  # the world's TIN keys, never the developer's ./var
        for engine in root_conftest(request.config).new_store(request.param, request, tmp):
            build(engine)
            yield engine


@pytest.fixture
def door(world: Engine) -> Iterator[Door]:
    with door_over(world) as d:
        yield d


def _key() -> str:
    return uuid.uuid4().hex


REASON = "reviewed the case file: the access was duty-related"
Step = tuple[str, str, str | None]  # who, action, reason

# (steps that succeed first, then the step under test, the error it raises (or None), the state after)
CASES: list[tuple[str, list[Step], Step, type[TaxvaultError] | None, str | None, str]] = [
    ("first confirmation waits for a second", [], ("ovs-a", "confirm", None), None, None, "confirming"),
    ("two different reviewers confirm", [("ovs-a", "confirm", None)], ("ovs-b", "confirm", None), None, None,
     "confirmed"),
    ("the same reviewer twice is refused", [("ovs-a", "confirm", None)], ("ovs-a", "confirm", None), Denied,
     "confirmed-twice", "confirming"),
    ("the employee under review never reviews her alert", [], ("ovs-d", "dismiss", REASON), Denied,
     "under-review", "open"),
    ("nor confirms it as second person", [("ovs-a", "confirm", None)], ("ovs-d", "confirm", None), Denied,
     "under-review", "confirming"),
    ("the subject taxpayer never reviews", [], ("ovs-c", "confirm", None), Denied, "related-to-subject", "open"),
    ("only oversight reviews", [], ("mgr-carol", "dismiss", REASON), Denied, "not-oversight", "open"),
    ("the oversight job reads the queue, never reviews", [], ("sys-oversight", "confirm", None), Denied,
     "not-oversight", "open"),
    ("dismissing needs a reason", [], ("ovs-a", "dismiss", None), Invalid, "review-reason", "open"),
    ("a reason never carries a TIN", [], ("ovs-a", "dismiss", "taxpayer 900-02-0001 is fine"), Invalid,
     "review-reason-tin", "open"),
    ("dismissed with a reason", [], ("ovs-a", "dismiss", REASON), None, None, "dismissed"),
    ("a second reviewer may dismiss a first confirmation", [("ovs-a", "confirm", None)],
     ("ovs-b", "dismiss", REASON), None, None, "dismissed"),
    ("dismissed is final", [("ovs-a", "dismiss", REASON)], ("ovs-b", "confirm", None), Conflict,
     "already-dismissed", "dismissed"),
    ("confirmed is final", [("ovs-a", "confirm", None), ("ovs-b", "confirm", None)], ("ovs-d", "refer", REASON),
     Denied, "under-review", "confirmed"),
    ("confirmed is final for others too", [("ovs-a", "confirm", None), ("ovs-b", "confirm", None)],
     ("ovs-a", "dismiss", REASON), Conflict, "already-confirmed", "confirmed"),
    ("referred", [], ("ovs-a", "refer", REASON), None, None, "referred"),
    ("referred once", [("ovs-a", "refer", REASON)], ("ovs-b", "refer", REASON), Conflict, "already-referred",
     "referred"),
    ("a referred alert is confirmed by two", [("ovs-a", "refer", REASON), ("ovs-b", "confirm", None)],
     ("ovs-a", "confirm", None), None, None, "confirmed"),
]  # fmt: skip


@pytest.mark.parametrize(("steps", "step", "error", "code", "state"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_review_rules(
    world: Engine,
    door: Door,
    steps: list[Step],
    step: Step,
    error: type[TaxvaultError] | None,
    code: str | None,
    state: str,
) -> None:
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    ref = alert(world, "ovs-d", entity_ref("tp"), leaves, _key())
    for who, action, reason in steps:
        review_alert(door, session(door, who), ref, action, reason)  # type: ignore[arg-type]
    who, action, reason = step
    before = door.audit.tree_head().tree_size
    if error is None:
        done = review_alert(door, session(door, who), ref, action, reason)  # type: ignore[arg-type]
        assert done.state == state
    else:
        with pytest.raises(error) as info:
            review_alert(door, session(door, who), ref, action, reason)  # type: ignore[arg-type]
        assert info.value.code == code
        assert "900" not in str(info.value)
    assert state_of(world, ref) == state
    # every outcome is one event, through the door: who, what, which alert, allowed or not and why
    assert door.audit.tree_head().tree_size == before + 1
    ev = last_event(door)
    cedar = {"confirm": "confirm_unax", "dismiss": "dismiss_alert", "refer": "refer_alert"}[action]
    assert (ev.principal, ev.action, ev.resource) == (who, f"{cedar}:oversight_alert", ref)
    assert (ev.decision.value == "allow") == (error is None)
    if code is not None:
        assert code in (ev.policy or "")


@pytest.mark.parametrize("bad", ["l00000000000000000000", "123-45-6789", "", "L!"])
def test_unknown_alert_is_not_found_and_audited(world: Engine, door: Door, bad: str) -> None:
    alert(world, "cw-alice", entity_ref("tp"), [], _key())
    with pytest.raises(NotFound) as info:
        review_alert(door, session(door, "ovs-a"), bad, "confirm")
    assert info.value.code == "alert-not-found"
    ev = last_event(door)
    assert ev.decision.value == "deny" and ev.policy == "not-found" and ev.principal == "ovs-a"
    assert ev.resource == (bad if bad.startswith("l0") else "none")  # never a TIN-shaped value in the log


def test_history_and_listing(world: Engine, door: Door) -> None:
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    ref = alert(world, "cw-alice", entity_ref("tp"), leaves, _key())
    other = alert(world, "cw-alice", None, leaves, _key())
    review_alert(door, session(door, "ovs-a"), ref, "confirm")
    review_alert(door, session(door, "ovs-b"), ref, "confirm")
    review_alert(door, session(door, "ovs-b"), other, "dismiss", REASON)
    body = get_alert(door, session(door, "ovs-a"), ref)
    assert [(h["reviewer"], h["from"], h["to"]) for h in body["reviews"]] == [
        ("ovs-a", "open", "confirming"),
        ("ovs-b", "confirming", "confirmed"),
    ]
    assert body["confirmed_by"] == ["ovs-a", "ovs-b"]
    confirmed = {a["ref"]: a for a in list_alerts(door, session(door, "ovs-b"), state="confirmed")}
    dismissed = {a["ref"] for a in list_alerts(door, session(door, "ovs-b"), state="dismissed")}
    assert ref in confirmed and other not in confirmed and other in dismissed and ref not in dismissed
    mine = confirmed[ref]
    assert {"ref", "rule", "severity", "state", "principal", "subject", "leaves", "window", "summary"} <= set(mine)
    assert mine["leaves"] == leaves and mine["principal"] == "cw-alice" and mine["subject"] == entity_ref("tp")
    assert {ref, other} <= {a["ref"] for a in list_alerts(door, session(door, "ovs-b"))}
    with pytest.raises(Denied):
        list_alerts(door, session(door, "cw-alice", "collection"))
    assert last_event(door).decision.value == "deny"


@pytest.mark.parametrize(
    ("first", "second", "state"), [("ovs-a", "ovs-a", "confirming"), ("ovs-a", "ovs-b", "confirmed")]
)
def test_concurrent_confirmations_are_serialised(
    world: Engine, door: Door, first: str, second: str, state: str
) -> None:
    """Two confirmations at once: the row lock orders them, so one person can never count twice."""
    ref = alert(world, "cw-alice", entity_ref("tp"), [], _key())
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def confirm(who: str) -> None:
        s = session(door, who)
        barrier.wait()
        try:
            outcomes.append(review_alert(door, s, ref, "confirm").state)
        except Denied as exc:
            outcomes.append(str(exc.code))

    threads = [threading.Thread(target=confirm, args=(who,)) for who in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert state_of(world, ref) == state
    expected = ["confirming", "confirmed-twice"] if first == second else ["confirmed", "confirming"]
    assert sorted(outcomes) == sorted(expected)
