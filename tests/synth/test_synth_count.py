"""``synth --taxpayers N``: about N people (whole households), exactly as many as planned and shown."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.cli import app
from taxvault.store import tables as t
from taxvault.synth.load import planned_people, synthesize

LARGEST_HOUSEHOLD = 5  # a couple filing jointly with three dependents


@pytest.mark.parametrize("n", [1, 7, 333, 1001])
def test_the_plan_is_what_is_made_and_what_progress_counts(db_engine: Engine, n: int) -> None:
    planned = planned_people(n, seed=5)
    seen: list[int] = []
    report = synthesize(db_engine, n, seed=5, progress=seen.append)
    e = t.entities.c
    with db_engine.connect() as conn:
        individuals = conn.execute(sa.select(sa.func.count()).where(e.kind == "individual")).scalar_one()
        households = conn.execute(sa.select(sa.func.count(sa.distinct(e.household_id))).where(e.kind == "individual"))
    assert individuals == planned == report.persons == sum(seen)
    assert households.scalar_one() == report.households
    assert n <= planned  # never fewer than asked ...


def test_whole_households_overshoot_by_less_than_the_last_chunk_misses() -> None:
    # ... and more only because the last chunk's households are kept whole: the
    # overshoot is small against the size (a chunk aims at the people still missing).
    for n, seed in ((10_000, 1), (2_500, 11), (50_000, 3)):
        over = planned_people(n, seed) - n
        assert 0 <= over < max(LARGEST_HOUSEHOLD, n // 50), (n, seed, over)
    assert planned_people(10_000, 1) == 10_008  # the figure the README's store is built with


def test_the_bar_and_the_summary_say_what_was_made(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0
    result = runner.invoke(app, ["synth", "--taxpayers", "300", "--seed", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    made = planned_people(300, 2)
    assert made != 300  # this size overshoots: the summary says why
    assert f"{made}/{made}" in result.output and "/300 " not in result.output
    assert f"{made:,} people (300 asked; households stay whole)" in result.output
