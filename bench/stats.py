"""Accuracy of the differentially private answers at two population sizes, and their cost.

For each size a fresh SQLite store is synthesised; then, for a few epsilons, the two
shapes an analyst asks most (the number of 2024 returns by state; total 2024 wages by
state, each return clamped to $0..$250,000) are released many times with OpenDP's noise
(the same calibration ``taxvault stats`` uses, without charging a budget), and the error
against the true aggregates is printed:

- suppressed: groups (of 56 states and territories) under the minimum cell size k=10;
- MAE: mean absolute error over released groups (counts, or dollars for sums);
- MRE: mean relative error |noisy - true| / true over released groups;
- p95 RE: the 95th percentile of the relative error.

The noise does not depend on the population: its scale is sensitivity / epsilon. The
relative error falls as groups grow, which is what the two sizes show. Also printed:
the time of one whole answer through the door (decide, aggregate in SQL, charge the
budget, audit), p50 over a few runs.

    .venv/bin/python bench/stats.py                     # 10,000 and 100,000 taxpayers
    .venv/bin/python bench/stats.py --sizes 20000,200000 --draws 500
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from taxvault.access.local import local_door
from taxvault.stats import budget, service
from taxvault.stats.mechanisms import calibrate
from taxvault.stats.shapes import Shape, truths
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade
from taxvault.synth.load import synthesize

EPSILONS = (0.1, 0.5, 1.0)
BOUND = 25_000_000  # $250,000 in cents
SHAPES = {
    "count of returns by state": Shape(measure="count", by=("state",), year=2024),
    "sum of wages by state": Shape(
        measure="sum", field="wages_cents", bounds_cents=(0, BOUND), by=("state",), year=2024
    ),
}


def _errors(true: list[int], noisy_draws: list[list[int]]) -> tuple[float, float, float]:
    abs_err: list[float] = []
    rel_err: list[float] = []
    for draw in noisy_draws:
        for t, n in zip(true, draw, strict=True):
            abs_err.append(abs(n - t))
            rel_err.append(abs(n - t) / t)
    rel_sorted = sorted(rel_err)
    return statistics.fmean(abs_err), statistics.fmean(rel_err), rel_sorted[int(0.95 * (len(rel_sorted) - 1))]


def run_size(taxpayers: int, draws: int, workdir: Path) -> None:
    path = workdir / f"stats-{taxpayers}.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    started = time.perf_counter()
    synthesize(engine, taxpayers, 2024)
    print(f"\n== {taxpayers:,} taxpayers (synthesised in {time.perf_counter() - started:.1f} s)")
    with engine.connect() as conn:
        found = {name: truths(conn, shape) for name, shape in SHAPES.items()}
    for name, shape in SHAPES.items():
        groups = found[name]
        shown = [g for g in groups if g.count >= shape.k]
        true = [g.count if shape.measure == "count" else g.total for g in shown]
        unit = "" if shape.measure == "count" else "$"
        scale_div = 1 if shape.measure == "count" else 100
        print(
            f"  {name}: {len(groups) - len(shown)} of {len(groups)} groups suppressed (k={shape.k}), "
            f"median released group {statistics.median(true) / scale_div:,.0f}{' dollars' if unit else ''}"
        )
        for eps in EPSILONS:
            spec = shape.model_copy(update={"epsilon": eps}).spec()
            cal = calibrate(spec.mechanism, spec.sensitivity, eps)
            noisy = [cal.release(true) for _ in range(draws)]
            mae, mre, p95 = _errors(true, noisy)
            print(
                f"    epsilon {eps:<4} scale {cal.scale / scale_div:>10,.1f}  MAE {unit}{mae / scale_div:>12,.1f}  "
                f"MRE {mre:7.2%}  p95 RE {p95:7.2%}"
            )
    with engine.begin() as conn:
        budget.set_limits(conn, "ana-001", epsilon=100, delta=1e-5)
    times: list[float] = []
    with local_door(engine) as door:
        session = door.session(door.caller("ana-001"), "research", channel="cli")
        for _ in range(7):
            t0 = time.perf_counter()
            service.answer(door, session, SHAPES["sum of wages by state"].model_copy(update={"epsilon": 0.1}))
            times.append(time.perf_counter() - t0)
    print(f"  one answer through the door (sum of wages by state): p50 {statistics.median(times) * 1000:.0f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated population sizes.")
    parser.add_argument("--draws", type=int, default=200, help="Noisy releases per epsilon (error averages).")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="taxvault-bench-stats-"))
    os.environ.setdefault("TAXVAULT_VAR_DIR", str(workdir / "var"))
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            run_size(size, args.draws, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
