"""Benchmark: synthetic population generation into the store, at two sizes at least.

Prints people/second and peak memory per size (each size runs in its own process,
so peak RSS is that run's own), and how time and memory grow between sizes.

    python bench/synth.py                       # 100k and 1M people, embedded SQLite
    python bench/synth.py --sizes 20000,200000  # quicker
    python bench/synth.py --postgres postgresql://postgres@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid


def one_run(n: int, url: str) -> None:
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.synth.load import synthesize

    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    report = synthesize(engine, n, seed=1)
    seconds = time.perf_counter() - started
    rows = sum(report.rows.values())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"people": report.persons, "rows": rows, "seconds": seconds, "peak_mib": peak_kib / 1024}))


def pg_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    from taxvault.store import make_engine

    name = f"tv_bench_{uuid.uuid4().hex[:8]}"
    with make_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(make_engine(admin_url).url).set(database=name).render_as_string(hide_password=False)
    return name, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of people")
    parser.add_argument("--postgres", default=None, help="admin URL: run on PostgreSQL instead of SQLite")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one, args.url)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(f"synth benchmark on {store}, {os.cpu_count()} cores")
    print(f"{'people':>10} {'rows':>11} {'seconds':>9} {'people/s':>10} {'rows/s':>10} {'peak MiB':>9}")
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "TAXVAULT_VAR_DIR": tmp}
            if args.postgres:
                _name, url = pg_database(args.postgres)
            else:
                url = f"sqlite:///{tmp}/bench.db"
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), "--url", url],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['people']:>10,} {r['rows']:>11,} {r['seconds']:>9.1f} {r['people'] / r['seconds']:>10,.0f} "
            f"{r['rows'] / r['seconds']:>10,.0f} {r['peak_mib']:>9.0f}",
            flush=True,
        )
    for a, b in itertools.pairwise(results):
        k = b["people"] / a["people"]
        time_growth, mem_growth = b["seconds"] / a["seconds"], b["peak_mib"] / a["peak_mib"]
        print(f"x{k:.0f} people: time x{time_growth:.1f}, peak memory x{mem_growth:.1f}")


if __name__ == "__main__":
    main()
