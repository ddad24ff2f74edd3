"""The verifier's progress callback: per phase, increasing, ending at the total; the result unchanged.

The log of :mod:`test_audit_verify_store` (100 events, heads at 20, 40, 64), verified on the
store (SQLite and PostgreSQL) and from an export (one process and split across workers),
with small chunks so the leaves phase reports several times.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine
from test_audit_verify_store import HEADS, SIZE, build
from typer.testing import CliRunner

from taxvault.audit import cli, verifier
from taxvault.audit.export import export_log, verify_store
from taxvault.audit.log import AuditLog

Call = tuple[str, int, int]


def _record() -> tuple[list[Call], verifier.Progress]:
    calls: list[Call] = []

    def progress(phase: str, done: int, total: int) -> None:
        calls.append((phase, done, total))

    return calls, progress


def _check_phases(calls: list[Call], totals: dict[str, int]) -> dict[str, list[Call]]:
    """Phases come in order; within one, counts never go back and the last call is (total, total)."""
    order = [p for i, (p, _, _) in enumerate(calls) if i == 0 or calls[i - 1][0] != p]
    assert order == list(verifier.PHASES), order
    by_phase = {p: [c for c in calls if c[0] == p] for p in verifier.PHASES}
    for phase, seen in by_phase.items():
        counts = [done for _, done, _ in seen]
        assert counts == sorted(counts) and len(set(counts)) == len(counts), (phase, counts)
        assert all(done <= total for _, done, total in seen), seen
        assert seen[-1][1:] == (totals[phase], totals[phase]), (phase, seen)
    return by_phase


def test_verify_store_reports_each_phase_up_to_its_total(db_engine: Engine, key_path: Path) -> None:
    pem = build(db_engine, key_path)
    calls, progress = _record()
    with AuditLog(db_engine, key_path=key_path) as log:
        plain = verify_store(log, pem, check_events=True)
        followed = verify_store(log, pem, check_events=True, progress=progress, progress_every=16, chunk_level=3)
    assert followed.ok and dataclasses.asdict(followed) == dataclasses.asdict(plain)
    # heads: one signature each (no exported proofs on the store); consistency: the tree state + each head
    phases = _check_phases(calls, {"tree heads": len(HEADS), "leaves": SIZE, "consistency": len(HEADS) + 1})
    leaves = [done for _, done, _ in phases["leaves"]]
    assert leaves[0] == 0 and len(leaves) >= 5, leaves  # every 16 events (chunks of 8), not every event
    assert all(b - a >= 16 for a, b in itertools.pairwise(leaves[:-1])), leaves
    assert {total for _, _, total in phases["leaves"]} == {SIZE}  # the stored size was the expected total


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_export_counts_the_workers_parts(
    db_engine: Engine, key_path: Path, tmp_path: Path, workers: int
) -> None:
    pem = build(db_engine, key_path)
    with AuditLog(db_engine, key_path=key_path) as log:
        export_log(log, tmp_path / "export")
    calls, progress = _record()
    kwargs = {"workers": workers, "chunk_level": 4, "sth_interval": None}
    plain = verifier.verify_export(tmp_path / "export", pem, **kwargs)  # type: ignore[arg-type]
    followed = verifier.verify_export(
        tmp_path / "export",
        pem,
        progress=progress,
        progress_every=16,
        **kwargs,  # type: ignore[arg-type]
    )
    assert followed.ok and dataclasses.asdict(followed) == dataclasses.asdict(plain)
    # an export's heads carry consistency proofs: each head's signature, then each proof
    heads = len(verifier.read_sths(tmp_path / "export" / "sths.jsonl"))
    assert heads >= len(HEADS)
    _check_phases(calls, {"tree heads": 2 * heads - 1, "leaves": SIZE, "consistency": heads + 1})


def test_without_a_callback_nothing_is_counted() -> None:
    assert verifier._ticker(None, "leaves", 10, 1) is None
    calls, progress = _record()
    tick = verifier._ticker(progress, "leaves", 0, 4)  # total unknown: every 4, then the end
    assert tick is not None
    for done in range(11):
        tick.at(done)
    tick.end(10)
    assert calls == [("leaves", 0, 0), ("leaves", 4, 4), ("leaves", 8, 8), ("leaves", 10, 10)]


def test_cli_verify_shows_a_progress_bar_on_a_terminal(
    db_engine: Engine, key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(db_engine, key_path)
    monkeypatch.setenv("TAXVAULT_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TAXVAULT_AUDIT_KEY", str(key_path))
    monkeypatch.delenv("TAXVAULT_AUDIT_STH_SECONDS", raising=False)
    result = CliRunner().invoke(cli.app, ["verify", "--sth-interval", "0"])  # not a terminal: no bar
    assert result.exit_code == 0, result.output
    assert "leaves" not in result.stderr and result.stdout.startswith("OK: 100 events")
    screen = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=screen, force_terminal=True, width=100, soft_wrap=True))
    result = CliRunner().invoke(cli.app, ["verify", "--sth-interval", "0"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 100 events")  # the verdict stays alone on stdout
    drawn = screen.getvalue()
    for phase in verifier.PHASES:
        assert phase in drawn, drawn
    assert f"{SIZE}/{SIZE}" in drawn and f"{len(HEADS)}/{len(HEADS)}" in drawn
