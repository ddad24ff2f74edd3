"""Benchmark: the posting cycle over a synthetic population, at two sizes at least.

Each size runs in its own process on a fresh embedded store: synthesize N people,
then one cycle on a date where the balance-due series continues (CP501 for the
loaded CP14s) and the under-reporter match runs (CP2000), then the same date again
(which must issue nothing). Prints seconds per phase, notices per second, audit
events, peak memory, and how time grows between sizes.

    python bench/cycle.py                      # 10k and 100k people
    python bench/cycle.py --sizes 5000,20000   # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def one_run(n: int, var_dir: str) -> None:
    os.environ["TAXVAULT_VAR_DIR"] = var_dir
    from taxvault.access.local import local_door
    from taxvault.jobs.cycle import run_cycle
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.synth.load import synthesize

    engine = make_engine()
    upgrade(engine)
    synthesize(engine, n, seed=1)
    on = dt.date(2026, 1, 5)
    with local_door(engine) as door:
        started = time.perf_counter()
        report = run_cycle(door, on)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = run_cycle(door, on)
        rerun = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "people": n,
                "notices": report.notices,
                "seconds": first,
                "notices_per_s": report.notices_issued / first if first else 0.0,
                "audit_events": report.audit_events,
                "rerun_seconds": rerun,
                "rerun_notices": again.notices_issued,
                "peak_mib": peak_kib / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of people")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--var", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one, args.var)
        return
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="tv-bench-cycle-") as var:
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), "--var", var], capture_output=True, text=True, check=True
            )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['people']:>9,} people: cycle {r['seconds']:7.1f} s, {sum(r['notices'].values()):,} notices "
            f"({r['notices_per_s']:.0f}/s) {r['notices']}, {r['audit_events']:,} audit events; "
            f"re-run {r['rerun_seconds']:.1f} s issuing {r['rerun_notices']}; peak {r['peak_mib']:.0f} MiB"
        )
    for a, b in itertools.pairwise(results):
        print(f"x{b['people'] / a['people']:.0f} people: time x{b['seconds'] / a['seconds']:.1f}")


if __name__ == "__main__":
    main()
