"""Done-when of issue 12: kill -9 the real server under load, restart it.

Every request that got a 200 has its audit event (by request id), heads were signed
at least every signing interval while events arrived, and after the restart a
signed head covers the whole log within the interval (verify: no unsigned tail).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from taxvault.audit.event import AuditEvent
from taxvault.audit.export import verify_store
from taxvault.audit.log import AuditLog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "access"))
from access_world import build_world, module_ref

INTERVAL = 1.0
SLACK = 0.3  # scheduling on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        TAXVAULT_DATABASE_URL=url,
        TAXVAULT_AUDIT_STH_SECONDS=str(INTERVAL),
        TAXVAULT_RATE_LIMIT="100000",
        TAXVAULT_RATE_BURST="100000",
    )
    taxvault = Path(sys.executable).with_name("taxvault")
    with log_path.open("ab") as out:
        proc = subprocess.Popen([str(taxvault), "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the server did not come up: " + log_path.read_text())


def drive(base: str, headers: dict[str, str], path: str, seconds: float, threads: int = 4) -> list[str]:
    """Requests from a few threads; returns the X-Request-ID of every 200."""
    ok: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            while time.monotonic() < stop:
                try:
                    r = client.get(path, headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    with lock:
                        ok.append(r.headers["x-request-id"])

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return ok


@pytest.mark.slow  # two server start-ups (~3 s of imports each), 2 s of load, one signing interval
def test_kill_9_under_load_then_restart(db_engine: Engine, tmp_path: Path) -> None:
    tokens = build_world(db_engine)
    url = db_engine.url.render_as_string(hide_password=False)
    headers = {"Authorization": f"Bearer {tokens['cw-alice']}", "Purpose-Of-Use": "collection"}
    path = f"/v1/modules/{module_ref('tp')}/transcript"
    port = free_port()
    server_log = tmp_path / "server.log"
    server = start_server(url, port, server_log)
    got: list[str] = []
    try:
        killer = threading.Timer(2.0, os.kill, (server.pid, signal.SIGKILL))
        killer.start()  # mid-load: the threads are still sending
        got = drive(f"http://127.0.0.1:{port}", headers, path, seconds=3.0)
        killer.join()
        assert server.wait(timeout=30) == -signal.SIGKILL
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert len(got) >= 20, server_log.read_text()
    killed_at = time.time()

    with AuditLog(db_engine) as log:
        size = log.tree_head().tree_size
        events = [log.event(i) for i in range(size)]
        heads_before = log.signed_tree_heads()
    recorded = {e.request_id for e in events}
    assert set(got) <= recorded, f"{len(set(got) - recorded)} answered requests have no audit event"
    assert heads_before, "no head was signed while the server ran"
    # while events arrived, each was under a signed head within the interval (the last second is the tail)
    for index, e in enumerate(events):
        if e.time.timestamp() < killed_at - 2 * INTERVAL - SLACK:
            assert _covered_within(heads_before, index, e) <= INTERVAL + SLACK, index

    restarted = start_server(url, port, server_log)
    up_at = time.time()
    try:
        time.sleep(INTERVAL + 0.5)
        with AuditLog(db_engine) as log:
            latest = log.latest_sth()
            assert latest is not None
            assert latest.tree_size == size, "the restarted server did not sign the pre-crash tail"
            assert latest.timestamp_ms / 1000 <= up_at + INTERVAL + SLACK
            report = verify_store(log, sth_interval=INTERVAL)
            assert report.ok, report.problems
            assert report.unsigned_tail is None
            assert report.verified_size == size
    finally:
        restarted.send_signal(signal.SIGTERM)  # graceful: uvicorn re-raises the signal after shutdown
        assert restarted.wait(timeout=30) in (0, -signal.SIGTERM), server_log.read_text()
    assert server_log.read_text().count("Application shutdown complete") == 1


def _covered_within(heads: list[Any], index: int, event: AuditEvent) -> float:
    """Seconds from the event's time to the first head that covers it (inf if none)."""
    first = min((h.timestamp_ms for h in heads if h.tree_size > index), default=None)
    if first is None:
        return float("inf")
    return float(first / 1000 - event.time.astimezone(dt.UTC).timestamp())
