"""The scan is incremental and idempotent: it resumes from its cursor and never raises a finding twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from sim_month import alerts_of
from sqlalchemy.engine import Engine

from taxvault.audit import AuditLog
from taxvault.oversight.scan import cursor, scan
from taxvault.oversight.simulate import evaluate, simulate

_STATE = ("oversight_cursors", "oversight_hourly", "oversight_subject_readers")


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in _STATE:
            conn.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


def test_scan_resumes_and_a_rescan_raises_nothing_new(db_engine: Engine, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    simulate(db_engine, employees=14, days=10, seed=5, truth=truth, per_kind=1)
    size = AuditLog(db_engine).tree_head().tree_size

    first = scan(db_engine, limit=size // 2, batch=700)
    assert (first.start_leaf, first.end_leaf, first.events) == (0, size // 2, size // 2)
    with db_engine.connect() as conn:
        assert cursor(conn)[0] == size // 2
    moves: list[tuple[int, int]] = []
    second = scan(db_engine, batch=700, progress=lambda done, total: moves.append((done, total)))
    assert (second.start_leaf, second.end_leaf) == (size // 2, size)
    todo = size - size // 2  # progress: once per batch, events judged of those to judge, ending at all
    assert moves == [(min(todo, k * 700), todo) for k in range(1, -(-todo // 700) + 1)], moves
    scores = evaluate(db_engine, truth)  # resumed in many small batches, every kind is still found
    assert all(s.recall == 1.0 for s in scores.values()), {k: s.recall for k, s in scores.items()}

    again = scan(db_engine)
    assert (again.events, again.new_alerts) == (0, 0)

    # A full rescan from the start (a lost cursor, a crash) finds the same things once more:
    _reset(db_engine)
    before = {a["dedupe"] for a in alerts_of(db_engine)}
    full = scan(db_engine)
    after = {a["dedupe"] for a in alerts_of(db_engine)}
    _reset(db_engine)
    repeat = scan(db_engine)
    assert repeat.events == size and repeat.alerts == full.alerts and repeat.new_alerts == 0
    assert {a["dedupe"] for a in alerts_of(db_engine)} == after >= before


def test_an_empty_log_scans_to_nothing(db_engine: Engine) -> None:
    report = scan(db_engine)
    assert (report.events, report.new_alerts, report.end_leaf) == (0, 0, 0)
    assert report.to_json()["events_per_second"] == 0


def _state(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        hourly = conn.execute(sa.text("SELECT * FROM oversight_hourly ORDER BY principal_id, hour")).all()
        readers = conn.execute(sa.text("SELECT * FROM oversight_subject_readers ORDER BY subject, day, principal_id"))
        return [tuple(r) for r in hourly] + [tuple(r) for r in readers]


def test_two_scans_at_once_count_each_batch_once(db_engine: Engine, tmp_path: Path) -> None:
    """The serve job and an operator's `taxvault oversight scan` may overlap: no batch is counted twice."""
    simulate(db_engine, employees=12, days=8, seed=9, truth=tmp_path / "truth.jsonl", per_kind=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: scan(db_engine, batch=400), range(2)))
    size = AuditLog(db_engine).tree_head().tree_size
    # Both start from leaf 0 (they overlap: the loser finds the cursor moved at its first write and
    # stops); without the cursor lock both would judge every batch and this sum would be twice the log.
    assert sum(r.events for r in reports) == size
    together = _state(db_engine)
    alerts = {a["dedupe"] for a in alerts_of(db_engine)}
    _reset(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM oversight_alerts"))
    alone = scan(db_engine, batch=400)
    assert alone.events == size
    assert _state(db_engine) == together
    assert {a["dedupe"] for a in alerts_of(db_engine)} == alerts
