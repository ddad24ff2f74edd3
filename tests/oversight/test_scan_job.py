"""The scheduled oversight pass in ``serve``: it runs on its timer, and a failing pass is retried."""

from __future__ import annotations

import time

import pytest
from review_world import door, module_ref, reads_by, world
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.oversight.job import ScanJob, scan_interval_seconds

__all__ = ["door", "world"]  # fixtures


def _wait(predicate: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_the_job_scans_on_its_timer(world: Engine, door: Door) -> None:
    door.refuse("nobody", "authenticate", "principal-inactive-or-unknown", request_id="cli-0")  # no ":" kind
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    job = ScanJob(door, every_seconds=0.05).start()
    try:
        _wait(lambda: job.passes >= 1)
    finally:
        job.stop()
    assert job.failures == 0 and job.last is not None and job.last["end_leaf"] >= leaves[-1] + 1


def test_a_failing_pass_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def broken() -> Door:
        calls.append(1)
        raise RuntimeError("store unreachable")

    job = ScanJob(broken, every_seconds=0.01).start()
    try:
        _wait(lambda: job.failures >= 3)
    finally:
        job.stop()
    assert job.passes == 0 and len(calls) >= 3
    assert "oversight scan failed" in caplog.text


@pytest.mark.parametrize(("value", "expected"), [("", 60.0), ("5", 5.0), ("0", 0.0)])
def test_interval_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: float) -> None:
    monkeypatch.setenv("TAXVAULT_OVERSIGHT_SCAN_SECONDS", value)
    assert scan_interval_seconds() == expected


@pytest.mark.parametrize("value", ["soon", "-1", "100000"])
def test_bad_interval_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TAXVAULT_OVERSIGHT_SCAN_SECONDS", value)
    with pytest.raises(ValueError, match="TAXVAULT_OVERSIGHT_SCAN_SECONDS"):
        scan_interval_seconds()


def test_a_scan_is_decided_and_audited_as_sys_oversight_and_refused_when_it_is_deactivated(
    world: Engine, door: Door
) -> None:
    """The detectors read taxpayers' addresses and cases: the scan goes through the door like any job."""
    import sqlalchemy as sa

    from taxvault.audit import AuditLog
    from taxvault.errors import Unauthenticated
    from taxvault.oversight.job import run_once
    from taxvault.store.tables import principals

    reads_by(door, "cw-alice", [module_ref("tp")])
    log = AuditLog(world)
    try:
        before = log.tree_head().tree_size
        first = run_once(door)
        scanned = [log.event(i) for i in range(before, log.tree_head().tree_size)]
        mine = [e for e in scanned if e.action == "scan_for_browsing:oversight_scan"]
        assert len(mine) == 1 and mine[0].principal == "sys-oversight" and mine[0].decision.value == "allow"
        assert "address" in mine[0].fields and mine[0].channel == "job"

        reads_by(door, "cw-alice", [module_ref("tp")])
        with world.begin() as conn:
            conn.execute(sa.update(principals).where(principals.c.id == "sys-oversight").values(active=False))
        with pytest.raises(Unauthenticated):
            run_once(door)
        with world.begin() as conn:
            conn.execute(sa.update(principals).where(principals.c.id == "sys-oversight").values(active=True))
        again = run_once(door)
        assert again["start_leaf"] == first["end_leaf"], "the refused pass scanned nothing"
    finally:
        log.close()
