"""Ingest legacy files: detect, parse, validate, audit, then load each file in one transaction.

Why one transaction per file: it makes ingest idempotent and resumable with no
bookkeeping. A file is known by its content hash (``sources.content_hash`` is
unique); its ``sources`` row, its good records and its quarantined records
commit together, so after a crash (even ``kill -9``) a file is either wholly in
the store or not at all, and re-running the same command skips the files
already recorded and loads the rest: the end state equals one clean run.

Order: files are sorted by kind so that what a record refers to is loaded
first (BMF and IMF entities, staff, modules, returns, notices, information
returns, cases); within a kind, by name.

Audit: ingest acts through the door as the system principal ``sys-ingest``
(created by ``taxvault init``). Each file's load is one unit of work: the Cedar
decision (``ingest`` on ``ingest_file``; a refusal is audited and stops the run),
the file's rows and its audit event (action ``ingest:ingest_file``, resource the
file's content hash, fields the tables written and the read/loaded/quarantined
counts) commit in one transaction. If the append fails nothing of the file is
loaded (fail closed); a crash before the commit leaves neither rows nor event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Door, Session, Target
from taxvault.access.local import local_door
from taxvault.access.resources import Resource
from taxvault.access.system_principals import INGEST
from taxvault.errors import Invalid
from taxvault.formats.copybook import CopybookError
from taxvault.formats.efw2 import read_efw2
from taxvault.formats.fixedwidth import FormatError, frame_records
from taxvault.formats.pub1220 import read_pub1220
from taxvault.ingest.accounts import plan_modules, plan_notices, plan_returns
from taxvault.ingest.cms import plan_cases, plan_staff
from taxvault.ingest.entities import plan_entities
from taxvault.ingest.extracts import extract_id, is_extract, read_extract
from taxvault.ingest.information_returns import plan_efw2, plan_pub1220
from taxvault.ingest.plan import Plan
from taxvault.ingest.tables import ingest_quarantine
from taxvault.oversight.canaries import check_columns
from taxvault.store import tables as t
from taxvault.store.bulk import (
    assert_foreign_keys,
    defer_foreign_keys,
    foreign_keys_validated_after,
    indexes_built_after,
    insert_columns,
    next_ids,
    reset_sequences,
)
from taxvault.store.tins import protect_columns, tin_vault

PRINCIPAL = INGEST
ACTION = "ingest"
PURPOSE = "legacy_ingest"
KIND_ORDER = (
    "BMFENTTY",
    "IMFENTTY",
    "CMSSTAFF",
    "BMFMODUL",
    "IMFMODUL",
    "IMFRETRN",
    "IMFNOTIC",
    "pub1220",
    "efw2",
    "CMSCASES",
)
_REBUILD_INDEXES_FROM = 50_000
"""Loads of at least this many rows into a table at least doubling it rebuild its indexes once."""
_PG_LOCK_KEY = 0x7476_696E_6773  # "tvings": one ingest writer at a time on PostgreSQL
_SQLITE_LOAD_CACHE_KIB = 256 * 1024
_HEAD_BYTES = 1 << 17
"""Enough of a file to detect its kind (an extract's header record is at most 64 KiB)."""


class IngestError(Invalid):
    """A file cannot be ingested; the message is one line, names the file, never a TIN."""


@dataclass
class FileReport:
    """What happened to one file."""

    path: Path
    kind: str
    content_hash: str
    status: str = "pending"  # loaded | skipped (already ingested)
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    """Quarantined records by reason (rule texts, never a value), most frequent first."""


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files named, and the files inside directories named (not hidden, not partial writes)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix != ".part")
        elif p.is_file():
            out.append(p)
        else:
            raise IngestError(f"{p}: no such file or directory")
    return out


def detect(data: bytes, name: str) -> str:
    """The file's kind: an extract id (``IMFENTTY`` ...), ``pub1220`` or ``efw2``."""
    if is_extract(data):
        return extract_id(data, name)
    if data[:1] == b"T":
        return "pub1220"
    if data[:2] == b"RA":
        return "efw2"
    raise FormatError(f"{name}: not a Pub 1220, EFW2 or master-file extract (unrecognised first record)")


def survey(paths: Iterable[Path]) -> list[FileReport]:
    """Hash and classify every file, sorted into load order; raises :class:`IngestError`."""
    reports = []
    for path in expand(paths):
        try:  # the head decides the kind; the hash streams (no copy of a big file in memory)
            with path.open("rb") as f:
                head = f.read(_HEAD_BYTES)
                f.seek(0)
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as exc:
            raise IngestError(f"{path}: cannot be read ({exc.strerror})") from None
        try:
            kind = detect(head, path.name)
        except FormatError as exc:
            raise IngestError(error_line(path.name, exc)) from None
        reports.append(FileReport(path, kind, digest))
    reports.sort(key=lambda r: (KIND_ORDER.index(r.kind), r.path.name))
    return reports


def plan_file(conn: Connection, kind: str, data: bytes, name: str) -> Plan:
    """Parse and validate one file against the store (read-only)."""
    if kind == "pub1220":
        return plan_pub1220(conn, read_pub1220(data), name)
    if kind == "efw2":
        return plan_efw2(conn, read_efw2(data), frame_records(data, 512, "EFW2"), name)
    extract = read_extract(data, name)
    planner = {
        "BMFENTTY": plan_entities,
        "IMFENTTY": plan_entities,
        "CMSSTAFF": plan_staff,
        "BMFMODUL": plan_modules,
        "IMFMODUL": plan_modules,
        "IMFRETRN": plan_returns,
        "IMFNOTIC": plan_notices,
        "CMSCASES": plan_cases,
    }[extract.kind.extract_id]
    return planner(conn, extract, name)


def ingest_paths(
    engine: Engine,
    paths: Iterable[Path],
    *,
    on_file: Callable[[FileReport], None] | None = None,
    door: Door | None = None,
) -> list[FileReport]:
    """Ingest files and directories; returns one report per file (in load order).

    Acts as ``sys-ingest`` through ``door`` (by default a local door over ``engine``,
    which signs a tree head over the run's events when it ends). Stops at the first
    file that cannot be ingested (:class:`IngestError`, or the door's
    :class:`~taxvault.errors.Denied` / :class:`~taxvault.errors.Unavailable`); files
    loaded before it stay loaded (each is its own unit), that file and the ones
    after it are untouched.
    """
    reports = survey(paths)
    with ExitStack() as stack:
        if door is None:
            door = stack.enter_context(local_door(engine))
        session = door.system_session(PRINCIPAL, PURPOSE)  # Unauthenticated (audited) if missing or inactive
        for report in reports:
            ingest_file(door, session, report)
            if on_file:
                on_file(report)
    return reports


def error_line(name: str, exc: Exception) -> str:
    """The error as one line that starts with the file's name (the embedded and the Spark ingest say it alike)."""
    text = " ".join(str(exc).split())
    return text if text.startswith(name) else f"{name}: {text}"


def already_ingested(conn: Connection, content_hash: str) -> bool:
    """Was a file with this content loaded before (a ``sources`` row has its hash)? Then it is skipped."""
    q = sa.select(t.sources.c.id).where(t.sources.c.content_hash == content_hash)
    return conn.execute(q).first() is not None


def ingest_file(door: Door, session: Session, report: FileReport) -> None:
    """Ingest one surveyed file (see the module docstring for the protocol).

    Parsing and validation read the store on their own connection, outside the write
    lock; the decision, the load and the audit event are one unit of work.
    """
    name = report.path.name
    with door.engine.connect() as conn:
        if already_ingested(conn, report.content_hash):
            report.status = "skipped"
            return
        try:
            data = report.path.read_bytes()
        except OSError as exc:
            raise IngestError(f"{name}: cannot be read ({exc.strerror})") from None
        # Re-hash what was read (the file may have changed since the survey) in a
        # thread while parsing: hashlib releases the GIL, so the two overlap.
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(_sha256_hex, data)
            try:
                plan = plan_file(conn, report.kind, data, name)
            except FormatError as exc:
                changed = digest.result() != report.content_hash
                raise IngestError(
                    f"{name}: the file changed while being ingested" if changed else error_line(name, exc)
                ) from None
            except CopybookError:
                changed = digest.result() != report.content_hash
                raise IngestError(
                    f"{name}: the file changed while being ingested"
                    if changed
                    else f"{name}: records cannot be framed or decoded"
                ) from None
            if digest.result() != report.content_hash:
                raise IngestError(f"{name}: the file changed while being ingested")
        conn.rollback()
    del data
    report.read, report.loaded, report.quarantined = plan.read, plan.loaded, plan.quarantined
    if report.read != report.loaded + report.quarantined:  # pragma: no cover - invariant
        raise IngestError(f"{name}: internal error, loaded + quarantined != read")
    report.rows = plan.rows()
    report.reasons = dict(Counter(q.reason for q in plan.quarantine).most_common())
    target = Target(f"file:sha256:{report.content_hash}")
    with door.unit(session, write=True) as unit:
        decided = unit.authorize(Resource.INGEST_FILE, target, ACTION)  # Denied (audited) if not permitted
        if not _load(unit.conn, report, plan):
            report.status = "skipped"
            return
        unit.audit(ACTION, Resource.INGEST_FILE, target.ref, decided.decision, audit_fields(report))
    report.status = "loaded"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def audit_fields(report: FileReport) -> list[str]:
    """The event's fields: the tables written (names, never values) and the record counts.

    Public because the Spark ingest (:mod:`taxvault.batch.ingest`) audits a file's load as this one does."""
    counts = [f"read={report.read}", f"loaded={report.loaded}", f"quarantined={report.quarantined}"]
    tables = [n for n, rows in report.rows.items() if rows]
    if report.quarantined:
        tables.append(ingest_quarantine.name)
    return [*tables, *counts]


def lock_writer(conn: Connection) -> None:
    """Take the PostgreSQL lock that makes one ingest writer at a time (until the transaction ends).

    Why: two ingests of the same file would both find it unknown and load it twice; the
    embedded and the Spark ingest take this same lock before checking :func:`already_ingested`.
    """
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))


def _load(conn: Connection, report: FileReport, plan: Plan) -> bool:
    """Insert the plan with the file's sources row on the unit's connection; False if already loaded.

    The unit owns the transaction (it commits the rows with the file's audit event).
    """
    if conn.dialect.name == "postgresql":
        lock_writer(conn)
        return _insert_plan(conn, report, plan)
    # SQLite: a big page cache for this load (index rebuilds sort in it), foreign keys
    # checked once at the end (the unit already holds the write lock).
    cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_LOAD_CACHE_KIB}")
    defer_foreign_keys(conn)
    try:
        return _insert_plan(conn, report, plan)
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache_size)}")


def _insert_plan(conn: Connection, report: FileReport, plan: Plan) -> bool:
    now = dt.datetime.now(dt.UTC)
    metadata = t.metadata
    if already_ingested(conn, report.content_hash):
        return False
    source_id = conn.execute(
        t.sources.insert()
        .values(kind="file", name=report.path.name[:255], content_hash=report.content_hash, created_at=now)
        .returning(t.sources.c.id)
    ).scalar_one()
    targets = sorted(set(plan.id_columns.values()))
    id_tables = [metadata.tables[n] for n in targets]
    plan.resolve(next_ids(conn, id_tables))
    for name, cols in plan.tables.items():
        table = metadata.tables[name]
        n = report.rows.get(name, 0)
        if not n:
            continue
        if "source_id" in table.c:
            cols = {**cols, "source_id": [source_id] * n}
        cols = protect_columns(conn, name, cols)  # TINs land only hashed and encrypted
        check_columns(conn, cols, f"ingest file sha256:{report.content_hash[:16]}")  # an export's canary: alert
        if n >= _REBUILD_INDEXES_FROM and n >= _count(conn, table):
            with foreign_keys_validated_after(conn, [table]), indexes_built_after(conn, [table]):
                insert_columns(conn, table, cols)
        else:
            insert_columns(conn, table, cols)
    if plan.quarantine:
        q = plan.quarantine
        # A bad record may still carry a TIN: it is kept sealed like every stored TIN
        # (quarantine_aad names its row), for whoever must correct it.
        sealed = tin_vault(conn).encrypt_bytes(
            conn, [x.raw for x in q], [quarantine_aad(source_id, x.record_number) for x in q]
        )
        conn.execute(
            ingest_quarantine.insert(),
            [
                {
                    "source_id": source_id,
                    "file_name": report.path.name[:255],
                    "record_number": x.record_number,
                    "record_type": x.record_type,
                    "field": x.field[:64],
                    "reason": x.reason[:200],
                    "raw": raw,
                    "created_at": now,
                }
                for x, raw in zip(q, sealed, strict=True)
            ],
        )
    assert_foreign_keys(conn)
    reset_sequences(conn, id_tables)
    return True


def _count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def quarantine_aad(source_id: int, record_number: int) -> bytes:
    """The associated data that binds a sealed quarantined record to its file and record number."""
    return f"ingest_quarantine|{source_id}|{record_number}".encode()


def quarantined_raw(conn: Connection, source_id: int, record_number: int, sealed: bytes) -> bytes:
    """A quarantined record's raw bytes, unsealed (the keys dir must be present)."""
    return tin_vault(conn).decrypt_bytes(conn, sealed, quarantine_aad(source_id, record_number))
