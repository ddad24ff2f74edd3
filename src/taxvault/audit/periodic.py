"""Periodic signed tree heads: a small background thread the server starts.

Every event must be covered by a signed tree head (STH) within ``every_seconds``
of its arrival: until then an administrator could rewrite it without a trace,
and ``taxvault audit verify`` reports a longer gap as an "unsigned tail". So
the thread polls the tree size often (``poll_seconds``) and signs as soon as the
tree has grown and the last head is older than the interval minus two polls
(the margin keeps a continuous stream of events inside the bound), or after
``every_appends`` new events. It signs once more on :meth:`stop`.

Signing reads the tree size (a read that blocks no writer), signs in memory and
inserts one small row, so appends wait at most one short commit for it. A
failure (store unreachable, key unreadable) is logged and retried on the next
poll: the signer never takes the server down with it.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from taxvault.audit.log import AuditLog
from taxvault.audit.signing import SignedTreeHead

log_ = logging.getLogger(__name__)

INTERVAL_ENV = "TAXVAULT_AUDIT_STH_SECONDS"
DEFAULT_INTERVAL = 1.0


def sth_interval_seconds() -> float:
    """The signing interval: ``TAXVAULT_AUDIT_STH_SECONDS`` (default 1 s, must be > 0).

    The same setting bounds what ``audit verify`` accepts as an unsigned tail.
    """
    raw = os.environ.get(INTERVAL_ENV, "")
    if not raw.strip():
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= 86_400:
        raise ValueError(f"{INTERVAL_ENV} must be between 0 and 86400 seconds")
    return value


class PeriodicSigner:
    """Issues STHs on a timer and after bursts of appends, until :meth:`stop`."""

    def __init__(
        self,
        log: AuditLog,
        *,
        every_seconds: float = 60.0,
        every_appends: int | None = 10_000,
        poll_seconds: float | None = None,
    ) -> None:
        self.log = log
        self.every_seconds = every_seconds
        self.every_appends = every_appends
        self.poll_seconds = min(poll_seconds, every_seconds) if poll_seconds else max(every_seconds / 20, 0.001)
        # Sign this much after the last head, so an event arriving right after it is
        # signed (poll delay and signing included) within ``every_seconds``.
        self._period = max(every_seconds - 2 * self.poll_seconds, self.poll_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sth", daemon=True)
        self._last_size: int | None = None  # read on the first tick: the store may not be reachable yet
        self._last_time = time.monotonic()
        self.issued: list[SignedTreeHead] = []
        self.failures = 0

    def start(self) -> PeriodicSigner:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, then sign a final head if the tree grew (failures are logged, not raised)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._safe_tick(force=True)

    def tick(self, *, force: bool = False) -> SignedTreeHead | None:
        """Issue an STH now if one is due (or, with ``force``, if the tree grew at all)."""
        if self._last_size is None:
            latest = self.log.latest_sth()
            self._last_size = latest.tree_size if latest else 0
        size = self.log.tree_head().tree_size
        grown = size - self._last_size
        if grown <= 0:
            return None
        due = force or time.monotonic() - self._last_time >= self._period
        if self.every_appends is not None and grown >= self.every_appends:
            due = True
        if not due:
            return None
        sth = self.log.sign_tree_head()
        self._last_size, self._last_time = sth.tree_size, time.monotonic()
        self.issued.append(sth)
        return sth

    def _safe_tick(self, *, force: bool = False) -> None:
        try:
            self.tick(force=force)
        except Exception as exc:  # keep serving and keep trying; the next poll may succeed
            self.failures += 1
            log_.error("periodic signed tree head failed: %s", str(exc).splitlines()[0] if str(exc) else exc)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self._safe_tick()
