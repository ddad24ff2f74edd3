"""Benchmark: the module-transcript look-up through the door vs a bare route and a hello route.

In one run, over loopback HTTP, against one uvicorn server (its own process): the full
stack (JWT, principal re-check, Cedar, facts, masking, durable audit append), a bare
twin route (same fetch, no authentication, policy, masking or audit) and a plain
FastAPI hello route served the same way. Rounds alternate between the three so all
see the same machine conditions. Judged figures (issue 12, item 10):

- p50 latency, full / bare, with 16 concurrent clients: aim <= 1.3x;
- p50 latency, full / bare, with one client: aim <= 1.5x;
- throughput, full / hello (16 clients): aim >= 0.5x.

It also checks that the protected 200s equal the audit events they added, and prints
the machine's load average. Runs at two population sizes (each its own store).

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

AIM_P50_CONCURRENT = 1.3
AIM_P50_SINGLE = 1.5
AIM_THROUGHPUT_VS_HELLO = 0.5


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
        hello = [("/bench/bare/hello", {}) for _ in range(n_requests)]
        for stack in (full, bare, hello):  # warm-up
            drive(base, stack[: n_requests // 10], concurrency)
        ovs = {"Authorization": f"Bearer {issue_token('ovs-audit')}", "Purpose-Of-Use": "oversight_review"}
        runs: dict[str, dict[str, Any]] = {}
        added = full_ok = 0
        for clients, count in ((concurrency, n_requests), (1, max(n_requests // 4, 200))):
            lat: dict[str, list[float]] = {"full": [], "bare": [], "hello": []}
            secs = {"full": 0.0, "bare": 0.0, "hello": 0.0}
            per_round = max(count // rounds, 1)
            for k in range(rounds):  # alternate rounds so all stacks see the same machine conditions
                chunk = slice(k * per_round, (k + 1) * per_round)
                size_before = httpx.get(base + "/v1/audit/sth", headers=ovs).json()["tree_size"]
                got, ok, spent = drive(base, full[chunk], clients)
                size_after = httpx.get(base + "/v1/audit/sth", headers=ovs).json()["tree_size"]
                lat["full"] += got
                secs["full"] += spent
                full_ok += ok
                added += size_after - size_before - 1  # the first STH request is itself audited
                for name, stack in (("bare", bare), ("hello", hello)):
                    got, _, spent = drive(base, stack[chunk], clients)
                    lat[name] += got
                    secs[name] += spent
            runs[f"{clients}"] = {name: figures(lat[name], secs[name]) for name in lat}
    finally:
        child.terminate()
        child.wait(timeout=30)
    return {
        "people": people,
        "concurrency": concurrency,
        "runs": runs,
        "full_ok": full_ok,
        "audit_events_added": added,
        "loadavg": os.getloadavg(),
    }


def verdict(value: float, aim: float, *, at_most: bool) -> str:
    met = value <= aim if at_most else value >= aim
    return f"aim {'<=' if at_most else '>='} {aim}x: {'met' if met else 'NOT met'}"


def report(r: dict[str, Any]) -> bool:
    """Print one size's figures and verdicts; True when the audit count checks out."""
    people, many = r["people"], str(r["concurrency"])
    for clients in (many, "1"):
        run = r["runs"][clients]
        for name in ("full", "bare", "hello"):
            f = run[name]
            print(
                f"{people:>9,} people  {clients:>2} client(s)  {name:>5}: {f['rps']:8.0f} req/s  "
                f"p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:7.2f} ms"
            )
    c, one = r["runs"][many], r["runs"]["1"]
    p50_c = c["full"]["p50_ms"] / c["bare"]["p50_ms"]
    p50_1 = one["full"]["p50_ms"] / one["bare"]["p50_ms"]
    vs_hello = c["full"]["rps"] / c["hello"]["rps"]
    print(f"{'':>9}  p50 full/bare, {many} clients: {p50_c:.2f}x ({verdict(p50_c, AIM_P50_CONCURRENT, at_most=True)})")
    print(f"{'':>9}  p50 full/bare, 1 client:  {p50_1:.2f}x ({verdict(p50_1, AIM_P50_SINGLE, at_most=True)})")
    print(
        f"{'':>9}  throughput full/hello, {many} clients: {vs_hello:.2f}x "
        f"({verdict(vs_hello, AIM_THROUGHPUT_VS_HELLO, at_most=False)})"
    )
    load = ", ".join(f"{x:.2f}" for x in r["loadavg"])
    print(f"{'':>9}  load average after the run (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    check = r["full_ok"] == r["audit_events_added"]
    print(
        f"{'':>9}  protected 200s {r['full_ok']:,} = audit events added {r['audit_events_added']:,}: "
        f"{'OK' if check else 'MISMATCH'}"
    )
    return check


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
    parser.add_argument("--tin-costs", action="store_true", help="only the TIN hashing/decryption costs (tin_costs)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.tin_costs:
        print(json.dumps([tin_costs(int(n)) for n in args.sizes.split(",")]))
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
        if not report(r):
            raise SystemExit(1)
    print(json.dumps({"run": uuid.uuid4().hex[:8], "results": results}))


def tin_costs(people: int, rounds: int = 2000) -> dict[str, Any]:
    """What keeping TINs out of plain columns costs the look-up route, per request, in process (SQLite).

    ``lookup``: the route's find step (HMAC of the TIN, then the indexed hash query);
    ``hmac``: the keyed hash alone; ``identity``: the identity record fetch (which seals
    the TIN: a data-key check, no decryption); ``reveal``: the one AES-GCM decryption a
    full disclosure adds in the masking step. Microseconds, median of ``rounds``.
    """
    import sqlalchemy as sa

    from taxvault.records.service import entity, entity_ref_by_tin
    from taxvault.store import make_engine
    from taxvault.store import tables as t
    from taxvault.store.migrate import upgrade
    from taxvault.store.tins import aad, reveal, tin_vault
    from taxvault.synth.load import synthesize

    def median_us(fn: Any) -> float:
        times = []
        for i in range(rounds):
            started = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - started)
        return round(statistics.median(times) * 1e6, 1)

    with tempfile.TemporaryDirectory(prefix="tv-bench-tins-") as tmp:
        os.environ["TAXVAULT_VAR_DIR"] = f"{tmp}/var"
        os.environ.pop("TAXVAULT_KEYS_DIR", None)
        engine = make_engine(f"sqlite:///{tmp}/tins.db")
        upgrade(engine)
        synthesize(engine, people, seed=7)
        with engine.connect() as conn:
            e = t.entities.c
            rows = conn.execute(sa.select(e.id, e.ref, e.tin_enc).order_by(e.id).limit(500)).all()
            vault = tin_vault(conn)
            tins = vault.decrypt_many(conn, [r.tin_enc for r in rows], [aad("entities", "tin", r.ref) for r in rows])
            n = len(rows)
            out = {
                "people": people,
                "lookup_us": median_us(lambda i: entity_ref_by_tin(conn, tins[i % n], None)),
                "hmac_us": median_us(lambda i: vault.lookup_hash(tins[i % n])),
                "identity_us": median_us(lambda i: entity(conn, rows[i % n].id)),
            }
            sealed = [entity(conn, r.id)["tin"] for r in rows]
            out["reveal_us"] = median_us(lambda i: reveal(sealed[i % n]))
        engine.dispose()
    return out


if __name__ == "__main__":
    main()
