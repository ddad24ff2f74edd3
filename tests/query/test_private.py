"""Analysts' plans are answered with differential privacy: budget charged with the audit event, refused when spent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.local import local_door
from taxvault.audit import Decision
from taxvault.errors import Denied, Invalid
from taxvault.query.plan import Plan
from taxvault.query.service import Answer, ask
from taxvault.stats import budget
from taxvault.stats.tables import stats_charges
from taxvault.synth.load import synthesize


@pytest.fixture
def door(db_engine: Engine) -> Iterator[Door]:
    synthesize(db_engine, 400, 9)
    with local_door(db_engine) as d:
        yield d


def _ask(door: Door, plan: Mapping[str, object], who: str = "ana-001") -> Answer:
    session = door.session(door.caller(who), "statistics", channel="cli")
    result = ask(door, session, plan=Plan.model_validate(plan))
    assert isinstance(result, tuple)
    return result[1]


def _charges(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(stats_charges)).scalar_one())


def test_an_average_is_a_noisy_sum_over_a_noisy_count_with_bounds_said(door: Door) -> None:
    got = _ask(
        door, {"source": "returns", "aggregates": [{"fn": "avg", "field": "wages"}], "group_by": ["filing_status"]}
    )
    assert got.noise is not None and set(got.noise["releases"]) == {"count", "sum_wages"}
    assert got.noise["releases"]["sum_wages"]["bounds"] == [0, 50_000_000]
    assert got.rows and all(isinstance(r["avg_wages"], int) for r in got.rows)
    assert _charges(door.engine) == 2


def test_the_budget_is_charged_and_a_spent_budget_refuses_and_is_audited(door: Door) -> None:
    with door.engine.begin() as conn:
        budget.set_limits(conn, "ana-002", epsilon=0.6, delta=1e-6)
    plan = {"source": "taxpayers", "aggregates": [{"fn": "count"}], "group_by": ["state"]}
    first = _ask(door, plan, "ana-002")
    assert first.noise is not None and first.noise["budget"]["epsilon_left"] == pytest.approx(0.1)
    before = _charges(door.engine)
    with pytest.raises(Denied, match="budget"):
        _ask(door, plan, "ana-002")
    assert _charges(door.engine) == before  # nothing charged, nothing released
    ev = door.audit.event(door.audit.tree_head().tree_size - 1)
    assert ev.principal == "ana-002" and ev.decision == Decision.DENY and ev.resource == Plan.model_validate(plan).ref


@pytest.mark.parametrize(
    "plan",
    [
        {"source": "transactions", "aggregates": [{"fn": "count"}], "group_by": ["tc"]},  # no public list of codes
        {"source": "returns", "aggregates": [{"fn": "count_distinct", "field": "form"}]},
        {
            "source": "taxpayers",
            "aggregates": [{"fn": "count"}],
            "filters": [{"field": "returns.wages", "op": ">", "value": 1}],
        },
    ],
    ids=["group-without-public-list", "distinct-count", "one-to-many-join"],
)
def test_what_cannot_be_private_is_refused_before_any_charge(door: Door, plan: dict[str, object]) -> None:
    with pytest.raises(Invalid):
        _ask(door, plan)
    assert _charges(door.engine) == 0
    assert door.audit.event(door.audit.tree_head().tree_size - 1).decision == Decision.DENY


def test_the_epsilon_per_release_is_configurable(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_ASK_EPSILON", "0.1")
    got = _ask(door, {"source": "taxpayers", "aggregates": [{"fn": "count"}]})
    assert got.noise is not None and got.noise["epsilon_per_release"] == 0.1
    assert got.noise["budget"]["epsilon_spent"] == pytest.approx(0.1)
    monkeypatch.setenv("TAXVAULT_ASK_EPSILON", "50")
    with pytest.raises(Invalid, match="TAXVAULT_ASK_EPSILON"):
        _ask(door, {"source": "taxpayers", "aggregates": [{"fn": "count"}]})
