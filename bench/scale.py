"""Benchmark: how taxvault grows with the population, on SQLite and PostgreSQL (``./dev bench scale``).

For each store and each size (taxpayers), a fresh store in its own process:

- load: ``synth`` (the bulk path: executemany on SQLite, COPY on PostgreSQL), seconds, rows, rows/s;
- disk: the store's bytes after the load (SQLite file + WAL; ``pg_database_size``);
- peak memory: the loading process's peak RSS (the PostgreSQL server's own memory is not in it);
- look-ups through the real door, over loopback HTTP against a served API (its own process):
  ``POST /v1/taxpayers/lookup`` (TIN in the body, HMAC index) and ``GET /v1/modules/{id}/transcript``,
  as caseworkers on their cases, each request authenticated, decided and audited: p50 / p99;
- audit: batch append rate of size/10 events (at least 10k), then export and independent
  verification of the whole log (seconds, events/s);
- matching: the AUR match of information returns to returns over the whole store (seconds).

Then, per store, the growth between consecutive sizes (x of each figure). Default sizes are
100k, 1M and 10M taxpayers: hours of work; CI never runs it. Pick smaller ones with --sizes.

    python bench/scale.py --sizes 100000,1000000                  # both stores
    python bench/scale.py --sizes 10000000 --stores postgresql --json out.json
    python bench/scale.py --postgres postgresql://postgres@127.0.0.1:55432/postgres

PostgreSQL: an admin URL (--postgres, else $TAXVAULT_TEST_PG_URL); each size gets its own
database, dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

AUDIT_CHUNK = 100_000


# --- the served API (a child process) --------------------------------------------------------


def serve(url: str, port: int) -> None:
    """Child process: the real app, no rate limit, no request logs."""
    import logging

    import uvicorn

    from taxvault.access.ratelimit import RateLimiter
    from taxvault.api.app import create_app
    from taxvault.store import make_engine

    logging.getLogger("taxvault").setLevel(logging.WARNING)
    app = create_app(make_engine(url), rate_limiter=RateLimiter(1e9, 10**9))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Request = tuple[str, str, dict[str, str], dict[str, Any] | None]  # method, path, headers, json body


def _drive(base: str, requests: list[Request], concurrency: int) -> tuple[list[float], int]:
    """Send ``requests`` from ``concurrency`` keep-alive clients; latencies (s) and 200s."""
    latencies: list[float] = []
    ok = 0
    lock = threading.Lock()

    def worker(chunk: list[Request]) -> None:
        nonlocal ok
        mine, good = [], 0
        with httpx.Client(base_url=base, timeout=120) as client:
            for method, path, headers, body in chunk:
                t0 = time.perf_counter()
                r = client.request(method, path, headers=headers, json=body)
                mine.append(time.perf_counter() - t0)
                good += r.status_code == 200
        with lock:
            latencies.extend(mine)
            ok += good

    threads = [threading.Thread(target=worker, args=(requests[i::concurrency],)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, ok


def _quantiles(latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def _case_lookups(engine: Any, limit: int) -> list[tuple[str, str, str, str, str]]:
    """(principal, purpose, TIN, TIN type, module ref) of caseworkers' open cases (TINs stay in memory)."""
    import sqlalchemy as sa

    from taxvault.store.tables import case_subjects, cases, entities, tax_modules
    from taxvault.store.tins import aad, tin_vault

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                cases.c.assigned_to, cases.c.purpose, entities.c.ref, entities.c.tin_enc, entities.c.tin_type,
                tax_modules.c.ref.label("module"),
            )
            .select_from(
                cases.join(case_subjects, case_subjects.c.case_id == cases.c.id)
                .join(tax_modules, tax_modules.c.id == case_subjects.c.module_id)
                .join(entities, entities.c.id == case_subjects.c.entity_id)
            )
            .where(cases.c.status == "open", cases.c.assigned_to.is_not(None))
            .limit(limit)
        ).all()  # fmt: skip
        vault = tin_vault(conn)
        return [
            (
                r.assigned_to,
                r.purpose,
                vault.decrypt(conn, r.tin_enc, aad("entities", "tin", r.ref)),
                r.tin_type,
                r.module,
            )
            for r in rows
        ]


def bench_lookups(url: str, engine: Any, n_requests: int, concurrency: int) -> dict[str, Any]:
    from taxvault.access.tokens import issue_token

    lookups = _case_lookups(engine, 2_000)
    port = _free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", url, "--port", str(port)], env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tokens = {p: issue_token(p) for p, *_ in lookups}
        allowed = []
        with httpx.Client(base_url=base, timeout=120) as client:  # the policies allow most, not all
            for principal, purpose, tin, tin_type, module in lookups:
                h = {"Authorization": f"Bearer {tokens[principal]}", "Purpose-Of-Use": purpose}
                if client.get(f"/v1/modules/{module}/transcript", headers=h).status_code == 200:
                    allowed.append((h, tin, tin_type, module))
                if len(allowed) >= 200:
                    break
        if not allowed:
            raise SystemExit("no allowed look-up found: population too small")
        by_tin: list[Request] = [
            ("POST", "/v1/taxpayers/lookup", h, {"tin": tin, "tin_type": tt})
            for k in range(n_requests)
            for h, tin, tt, _ in [allowed[k % len(allowed)]]
        ]
        transcript: list[Request] = [
            ("GET", f"/v1/modules/{m}/transcript", h, None)
            for k in range(n_requests)
            for h, _, _, m in [allowed[(k * 7) % len(allowed)]]
        ]
        _drive(base, by_tin[: n_requests // 10] + transcript[: n_requests // 10], concurrency)  # warm-up
        out: dict[str, Any] = {"lookup_concurrency": concurrency, "lookup_requests": n_requests}
        for name, reqs in (("tin_lookup", by_tin), ("transcript", transcript)):
            t0 = time.perf_counter()
            lat, ok = _drive(base, reqs, concurrency)
            out[name] = {**_quantiles(lat), "rps": len(lat) / (time.perf_counter() - t0), "ok": ok}
    finally:
        child.terminate()
        child.wait(timeout=60)
    return out


# --- audit and matching ----------------------------------------------------------------------------


def _events(start: int, count: int) -> list[Any]:
    """Realistic-sized audit events (~230 bytes canonical), as bench/audit.py makes them."""
    from taxvault.audit.event import AuditEvent, Decision

    rng = random.Random(start)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    actions = ("read", "search", "update", "export")
    return [
        AuditEvent(
            time=base + dt.timedelta(microseconds=i * 1000),
            principal=f"emp-{rng.randrange(50_000):06d}",
            action=actions[i % 4],
            resource=f"ent_{rng.getrandbits(64):016x}",
            decision=Decision.DENY if i % 50 == 0 else Decision.ALLOW,
            request_id=f"req-{rng.getrandbits(64):016x}",
            purpose="case-work",
            policy="caseworker-assigned-case",
            fields=("name", "address"),
        )
        for i in range(start, start + count)
    ]


def bench_audit(engine: Any, n_events: int, workdir: Path) -> dict[str, Any]:
    from taxvault.audit.export import export_log
    from taxvault.audit.log import AuditLog
    from taxvault.audit.verifier import verify_export
    from taxvault.store.partitions import ensure_audit_partitions

    with AuditLog(engine) as log:
        busy = 0.0
        appended = 0
        while appended < n_events:
            n = min(AUDIT_CHUNK, n_events - appended)
            events = _events(appended, n)
            t0 = time.perf_counter()
            log.append_many(events)
            busy += time.perf_counter() - t0
            appended += n
            with engine.begin() as conn:  # operations' upkeep, as a daily job would (no-op on SQLite)
                ensure_audit_partitions(conn)
        log.sign_tree_head()
        t0 = time.perf_counter()
        summary = export_log(log, workdir / "export")
        exported = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = verify_export(workdir / "export")
        verified = time.perf_counter() - t0
    shutil.rmtree(workdir / "export", ignore_errors=True)
    if not report.ok:
        raise SystemExit(f"audit verification failed: {report.problems[:3]}")
    return {
        "audit_appended": n_events,
        "audit_append_per_s": n_events / busy,
        "audit_log_events": summary.events,
        "audit_export_s": exported,
        "audit_verify_s": verified,
        "audit_verify_per_s": summary.events / verified,
    }


def bench_matching(engine: Any) -> dict[str, Any]:
    from taxvault.notices.underreporter import find_discrepancies

    with engine.connect() as conn:
        t0 = time.perf_counter()
        found = find_discrepancies(conn)
        return {"matching_s": time.perf_counter() - t0, "matching_discrepancies": len(found)}


# --- one size, one store ---------------------------------------------------------------------------


def disk_bytes(engine: Any, url: str) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
    path = Path(str(engine.url.database))
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def table_bytes(engine: Any) -> dict[str, int]:
    """The biggest tables with their indexes (PostgreSQL: a partitioned table's partitions summed)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT c.relname, pg_total_relation_size(c.oid) + coalesce((SELECT sum(pg_total_relation_size(relid)) "
                "FROM pg_partition_tree(c.oid) WHERE relid <> c.oid), 0) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            ).all()
        else:  # an index counts with its table
            rows = conn.exec_driver_sql(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1"
            ).all()
    sizes = {str(name): int(size or 0) for name, size in rows}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:10])


def one_run(n: int, url: str, workdir: Path, n_requests: int, concurrency: int) -> None:
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.synth.load import synthesize

    engine = make_engine(url)
    upgrade(engine)
    out: dict[str, Any] = {"store": engine.dialect.name, "taxpayers": n}
    t0 = time.perf_counter()
    done = [0, 0]  # people so far, last tenth printed

    def progress(people: int) -> None:
        done[0] += people
        if done[0] * 10 // n > done[1]:
            done[1] = done[0] * 10 // n
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  {done[0]:,} people in {time.perf_counter() - t0:.0f} s, peak {rss:.0f} MiB", file=sys.stderr)

    report = synthesize(engine, n, seed=1, progress=progress)
    out["load_s"] = time.perf_counter() - t0
    out["people"] = report.persons
    out["rows"] = sum(report.rows.values())
    out["rows_by_table"] = report.rows
    out["load_rows_per_s"] = out["rows"] / out["load_s"]
    out["load_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if engine.dialect.name == "postgresql":  # the statistics autovacuum would gather, now
        t0 = time.perf_counter()
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        out["analyze_s"] = time.perf_counter() - t0
    out["disk_bytes"] = disk_bytes(engine, url)
    out["table_bytes"] = table_bytes(engine)
    print(f"  loaded {out['rows']:,} rows in {out['load_s']:.0f} s: {json.dumps(out)}", file=sys.stderr, flush=True)
    out |= bench_lookups(url, engine, n_requests, concurrency)
    print("  look-ups done", file=sys.stderr, flush=True)
    out |= bench_audit(engine, max(10_000, n // 10), workdir)
    print("  audit done", file=sys.stderr, flush=True)
    out |= bench_matching(engine)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["disk_bytes_after"] = disk_bytes(engine, url)
    out["table_bytes_after"] = table_bytes(engine)
    engine.dispose()
    print(json.dumps(out), flush=True)


def _pg_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    from taxvault.store import make_engine

    name = f"tv_scale_{uuid.uuid4().hex[:8]}"
    with make_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(make_engine(admin_url).url).set(database=name).render_as_string(hide_password=False)
    return name, url


def _drop_pg_database(admin_url: str, name: str) -> None:
    from taxvault.store import make_engine

    with make_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the report --------------------------------------------------------------------------------------

_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (header, key, format)
    ("people", "people", "{:,.0f}"),
    ("rows", "rows", "{:,.0f}"),
    ("load s", "load_s", "{:,.1f}"),
    ("rows/s", "load_rows_per_s", "{:,.0f}"),
    ("disk MiB", "disk_mib", "{:,.0f}"),
    ("peak MiB", "load_peak_rss_mib", "{:,.0f}"),
    ("TIN p50", "tin_p50", "{:.1f}"),
    ("TIN p99", "tin_p99", "{:.1f}"),
    ("txmod p50", "transcript_p50", "{:.1f}"),
    ("txmod p99", "transcript_p99", "{:.1f}"),
    ("audit ev/s", "audit_append_per_s", "{:,.0f}"),
    ("verify s", "audit_verify_s", "{:,.1f}"),
    ("match s", "matching_s", "{:,.1f}"),
)


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    return {
        **r,
        "disk_mib": r["disk_bytes"] / 2**20,
        "tin_p50": r["tin_lookup"]["p50_ms"],
        "tin_p99": r["tin_lookup"]["p99_ms"],
        "transcript_p50": r["transcript"]["p50_ms"],
        "transcript_p99": r["transcript"]["p99_ms"],
    }


def print_table(results: list[dict[str, Any]]) -> None:
    widths = [max(len(h), 10) for h, _, _ in _COLUMNS]
    print("  ".join(h.rjust(w) for (h, _, _), w in zip(_COLUMNS, widths, strict=True)))
    flat = [_flat(r) for r in results]
    for r in flat:
        print("  ".join(f.format(r[k]).rjust(w) for (_, k, f), w in zip(_COLUMNS, widths, strict=True)))
    for a, b in itertools.pairwise(flat):
        cells = [f"x{b[k] / a[k]:.2f}" if a[k] else "-" for _, k, _ in _COLUMNS]
        label = f"growth {a['taxpayers']:,} -> {b['taxpayers']:,}"
        print(label)
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    print("(latencies in ms through the door over loopback HTTP; peak MiB is the loading process, not the server)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="comma-separated numbers of taxpayers")
    parser.add_argument("--stores", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--postgres", default=os.environ.get("TAXVAULT_TEST_PG_URL"), help="PostgreSQL admin URL")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per look-up kind")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workdir", default=None, help="where stores and keys go (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.one:
        one_run(args.one, args.url, Path(args.workdir), args.requests, args.concurrency)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = [s.strip() for s in args.stores.split(",")]
    if "postgresql" in stores and not args.postgres:
        raise SystemExit("PostgreSQL needs --postgres URL (or TAXVAULT_TEST_PG_URL)")
    print(f"scale benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    everything: list[dict[str, Any]] = []
    for store in stores:
        results = []
        for n in sizes:
            workdir = Path(tempfile.mkdtemp(prefix=f"scale-{store}-{n}-", dir=args.workdir))
            env = {**os.environ, "TAXVAULT_VAR_DIR": str(workdir / "var")}
            name = None
            if store == "postgresql":
                name, url = _pg_database(args.postgres)
            else:
                url = f"sqlite:///{workdir / 'store.db'}"
            print(f"[{store} {n:,}] started {time.strftime('%H:%M:%S')}", flush=True)
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", str(n), "--url", url, "--workdir", str(workdir),
                     "--requests", str(args.requests), "--concurrency", str(args.concurrency)],
                    env=env, check=True, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
            finally:
                if not args.keep:
                    if name:
                        _drop_pg_database(args.postgres, name)
                    shutil.rmtree(workdir, ignore_errors=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["load_average_after"] = os.getloadavg()[0]
            results.append(r)
            everything.append(r)
            print(json.dumps(r), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(everything, indent=1))
        print(f"\n{store}:")
        print_table(results)


if __name__ == "__main__":
    main()
