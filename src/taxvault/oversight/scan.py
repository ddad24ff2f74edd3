"""The incremental scan: every detector over the audit log, from where the last scan stopped.

``scan(engine)`` reads the leaves after the cursor in batches (bytes in bulk, parsed
as columns), runs every rule over each batch (:mod:`taxvault.oversight.detect`) and,
per batch, in ONE transaction: raises the batch's alerts (idempotent on their dedupe
keys), adds the batch's counts to the scan tables and moves the cursor. A crash
between batches loses nothing and repeats nothing; a second scan over no new events
raises nothing new.

Window rules need history; it lives in the compact scan tables
(:mod:`taxvault.oversight.scan_tables`), read once per run for the look-back window,
never by re-reading old events.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from taxvault.audit.tables import audit_tree
from taxvault.oversight.alerts import AlertDraft, raise_alerts
from taxvault.oversight.detect.engine import (
    _HOURLY,
    _READERS,
    CELEBRITY_DAYS,
    LOOKBACK_HOURS,
    Detector,
)
from taxvault.oversight.detect.facts import load_facts, load_staff
from taxvault.oversight.detect.frame import read_batches
from taxvault.oversight.scan_tables import oversight_hourly, oversight_subject_readers
from taxvault.oversight.tables import oversight_cursors

CURSOR = "scan"
BATCH = 200_000


@dataclass
class ScanReport:
    """What one scan run did."""

    start_leaf: int = 0
    end_leaf: int = 0
    events: int = 0
    seconds: float = 0.0
    alerts: int = 0  # drafts raised (new or already known)
    new_alerts: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (read, facts, rules, write)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "start_leaf": self.start_leaf,
            "end_leaf": self.end_leaf,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
            "alerts": self.alerts,
            "new_alerts": self.new_alerts,
            "by_rule": dict(sorted(self.by_rule.items())),
            "timings": self.timings,
        }


def cursor(conn: Connection, name: str = CURSOR) -> tuple[int, dt.datetime | None]:
    """The next leaf to scan and the time of the last event scanned."""
    row = conn.execute(
        sa.select(oversight_cursors.c.leaf, oversight_cursors.c.state).where(oversight_cursors.c.name == name)
    ).first()
    if row is None:
        return 0, None
    state = row.state or {}
    last = state.get("last_time") if isinstance(state, dict) else None
    return int(row.leaf), (dt.datetime.fromisoformat(last) if last else None)


def scan(
    engine: Engine,
    *,
    batch: int = BATCH,
    name: str = CURSOR,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Scan the events after the cursor (at most ``limit`` of them); returns what it did.

    ``progress(done, total)`` is called after each batch (events judged so far, events to
    judge), so a console can show a long first scan moving; nothing is counted without it.
    """
    started = time.perf_counter()
    report = ScanReport()
    with engine.begin() as conn:  # the cursor row exists before any batch locks it
        conn.execute(
            _upsert(conn)(oversight_cursors)
            .values(name=name, leaf=0, state={"last_time": None}, updated_at=dt.datetime.now(dt.UTC))
            .on_conflict_do_nothing(index_elements=[oversight_cursors.c.name])
        )
    with engine.connect() as conn:
        start, last_time = cursor(conn, name)
        end = int(conn.execute(sa.select(audit_tree.c.tree_size)).scalar_one())
        if limit is not None:
            end = min(end, start + limit)
        if start >= end:  # nothing new (the scheduled pass, most minutes): no state to load
            staff = hourly = readers = None
        else:
            staff = load_staff(conn)
            hourly, readers = _load_state(conn, last_time)
    report.start_leaf = report.end_leaf = start
    if staff is None:
        if last_time is not None:
            with engine.begin() as conn:
                _raise(conn, unreviewed_break_glass(conn, last_time), report, Counter())
        report.seconds = time.perf_counter() - started
        return report
    detector = Detector(hourly, readers)
    counts: Counter[str] = Counter()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oversight-read")
    try:
        ranges = [(lo, min(end, lo + batch)) for lo in range(start, end, batch)]
        # The next batch is read and parsed (SQLite and Arrow release the GIL) while this one is judged.
        pending = pool.submit(_read, engine, *ranges[0]) if ranges else None
        for i, (lo, hi) in enumerate(ranges):
            assert pending is not None
            frame, seconds = pending.result()
            detector.timings["read"] = detector.timings.get("read", 0.0) + seconds
            pending = pool.submit(_read, engine, *ranges[i + 1]) if i + 1 < len(ranges) else None
            result = None
            if frame is not None and frame.num_rows:
                principals = pc.unique(frame.column("principal")).to_pylist()
                refs = pc.unique(
                    pa.chunked_array(
                        [frame.column("resource").combine_chunks(), frame.column("subject").combine_chunks()]
                    ).drop_null()
                ).to_pylist()
                t0 = time.perf_counter()
                with engine.connect() as conn:
                    facts = load_facts(conn, staff, principals, refs)
                detector.timings["facts"] = detector.timings.get("facts", 0.0) + time.perf_counter() - t0
                detector.start_batch()
                result = detector.run(frame, facts)
            t0 = time.perf_counter()
            with _writing(engine) as conn:
                if _cursor_locked(conn, name) != lo:  # another scan took this batch: leave it to her
                    break
                if result is not None:
                    _add_state(conn, result.hourly, result.readers)
                    if result.last_time is not None and (last_time is None or result.last_time > last_time):
                        last_time = result.last_time
                    _raise(conn, result.drafts, report, counts)
                    report.events += frame.num_rows if frame is not None else 0
                _save_cursor(conn, name, hi, last_time)
            detector.timings["write"] = detector.timings.get("write", 0.0) + time.perf_counter() - t0
            report.end_leaf = hi
            if progress is not None:
                progress(hi - start, end - start)
        if last_time is not None:
            with engine.begin() as conn:
                _raise(conn, unreviewed_break_glass(conn, last_time), report, counts)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        report.timings = {k: round(v, 3) for k, v in detector.timings.items()}
        detector.close()
    report.by_rule = dict(counts)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the write lock from its first statement (SQLite ``BEGIN IMMEDIATE``)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def _cursor_locked(conn: Connection, name: str) -> int:
    """The cursor's leaf, its row locked until the transaction ends (two scans never take one batch twice)."""
    c = oversight_cursors.c
    stmt = sa.select(c.leaf).where(c.name == name)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    value = conn.execute(stmt).scalar()
    return 0 if value is None else int(value)


def _read(engine: Engine, lo: int, hi: int) -> tuple[pa.Table | None, float]:
    """Leaves ``[lo, hi)`` as one frame (None if there are none), and the seconds it took."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        frames = list(read_batches(conn, lo, hi, hi - lo))
    return (frames[0] if frames else None), time.perf_counter() - t0


def unreviewed_break_glass(conn: Connection, now: dt.datetime) -> list[AlertDraft]:
    """Drafts for break-glass accesses still pending after the review period, as of ``now``.

    ``now`` is the time of the last event scanned (the log's clock), so a replayed or
    simulated log is judged by its own time. The drafts are the review module's own
    (same rule, same dedupe key ``break_glass_unreviewed:<review id>``): raised by either, one alert.
    """
    from taxvault.oversight.break_glass import review_days, unreviewed_drafts

    return unreviewed_drafts(conn, now=now, days=review_days())


def _raise(conn: Connection, drafts: list[AlertDraft], report: ScanReport, counts: Counter[str]) -> None:
    if not drafts:
        return
    from taxvault.oversight.tables import oversight_alerts

    keys = [d.dedupe for d in drafts]
    before = {
        str(k)
        for chunk in (keys[i : i + 900] for i in range(0, len(keys), 900))
        for k in conn.execute(
            sa.select(oversight_alerts.c.dedupe).where(oversight_alerts.c.dedupe.in_(chunk))
        ).scalars()
    }
    refs = raise_alerts(conn, drafts)
    report.alerts += len(drafts)
    new = {d.dedupe for d in drafts} - before
    report.new_alerts += len(new)
    for d, ref in zip(drafts, refs, strict=True):
        if d.dedupe in new:
            counts[d.rule] += 1
            report.refs.append(ref)
            new.discard(d.dedupe)


def _load_state(conn: Connection, last_time: dt.datetime | None) -> tuple[pa.Table | None, pa.Table | None]:
    if last_time is None:
        return None, None
    hour = int(last_time.timestamp()) // 3600
    h = oversight_hourly.c
    rows = conn.execute(
        sa.select(h.principal_id, h.hour, h.reads, h.refused_lookups, h.break_glass).where(
            h.hour > hour - LOOKBACK_HOURS - 24
        )
    ).all()
    hourly = pa.table({f.name: pa.array([r[i] for r in rows], f.type) for i, f in enumerate(_HOURLY)})
    r = oversight_subject_readers.c
    day = hour // 24
    rrows = conn.execute(
        sa.select(r.subject, r.day, r.principal_id, r.reads, r.first_leaf, r.last_leaf).where(
            r.day > day - CELEBRITY_DAYS
        )
    ).all()
    readers = pa.table({f.name: pa.array([x[i] for x in rrows], f.type) for i, f in enumerate(_READERS)})
    return hourly, readers


def _upsert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


_HOURLY_UPSERT = (
    "INSERT INTO oversight_hourly (principal_id, hour, reads, refused_lookups, break_glass) "
    "VALUES ({m}, {m}, {m}, {m}, {m}) "
    "ON CONFLICT (principal_id, hour) DO UPDATE SET reads = oversight_hourly.reads + excluded.reads, "
    "refused_lookups = oversight_hourly.refused_lookups + excluded.refused_lookups, "
    "break_glass = oversight_hourly.break_glass + excluded.break_glass"
)
_READERS_UPSERT = (
    "INSERT INTO oversight_subject_readers (subject, day, principal_id, reads, first_leaf, last_leaf) "
    "VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (subject, day, principal_id) DO UPDATE SET "
    "reads = oversight_subject_readers.reads + excluded.reads, "
    "first_leaf = {least}(oversight_subject_readers.first_leaf, excluded.first_leaf), "
    "last_leaf = {greatest}(oversight_subject_readers.last_leaf, excluded.last_leaf)"
)


def _add_state(conn: Connection, hourly: pa.Table, readers: pa.Table) -> None:
    """Add a batch's counts to the scan tables (summing into rows earlier batches made).

    Plain DBAPI ``executemany`` of tuples: tens of thousands of rows per batch, where
    building a parameter dict per row through SQLAlchemy would cost more than the rules.
    """
    pg = conn.dialect.name == "postgresql"
    m = "%s" if pg else "?"
    least, greatest = ("least", "greatest") if pg else ("min", "max")
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        if hourly.num_rows:
            rows = list(zip(*(hourly.column(c).to_pylist() for c in hourly.column_names), strict=True))
            cur.executemany(_HOURLY_UPSERT.format(m=m), rows)
        if readers.num_rows:
            rows = list(zip(*(readers.column(c).to_pylist() for c in readers.column_names), strict=True))
            cur.executemany(_READERS_UPSERT.format(m=m, least=least, greatest=greatest), rows)
    finally:
        cur.close()


def _save_cursor(conn: Connection, name: str, leaf: int, last_time: dt.datetime | None) -> None:
    c = oversight_cursors
    state = {"last_time": last_time.isoformat() if last_time else None}
    now = dt.datetime.now(dt.UTC)
    stmt = _upsert(conn)(c).values(name=name, leaf=leaf, state=state, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[c.c.name], set_={"leaf": leaf, "state": state, "updated_at": now})
    )
