"""Group commit: many threads append, one writer commits whatever has queued up.

Each request handler adds its event to the open batch and blocks; a single
background thread takes the whole open batch (everything that arrived while the
previous commit was in flight) and commits it in one transaction, so one fsync
covers all of it. A batch is one object with one event its callers wait on, so
waking a batch of callers costs one notify, not one future per caller. A caller
gets its leaf index only after the transaction holding its event has committed,
and an exception (never an index) if that commit failed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from taxvault.audit.errors import AuditAppendError

CommitFn = Callable[[Sequence[bytes]], int]
"""Durably append a batch; returns the leaf index of its first event."""


class _Batch:
    """Events that will share one commit, and the outcome their callers wait for."""

    __slots__ = ("data", "done", "error", "start")

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.done = threading.Event()
        self.start = -1
        self.error: BaseException | None = None


class Ticket:
    """One submitted event: resolves to its leaf index once its batch is durable."""

    __slots__ = ("_batch", "_offset")

    def __init__(self, batch: _Batch, offset: int) -> None:
        self._batch = batch
        self._offset = offset

    def result(self, timeout: float | None = None) -> int:
        """The leaf index; raises the commit's error, or TimeoutError if not confirmed in time."""
        batch = self._batch
        if not batch.done.wait(timeout):
            raise TimeoutError("the audit append was not confirmed in time")
        if batch.error is not None:  # a fresh exception per caller (they raise it concurrently)
            raise AuditAppendError(f"audit append failed, nothing was recorded: {batch.error}") from batch.error
        return batch.start + self._offset


class GroupCommitWriter:
    """The open batch and the one thread that commits batches of at most ``max_batch`` events."""

    def __init__(self, commit: CommitFn, *, max_batch: int = 5000, name: str = "audit-writer") -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._cond = threading.Condition(threading.Lock())
        self._ready: deque[_Batch] = deque()  # full batches, oldest first; the open one is last
        self._open: _Batch | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self.batches = 0
        self.committed = 0

    def submit(self, data: bytes) -> Ticket:
        """Add one event's bytes to the open batch; the ticket resolves once it is durable."""
        with self._cond:
            if self._closed:
                raise AuditAppendError("the audit log is closed")
            if not self._started:
                self._thread.start()
                self._started = True
            batch = self._open
            if batch is None or len(batch.data) >= self._max_batch:
                batch = self._open = _Batch()
                self._ready.append(batch)
                self._cond.notify()
            batch.data.append(data)
            return Ticket(batch, len(batch.data) - 1)

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            started = self._started
            self._cond.notify()
        if started:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._closed:
                    self._cond.wait()
                if not self._ready:  # closed and drained
                    return
                batch = self._ready.popleft()
                if batch is self._open:
                    self._open = None
            self._commit_batch(batch)

    def _commit_batch(self, batch: _Batch) -> None:
        try:
            batch.start = self._commit(batch.data)
        except Exception as exc:  # every waiting caller must learn it failed
            batch.error = exc
        else:
            self.batches += 1
            self.committed += len(batch.data)
        batch.done.set()
