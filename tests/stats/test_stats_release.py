"""Releases: small cells suppressed, true aggregates computed right (clamped, contributions
bounded), noise of the scale OpenDP calibrated (checked statistically over many draws)."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict

import pytest
import sqlalchemy as sa
from helpers_stats import session_of
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.resources import Resource
from taxvault.errors import Denied, Invalid
from taxvault.stats import service
from taxvault.stats.mechanisms import calibrate
from taxvault.stats.release import GroupTruth, Spec, release
from taxvault.stats.shapes import STATES, Shape, truths
from taxvault.store import tables as t


def _true_counts_by_state(engine: Engine, year: int) -> Counter[str]:
    """Independently: returns per taxpayer state (one return per taxpayer and year in this data)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.state, COUNT(*) FROM returns r JOIN entities e ON e.id = r.entity_id "
                "WHERE r.tax_year = :y GROUP BY e.state"
            ),
            {"y": year},
        )
        return Counter({state: int(n) for state, n in rows})


def test_small_cells_are_suppressed_and_the_rest_released_near_the_truth(door: Door, population: Engine) -> None:
    truth = _true_counts_by_state(population, 2024)
    out = service.answer(door, session_of(door, "ana-001"), Shape(measure="count", by=("state",), year=2024))
    groups = {g["state"]: g for g in out["groups"]}
    assert list(groups) == list(STATES)  # the public list of groups, whatever the data holds
    small = [s for s in STATES if truth[s] < 10]
    large = [s for s in STATES if truth[s] >= 10]
    assert small and large
    for s in small:
        assert groups[s]["suppressed"] is True and groups[s]["value"] is None
    assert out["noise_scale"] == 2.0  # one return per taxpayer in one year, epsilon 0.5
    for s in large:
        assert groups[s]["suppressed"] is False
        assert abs(groups[s]["value"] - truth[s]) <= 30  # 15 x the Laplace scale: p < 1e-6 per group
    assert out["k"] == 10


def test_a_larger_minimum_cell_suppresses_more(door: Door, population: Engine) -> None:
    truth = _true_counts_by_state(population, 2024)
    out = service.answer(door, session_of(door, "ana-001"), Shape(measure="count", by=("state",), year=2024, k=40))
    released = {g["state"] for g in out["groups"] if not g["suppressed"]}
    assert released == {s for s in STATES if truth[s] >= 40}
    with pytest.raises(ValueError, match="greater than or equal to 10"):
        Shape(measure="count", by=("state",), k=3)  # never below the default


def test_true_sums_are_clamped_per_record(door: Door, population: Engine) -> None:
    lo, hi = 0, 5_000_000  # $50,000: most wages are clamped
    shape = Shape(measure="sum", field="wages_cents", bounds_cents=(lo, hi), by=("state",), year=2024)
    expected: dict[str, int] = defaultdict(int)
    with population.connect() as conn:
        for state, wages in conn.execute(
            sa.select(t.entities.c.state, t.returns.c.wages_cents)
            .join(t.entities, t.entities.c.id == t.returns.c.entity_id)
            .where(t.returns.c.tax_year == 2024)
        ):
            expected[state] += min(max(int(wages), lo), hi)
        found = {g.key[0]: g.total for g in truths(conn, shape)}
    assert {s: v for s, v in found.items() if v} == {s: v for s, v in expected.items() if v}
    out = service.answer(door, session_of(door, "ana-001"), shape)
    assert out["noise_scale"] == hi / 0.5
    for g in out["groups"]:
        if not g["suppressed"]:
            assert abs(g["value"] - expected[g["state"]]) <= 15 * out["noise_scale"]


def test_each_taxpayer_contributes_at_most_max_contributions(population: Engine) -> None:
    shape = Shape(measure="count", dataset="information_returns", by=("form",), year=2024, max_contributions=1)
    with population.connect() as conn:
        found = {g.key[0]: g.count for g in truths(conn, shape)}
        payees = conn.execute(
            sa.select(sa.func.count(sa.distinct(t.information_returns.c.payee_id))).where(
                t.information_returns.c.tax_year == 2024, t.information_returns.c.payee_id.is_not(None)
            )
        ).scalar_one()
        records = conn.execute(
            sa.select(sa.func.count()).where(
                t.information_returns.c.tax_year == 2024, t.information_returns.c.payee_id.is_not(None)
            )
        ).scalar_one()
    assert records > payees  # some payees have several information returns
    assert sum(found.values()) == payees  # ...but each one counts once
    assert Shape(measure="count", dataset="information_returns", year=2024).contributions() == 4


def _discrete_laplace_variance(scale: float) -> float:
    q = math.exp(-1 / scale)
    return 2 * q / (1 - q) ** 2


@pytest.mark.parametrize(("mechanism", "sensitivity", "epsilon", "delta"), [
    ("laplace", 1, 0.5, 0.0),
    ("laplace", 12, 1.0, 0.0),
    ("gaussian", 3, 1.0, 1e-6),
])  # fmt: skip
def test_noise_has_the_calibrated_scale(mechanism: str, sensitivity: int, epsilon: float, delta: float) -> None:
    cal = calibrate(mechanism, sensitivity, epsilon, delta)  # type: ignore[arg-type]
    if mechanism == "laplace":
        assert cal.scale == sensitivity / epsilon
        variance = _discrete_laplace_variance(cal.scale)
    else:
        # the classic analytic bound sqrt(2 ln(1.25/delta)) / epsilon is looser than OpenDP's zCDP accounting
        assert sensitivity * 3 < cal.scale < sensitivity * math.sqrt(2 * math.log(1.25 / delta)) / epsilon
        variance = cal.scale**2
    draws = cal.release([1000] * 20_000)
    noise = [d - 1000 for d in draws]
    assert abs(statistics.fmean(noise)) < 4 * math.sqrt(variance / len(noise))
    assert statistics.pvariance(noise) == pytest.approx(variance, rel=0.08)
    assert len(set(draws)) > 10  # fresh noise on each value
    inside = sum(abs(n) <= cal.ci95() for n in noise) / len(noise)
    assert 0.93 <= inside <= 0.975


def test_release_for_the_query_service(door: Door, population: Engine) -> None:
    """The API the analyst path of ``taxvault ask`` calls inside its own write unit."""
    ana = session_of(door, "ana-001")
    groups = [GroupTruth(("CA",), 500, 0), GroupTruth(("WY",), 3, 0), GroupTruth(("TX",), 10, 0)]
    with door.unit(ana, write=True) as unit:
        target = unit.locate(Resource.STATS, "")
        decided = unit.authorize(Resource.STATS, target, service.RELEASE)
        out = release(unit.conn, ana.principal, groups, Spec("count", 1.0), request_id=ana.request_id, shape="h1")
        unit.audit(service.RELEASE, Resource.STATS, "stats-h1", decided.decision, ["count"])
    by = {g.key[0]: g for g in out.groups}
    assert by["WY"].suppressed and by["WY"].value is None
    assert not by["CA"].suppressed and abs((by["CA"].value or 0) - 500) < 30
    assert out.budget.epsilon_left == pytest.approx(4.0)
    with pytest.raises(Invalid):
        Spec("sum", 1.0).check()  # a sum without bounds could not be private
    with pytest.raises(Invalid):
        Spec("count", 1.0, delta=1e-6).check()  # Laplace spends no delta
    with door.unit(ana, write=True) as unit, pytest.raises(Denied):
        release(unit.conn, ana.principal, groups, Spec("count", 4.5), request_id=ana.request_id, shape="h2")
