"""What a Spark task does with one legacy file: the embedded ingest's parse and validation, sealed, staged.

Why the embedded code and not a Spark parser: the readers (``formats/``) and the
planners (``ingest/``) are what decide which record loads and which is
quarantined, with which field and reason. A task calls the same
:func:`taxvault.ingest.pipeline.plan_file` on the file's bytes and a read-only
connection to the store, seals the TINs with the same
:func:`taxvault.store.tins.protect_columns`, and COPYs the rows into a job's
*staging* tables (UNLOGGED copies of the canonical tables, every column
nullable, plus ``_file`` and ``_row``). Nothing here is canonical, nothing here
is audited: the driver moves a file's staged rows into the canonical tables in
one unit of the door (:mod:`taxvault.batch.ingest`), with the file's audit event.

Ids stay *local* in staging (negative, see :mod:`taxvault.ingest.plan`): only the
driver, holding the ingest lock, knows the next free id. Quarantined records are
sealed under the TIN vault bound to the job, file and record number; the driver
reseals them bound to the ``sources`` row, as the embedded ingest binds them.

The TIN vault's data-key counter (``tin_keys.uses``) is bumped in its own short
transaction per file, so parallel tasks do not queue on that row; a job that fails
afterwards leaves the counter a little high, which only retires a data key sooner.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.formats.copybook import CopybookError
from taxvault.formats.fixedwidth import FormatError
from taxvault.store import tables as t
from taxvault.store.tins import protect_columns, tin_vault

STAGE_PREFIX = "batch_stage_"


@dataclass
class StagedFile:
    """What a task reports to the driver about one file: counts and column names, never a value."""

    path: str
    content_hash: str
    kind: str
    status: str = "staged"  # staged | known (already in the store) | error
    error: str = ""
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    id_columns: list[tuple[str, str, str]] = field(default_factory=list)
    quarantine_rows: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FileTask:
    """One file of a phase, as the driver surveyed it."""

    path: str
    content_hash: str
    kind: str


def stage_name(job: str, table: str) -> str:
    """The staging table of ``table`` for job ``job`` (a hex id: safe in SQL)."""
    return f"{STAGE_PREFIX}{job}_{table}"


def stage_table(job: str, table: sa.Table) -> sa.Table:
    """A staging copy of ``table``: same columns and types, all nullable, no constraints, + file and row."""
    cols = [sa.Column(c.name, c.type, nullable=True) for c in table.c]
    return sa.Table(
        stage_name(job, table.name),
        sa.MetaData(),
        *cols,
        sa.Column("_file", sa.String(64)),
        sa.Column("_row", sa.BigInteger),
    )


def quarantine_stage(job: str) -> sa.Table:
    """Staged quarantined records (raw bytes sealed, bound to job, file and record number)."""
    return sa.Table(
        stage_name(job, "quarantine"),
        sa.MetaData(),
        sa.Column("_file", sa.String(64)),
        sa.Column("record_number", sa.BigInteger),
        sa.Column("record_type", sa.String(8)),
        sa.Column("field", sa.String(64)),
        sa.Column("reason", sa.String(200)),
        sa.Column("raw", sa.LargeBinary),
    )


def ensure_stage(engine: Engine, table: sa.Table) -> None:
    """Create a staging table once, whichever task needs it first (a short transaction of its own).

    Tasks of one phase may want the same table at once: an advisory lock on its name
    makes ``IF NOT EXISTS`` safe, and the table commits before any task COPYs into it.
    """
    ddl = str(sa.schema.CreateTable(table, if_not_exists=True).compile(dialect=engine.dialect))
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(table.name))))
        conn.exec_driver_sql(ddl.replace("CREATE TABLE", "CREATE UNLOGGED TABLE", 1))


def drop_staging(conn: Connection, job: str) -> int:
    """Drop the job's staging tables; returns how many there were."""
    names = (
        conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE :p"),
            {"p": stage_name(job, "%")},
        )
        .scalars()
        .all()
    )
    for name in names:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    return len(names)


def staging_aad(job: str, content_hash: str, record_number: int) -> bytes:
    """Associated data of a staged quarantined record: it opens only as that job's, file's, record's."""
    return f"batch_stage|{job}|{content_hash}|{record_number}".encode()


# -- in the task (a Spark Python worker) --------------------------------------------------------------------

_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    """One small engine per worker process and URL (workers are reused between tasks)."""
    engine = _ENGINES.get(url)
    if engine is None:
        from taxvault.store import make_engine

        engine = _ENGINES[url] = make_engine(url, pool_size=1, max_overflow=1)
    return engine


def stage_partition(
    files: Iterable[tuple[str, bytes]], *, tasks: dict[str, FileTask], job: str, url: str, keys_dir: str
) -> Iterator[StagedFile]:
    """``mapPartitions`` body over ``binaryFiles`` records: stage each file, yield its report."""
    os.environ["TAXVAULT_KEYS_DIR"] = keys_dir  # the vault of this worker reads the keys from here
    engine = _engine(url)
    for uri, data in files:
        task = tasks[_local_path(uri)]
        yield stage_file(engine, job, task, bytes(data))


def _local_path(uri: str) -> str:
    """``file:/a/b`` (as binaryFiles names a local file) -> ``/a/b``; other URIs unchanged."""
    if uri.startswith("file://"):
        return uri[len("file://") :]
    if uri.startswith("file:"):
        return uri[len("file:") :]
    return uri


def stage_file(engine: Engine, job: str, task: FileTask, data: bytes) -> StagedFile:
    """Plan one file as the embedded ingest does, seal it, COPY it into the job's staging tables."""
    from taxvault.ingest.pipeline import already_ingested, error_line, plan_file

    name = os.path.basename(task.path)
    out = StagedFile(task.path, task.content_hash, task.kind)
    if hashlib.sha256(data).hexdigest() != task.content_hash:
        out.status, out.error = "error", f"{name}: the file changed while being ingested"
        return out
    with engine.connect() as conn:
        if already_ingested(conn, task.content_hash):
            out.status = "known"
            return out
        try:
            plan = plan_file(conn, task.kind, data, name)
        except FormatError as exc:
            out.status, out.error = "error", error_line(name, exc)
            return out
        except CopybookError:
            out.status, out.error = "error", f"{name}: records cannot be framed or decoded"
            return out
        conn.rollback()
    del data
    out.read, out.loaded, out.quarantined = plan.read, plan.loaded, plan.quarantined
    out.rows = plan.rows()
    out.reasons = dict(Counter(q.reason for q in plan.quarantine).most_common())
    out.id_columns = [(tb, col, target) for (tb, col), target in plan.id_columns.items()]
    with engine.begin() as conn:  # short: the data key's use counter, nothing else
        sealed = {
            name_: protect_columns(conn, name_, cols) for name_, cols in plan.tables.items() if out.rows.get(name_)
        }
        raws = (
            tin_vault(conn).encrypt_bytes(
                conn,
                [q.raw for q in plan.quarantine],
                [staging_aad(job, task.content_hash, q.record_number) for q in plan.quarantine],
            )
            if plan.quarantine
            else []
        )
    for name in sealed:
        ensure_stage(engine, stage_table(job, t.metadata.tables[name]))
    if plan.quarantine:
        ensure_stage(engine, quarantine_stage(job))
    with engine.begin() as conn:
        _copy_staged(conn, job, task.content_hash, sealed, out)
        if plan.quarantine:
            _copy_quarantine(conn, job, task.content_hash, plan.quarantine, raws)
            out.quarantine_rows = len(plan.quarantine)
    return out


def _copy_staged(
    conn: Connection, job: str, content_hash: str, sealed: dict[str, dict[str, Any]], out: StagedFile
) -> None:
    from taxvault.store.bulk import insert_columns

    for name, cols in sealed.items():
        n = out.rows[name]
        out.columns[name] = list(cols)
        staged = {**cols, "_file": [content_hash] * n, "_row": np.arange(n, dtype=np.int64)}
        insert_columns(conn, stage_table(job, t.metadata.tables[name]), staged)


def _copy_quarantine(conn: Connection, job: str, content_hash: str, quarantine: list[Any], raws: list[bytes]) -> None:
    from taxvault.store.bulk import insert_columns

    insert_columns(
        conn,
        quarantine_stage(job),
        {
            "_file": [content_hash] * len(quarantine),
            "record_number": [q.record_number for q in quarantine],
            "record_type": [q.record_type for q in quarantine],
            "field": [q.field[:64] for q in quarantine],
            "reason": [q.reason[:200] for q in quarantine],
            "raw": raws,
        },
    )
