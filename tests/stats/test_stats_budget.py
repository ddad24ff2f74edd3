"""Privacy budgets: answers charge epsilon (and delta) atomically with their audit event;
an answer the budget cannot pay for is refused, audited, and leaves the store unchanged;
only analysts get answers, only the privacy officer sets budgets."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from helpers_stats import events, session_of
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.audit import Decision
from taxvault.errors import Denied, Invalid, TaxvaultError
from taxvault.stats import budget, service
from taxvault.stats.shapes import Shape
from taxvault.stats.tables import stats_budgets, stats_charges
from taxvault.store import tables as t
from taxvault.synth.load import synthesize

COUNT = Shape(measure="count", by=("state",), year=2024, epsilon=0.4)
WAGES = Shape(measure="sum", field="wages_cents", bounds_cents=(0, 25_000_000), by=("state",), year=2024, epsilon=0.4)


@pytest.fixture
def population(db_engine: Engine) -> Engine:
    """A smaller population than the conftest's: budgets do not depend on its size."""
    synthesize(db_engine, 500, 5)
    return db_engine


def _limit(engine: Engine, principal: str, epsilon: float, delta: float = 1e-5) -> None:
    with engine.begin() as conn:
        budget.set_limits(conn, principal, epsilon=epsilon, delta=delta)


def _store(engine: Engine) -> tuple[list[Any], int]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(stats_budgets).order_by(stats_budgets.c.principal_id))]
        charges = conn.execute(sa.select(sa.func.count()).select_from(stats_charges)).scalar_one()
    return rows, int(charges)


def test_two_answers_charge_and_the_third_over_budget_is_refused_and_audited(door: Door, population: Engine) -> None:
    _limit(population, "ana-001", 1.0)
    ana = session_of(door, "ana-001")
    first = service.answer(door, ana, COUNT)
    assert first["budget"]["epsilon_spent"] == pytest.approx(0.4) and first["budget"]["epsilon_left"] == 0.6
    second = service.answer(door, ana, WAGES)
    assert second["budget"]["epsilon_left"] == pytest.approx(0.2)
    before = _store(population)
    assert before[1] == 2
    size = door.audit.tree_head().tree_size

    with pytest.raises(Denied) as refused:
        service.answer(door, ana, COUNT)
    assert refused.value.code == "privacy-budget-spent"
    assert "0.4" in str(refused.value) and "0.2" in str(refused.value)

    assert _store(population) == before  # nothing charged, nothing written
    log = events(door)
    assert len(log) == size + 1
    last = log[-1]
    assert last.principal == "ana-001" and last.action == "release_stats:stats"
    assert last.decision == Decision.DENY and "privacy-budget-spent" in (last.policy or "")
    allowed = [e for e in log if e.action == "release_stats:stats" and e.decision == Decision.ALLOW]
    assert len(allowed) == 2
    assert {e.resource for e in allowed} == {service.audit_ref(first["shape"]), service.audit_ref(second["shape"])}
    assert "by:state" in allowed[0].fields and "count:returns" in allowed[0].fields
    assert "answer:groups=56" in allowed[0].fields and "answer:noised" in allowed[0].fields
    assert any(f.startswith("answer:suppressed=") for f in allowed[0].fields)

    exact = service.answer(door, ana, COUNT.model_copy(update={"epsilon": 0.2}))  # spends exactly what is left
    assert exact["budget"]["epsilon_left"] == 0.0
    with pytest.raises(Denied):
        service.answer(door, ana, COUNT.model_copy(update={"epsilon": 0.001}))


def test_gaussian_answers_charge_delta_too(door: Door, population: Engine) -> None:
    _limit(population, "ana-001", 5.0, delta=2e-6)
    ana = session_of(door, "ana-001")
    shape = COUNT.model_copy(update={"mechanism": "gaussian", "delta": 1e-6})
    out = service.answer(door, ana, shape)
    assert out["mechanism"] == "gaussian" and out["budget"]["delta_spent"] == pytest.approx(1e-6)
    service.answer(door, ana, shape)
    with pytest.raises(Denied) as refused:  # epsilon is left, delta is not
        service.answer(door, ana, shape)
    assert refused.value.code == "privacy-budget-spent"
    assert service.budget_left(door, ana)["epsilon_left"] == pytest.approx(4.2)


def test_budgets_are_per_analyst_and_start_at_the_default(door: Door, population: Engine) -> None:
    _limit(population, "ana-001", 0.5)
    service.answer(door, session_of(door, "ana-001"), COUNT)
    other = service.budget_left(door, session_of(door, "ana-002"))
    assert other["epsilon_spent"] == 0 and other["epsilon_limit"] == budget.DEFAULT_EPSILON
    assert service.answer(door, session_of(door, "ana-002"), COUNT)["budget"]["epsilon_left"] == pytest.approx(4.6)


def test_concurrent_answers_never_spend_more_than_the_limit(door: Door, population: Engine) -> None:
    _limit(population, "ana-001", 1.0)
    outcomes: list[str] = []
    lock = threading.Lock()

    def ask() -> None:
        try:
            service.answer(door, session_of(door, "ana-001"), COUNT.model_copy(update={"epsilon": 0.3}))
            result = "ok"
        except TaxvaultError as exc:
            result = exc.code or exc.kind
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(outcomes) == ["ok"] * 3 + ["privacy-budget-spent"] * 3
    rows, charges = _store(population)
    assert charges == 3
    assert rows[0][2] == 900_000  # epsilon_spent_micro: exactly three charges of 0.3


def test_only_analysts_for_research_get_answers(door: Door, population: Engine) -> None:
    for who, purpose in (("eng-001", "research"), ("ovs-privacy", "research"), ("ana-001", "collection")):
        with pytest.raises(Denied):
            service.answer(door, session_of(door, who, purpose), COUNT)
        last = events(door)[-1]
        assert last.principal == who and last.decision == Decision.DENY and last.action.startswith("release_stats")
    assert _store(population) == ([], 0)


def test_a_caseworker_gets_no_statistics(door: Door, population: Engine) -> None:
    with population.connect() as conn:
        cw = conn.execute(
            sa.select(t.principals.c.id).where(t.principals.c.roles.contains("caseworker")).limit(1)
        ).scalar_one()
    with pytest.raises(Denied):
        service.answer(door, session_of(door, cw, "collection"), COUNT)
    with pytest.raises(Denied):
        service.budget_left(door, session_of(door, cw, "collection"))


def test_the_privacy_officer_sets_budgets_never_below_what_is_spent(door: Door, population: Engine) -> None:
    officer = session_of(door, "ovs-privacy", "oversight_review")
    out = service.set_budget(door, officer, "ana-001", epsilon=1.5, delta=1e-6)
    assert out["epsilon_limit"] == 1.5
    service.answer(door, session_of(door, "ana-001"), COUNT.model_copy(update={"epsilon": 1.0}))
    with pytest.raises(Invalid):
        service.set_budget(door, officer, "ana-001", epsilon=0.5, delta=1e-6)
    with pytest.raises(Invalid):
        service.set_budget(door, officer, "eng-001", epsilon=2, delta=0)
    with pytest.raises(Denied):  # an analyst cannot raise her own budget
        service.set_budget(door, session_of(door, "ana-001", "oversight_review"), "ana-001", epsilon=9, delta=0)
    assert service.budget_left(door, session_of(door, "ana-001"))["epsilon_left"] == pytest.approx(0.5)
    last_set = [e for e in events(door) if e.action == "set_stats_budget:stats"]
    assert [e.decision for e in last_set][:1] == [Decision.ALLOW] and last_set[-1].decision == Decision.DENY
