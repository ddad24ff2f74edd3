"""The load test's smoke setting end to end, and a checker that can fail (issue 16, items 3, 4).

Runs ``python -m loadtest.run --smoke`` (a fresh SQLite store, ``taxvault serve``, 5 locust
users for a few seconds, all subprocesses: locust patches with gevent and must never be
imported here) and its kill -9 fault (the server killed under load and restarted), then
runs the completeness checker again on the same records with responses no server gave, or
with a real response relabelled to another route: it must name them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow
KILL = ("--faults", "kill", "--fault-seconds", "10")


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXVAULT_")}
    return {**env, "TAXVAULT_VAR_DIR": str(work / "var"), "PYTHONPATH": str(ROOT)}


def _check(work: Path, records: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtest.check", str(records), "--sample", "5", *extra],
        env=_env(work),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_smoke_run_has_no_unaudited_response_and_the_checker_catches_one(tmp_path: Path) -> None:
    work = tmp_path / "lt"
    run = subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--smoke", "--seconds", "6", "--workdir", str(work), *KILL],
        env=_env(work),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "unaudited responses: 0" in run.stdout
    assert "lost acknowledged writes: 0 of" in run.stdout
    # kill -9 of the server under load, then a restart: still nothing unaudited, no acknowledged write lost
    assert "== kill (sqlite" in run.stdout and run.stdout.count("unaudited responses: 0") == 2
    summary = run.stdout.split("== summary")[1]
    assert "kill " in summary and "unaudited 0  lost writes 0" in summary.split("kill ")[1].splitlines()[0]
    killed = [json.loads(x) for x in (work / "runs" / "kill" / "locust.jsonl").read_text().splitlines()]
    assert any(r["status"] == 0 for r in killed) or "recovery" in summary  # the server was down for a while
    records = work / "runs" / "steady"
    lines = [json.loads(x) for x in (records / "locust.jsonl").read_text().splitlines()]
    ok = [r for r in lines if 200 <= r["status"] < 300]
    assert ok and all(r["rid"] == r["sent"] for r in lines)  # the server echoed the clients' request ids
    assert "TIN" not in (records / "locust.jsonl").read_text() and not any("tin" in r for r in lines)

    # Two 2xx responses no server gave: the checker must name both and fail.
    injected = _check(work, records, "--inject-unaudited", "2")
    assert injected.returncode == 1
    assert "unaudited responses: 2" in injected.stdout
    assert injected.stdout.count("ltfake") == 2

    # A real audited response claimed for another route: its one event has the wrong action.
    relabelled = tmp_path / "relabelled"
    relabelled.mkdir()
    victim = next(r for r in ok if r["route"] in ("transcript", "lookup", "notices"))
    victim["route"] = "notices" if victim["route"] == "transcript" else "transcript"
    (relabelled / "one.jsonl").write_text(json.dumps(victim) + "\n")
    wrong = _check(work, relabelled)
    assert wrong.returncode == 1
    assert "unaudited responses: 1" in wrong.stdout and "action" in wrong.stdout
