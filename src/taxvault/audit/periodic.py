"""Periodic signed tree heads: a small background thread the server starts.

An STH is issued when the tree has grown and either ``every_seconds`` have passed
since the last one or ``every_appends`` new events have arrived. Frequent STHs
bound how far back an undetected rewrite could reach and let the verifier
localize damage between two signed sizes.
"""

from __future__ import annotations

import logging
import threading
import time

from taxvault.audit.errors import AuditError
from taxvault.audit.log import AuditLog
from taxvault.audit.signing import SignedTreeHead

log_ = logging.getLogger(__name__)


class PeriodicSigner:
    """Issues STHs on a timer and after bursts of appends, until :meth:`stop`."""

    def __init__(
        self,
        log: AuditLog,
        *,
        every_seconds: float = 60.0,
        every_appends: int | None = 10_000,
        poll_seconds: float = 1.0,
    ) -> None:
        self.log = log
        self.every_seconds = every_seconds
        self.every_appends = every_appends
        self.poll_seconds = min(poll_seconds, every_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sth", daemon=True)
        latest = log.latest_sth()
        self._last_size = latest.tree_size if latest else 0
        self._last_time = time.monotonic()
        self.issued: list[SignedTreeHead] = []

    def start(self) -> PeriodicSigner:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (after a final STH if the tree grew)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.tick(force=True)

    def tick(self, *, force: bool = False) -> SignedTreeHead | None:
        """Issue an STH now if one is due (or, with ``force``, if the tree grew at all)."""
        size = self.log.tree_head().tree_size
        grown = size - self._last_size
        if grown <= 0:
            return None
        due = force or time.monotonic() - self._last_time >= self.every_seconds
        if self.every_appends is not None and grown >= self.every_appends:
            due = True
        if not due:
            return None
        sth = self.log.sign_tree_head()
        self._last_size, self._last_time = sth.tree_size, time.monotonic()
        self.issued.append(sth)
        return sth

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.tick()
            except AuditError as exc:  # keep trying; the next tick may succeed
                log_.error("periodic signed tree head failed: %s", exc)
