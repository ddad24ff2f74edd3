"""The periodic signer: every event under a signed head within the interval; failures do not stop it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_audit import event
from sqlalchemy.engine import Engine

from taxvault.audit.export import verify_store
from taxvault.audit.log import AuditLog
from taxvault.audit.periodic import PeriodicSigner, sth_interval_seconds

INTERVAL = 0.5


def test_every_event_is_signed_within_the_interval(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        signer = PeriodicSigner(log, every_seconds=INTERVAL, every_appends=None).start()
        stop = time.monotonic() + 4 * INTERVAL
        n = 0

        def appender() -> None:
            nonlocal n
            while time.monotonic() < stop:
                log.append(dataclasses.replace(event(n), time=dt.datetime.now(dt.UTC)))
                n += 1
                time.sleep(0.005)

        thread = threading.Thread(target=appender)
        thread.start()
        thread.join()
        time.sleep(INTERVAL)  # the last events get their head without a stop
        heads = log.signed_tree_heads()
        assert heads and heads[-1].tree_size == n
        for index in range(n):
            e = log.event(index)
            first = min(h.timestamp_ms for h in heads if h.tree_size > index) / 1000
            assert first - e.time.timestamp() <= INTERVAL + 0.2, index
        signer.stop()
        assert signer.failures == 0
        assert verify_store(log, sth_interval=INTERVAL).ok


def test_signing_failures_are_logged_and_retried(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.sign_tree_head()  # creates the key
        key_path.chmod(0o644)  # now unusable: every sign fails
        fresh = AuditLog(db_engine, key_path=key_path)
        signer = PeriodicSigner(fresh, every_seconds=0.1).start()
        log.append_many([event(i) for i in range(3)])
        deadline = time.monotonic() + 5
        while signer.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert signer.failures >= 2
        with db_engine.begin() as conn:  # a store error (not an audit error) is survived as well
            conn.execute(sa.text("ALTER TABLE audit_sths RENAME TO audit_sths_gone"))
        key_path.chmod(0o600)
        before = signer.failures
        while signer.failures == before and time.monotonic() < deadline:
            time.sleep(0.02)
        with db_engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_sths_gone RENAME TO audit_sths"))
        while not signer.issued and time.monotonic() < deadline:
            time.sleep(0.02)
        signer.stop()
        fresh.close()
        assert signer.issued and signer.issued[-1].tree_size == 3


def test_interval_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAXVAULT_AUDIT_STH_SECONDS", raising=False)
    assert sth_interval_seconds() == 1.0
    monkeypatch.setenv("TAXVAULT_AUDIT_STH_SECONDS", "0.25")
    assert sth_interval_seconds() == 0.25
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv("TAXVAULT_AUDIT_STH_SECONDS", bad)
        with pytest.raises(ValueError, match="TAXVAULT_AUDIT_STH_SECONDS"):
            sth_interval_seconds()
