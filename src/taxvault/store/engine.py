"""Engine creation and the unit of work.

The request or the job owns the transaction: it opens one with :func:`transaction`
and passes the connection to service functions, which execute statements and never
commit. A failure anywhere rolls the whole unit back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from taxvault.config import get_settings, normalise_database_url
from taxvault.files import chmod_private, ensure_private_file, private_dir


class StoreError(RuntimeError):
    """The store cannot be reached or is not in the state a command needs."""


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (default: the configured store).

    SQLite gets WAL journaling (readers never block the writer), enforced
    foreign keys and a busy timeout; its file (and -wal, -shm) is created 0600 in
    a 0700 directory, created if missing.
    """
    url = normalise_database_url(url or get_settings().database_url)
    # A failed statement's error would otherwise quote its parameters (a look-up's values, a
    # stored response, a quarantined record's fields) into every log line and traceback it reaches.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        on_disk = bool(db_path) and db_path != ":memory:" and not str(db_path).startswith("file:")
        if on_disk:
            _private_database_file(Path(str(db_path)))
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if on_disk:
            event.listen(engine, "connect", functools.partial(_private_journal, str(db_path)))
        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _private_database_file(path: Path) -> None:
    """Create the SQLite file 0600 (in a 0700 folder) before SQLite creates it 0644.

    SQLite gives its -wal and -shm files the mode of the database file, so they follow.
    A database file of someone else's (read-only to us) is left as it is.
    """
    private_dir(path.parent)
    with suppress(PermissionError):
        ensure_private_file(path)


def _private_journal(db_path: str, _dbapi_conn: Any, _record: Any) -> None:
    """Runs after the WAL pragma on each new connection: -wal and -shm owner-only too."""
    for suffix in ("-wal", "-shm"):
        with suppress(PermissionError):
            chmod_private(db_path + suffix)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work: commits on success, rolls back on any exception."""
    with engine.begin() as conn:
        yield conn


def is_postgres(bind: Engine | Connection) -> bool:
    """True when the bind talks to PostgreSQL."""
    return bind.dialect.name == "postgresql"
