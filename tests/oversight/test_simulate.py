"""``taxvault oversight simulate``: a small month scores recall >= 0.95 and precision >= 0.9 for every kind."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.cli import app
from taxvault.oversight.scan import scan
from taxvault.oversight.simulate import KINDS, evaluate, read_truth, simulate


def test_a_small_month_meets_the_targets(db_engine: Engine, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    report = simulate(db_engine, employees=30, days=14, seed=23, truth=truth, per_kind=2)
    assert report.events > 3000 and set(report.planted) == set(KINDS)
    episodes = list(read_truth(truth))
    assert all(e["leaves"] and e["kind"] in KINDS for e in episodes)
    scan(db_engine)
    scores = evaluate(db_engine, truth)
    for kind in KINDS:
        s = scores[kind]
        assert s.planted >= 1 and s.recall >= 0.95 and s.precision >= 0.9, (kind, s)


def test_the_command(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0  # a store for real data: no simulated agency in it
    truth = tmp_path / "truth.jsonl"
    args = ["oversight", "simulate", "--employees", "12", "--days", "8", "--seed", "4", "--truth", str(truth)]
    refused = runner.invoke(app, [*args, "--per-kind", "1"])
    assert refused.exit_code == 1 and "init --synthetic" in refused.output and not truth.exists()
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0  # still empty: it may become a demo store
    result = runner.invoke(app, [*args, "--per-kind", "1", "--score"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert body["scan"]["events"] > 500
    assert all(v["recall"] >= 0.95 and v["precision"] >= 0.9 for v in body["scores"].values()), body["scores"]
    assert truth.exists() and "TIN" not in truth.read_text()
    # the alerts are there for the queue, as JSON
    listed = runner.invoke(app, ["oversight", "alerts", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output)


def test_the_command_needs_an_initialised_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["oversight", "simulate", "--employees", "12", "--days", "3", "--truth", str(tmp_path / "t.jsonl")]
    )
    assert result.exit_code == 1 and "taxvault init" in result.output
