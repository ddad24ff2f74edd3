"""Benchmark: the module-transcript look-up through the full stack vs a bare route.

In one run, over loopback HTTP with concurrent clients, against one uvicorn server
(its own process): the full stack (JWT, Cedar, facts, masking, durable audit append)
and a bare twin route (same fetch, no authentication, policy, masking or audit).
Prints requests/s, p50 and p99 for both and their ratio, and checks that the
number of successful protected responses equals the audit events they added.
Runs at two population sizes (each its own store) so growth with size shows.

    python bench/api.py                          # 2,000 and 20,000 people, SQLite
    python bench/api.py --sizes 5000 --requests 3000 --concurrency 32
    python bench/api.py --postgres postgresql://postgres@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import json
import os
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

AIM = 1.3


def serve(url: str, port: int) -> None:
    """Child process: the app with the bench twin route, no rate limit, no request logs."""
    import logging

    import uvicorn

    from taxvault.access.ratelimit import RateLimiter
    from taxvault.api.app import create_app
    from taxvault.store import make_engine

    logging.getLogger("taxvault").setLevel(logging.WARNING)
    app = create_app(make_engine(url), rate_limiter=RateLimiter(1e9, 10**9), bench_routes=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def prepare(url: str, people: int) -> list[tuple[str, str, str]]:
    """Create and populate the store; (principal, purpose, module ref) look-ups a caseworker may make."""
    import sqlalchemy as sa

    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.store.tables import case_subjects, cases, tax_modules
    from taxvault.synth.load import synthesize

    engine = make_engine(url)
    upgrade(engine)
    synthesize(engine, people, seed=1)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(cases.c.assigned_to, cases.c.purpose, tax_modules.c.ref)
            .select_from(
                cases.join(case_subjects, case_subjects.c.case_id == cases.c.id).join(
                    tax_modules, tax_modules.c.id == case_subjects.c.module_id
                )
            )
            .where(cases.c.status == "open", cases.c.assigned_to.is_not(None))
            .limit(400)
        ).all()
    engine.dispose()
    return [(r.assigned_to, r.purpose, r.ref) for r in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def drive(base: str, requests: list[tuple[str, dict[str, str]]], concurrency: int) -> tuple[list[float], int, float]:
    """Send ``requests`` from ``concurrency`` keep-alive clients; latencies, successes, wall seconds."""
    latencies: list[float] = []
    ok = 0
    lock = threading.Lock()
    chunks = [requests[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[tuple[str, dict[str, str]]]) -> None:
        nonlocal ok
        mine: list[float] = []
        good = 0
        with httpx.Client(base_url=base, timeout=60) as client:
            for path, headers in chunk:
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                mine.append(time.perf_counter() - t0)
                good += r.status_code == 200
        with lock:
            latencies.extend(mine)
            ok += good

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, ok, time.perf_counter() - started


def figures(latencies: list[float], seconds: float) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / seconds, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def one_size(
    url: str, people: int, n_requests: int, concurrency: int, var_dir: Path, rounds: int = 4
) -> dict[str, Any]:
    env = {**os.environ, "TAXVAULT_VAR_DIR": str(var_dir)}
    os.environ["TAXVAULT_VAR_DIR"] = str(var_dir)
    lookups = prepare(url, people)
    from taxvault.access.tokens import issue_token

    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", url, "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tokens = {p: issue_token(p) for p, _, _ in lookups}
        # keep the look-ups the policies allow (a few cases assign staff to their own family)
        allowed = []
        with httpx.Client(base_url=base) as client:
            for principal, purpose, module in lookups:
                h = {"Authorization": f"Bearer {tokens[principal]}", "Purpose-Of-Use": purpose}
                if client.get(f"/v1/modules/{module}/transcript", headers=h).status_code == 200:
                    allowed.append((principal, purpose, module))
                if len(allowed) >= 100:
                    break
        if not allowed:
            raise SystemExit("no allowed look-up found: population too small")
        full = [
            (f"/v1/modules/{m}/transcript", {"Authorization": f"Bearer {tokens[p]}", "Purpose-Of-Use": u})
            for k in range(n_requests)
            for p, u, m in [allowed[k % len(allowed)]]
        ]
        bare = [
            (f"/bench/bare/modules/{m}/transcript", {})
            for k in range(n_requests)
            for _, _, m in [allowed[k % len(allowed)]]
        ]
        drive(base, full[: n_requests // 10], concurrency)  # warm-up both
        drive(base, bare[: n_requests // 10], concurrency)
        ovs = {"Authorization": f"Bearer {issue_token('ovs-audit')}", "Purpose-Of-Use": "oversight_review"}
        full_lat: list[float] = []
        bare_lat: list[float] = []
        full_ok = bare_ok = added = 0
        full_s = bare_s = 0.0
        # Alternate rounds so both stacks see the same machine conditions.
        per_round = max(len(full) // rounds, 1)
        for k in range(rounds):
            chunk = slice(k * per_round, (k + 1) * per_round)
            size_before = httpx.get(base + "/v1/audit/sth", headers=ovs).json()["tree_size"]
            lat, ok, secs = drive(base, full[chunk], concurrency)
            size_after = httpx.get(base + "/v1/audit/sth", headers=ovs).json()["tree_size"]
            full_lat += lat
            full_ok += ok
            full_s += secs
            added += size_after - size_before - 1  # the first STH request is itself audited
            lat, ok, secs = drive(base, bare[chunk], concurrency)
            bare_lat += lat
            bare_ok += ok
            bare_s += secs
    finally:
        child.terminate()
        child.wait(timeout=30)
    return {
        "people": people,
        "full": figures(full_lat, full_s),
        "bare": figures(bare_lat, bare_s),
        "full_ok": full_ok,
        "bare_ok": bare_ok,
        "audit_events_added": added,
    }


def drop_pg_database(admin_url: str, url: str) -> None:
    """Drop the bench's PostgreSQL database."""
    import sqlalchemy as sa

    from taxvault.store import make_engine

    name = sa.engine.make_url(url).database
    with make_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated population sizes")
    parser.add_argument("--requests", type=int, default=4000, help="requests per stack per size")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent keep-alive clients")
    parser.add_argument("--postgres", default=None, help="admin URL: run on PostgreSQL instead of SQLite")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    results = []
    for people in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="tv-bench-api-") as tmp:
            if args.postgres:
                sys.path.insert(0, str(Path(__file__).parent))
                from synth import pg_database  # type: ignore[import-not-found]

                _, url = pg_database(args.postgres)
            else:
                url = f"sqlite:///{tmp}/bench.db"
            try:
                r = one_size(url, people, args.requests, args.concurrency, Path(tmp) / "var")
            finally:
                if args.postgres:
                    drop_pg_database(args.postgres, url)
        results.append(r)
        f, b = r["full"], r["bare"]
        ratio = b["rps"] / f["rps"]
        print(
            f"{people:>9,} people  full stack: {f['rps']:8.0f} req/s  "
            f"p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:7.2f} ms"
        )
        print(
            f"{'':>9}         bare route: {b['rps']:8.0f} req/s  p50 {b['p50_ms']:6.2f} ms  p99 {b['p99_ms']:7.2f} ms"
        )
        print(
            f"{'':>9}         ratio (bare/full throughput) {ratio:.2f}x, p50 {f['p50_ms'] / b['p50_ms']:.2f}x "
            f"(aim <= {AIM}x: {'met' if ratio <= AIM else 'NOT met'})"
        )
        check = "OK" if r["full_ok"] == r["audit_events_added"] else "MISMATCH"
        print(
            f"{'':>9}         protected 200s {r['full_ok']:,} = audit events added {r['audit_events_added']:,}: {check}"
        )
        if check != "OK":
            raise SystemExit(1)
    print(json.dumps({"run": uuid.uuid4().hex[:8], "results": results}))


if __name__ == "__main__":
    main()
