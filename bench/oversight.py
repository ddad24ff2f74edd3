"""Benchmark of the browsing detectors: recall and precision per kind, and scan throughput.

Quality: for each size (employees), a fresh store, ``simulate`` (a month of work through
the real door with each kind of browsing planted, the truth in a file apart), one
``scan``, then per kind: episodes planted, found (an alert of that rule cites one of
the episode's leaves), alerts raised, true alerts (citing a planted leaf), recall,
precision. Aims: recall >= 0.95 and precision >= 0.9 for every kind.

Throughput: a log of N events built fast (the simulated month's events replayed week
after week with shifted times and fresh request ids, canonical version-2 bytes appended
with ``AuditLog.append_bytes``), then one full ``scan``; events per second. Aim: 50k/s.

    .venv/bin/python bench/oversight.py                                  # 200 and 2000 employees, 1M and 10M
    .venv/bin/python bench/oversight.py --sizes 60 --days 14 --events 200000
    .venv/bin/python bench/oversight.py --skip-quality --events 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.audit.log import AuditLog
from taxvault.oversight.scan import scan
from taxvault.oversight.simulate import evaluate, simulate
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade
from taxvault.store.tables import cases

APPEND_CHUNK = 250_000


def _store(tmp: Path, url: str | None, name: str) -> Engine:
    if url:
        admin = make_engine(url, isolation_level="AUTOCOMMIT")
        db = f"tv_bench_{name}_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
        engine = make_engine(sa.engine.make_url(admin.url).set(database=db).render_as_string(hide_password=False))
    else:
        engine = make_engine(f"sqlite:///{tmp / (name + '.db')}")
    upgrade(engine)
    return engine


def quality(tmp: Path, url: str | None, employees: int, days: int, seed: int) -> None:
    engine = _store(tmp, url, f"q{employees}")
    truth = tmp / f"truth-{employees}.jsonl"
    t0 = time.perf_counter()
    rep = simulate(engine, employees=employees, days=days, seed=seed, truth=truth)
    t1 = time.perf_counter()
    result = scan(engine)
    t2 = time.perf_counter()
    print(
        f"\n== {employees} employees, {days} days, seed {seed}: {rep.events:,} events simulated in {t1 - t0:.1f}s; "
        f"scan {result.events:,} events in {t2 - t1:.1f}s ({result.events_per_second:,.0f}/s), "
        f"{result.new_alerts:,} alerts"
    )
    print(f"{'kind':24s} {'planted':>7s} {'found':>6s} {'recall':>6s} {'alerts':>7s} {'true':>6s} {'precision':>9s}")
    worst_r, worst_p = 1.0, 1.0
    for kind, s in evaluate(engine, truth).items():
        worst_r, worst_p = min(worst_r, s.recall), min(worst_p, s.precision)
        print(
            f"{kind:24s} {s.planted:7d} {s.found:6d} {s.recall:6.2f} {s.alerts:7d} {s.true_alerts:6d} "
            f"{s.precision:9.2f}"
        )
    print(f"worst recall {worst_r:.2f} (aim 0.95), worst precision {worst_p:.2f} (aim 0.90)")
    _drop(engine, url)


def _templates(engine: Engine) -> tuple[list[tuple[bytes, bytes, dt.datetime]], dt.timedelta]:
    """The simulated events split around their time and request id, to replay them fast."""
    out: list[tuple[bytes, bytes, dt.datetime]] = []
    first = last = None
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT event FROM audit_events ORDER BY leaf_index").all()
    for (raw,) in rows:
        data = bytes(raw)
        obj = json.loads(data)
        if obj.get("v") != 2:
            continue
        when = dt.datetime.strptime(obj["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        rid = f'"request_id":{json.dumps(obj["request_id"])}'.encode()
        tpos = data.index(b'"time":"')
        head, tail = data[:tpos], data[tpos + len(b'"time":"') + 27 :]
        head = head.replace(rid, b'"request_id":"\x00"')
        out.append((head, tail, when))
        first = when if first is None or when < first else first
        last = when if last is None or when > last else last
    assert first is not None and last is not None
    span = dt.timedelta(days=((last - first).days // 7 + 1) * 7)  # whole weeks: weekdays stay weekdays
    return out, span


def throughput(tmp: Path, url: str | None, sizes: list[int], seed: int) -> None:
    base = _store(tmp, None, "templates")
    simulate(base, employees=200, days=14, seed=seed, truth=tmp / "t.jsonl", per_kind=5)
    templates, span = _templates(base)
    for n in sizes:
        engine = _store(tmp, url, f"t{n}")
        # the same agency in the scanned store: rebuild it with the same seed (no events kept)
        simulate(engine, employees=200, days=1, seed=seed, truth=tmp / "t1.jsonl", per_kind=1)
        with engine.begin() as conn:  # the replayed weeks stay inside every case
            conn.execute(sa.update(cases).values(opened_at=dt.date(2020, 1, 1), closed_at=None, status="open"))
        log = AuditLog(engine)
        t0 = time.perf_counter()
        made, rep = 0, 0
        buf: list[bytes] = []
        while made < n:
            shift = span * rep
            for head, tail, when in templates:
                if made >= n:
                    break
                t = when + shift
                rid = f"http-{rep:06x}{made:010x}".encode()
                buf.append(
                    head.replace(b"\x00", rid)
                    + b'"time":"'
                    + f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}Z".encode()
                    + tail
                )
                made += 1
                if len(buf) >= APPEND_CHUNK:
                    log.append_bytes(buf)
                    buf = []
            rep += 1
        if buf:
            log.append_bytes(buf)
        log.close()
        built = time.perf_counter() - t0
        result = scan(engine)
        print(
            f"\n== scan throughput, {n:,} events ({'PostgreSQL' if url else 'SQLite'}; log built in {built:.0f}s): "
            f"{result.events:,} events in {result.seconds:.1f}s = {result.events_per_second:,.0f} events/s "
            f"(aim 50,000); {result.new_alerts:,} alerts"
        )
        _drop(engine, url)


def _drop(engine: Engine, url: str | None) -> None:
    """Dispose of the engine; on PostgreSQL, drop the database the bench made."""
    engine.dispose()
    if url:
        admin = make_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{engine.url.database}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200,2000", help="employees per quality run, comma-separated")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--events", default="1000000,10000000", help="log sizes for the throughput runs")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--database-url", default=None, help="an admin PostgreSQL URL (default: SQLite files)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tv-bench-oversight-"))
    os.environ.setdefault("TAXVAULT_VAR_DIR", str(tmp / "var"))
    try:
        if not args.skip_quality:
            for employees in (int(x) for x in args.sizes.split(",") if x):
                quality(tmp, args.database_url, employees, args.days, args.seed)
        if not args.skip_throughput:
            throughput(tmp, args.database_url, [int(x) for x in args.events.split(",") if x], args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
