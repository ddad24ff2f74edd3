"""Group commit: many threads append, one of them commits whatever has queued up.

Each caller adds its event to the open batch. If no commit is in flight, the caller
becomes the leader: it takes the oldest queued batch (everything that arrived while
the previous commit was in flight) and commits it in one transaction, so one fsync
covers all of it; the others wait. A leader commits one batch and steps down, so a
thread whose own event is durable is never kept working for later arrivals; a
waiter whose batch is still queued takes the lead next. With one client this is a
plain synchronous commit (no hand-off to another thread); under load, batches grow
while a commit is in flight, as before.

A caller gets its leaf index only after the transaction holding its event has
committed, and an exception (never an index) if that commit failed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from taxvault.audit.errors import AuditAppendError

CommitFn = Callable[[Sequence[bytes]], int]
"""Durably append a batch; returns the leaf index of its first event."""


class _Batch:
    """Events that will share one commit, and its outcome."""

    __slots__ = ("data", "done", "error", "start")

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.done = False
        self.start = -1
        self.error: BaseException | None = None


class Ticket:
    """One submitted event: resolves to its leaf index once its batch is durable."""

    __slots__ = ("_batch", "_offset", "_writer")

    def __init__(self, writer: GroupCommitWriter, batch: _Batch, offset: int) -> None:
        self._writer = writer
        self._batch = batch
        self._offset = offset

    def result(self, timeout: float | None = None) -> int:
        """The leaf index (committing as the leader if it is this caller's turn).

        Raises the commit's error as AuditAppendError, or TimeoutError if not confirmed in time.
        """
        batch = self._batch
        self._writer._await(batch, timeout)
        if batch.error is not None:  # a fresh exception per caller (they raise it concurrently)
            raise AuditAppendError(f"audit append failed, nothing was recorded: {batch.error}") from batch.error
        return batch.start + self._offset


class GroupCommitWriter:
    """The queue of batches of at most ``max_batch`` events, committed by the callers themselves."""

    def __init__(self, commit: CommitFn, *, max_batch: int = 5000, name: str = "audit-writer") -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._cond = threading.Condition(threading.Lock())
        self._ready: deque[_Batch] = deque()  # queued batches, oldest first; the open one is last
        self._open: _Batch | None = None
        self._leading = False
        self._closed = False
        self.name = name
        self.batches = 0
        self.committed = 0

    def submit(self, data: bytes) -> Ticket:
        """Add one event's bytes to the open batch; the ticket resolves once it is durable."""
        with self._cond:
            if self._closed:
                raise AuditAppendError("the audit log is closed")
            batch = self._open
            if batch is None or len(batch.data) >= self._max_batch:
                batch = self._open = _Batch()
                self._ready.append(batch)
            batch.data.append(data)
            return Ticket(self, batch, len(batch.data) - 1)

    def _await(self, batch: _Batch, timeout: float | None) -> None:
        """Wait until ``batch`` is committed, leading the commit of the oldest batch when no one is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                while self._leading and not batch.done:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError("the audit append was not confirmed in time")
                    self._cond.wait(left)
                if batch.done:
                    return
                # no commit in flight and ours is still queued: lead the oldest batch
                self._leading = True
                oldest = self._ready.popleft()
                if oldest is self._open:
                    self._open = None
            try:
                self._commit_batch(oldest)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()

    def close(self) -> None:
        """Commit what is queued, then refuse new events."""
        with self._cond:
            self._closed = True
            pending = list(self._ready)
        for batch in pending:
            self._await(batch, None)

    def _commit_batch(self, batch: _Batch) -> None:
        try:
            batch.start = self._commit(batch.data)
        except Exception as exc:  # every waiting caller must learn it failed
            batch.error = exc
        else:
            self.batches += 1
            self.committed += len(batch.data)
        batch.done = True
