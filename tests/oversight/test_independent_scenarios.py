"""The detectors on scenarios written apart from their simulator (independent_world.py).

Three weeks of an agency of our own, on ``taxvault synth``'s population, worked through
the real door; browsing of every kind planted in our own style. The scan and the alert
list are run as the commands an outside checker would run (``taxvault oversight scan``,
``taxvault oversight alerts --json``), and scored per kind: recall (an episode is found
when an alert of its rule cites one of its leaves) and strict precision (an alert is true
only when it cites a leaf of an episode of its rule, or of a kind that genuinely overlaps
it: ``independent_world.OVERLAPS``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from independent_world import KINDS, build, probes, score
from typer.testing import CliRunner

from store_factory import new_store
from taxvault.cli import app


def _cli(url: str, var: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"TAXVAULT_DATABASE_URL": url, "TAXVAULT_VAR_DIR": str(var)})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict[str, Any]]]:
    """Build once per module (SQLite: three weeks through the door take ~10 s), scan and list by the CLI."""
    tmp = tmp_path_factory.mktemp("independent")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAXVAULT_VAR_DIR", str(tmp / "var"))  # module fixtures run before the per-test one
        mp.delenv("TAXVAULT_DATABASE_URL", raising=False)
        stores = new_store("sqlite", request, tmp)
        engine = next(stores)
        try:
            world = build(engine)
            url = engine.url.render_as_string(hide_password=False)
            _cli(url, tmp / "var", "oversight", "scan")
            alerts: list[dict[str, Any]] = json.loads(_cli(url, tmp / "var", "oversight", "alerts", "--json"))
        finally:
            for _ in stores:
                pass
    assert {e.kind for e in world.episodes} == set(KINDS)
    assert all(e.leaves for e in world.episodes)
    return world.episodes, alerts


@pytest.fixture(scope="module")
def scored(run: tuple[Any, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    return score(*run)


@pytest.mark.parametrize("kind", KINDS)
def test_every_planted_kind_is_found(scored: dict[str, dict[str, float]], kind: str) -> None:
    assert scored[kind]["episodes"] >= 1
    assert scored[kind]["recall"] >= 0.95, scored[kind]


def test_alerts_are_mostly_true(scored: dict[str, dict[str, float]]) -> None:
    alerts = sum(f["alerts"] for f in scored.values())
    true = sum(f["true"] for f in scored.values())
    assert alerts >= len(KINDS)
    assert true / alerts >= 0.9, {k: f for k, f in scored.items() if f["true"] < f["alerts"]}


def test_a_fishing_session_is_not_a_burst(scored: dict[str, dict[str, float]]) -> None:
    """Look-ups that found nobody touched no taxpayer (a regression test of the burst rule's count)."""
    assert scored["burst"]["precision"] == 1.0, scored["burst"]


@pytest.mark.xfail(
    strict=True,
    reason="bursts are judged per hour (the issue: 'reads per hour'); a day at three "
    "times her pace with no hour far above her hours is not one (its reads are caught as no case)",
)
def test_probe_a_steady_day_at_three_times_her_pace(run: tuple[Any, list[dict[str, Any]]]) -> None:
    assert probes(*run)["a day at three times her pace, no hour far above her hours"]


@pytest.mark.xfail(
    strict=True,
    reason="off-hours are hours of the day, not days of the week: a Sunday session at "
    "her usual hours by someone who never works weekends is not flagged",
)
def test_probe_a_sunday_at_her_usual_hours(run: tuple[Any, list[dict[str, Any]]]) -> None:
    assert probes(*run)["a Sunday session at her usual hours (she never works weekends)"]
