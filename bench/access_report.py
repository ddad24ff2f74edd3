"""Benchmark of the taxpayer access report at several log sizes: its time should be flat.

The report reads the index by taxpayer (``audit_subjects``), so its cost depends on how
many events are about *her*, not on how many the log holds. Each size gets a fresh store
whose log holds the same 20 probe taxpayers with 200 events each (10 % of them their own
reads, which the report skips), spread evenly through the log; every other event is
about one of ``size / 20`` other taxpayers. The log is built fast: canonical version-2
event bytes appended with ``AuditLog.append_bytes`` (which writes the index in the same
transaction), checked once against ``AuditEvent.from_bytes``.

Printed per size: the first page of the JSON report (50 lines) and the whole report
rendered as a PDF, p50 and p95 over the probes; with ``--scan``, also the time of the
old full scan of the log for one taxpayer, for contrast.

    .venv/bin/python bench/access_report.py                          # 100k and 1M on SQLite
    .venv/bin/python bench/access_report.py --sizes 100000,1000000,10000000
    .venv/bin/python bench/access_report.py --database-url postgresql://... --sizes 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from taxvault.access.tables import break_glass_reviews
from taxvault.audit.access_report import report_lines, report_page
from taxvault.audit.event import AuditEvent
from taxvault.audit.log import AuditLog
from taxvault.audit.report_pdf import ReportDocument, render_report_pdf
from taxvault.audit.storage import LogStore
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade
from taxvault.store.tables import principals

CHUNK = 100_000
PROBES = 20
PER_PROBE = 200
EMPLOYEES = 2000
KEY = b"bench-pseudonym-key-32-bytes-abc"
_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_SPAN_S = 2 * 365 * 86400
_FIELDS = ('["name","tin:masked"]', '["address_line","city","name"]', '["balance_cents"]', "[]")
_ACTIONS = ("read:entity", "read:module_transcript", "read:notices", "read:returns")
_TIME = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def probe_ref(j: int) -> str:
    return f"e{0xFFFF0000 + j:020x}"


def probe_self(j: int) -> str:
    return f"tp-probe-{j:02d}"


def event_bytes(i: int, size: int, rng: random.Random, stride: int) -> bytes:
    """Event ``i`` of a log of ``size`` events, in canonical version-2 bytes."""
    t = _START + dt.timedelta(seconds=_SPAN_S * i / size)
    if i % stride == 0 and i // stride < PROBES * PER_PROBE:
        k = i // stride
        subject = probe_ref(k % PROBES)
        principal = probe_self(k % PROBES) if (k // PROBES) % 10 == 9 else f"emp-{rng.randrange(EMPLOYEES):06d}"
        allow = (k // PROBES) % 25 != 3  # the same mix of accesses and attempts at every size
    else:
        subject = f"e{rng.randrange(max(size // 20, 1)):020x}"
        principal = f"emp-{rng.randrange(EMPLOYEES):06d}"
        allow = i % 50 != 1
    fields = _FIELDS[i % 4] if allow else "[]"
    policy = "caseworker-assigned" if allow else "default-deny"
    return (
        f'{{"action":"{_ACTIONS[i % 4]}","channel":"http","decision":"{"allow" if allow else "deny"}",'
        f'"fields":{fields},"policy":"{policy}","principal":"{principal}","purpose":"collection",'
        f'"request_id":"req-{i:016x}","resource":"{subject}","subject":"{subject}",'
        f'"time":"{_TIME % (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)}","v":2}}'
    ).encode()


def build(engine: Engine, log: AuditLog, size: int) -> float:
    """Fill the store: principals, ``size`` events (with their index), a break-glass review per 1000."""
    with engine.begin() as conn:
        conn.execute(
            principals.insert(),
            [
                {"id": f"emp-{n:06d}", "kind": "employee", "display_name": f"emp-{n:06d}", "roles": "caseworker",
                 "unit": ("collection", "examination", "assistance")[n % 3], "dollar_limit_cents": 0,
                 "active": True, "created_at": _START}
                for n in range(EMPLOYEES)
            ]
            + [
                {"id": probe_self(j), "kind": "taxpayer", "display_name": "probe", "roles": "taxpayer", "unit": None,
                 "dollar_limit_cents": 0, "active": True, "created_at": _START}
                for j in range(PROBES)
            ],
        )  # fmt: skip
    rng = random.Random(size)
    stride = max(size // (PROBES * PER_PROBE), 1)
    sample = event_bytes(stride, size, random.Random(0), stride)
    assert AuditEvent.from_bytes(sample).to_bytes() == sample, "bench events must be canonical"
    t0 = time.perf_counter()
    for start in range(0, size, CHUNK):
        batch = [event_bytes(i, size, rng, stride) for i in range(start, min(start + CHUNK, size))]
        log.append_bytes(batch)
        print(f"  {min(start + CHUNK, size):>11,} events", end="\r", flush=True)
    with engine.begin() as conn:
        reviews = []
        for leaf in range(stride, size, 1000 * stride):  # probes' events: some of them are break-glass
            ev = AuditEvent.from_bytes(LogStore.event(conn, leaf) or b"")
            reviews.append(
                {"leaf_index": leaf, "request_id": ev.request_id, "principal_id": ev.principal, "action": ev.action,
                 "resource": ev.resource, "purpose": "collection", "justification": "bench: counter visit, tool down",
                 "created_at": ev.time, "state": "pending"}
            )  # fmt: skip
        reviews = [r for r in reviews if str(r["principal_id"]).startswith("emp-")]
        if reviews:
            conn.execute(break_glass_reviews.insert(), reviews)
    return time.perf_counter() - t0


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


def measure(engine: Engine, rounds: int) -> dict[str, float]:
    """First JSON page and whole-report PDF, per probe, ``rounds`` times each."""
    page_s: list[float] = []
    pdf_s: list[float] = []
    lines_seen = 0
    now = _START + dt.timedelta(seconds=_SPAN_S)
    for r in range(rounds + 1):  # round 0 warms caches and is not counted
        for j in range(PROBES):
            t0 = time.perf_counter()
            with engine.connect() as conn:
                page = report_page(conn, probe_ref(j), exclude=(probe_self(j),), limit=50, key=KEY)
            t1 = time.perf_counter()
            with engine.connect() as conn:
                lines, _ = report_lines(conn, probe_ref(j), exclude=(probe_self(j),), cap=2000, key=KEY)
            render_report_pdf(ReportDocument("PROBE TAXPAYER", "0000", "SSN", now, lines, False))
            t2 = time.perf_counter()
            assert len(page.lines) == 50
            if r:
                page_s.append(t1 - t0)
                pdf_s.append(t2 - t1)
                lines_seen = len(lines)
    return {
        "page_p50_ms": _pct(page_s, 0.5),
        "page_p95_ms": _pct(page_s, 0.95),
        "pdf_p50_ms": _pct(pdf_s, 0.5),
        "pdf_p95_ms": _pct(pdf_s, 0.95),
        "lines_per_probe": lines_seen,
        "page_mean_ms": statistics.fmean(page_s) * 1000,
    }


def scan_once(engine: Engine) -> float:
    """The old report: every event of the log read to find one taxpayer's (for contrast)."""
    needle = f'"resource":"{probe_ref(0)}"'.encode()
    t0 = time.perf_counter()
    with engine.connect() as conn:
        hits = sum(1 for _, data in LogStore.iter_events(conn) if needle in data)
    assert hits == PER_PROBE
    return time.perf_counter() - t0


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"access-report-bench-{size}-", dir=args.workdir))
    engine = make_engine(args.database_url or f"sqlite:///{workdir / 'bench.db'}")
    upgrade(engine)
    result: dict[str, Any] = {"size": size, "store": engine.dialect.name}
    try:
        with AuditLog(engine) as log:
            print(f"[{size:,}] building the log", flush=True)
            result["build_s"] = build(engine, log, size)
            print(f"\n[{size:,}] reports ({args.rounds} rounds x {PROBES} taxpayers)", flush=True)
            result |= measure(engine, args.rounds)
            if args.scan:
                print(f"[{size:,}] full scan (old report)", flush=True)
                result["scan_ms"] = scan_once(engine) * 1000
    finally:
        engine.dispose()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated log sizes")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds over the probe taxpayers")
    parser.add_argument("--scan", action="store_true", help="also time the old full scan, for contrast")
    parser.add_argument("--database-url", default=None, help="an empty store (default: fresh SQLite per size)")
    parser.add_argument("--workdir", default=None, help="where the temporary stores go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    results = [run_size(int(s), args) for s in args.sizes.split(",")]
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"{'events':>11} {'store':>10} {'build s':>8} {'page p50 ms':>11} {'page p95':>9} "
        f"{'pdf p50 ms':>10} {'pdf p95':>8} {'lines':>6} {'scan ms':>9}"
    )
    for r in results:
        scan = f"{r['scan_ms']:>9.0f}" if "scan_ms" in r else f"{'-':>9}"
        print(
            f"{r['size']:>11,} {r['store']:>10} {r['build_s']:>8.1f} {r['page_p50_ms']:>11.2f} "
            f"{r['page_p95_ms']:>9.2f} {r['pdf_p50_ms']:>10.1f} {r['pdf_p95_ms']:>8.1f} "
            f"{r['lines_per_probe']:>6} {scan}"
        )
    if len(results) > 1:
        ratio = results[-1]["page_p50_ms"] / results[0]["page_p50_ms"]
        grow = results[-1]["size"] / results[0]["size"]
        print(f"page p50 at {results[-1]['size']:,} / at {results[0]['size']:,}: {ratio:.2f}x for {grow:.0f}x the log")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
