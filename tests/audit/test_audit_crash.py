"""SIGKILL mid-append: every append that had returned is in the log, and the log verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers_audit import event
from sqlalchemy.engine import Engine

from taxvault.audit.export import verify_store
from taxvault.audit.log import AuditLog

CHILD = r"""
import sys, threading
sys.path.insert(0, sys.argv[2])
from helpers_audit import event
from taxvault.audit.log import AuditLog
from taxvault.store import make_engine

log = AuditLog(make_engine(sys.argv[1]))
lock = threading.Lock()

def worker(k):
    n = k * 1_000_000
    while True:
        index = log.append(event(n))
        with lock:  # reported only after append() returned, i.e. after commit
            sys.stdout.write(f"{index} {n}\n")
            sys.stdout.flush()
        n += 1
        if n % 50 == 0:
            log.append_many([event(k * 1_000_000 + 900_000 + n + j) for j in range(20)])

for k in range(8):
    threading.Thread(target=worker, args=(k,), daemon=True).start()
threading.Event().wait()
"""


def test_sigkill_mid_append_loses_nothing_that_returned(db_engine: Engine, key_path: Path) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged: dict[int, int] = {}
    try:
        for line in child.stdout:
            index, n = map(int, line.split())
            acknowledged[index] = n
            if len(acknowledged) >= 400:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)  # mid-append: eight threads are always appending
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 400

    with AuditLog(db_engine, key_path=key_path) as log:
        size = log.tree_head().tree_size
        assert size >= max(acknowledged) + 1
        for index, n in acknowledged.items():
            assert log.event(index) == event(n)
        log.sign_tree_head()
        report = verify_store(log)
        assert report.ok, report.problems
        assert report.events == size
        # the log keeps working after the crash
        assert log.append(event(7)) == size
