"""The oversight job: one scan pass, and the same pass on a timer inside ``taxvault serve``.

One pass: the incremental scan of the audit log (:func:`taxvault.oversight.scan.scan`,
resuming from its cursor), the break-glass accesses left unreviewed too long (as of
now), and the letters a confirmed UNAX still owes (a letter that failed is retried).

In ``serve`` a daemon thread runs a pass every ``TAXVAULT_OVERSIGHT_SCAN_SECONDS``
(default 60). Like the tree-head signer (:mod:`taxvault.audit.periodic`), a failing
pass (store unreachable, a detector error) is logged and retried on the next tick;
it never takes the server down.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from taxvault.access.door import Door, Target
from taxvault.access.resources import Resource
from taxvault.access.system_principals import OVERSIGHT
from taxvault.oversight.break_glass import raise_unreviewed
from taxvault.oversight.letters import issue_letters, letters_pending

log = logging.getLogger("taxvault.oversight")

INTERVAL_ENV = "TAXVAULT_OVERSIGHT_SCAN_SECONDS"
DEFAULT_INTERVAL = 60.0


def scan_interval_seconds() -> float:
    """``TAXVAULT_OVERSIGHT_SCAN_SECONDS`` (default 60; 0 turns the scheduled scan off)."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= 86_400:
        raise ValueError(f"{INTERVAL_ENV} must be between 0 and 86400 seconds")
    return value


SCAN_FIELDS = ("audit_events", "address", "last_name", "spouse", "cases", "grants", "break_glass_reviews")
"""What a scan reads besides the events (names of facts, recorded in its audit event)."""


def authorize_scan(door: Door) -> None:
    """The scan is a job like the others: sys-oversight, decided by policy and audited before it reads.

    A deactivated or unpermitted sys-oversight is refused (audited) and nothing is scanned.
    """
    session = door.system_session(OVERSIGHT, purpose="oversight")
    with door.unit(session) as unit:
        target = Target("audit-log")
        decided = unit.authorize(Resource.OVERSIGHT_SCAN, target, "scan_for_browsing")
        unit.audit("scan_for_browsing", Resource.OVERSIGHT_SCAN, target.ref, decided.decision, SCAN_FIELDS)


def run_once(
    door: Door,
    *,
    limit: int | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """One pass: scan, unreviewed break-glass, pending letters; returns what it did.

    ``progress(done, total)``: events scanned so far of those to scan (see :func:`scan`).
    """
    from taxvault.oversight.scan import scan

    authorize_scan(door)
    report = scan(door.engine, limit=limit, progress=progress).to_json()
    with door.engine.begin() as conn:
        stale = raise_unreviewed(conn, now=now or dt.datetime.now(dt.UTC))
        pending = letters_pending(conn)
    letters: list[str] = []
    failed = 0
    for ref in pending:
        try:
            letters.extend(issue_letters(door, ref))
        except Exception:  # one alert's letter failing does not stop the others
            failed += 1
            log.exception("UNAX letter not written; retried on the next pass", extra={"alert": ref})
    from taxvault.oversight.grants import run_expiry

    report["grants_ended"] = run_expiry(door, now=now)  # grants past their time box: ended, keys shredded
    report["break_glass_unreviewed"] = len(stale)
    report["letters"] = len(letters)
    report["letters_failed"] = failed
    return report


class ScanJob:
    """Runs :func:`run_once` every ``every_seconds`` on a daemon thread, until :meth:`stop`."""

    def __init__(self, door: Door | Callable[[], Door], *, every_seconds: float = DEFAULT_INTERVAL) -> None:
        self._door = door  # or how to get it: the server builds its door on first use
        self.every_seconds = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oversight-scan", daemon=True)
        self.passes = 0
        self.failures = 0
        self.last: dict[str, Any] | None = None

    def start(self) -> ScanJob:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current pass and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                door = self._door if isinstance(self._door, Door) else self._door()
                self.last = run_once(door)
                self.passes += 1
            except Exception:
                self.failures += 1
                log.exception("oversight scan failed; retried in %.0f s", self.every_seconds)
