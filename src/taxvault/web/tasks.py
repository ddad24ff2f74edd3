"""Long operations in the background, with progress an htmx fragment polls.

Why: a page must not hang while a report renders, a cycle runs or a scan reads the log;
the POST starts the work and answers a fragment that asks ``/web/tasks/{id}`` every second
(``hx-trigger="every 1s"``) until the task is done, then shows its result (a link).
A task belongs to the session that started it: another session asking gets a 404.
Results are kept in memory for 10 minutes (one process; a task is never shared).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from taxvault.errors import NotFound, TaxvaultError

KEEP_SECONDS = 600


@dataclass(slots=True)
class Task:
    """One background operation: its owner, progress 0..100, and its outcome."""

    id: str
    owner: str  # the session's id hash
    title: str
    progress: int = 0
    step: str = "queued"
    done: bool = False
    error: str | None = None
    result: bytes | None = None
    media_type: str = "application/octet-stream"
    filename: str = "result"
    started: float = field(default_factory=time.monotonic)

    def snapshot(self) -> Task:
        """A copy to render from. The worker sets ``result`` before ``done``; a page that read
        ``done`` twice could see it flip in between (no result, and no more polling: a CI flake)."""
        return replace(self)


Work = Callable[[Callable[[int, str], None]], tuple[bytes, str, str]]
"""Given ``report(progress, step)``, returns (bytes, media type, file name)."""


class TaskRunner:
    """A small pool of worker threads (two: the machine is shared) and the tasks it ran."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web-task")
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def start(self, owner: str, title: str, work: Work) -> Task:
        """Queue ``work``; the task is returned at once."""
        self._expire()
        task = Task(secrets.token_hex(12), owner, title)
        with self._lock:
            self._tasks[task.id] = task

        def report(progress: int, step: str) -> None:
            task.progress, task.step = max(0, min(100, progress)), step

        def run() -> None:
            try:
                task.result, task.media_type, task.filename = work(report)
                # a work that ends by saying what it did (report(100, "...")) keeps its words
                task.step = task.step if task.progress == 100 else "done"
                task.progress = 100
            except TaxvaultError as exc:
                task.error = str(exc)
            except Exception:
                task.error = "the operation failed; nothing was disclosed"
            finally:
                task.done = True

        self._pool.submit(run)
        return task

    def get(self, task_id: str, owner: str) -> Task:
        """The owner's task (NotFound for anyone else's, or one that expired)."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None or not secrets.compare_digest(task.owner, owner):
            raise NotFound("no such task")
        return task

    def _expire(self) -> None:
        cutoff = time.monotonic() - KEEP_SECONDS
        with self._lock:
            for key in [k for k, t in self._tasks.items() if t.started < cutoff]:
                del self._tasks[key]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
