"""Group commit: many threads append, one writer commits whatever has queued up.

Each request handler hands its event to a queue and blocks on a future; a single
background thread drains everything pending into one transaction, so one fsync
covers every event that arrived while the previous commit was in flight. A
caller gets its leaf index only after the transaction holding its event has
committed, and an exception (never an index) if that commit failed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from taxvault.audit.errors import AuditAppendError

CommitFn = Callable[[Sequence[bytes]], int]
"""Durably append a batch; returns the leaf index of its first event."""

_STOP = object()


class GroupCommitWriter:
    """A queue and the one thread that commits it in batches of at most ``max_batch``."""

    def __init__(self, commit: CommitFn, *, max_batch: int = 5000, name: str = "audit-writer") -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self.batches = 0
        self.committed = 0

    def submit(self, data: bytes) -> Future[int]:
        """Queue one event's bytes; the future resolves to its leaf index once durable."""
        future: Future[int] = Future()
        with self._lock:
            if self._closed:
                raise AuditAppendError("the audit log is closed")
            if not self._started:
                self._thread.start()
                self._started = True
            self._queue.put((data, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started = self._started
            self._queue.put(_STOP)
        if started:
            self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit_batch(batch)  # type: ignore[arg-type]

    def _commit_batch(self, batch: list[tuple[bytes, Future[int]]]) -> None:
        try:
            start = self._commit([data for data, _ in batch])
        except Exception as exc:  # every waiting caller must learn it failed
            error = AuditAppendError(f"audit append failed, nothing was recorded: {exc}")
            for _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        self.committed += len(batch)
        for offset, (_, future) in enumerate(batch):
            future.set_result(start + offset)
