"""Benchmark of the audit log at two sizes (default 100k and 1M events, < 2 minutes).

Reports batch append events/s, concurrent single-event appends/s with group
commit, inclusion and consistency proof time, export and full independent
verification time, so a capacity plan can read off how each cost grows.

The batched append is set against an anchor measured in the same run: a minimal
SQLite WAL ``synchronous=FULL`` loop inserting (index, bytes) rows of the same
events, SHA-256 of each row, committed in the same batches. The ratio (audit /
anchor, aim >= 0.9) says what the Merkle log costs over the least any durable,
hashed append could; the anchor starts from bytes, the audit log from events, so
serialising events counts against the log.

    .venv/bin/python bench/audit.py                       # 100k and 1M on SQLite
    .venv/bin/python bench/audit.py --large               # 1M and 10M
    .venv/bin/python bench/audit.py --sizes 10000,100000  # smoke run
    .venv/bin/python bench/audit.py --database-url postgresql://postgres@127.0.0.1:5499/bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from taxvault.audit.event import AuditEvent, Decision
from taxvault.audit.export import export_log
from taxvault.audit.log import AuditLog
from taxvault.audit.merkle import verify_consistency, verify_inclusion_hash
from taxvault.audit.signing import TreeHeadSigner
from taxvault.audit.verifier import verify_export
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade

CHUNK = 100_000
_BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ACTIONS = ("read", "search", "update", "export")
_FIELDS = (("name", "address"), ("balance",), ("name", "bank_account", "tin_last4"), ())


def make_events(start: int, count: int) -> list[AuditEvent]:
    """Synthetic, realistic-sized events (~230 bytes canonical)."""
    rng = random.Random(start)
    return [
        AuditEvent(
            time=_BASE + dt.timedelta(microseconds=i * 1000),
            principal=f"emp-{rng.randrange(50_000):06d}",
            action=_ACTIONS[i % 4],
            resource=f"ent_{rng.getrandbits(64):016x}",
            decision=Decision.DENY if i % 50 == 0 else Decision.ALLOW,
            request_id=f"req-{rng.getrandbits(64):016x}",
            purpose="case-work",
            policy="caseworker-assigned-case",
            fields=_FIELDS[i % 4],
        )
        for i in range(start, start + count)
    ]


def bench_batch(log: AuditLog, size: int) -> dict[str, float]:
    appended, busy = 0, 0.0
    t_all = time.perf_counter()
    while appended < size:
        n = min(CHUNK, size - appended)
        events = make_events(appended, n)
        t0 = time.perf_counter()
        log.append_many(events)
        busy += time.perf_counter() - t0
        appended += n
        if appended % 1_000_000 == 0:
            print(f"    ... {appended:,} appended ({appended / busy:,.0f} events/s)", flush=True)
    return {"batch_events_per_s": size / busy, "batch_wall_s": time.perf_counter() - t_all}


def bench_anchor(workdir: Path, size: int) -> dict[str, float]:
    """The floor: WAL + synchronous=FULL inserts of (index, bytes) with SHA-256 per row, same batches."""
    path = workdir / "anchor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE anchor (i INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    sha = hashlib.sha256
    done, busy = 0, 0.0
    digests = 0
    while done < size:
        n = min(CHUNK, size - done)
        rows = [e.to_bytes() for e in make_events(done, n)]  # the same events, as bytes (not timed)
        t0 = time.perf_counter()
        hashes = [sha(b).digest() for b in rows]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO anchor (i, data) VALUES (?, ?)", zip(range(done, done + n), rows, strict=True))
        conn.execute("COMMIT")
        busy += time.perf_counter() - t0
        digests += len(hashes)
        done += n
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")
    return {"anchor_events_per_s": digests / busy}


def bench_concurrent(log: AuditLog, threads: int, per_thread: int, start: int) -> dict[str, float]:
    events = make_events(start, threads * per_thread)
    writer = log._writer
    batches0, committed0 = writer.batches, writer.committed
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        barrier.wait()
        for e in events[k * per_thread : (k + 1) * per_thread]:
            log.append(e)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    batches = writer.batches - batches0
    return {
        "concurrent_events_per_s": threads * per_thread / elapsed,
        "concurrent_threads": threads,
        "mean_group_commit_batch": (writer.committed - committed0) / max(batches, 1),
    }


def _ms(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    return statistics.mean(samples) * 1000, samples[int(len(samples) * 0.99) - 1] * 1000


def bench_proofs(log: AuditLog, size: int, count: int) -> dict[str, float]:
    rng = random.Random(7)
    incl, cons = [], []
    for _ in range(count):
        i = rng.randrange(size)
        t0 = time.perf_counter()
        p = log.inclusion_proof(i, size)
        incl.append(time.perf_counter() - t0)
        assert verify_inclusion_hash(p.leaf_hash, i, size, p.path, p.root_hash)
        m = rng.randrange(1, size)
        t0 = time.perf_counter()
        c = log.consistency_proof(m, size)
        cons.append(time.perf_counter() - t0)
        assert verify_consistency(m, size, c.old_root, c.new_root, c.path)
    im, ip = _ms(incl)
    cm, cp = _ms(cons)
    return {
        "inclusion_ms_mean": im,
        "inclusion_ms_p99": ip,
        "consistency_ms_mean": cm,
        "consistency_ms_p99": cp,
    }


def bench_verify(log: AuditLog, workdir: Path) -> dict[str, float]:
    target = workdir / "export"
    t0 = time.perf_counter()
    summary = export_log(log, target)
    exported = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = verify_export(target)
    verified = time.perf_counter() - t0
    assert report.ok, report.problems
    return {"export_s": exported, "verify_s": verified, "verified_events": summary.events}


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"audit-bench-{size}-", dir=args.workdir))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    signer = TreeHeadSigner.from_path(workdir / "keys" / "bench-ed25519.pem")
    result: dict[str, Any] = {"size": size, "store": engine.dialect.name}
    try:
        with AuditLog(engine, signer=signer) as log:
            print(f"[{size:,}] batch append", flush=True)
            result |= bench_batch(log, size)
            print(f"[{size:,}] anchor (SQLite WAL FULL + SHA-256, same batches)", flush=True)
            result |= bench_anchor(workdir, size)
            result["batch_vs_anchor"] = result["batch_events_per_s"] / result["anchor_events_per_s"]
            log.sign_tree_head()
            print(f"[{size:,}] proofs", flush=True)
            result |= bench_proofs(log, size, args.proofs)
            print(f"[{size:,}] concurrent appends ({args.threads} threads)", flush=True)
            result |= bench_concurrent(log, args.threads, args.per_thread, size)
            print(f"[{size:,}] export + verify", flush=True)
            result |= bench_verify(log, workdir)
    finally:
        engine.dispose()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated log sizes")
    parser.add_argument("--large", action="store_true", help="1M and 10M events (several minutes)")
    parser.add_argument("--database-url", default=None, help="store URL (default: fresh SQLite per size)")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--per-thread", type=int, default=100)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--workdir", default=None, help="where temporary stores and exports go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store and export")
    args = parser.parse_args()
    sizes = "1000000,10000000" if args.large else args.sizes
    results = [run_size(int(s), args) for s in sizes.split(",")]
    print()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    header = (
        f"{'events':>11} {'batch ev/s':>11} {'anchor ev/s':>11} {'ratio':>6} {'concur ev/s':>11} {'batch/commit':>12} "
        f"{'incl ms':>8} {'incl p99':>8} {'cons ms':>8} {'cons p99':>8} {'export s':>9} {'verify s':>9}"
    )
    print(header)
    for r in results:
        print(
            f"{r['size']:>11,} {r['batch_events_per_s']:>11,.0f} {r['anchor_events_per_s']:>11,.0f} "
            f"{r['batch_vs_anchor']:>5.2f}x {r['concurrent_events_per_s']:>11,.0f} "
            f"{r['mean_group_commit_batch']:>12.1f} "
            f"{r['inclusion_ms_mean']:>8.3f} {r['inclusion_ms_p99']:>8.3f} "
            f"{r['consistency_ms_mean']:>8.3f} {r['consistency_ms_p99']:>8.3f} {r['export_s']:>9.1f} "
            f"{r['verify_s']:>9.1f}"
        )
    for r in results:
        verdict = "met" if r["batch_vs_anchor"] >= 0.9 else "NOT met"
        print(
            f"batched audit append at {r['size']:,}: {r['batch_events_per_s']:,.0f} events/s, anchor "
            f"{r['anchor_events_per_s']:,.0f} events/s: {r['batch_vs_anchor']:.2f}x (aim >= 0.9x: {verdict})"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
