"""Benchmark: how many database pages one look-up touches, by store size (PostgreSQL; docs/capacity.md).

Why: from 1M to 10M taxpayers the look-ups' p50 grew x4 (docs/capacity.md section 2). If a
look-up's pages grew with the store (a plan that scans, an index that deepens a lot), that is
the cause; if they stay O(1) (a few B-tree descents), the growth is in what each page costs
(cache misses, a loaded machine), not in the plan. This measures the first without a 10M load.

For each size: a fresh PostgreSQL database, ``synth`` of N taxpayers (as ``bench/scale.py``),
``ANALYZE``; then the real app in-process serves look-ups as caseworkers on their own open
cases (``POST /v1/taxpayers/lookup`` with the TIN in the body, ``GET /v1/modules/{m}/transcript``),
every SQL statement of each request is captured with its parameters, and each read is run
again under ``EXPLAIN (ANALYZE, BUFFERS)`` (in a transaction rolled back): shared buffers hit
and read per statement. The B-tree depth of every index the plans use comes from
``pageinspect``'s ``bt_metap`` (level of the root + 1). Writes (the audit append) are counted
apart: their rows are O(1) by construction (one event, one subject row, the tree row).

    python bench/lookup_pages.py --sizes 100000,1000000 --json out.json
    python bench/lookup_pages.py --url postgresql://... --var-dir DIR    # a kept store (no load)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


def _scale() -> Any:
    """bench/scale.py (its store builder and the caseworkers' look-ups), loaded by path."""
    spec = importlib.util.spec_from_file_location("bench_scale", _HERE / "scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shape(sql: str) -> str:
    """A statement's shape for grouping: whitespace folded, literals and parameter names kept out."""
    text = re.sub(r"\s+", " ", sql).strip()
    text = re.sub(r"%\([a-z_0-9]+\)s", "?", text)
    text = re.sub(r"\bIN \([^)]*\)", "IN (...)", text)
    return text[:160]


def _explain(conn: Any, sql: str, params: Any) -> dict[str, Any]:
    """Buffers and the indexes of one read, run again under EXPLAIN (ANALYZE, BUFFERS); rolled back."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        plan = cur.fetchone()[0][0]
    raw.rollback()
    top = plan["Plan"]
    indexes: set[str] = set()
    nodes: list[str] = []

    steps: list[str] = []

    def walk(node: dict[str, Any], depth: int = 0) -> None:
        nodes.append(node["Node Type"])
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        on = node.get("Index Name") or node.get("Relation Name") or ""
        pages = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
        steps.append(f"{'  ' * depth}{node['Node Type']} {on} rows={node.get('Actual Rows')} pages={pages}".rstrip())
        for child in node.get("Plans", ()):
            walk(child, depth + 1)

    walk(top)
    return {
        "hit": int(top.get("Shared Hit Blocks", 0)),
        "read": int(top.get("Shared Read Blocks", 0)),
        "rows": int(top.get("Actual Rows", 0)),
        "ms": float(plan.get("Execution Time", 0.0)),
        "indexes": sorted(indexes),
        "seq_scans": sum(1 for n in nodes if n == "Seq Scan"),
        "plan": steps,
    }


def _depths(conn: Any, indexes: set[str]) -> dict[str, dict[str, int]]:
    """B-tree depth (root level + 1) and size in pages of each index (pageinspect)."""
    raw = conn.connection.driver_connection
    out: dict[str, dict[str, int]] = {}
    with raw.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        for name in sorted(indexes):
            try:
                cur.execute("SELECT level FROM bt_metap(%s)", (name,))
                level = int(cur.fetchone()[0])
                cur.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", (name,))
                pages = int(cur.fetchone()[0])
            except Exception as exc:  # a partitioned parent or a non-B-tree index: say so
                raw.rollback()
                out[name] = {"error": str(exc).splitlines()[0]}  # type: ignore[dict-item]
                continue
            out[name] = {"depth": level + 1, "pages": pages}
    raw.commit()
    return out


def measure(url: str, samples: int) -> dict[str, Any]:
    """Look-ups through the app in-process; per statement shape, the buffers each one touched."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from taxvault.access.ratelimit import RateLimiter
    from taxvault.access.tokens import issue_token
    from taxvault.api.app import create_app
    from taxvault.store import make_engine

    engine = make_engine(url)
    lookups = _scale()._case_lookups(engine, 2_000)
    app = create_app(engine, rate_limiter=RateLimiter(1e9, 10**9))
    captured: list[tuple[str, Any]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, executemany: bool) -> None:
        if not executemany:
            captured.append((statement, parameters))

    per: dict[str, dict[str, list[dict[str, Any]]]] = {"tin_lookup": defaultdict(list), "transcript": defaultdict(list)}
    writes: dict[str, set[str]] = {"tin_lookup": set(), "transcript": set()}
    done = {"tin_lookup": 0, "transcript": 0}
    with TestClient(app) as client, engine.connect() as conn:
        for principal, purpose, tin, tin_type, module in lookups:
            if min(done.values()) >= samples:
                break
            h = {"Authorization": f"Bearer {issue_token(principal)}", "Purpose-Of-Use": purpose}
            if client.get(f"/v1/modules/{module}/transcript", headers=h).status_code != 200:
                continue  # the policies allow most look-ups, not all
            requests = {
                "tin_lookup": ("POST", "/v1/taxpayers/lookup", {"tin": tin, "tin_type": tin_type}),
                "transcript": ("GET", f"/v1/modules/{module}/transcript", None),
            }
            for kind, (method, path, body) in requests.items():
                if done[kind] >= samples:
                    continue
                captured.clear()
                if client.request(method, path, headers=h, json=body).status_code != 200:
                    continue
                done[kind] += 1
                for sql, params in list(captured):
                    head = sql.lstrip().split(None, 1)[0].upper()
                    if head not in ("SELECT", "WITH"):
                        writes[kind].add(_shape(sql)[:60])
                        continue
                    per[kind][_shape(sql)].append(_explain(conn, sql, params))
        used = {ix for kind in per.values() for runs in kind.values() for r in runs for ix in r["indexes"]}
        depths = _depths(conn, used)
    engine.dispose()
    out: dict[str, Any] = {"samples": done, "indexes": depths, "writes": {k: sorted(v) for k, v in writes.items()}}
    for kind, shapes in per.items():
        rows = []
        for shape, runs in shapes.items():
            pages = [r["hit"] + r["read"] for r in runs]
            rows.append({
                "statement": shape,
                "runs": len(runs),
                "pages_median": statistics.median(pages),
                "pages_max": max(pages),
                "read_median": statistics.median(r["read"] for r in runs),
                "ms_median": round(statistics.median(r["ms"] for r in runs), 3),
                "seq_scans": max(r["seq_scans"] for r in runs),
                "indexes": sorted({ix for r in runs for ix in r["indexes"]}),
                "plan": max(runs, key=lambda r: r["hit"] + r["read"])["plan"],  # the costliest run's
            })  # fmt: skip
        out[kind] = {
            "statements_per_request": round(sum(len(r) for r in shapes.values()) / max(1, done[kind]), 2),
            "pages_per_request_median": statistics.median(_per_request(shapes, done[kind]) or [0]),
            "by_statement": sorted(rows, key=lambda r: -r["pages_median"]),
        }
    return out


def _per_request(shapes: dict[str, list[dict[str, Any]]], n: int) -> list[int]:
    """Pages touched by all reads of each request (statements of request k are the k-th run of each shape)."""
    totals = [0] * n
    for runs in shapes.values():
        per = len(runs) // n if n else 0
        for i, r in enumerate(runs[: per * n]):
            totals[i // per] += r["hit"] + r["read"]
    return totals


def one(n: int, url: str, samples: int) -> None:
    """Child process: load N taxpayers into the empty database at ``url`` (unless 0), analyse, measure."""
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.synth.load import synthesize

    out: dict[str, Any] = {"taxpayers": n}
    if n:
        engine = make_engine(url)
        upgrade(engine)
        t0 = time.perf_counter()
        synthesize(engine, n, seed=1)
        out["load_s"] = round(time.perf_counter() - t0, 1)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        engine.dispose()
        print(f"  loaded {n:,} in {out['load_s']} s", file=sys.stderr, flush=True)
    out |= measure(url, samples)
    print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of taxpayers")
    parser.add_argument("--postgres", default=os.environ.get("TAXVAULT_TEST_PG_URL"), help="PostgreSQL admin URL")
    parser.add_argument("--samples", type=int, default=50, help="look-ups of each kind")
    parser.add_argument("--url", help="measure this kept store instead of loading (needs --var-dir)")
    parser.add_argument("--var-dir", help="the kept store's var dir (its TIN keys)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (and print where)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        one(args.one, args.url, args.samples)
        return
    scale = _scale()
    runs: list[tuple[int, str | None, str, Path]] = []
    if args.url:
        runs.append((0, None, args.url, Path(args.var_dir)))
    else:
        if not args.postgres:
            raise SystemExit("needs --postgres URL (or TAXVAULT_TEST_PG_URL)")
        for n in (int(s) for s in args.sizes.split(",")):
            workdir = Path(tempfile.mkdtemp(prefix=f"lookup-pages-{n}-"))
            name, url = scale._pg_database(args.postgres)
            runs.append((n, name, url, workdir / "var"))
    results = []
    for n, name, url, var in runs:
        print(f"[{n:,}] started {time.strftime('%H:%M:%S')}, load average {os.getloadavg()[0]:.1f}", flush=True)
        env = {**os.environ, "TAXVAULT_VAR_DIR": str(var)}
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), "--url", url, "--samples", str(args.samples)],
                env=env, check=True, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
        finally:
            if name and not args.keep:
                scale._drop_pg_database(args.postgres, name)
                shutil.rmtree(var.parent, ignore_errors=True)
            elif name:
                print(f"  kept: --url {url} --var-dir {var}", flush=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        for kind in ("tin_lookup", "transcript"):
            k = r[kind]
            print(
                f"  {kind}: {k['statements_per_request']} reads/request, {k['pages_per_request_median']} pages/request"
            )
            for s in k["by_statement"][:8]:
                print(f"    {s['pages_median']:>6} pages ({s['read_median']} from disk) {s['statement'][:100]}")
        for ix, d in r["indexes"].items():
            print(f"    index {ix}: {d}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
