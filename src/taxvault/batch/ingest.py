"""Ingest legacy files as a Spark job: tasks parse, validate and stage in parallel; the driver commits.

Why two steps: Spark tasks writing straight into the canonical tables would each
commit on their own, outside the door's unit of work, so a file could be half in
the store or in it without its audit event. Instead:

1. **Stage (parallel, Spark).** Each file is a ``binaryFiles`` record; a task runs
   :func:`taxvault.batch.stage.stage_file` (the embedded ingest's readers and
   planners, the same sealing) and COPYs the rows into the job's UNLOGGED staging
   tables in PostgreSQL. Tasks write only staging.
2. **Commit (driver, the door).** Per file, in load order, one write unit of the
   door as ``sys-ingest`` (as :func:`taxvault.ingest.pipeline.ingest_file`): the Cedar
   decision, the ``sources`` row, ``INSERT ... SELECT`` from staging into the
   canonical tables with local ids made real, the quarantine resealed, and the
   file's audit event, all in ONE transaction. The result is the embedded
   ingest's: same rows, same quarantine, same audit events, same atomicity (a file
   is wholly in or not; a re-run skips the files already in).

Phases: what a file is validated against must already be committed. Files are
grouped in load order into phases of files that read nothing another file of the
phase writes (:data:`READS_WRITES`, :func:`phases`): business and individual
entities together; staff with BMF modules; returns, notices, information returns
(Pub 1220, EFW2: any number of files) and cases together. A phase is staged in
parallel, then committed file by file in load order. A refused job (policy,
inactive principal) is refused before any task reads the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Door, Session, Target
from taxvault.access.local import local_door
from taxvault.access.resources import Resource
from taxvault.batch.config import BatchConfig
from taxvault.batch.stage import FileTask, StagedFile, drop_staging, quarantine_stage, stage_partition
from taxvault.batch.stage import stage_table as staging_of
from taxvault.batch.stage import staging_aad as staged_aad
from taxvault.errors import Invalid, Unavailable
from taxvault.ingest.pipeline import (
    ACTION,
    PRINCIPAL,
    PURPOSE,
    FileReport,
    IngestError,
    already_ingested,
    audit_fields,
    lock_writer,
    quarantine_aad,
    survey,
)
from taxvault.ingest.tables import ingest_quarantine
from taxvault.oversight.canaries import check_columns
from taxvault.store import tables as t
from taxvault.store.bulk import assert_foreign_keys, next_ids, reset_sequences
from taxvault.store.tins import tin_vault

_EIN, _SSN = "entities:ein", "entities:individual"
_ANY = frozenset({"*"})
READS_WRITES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "BMFENTTY": (frozenset({_EIN}), frozenset({_EIN})),
    "IMFENTTY": (frozenset({_SSN}), frozenset({_SSN})),
    "CMSSTAFF": (frozenset({_SSN, "principals"}), frozenset({"principals"})),
    "BMFMODUL": (frozenset({_SSN, _EIN, "tax_modules"}), frozenset({"tax_modules"})),
    "IMFMODUL": (frozenset({_SSN, _EIN, "tax_modules"}), frozenset({"tax_modules"})),
    "IMFRETRN": (frozenset({_SSN, "tax_modules", "returns"}), frozenset({"returns"})),
    "IMFNOTIC": (frozenset({_SSN, _EIN, "tax_modules", "notices"}), frozenset({"notices"})),
    "pub1220": (frozenset({_SSN, _EIN}), frozenset({"information_returns"})),
    "efw2": (frozenset({_SSN, _EIN}), frozenset({"information_returns"})),
    "CMSCASES": (frozenset({_SSN, _EIN, "tax_modules", "principals"}), frozenset({"cases"})),
}
"""What each kind's planner reads from the store (``ingest/lookup.py``) and what its load writes.

Entities are two resources: a BMF file reads and writes businesses (EINs), an IMF
file individuals. A kind not listed reads and writes everything (a phase of its own)."""


@dataclass
class BatchIngestReport:
    """One job: the per-file reports (as the embedded ingest's) and where the time went."""

    job: str
    files: list[FileReport] = field(default_factory=list)
    phases: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def phases(reports: list[FileReport]) -> list[list[FileReport]]:
    """Surveyed files (in load order) grouped into phases that can be staged in parallel.

    A file joins the current phase when it reads nothing the phase writes and writes
    nothing the phase reads: then validating it against the store as it was before
    the phase is validating it after the phase's earlier files, as the embedded
    ingest does. Writers of one table may share a phase when none of them reads it
    (information returns: no duplicate check); a planner that checks duplicates
    reads its table, so two such files never do. Otherwise it starts the next phase.
    """
    out: list[list[FileReport]] = []
    reads: set[str] = set()
    writes: set[str] = set()
    for r in reports:
        r_reads, r_writes = READS_WRITES.get(r.kind, (_ANY, _ANY))
        clash = "*" in reads | writes | r_reads | r_writes
        if out and not clash and not (r_reads & writes) and not (r_writes & reads):
            out[-1].append(r)
        else:
            out.append([r])
            reads, writes = set(), set()
        reads |= r_reads
        writes |= r_writes
    return out


def ingest_job(
    engine: Engine,
    paths: Iterable[Path],
    config: BatchConfig,
    *,
    spark: Any = None,
    door: Door | None = None,
    on_file: Callable[[FileReport], None] | None = None,
) -> BatchIngestReport:
    """Run the ingest of ``paths`` as a Spark job writing to the PostgreSQL store ``engine``.

    ``config.database_url`` is where the tasks connect (the same database as ``engine``,
    as the executors reach it). Stops at the first file that cannot be ingested, like
    the embedded ingest: files committed before it stay, it and the ones after do not load.
    """
    if engine.dialect.name != "postgresql":
        raise Invalid("the Spark ingest writes to PostgreSQL; on the embedded store use `taxvault ingest`")
    job = uuid.uuid4().hex[:12]
    report = BatchIngestReport(job)
    t0 = time.perf_counter()
    reports = survey(paths)
    report.seconds["survey"] = time.perf_counter() - t0
    with ExitStack() as stack:
        if door is None:
            door = stack.enter_context(local_door(engine))
        session = door.system_session(PRINCIPAL, PURPOSE, request_id=f"batch-{job}")
        _preflight(door, session, reports)  # a refusal is audited here, before any task reads the store
        with engine.begin() as conn:  # the lookup key registered, a data key made: once, before tasks race
            tin_vault(conn).encrypt_many(conn, [], [])
        if spark is None:
            from taxvault.batch.session import batch_spark

            t0 = time.perf_counter()
            spark = batch_spark(config)
            report.seconds["spark_start"] = time.perf_counter() - t0
        try:
            for phase in phases(reports):
                report.phases += 1
                t0 = time.perf_counter()
                staged = _stage(spark, job, config, phase)
                report.seconds["stage"] = report.seconds.get("stage", 0.0) + time.perf_counter() - t0
                t0 = time.perf_counter()
                for file in phase:
                    _commit(door, session, job, file, staged[str(file.path)])
                    report.files.append(file)
                    if on_file:
                        on_file(file)
                report.seconds["commit"] = report.seconds.get("commit", 0.0) + time.perf_counter() - t0
        finally:
            with engine.begin() as conn:
                drop_staging(conn, job)
    return report


def _preflight(door: Door, session: Session, reports: list[FileReport]) -> None:
    """Ask the policies about every file before Spark reads anything (Denied, audited, if refused)."""
    with door.unit(session) as unit:
        for r in reports:
            unit.authorize(Resource.INGEST_FILE, Target(f"file:sha256:{r.content_hash}"), ACTION)


def _stage(spark: Any, job: str, config: BatchConfig, phase: list[FileReport]) -> dict[str, StagedFile]:
    """Stage a phase's files in parallel (one ``binaryFiles`` RDD per file, so each is its own task)."""
    tasks = {str(r.path.resolve()): FileTask(str(r.path.resolve()), r.content_hash, r.kind) for r in phase}
    sc = spark.sparkContext
    rdds = [sc.binaryFiles(path, minPartitions=1) for path in tasks]
    rdd = sc.union(rdds) if len(rdds) > 1 else rdds[0]
    body = partial(stage_partition, tasks=tasks, job=job, url=config.database_url, keys_dir=config.keys_dir)
    try:
        staged: list[StagedFile] = rdd.mapPartitions(body).collect()
    except Exception as exc:  # a task died (database, worker): its text may quote a record, so only its kind
        names = ", ".join(r.path.name for r in phase)
        failed = f"the Spark stage of {names} failed ({type(exc).__name__})"
        raise Unavailable(f"{failed}; nothing of these files was loaded") from None
    by_path = {s.path: s for s in staged}
    return {str(r.path): by_path[str(r.path.resolve())] for r in phase}


def _commit(door: Door, session: Session, job: str, file: FileReport, staged: StagedFile) -> None:
    """Move one staged file into the canonical tables in one unit of the door, with its audit event."""
    if staged.status == "error":
        raise IngestError(staged.error)
    if staged.status == "known":
        file.status = "skipped"
        return
    file.read, file.loaded, file.quarantined = staged.read, staged.loaded, staged.quarantined
    if file.read != file.loaded + file.quarantined:  # pragma: no cover - invariant
        raise IngestError(f"{file.path.name}: internal error, loaded + quarantined != read")
    file.rows = dict(staged.rows)
    file.reasons = dict(staged.reasons)
    target = Target(f"file:sha256:{file.content_hash}")
    with door.unit(session, write=True) as unit:
        decided = unit.authorize(Resource.INGEST_FILE, target, ACTION)
        lock_writer(unit.conn)
        if already_ingested(unit.conn, file.content_hash):
            file.status = "skipped"
            return
        _move(unit.conn, job, file, staged)
        unit.audit(ACTION, Resource.INGEST_FILE, target.ref, decided.decision, audit_fields(file))
    file.status = "loaded"


def _move(conn: Connection, job: str, file: FileReport, staged: StagedFile) -> None:
    """The embedded ``_insert_plan`` from staging: sources row, ids made real, rows, quarantine, checks."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    source_id = conn.execute(
        t.sources.insert()
        .values(kind="file", name=file.path.name[:255], content_hash=file.content_hash, created_at=now)
        .returning(t.sources.c.id)
    ).scalar_one()
    id_tables = [t.metadata.tables[n] for n in sorted({target for _, _, target in staged.id_columns})]
    bases = next_ids(conn, id_tables)
    ids = {(tb, col): target for tb, col, target in staged.id_columns}
    for name, columns in staged.columns.items():
        table = t.metadata.tables[name]
        stage = staging_of(job, table)
        exprs: list[Any] = []
        for col in columns:
            target = ids.get((name, col))
            src = stage.c[col]
            if target is None:
                exprs.append(src)
            else:  # local id -k -> base + k - 1; 0 -> NULL; a real id stays
                base = bases[target]
                exprs.append(sa.case((src < 0, base - src - 1), (src == 0, None), else_=src))
        names = list(columns)
        if "source_id" in table.c and "source_id" not in names:
            names.append("source_id")
            exprs.append(sa.literal(source_id, sa.BigInteger))
        select = sa.select(*exprs).where(stage.c._file == file.content_hash).order_by(stage.c._row)
        conn.execute(sa.insert(table).from_select(names, select))
        hashes = [c for c in columns if c.endswith("tin_hash")]
        if hashes:  # an export's canary in the file raises its alert in this transaction
            check_columns(conn, {c: _lazy_hashes(conn, stage, c, file.content_hash) for c in hashes}, _where(file))
    if staged.quarantine_rows:
        _move_quarantine(conn, job, file, source_id, now)
    assert_foreign_keys(conn)
    reset_sequences(conn, id_tables)


def _where(file: FileReport) -> str:
    return f"ingest file sha256:{file.content_hash[:16]}"


def _lazy_hashes(conn: Connection, stage: sa.Table, column: str, content_hash: str) -> Iterator[bytes]:
    """The staged file's TIN hashes, read only if iterated (the canary check reads them only if canaries exist)."""
    q = sa.select(stage.c[column]).where(stage.c._file == content_hash, stage.c[column].is_not(None))
    for (h,) in conn.execute(q):
        yield bytes(h)


def _move_quarantine(conn: Connection, job: str, file: FileReport, source_id: int, now: Any) -> None:
    """Reseal the file's quarantined records bound to its ``sources`` row, as the embedded ingest seals them."""
    q = quarantine_stage(job).c
    rows = conn.execute(
        sa.select(q.record_number, q.record_type, q.field, q.reason, q.raw)
        .where(q._file == file.content_hash)
        .order_by(q.record_number)
    ).all()
    vault = tin_vault(conn)
    raws = [vault.decrypt_bytes(conn, bytes(r.raw), staged_aad(job, file.content_hash, r.record_number)) for r in rows]
    sealed = vault.encrypt_bytes(conn, raws, [quarantine_aad(source_id, r.record_number) for r in rows])
    del raws
    conn.execute(
        ingest_quarantine.insert(),
        [
            {
                "source_id": source_id,
                "file_name": file.path.name[:255],
                "record_number": r.record_number,
                "record_type": r.record_type,
                "field": r.field,
                "reason": r.reason,
                "raw": raw,
                "created_at": now,
            }
            for r, raw in zip(rows, sealed, strict=True)
        ],
    )
