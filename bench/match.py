"""Benchmark: cross-agency linkage (Splink on DuckDB), in the clear and on keyed encodings, at two sizes at least.

For each size N (N left records x N right records, 60% of them the same people)
and each mode, a separate process generates the partner pair with its true
links, encodes both sides (encoded mode), trains the model and links one-to-one.
It prints seconds per phase, peak memory, candidate pairs compared, and
precision, recall and F1 against the true links; then how time and memory grow
between sizes and the F1 gap between encoded and clear linkage.

    python bench/match.py                               # 100k and 1M, clear and encoded
    python bench/match.py --sizes 20000,200000          # quicker
    python bench/match.py --modes encoded --threads 2 --memory-limit 12GB
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time

KEY = b"bench-agreement-key-not-a-secret"


def one_run(n: int, mode: str, overlap: float, seed: int, threads: int | None, memory_limit: str | None) -> None:
    from taxvault.matching.encode import encode_people
    from taxvault.matching.fields import PERSON_FIELDS
    from taxvault.matching.linkage import link
    from taxvault.matching.synthetic import partner_pair

    fields = list(PERSON_FIELDS)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    left, right, truth = partner_pair(n, n, overlap, seed)
    seconds["generate"] = time.perf_counter() - t0
    encoded = mode == "encoded"
    t0 = time.perf_counter()
    if encoded:
        left, right = encode_people(left, KEY, fields), encode_people(right, KEY, fields)
    seconds["encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = link(left, right, fields, encoded=encoded, seed=seed, threads=threads, memory_limit=memory_limit)
    seconds["link"] = time.perf_counter() - t0
    phases = dict(result.seconds)
    seconds["train"] = phases.get("train", 0.0)
    seconds["predict"] = phases.get("predict", 0.0)
    seconds["resolve"] = phases.get("resolve", 0.0)
    seconds["prepare"] = phases.get("features", 0.0) + phases.get("register", 0.0)

    got = set(zip(result.pairs["left_id"].to_pylist(), result.pairs["right_id"].to_pylist(), strict=True))
    true = set(zip(truth["left_id"].to_pylist(), truth["right_id"].to_pylist(), strict=True))
    tp = len(got & true)
    precision = tp / len(got) if got else 0.0
    recall = tp / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": n,
                "mode": mode,
                "seconds": seconds,
                "total": seconds["generate"] + seconds["encode"] + seconds["link"],
                "peak_mib": peak_kib / 1024,
                "pairs_compared": result.pairs_compared,
                "linked": result.pairs.num_rows,
                "true_links": len(true),
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated records per side")
    parser.add_argument("--modes", default="clear,encoded", help="clear, encoded or both")
    parser.add_argument("--overlap", type=float, default=0.6, help="share of records that are the same people")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 12GB")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one, args.mode, args.overlap, args.seed, args.threads, args.memory_limit)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    print(f"match benchmark on DuckDB, {os.cpu_count()} cores, overlap {args.overlap:.0%}, seed {args.seed}")
    head = (
        f"{'N x N':>10} {'mode':>8} {'gen s':>6} {'enc s':>6} {'train s':>7} {'pred s':>7} {'1:1 s':>6} "
        f"{'total s':>8} {'peak MiB':>9} {'compared':>11} {'linked':>8} {'precision':>9} {'recall':>7} {'F1':>7}"
    )
    print(head)
    results: dict[tuple[int, str], dict[str, float]] = {}
    for n, mode in itertools.product(sizes, modes):
        cmd = [sys.executable, __file__, "--one", str(n), "--mode", mode, "--overlap", str(args.overlap)]
        cmd += ["--seed", str(args.seed)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[(n, mode)] = r
        s = r["seconds"]
        print(
            f"{n:>10,} {mode:>8} {s['generate']:>6.1f} {s['encode']:>6.1f} {s['train']:>7.1f} {s['predict']:>7.1f} "
            f"{s['resolve']:>6.1f} {r['total']:>8.1f} {r['peak_mib']:>9.0f} {r['pairs_compared']:>11,} "
            f"{r['linked']:>8,} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}",
            flush=True,
        )
    for mode in modes:
        for a, b in itertools.pairwise(sizes):
            ra, rb = results[(a, mode)], results[(b, mode)]
            growth = {k: rb[k] / ra[k] for k in ("total", "peak_mib", "pairs_compared")}
            print(
                f"{mode}: x{b / a:.0f} records per side: time x{growth['total']:.1f}, "
                f"peak memory x{growth['peak_mib']:.1f}, pairs compared x{growth['pairs_compared']:.1f}"
            )
    if "clear" in modes and "encoded" in modes:
        for n in sizes:
            gap = results[(n, "encoded")]["f1"] - results[(n, "clear")]["f1"]
            print(f"{n:,}: F1 encoded - F1 clear = {gap:+.4f}")


if __name__ == "__main__":
    main()
