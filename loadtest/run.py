"""The load and fault test (issue 16 items 3 and 4): ``./dev loadtest`` runs this.

Makes a fresh store (``taxvault init`` + ``synth``; SQLite, or PostgreSQL on a throwaway
cluster of its own), starts ``taxvault serve`` on loopback, and drives it with locust
(``locustfile.py``, a subprocess) for a bounded time: a steady run, then one run per fault
with the fault injected under load. After each run the completeness checker (``check.py``)
matches every response the clients saw against the audit log. Prints per run: p50/p99 per
route, errors by status, throughput, unaudited responses, lost acknowledged writes and the
recovery time.

    python -m loadtest.run [--users 200] [--minutes 10] [--store sqlite|postgres]
                           [--faults all|none|kill,pg-restart,disk-full,slow-disk]
                           [--fault-seconds 90] [--taxpayers 20000] [--workdir DIR] [--keep]

Exit status 1 if any run has an unaudited response, a lost acknowledged write, a write applied twice or a failed
inclusion proof.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.infra import ROOT, VENV_BIN, Postgres, Server, SlowDisk, SmallDisk, build_slow_fsync, free_port, pg_bin

FAULTS = ("kill", "pg-restart", "disk-full", "slow-disk")
SLOW_MS = 200


@dataclass
class Context:
    """One store, its server and the fault machinery, shared by every run of an invocation."""

    work: Path
    store: str
    users: int
    spawn_rate: float
    wait: float
    env: dict[str, str]
    server: Server
    slow: SlowDisk
    disk: SmallDisk | None = None
    disk_note: str | None = None
    pg: Postgres | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {what} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(args: argparse.Namespace, work: Path, faults: list[str]) -> Context:
    """The store, the plan and the server (not yet started)."""
    slow = SlowDisk(build_slow_fsync(work) if "slow-disk" in faults else None, work / "slow_ms")
    slow.set(0)
    disk: SmallDisk | None = None
    disk_note = None
    if "disk-full" in faults:
        disk = SmallDisk(work / "smalldisk", args.disk_mb)
        disk_note = disk.attach()
        if disk_note is not None:
            disk = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXVAULT_")}
    var = (disk.mount / "var") if (disk is not None and args.store == "sqlite") else work / "var"
    env.update(
        TAXVAULT_VAR_DIR=str(var),
        TAXVAULT_RATE_LIMIT="1000000",
        TAXVAULT_RATE_BURST="1000000",
        PYTHONPATH=str(ROOT),
    )
    try:
        return _prepare(args, work, env, slow, disk, disk_note)
    except BaseException:
        if disk is not None:
            disk.detach()
        raise


def _prepare(
    args: argparse.Namespace, work: Path, env: dict[str, str], slow: SlowDisk, disk: SmallDisk | None, note: str | None
) -> Context:
    pg: Postgres | None = None
    if args.store == "postgres":
        binaries = pg_bin()
        if binaries is None:
            raise SystemExit("error: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        pg = Postgres(work / "pg", free_port(), slow, binaries)
        pg.create()
        pg.start()
        env["TAXVAULT_DATABASE_URL"] = pg.url
    try:
        return _populate(args, work, env, slow, disk, note, pg)
    except BaseException:
        if pg is not None:
            pg.stop()
        raise


def _populate(
    args: argparse.Namespace,
    work: Path,
    env: dict[str, str],
    slow: SlowDisk,
    disk: SmallDisk | None,
    note: str | None,
    pg: Postgres | None,
) -> Context:
    taxvault = str(VENV_BIN / "taxvault")
    t0 = time.time()
    _run([taxvault, "init", "--synthetic"], env, "taxvault init --synthetic")
    _run([taxvault, "synth", "--taxpayers", str(args.taxpayers), "--seed", "1"], env, "taxvault synth")
    print(f"store: {args.store}, {args.taxpayers} taxpayers, made in {time.time() - t0:.1f} s")
    print(_run([sys.executable, "-m", "loadtest.plan", str(work / "plan.json")], env, "the plan").strip())
    if pg is not None and disk is not None:
        moved = pg.audit_tablespace(disk.mount)
        print(f"disk-full: {moved} audit tables and indexes moved to a {args.disk_mb} MB tmpfs tablespace")
    elif disk is not None:
        print(f"disk-full: the SQLite store (audit log included) is on a {args.disk_mb} MB tmpfs")
    server_env = {**env, **(slow.env() if pg is None else {})}
    server = Server(server_env, free_port(), work / "server.log")
    return Context(work, args.store, args.users, args.spawn_rate, args.wait, env, server, slow, disk, note, pg)


# -- one run ------------------------------------------------------------------------------------


def _locust(ctx: Context, records: Path, seconds: int) -> subprocess.Popen[bytes]:
    env = {
        **ctx.env,
        "LOADTEST_PLAN": str(ctx.work / "plan.json"),
        "LOADTEST_RECORDS": str(records / "locust.jsonl"),
        "LOADTEST_WAIT": str(ctx.wait),
    }
    cmd = [
        str(VENV_BIN / "locust"),
        "-f",
        str(Path(__file__).with_name("locustfile.py")),
        "--headless",
        "--only-summary",
        "--users",
        str(ctx.users),
        "--spawn-rate",
        str(ctx.spawn_rate),
        "--run-time",
        f"{seconds}s",
        "--host",
        ctx.server.base,
        "--csv",
        str(records / "locust"),
        "--stop-timeout",
        "10",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
    ]
    log = (records / "locust.log").open("wb")
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


Fault = Callable[[Context, dict[str, float], float], None]


def _at(start: float, offset: float) -> None:
    time.sleep(max(0.0, start + offset - time.time()))


def fault_kill(ctx: Context, marks: dict[str, float], hold: float) -> None:
    marks["fault"] = time.time()
    ctx.server.kill9()
    ctx.server.start()
    marks["ready_after_s"] = time.time() - marks["fault"]  # a supervisor's restart: the server answers /health
    marks["heal"] = marks["fault"]


def fault_pg_restart(ctx: Context, marks: dict[str, float], hold: float) -> None:
    assert ctx.pg is not None
    marks["fault"] = time.time()
    ctx.pg.restart_immediate()
    marks["ready_after_s"] = time.time() - marks["fault"]  # pg_ctl -w: PostgreSQL accepts connections again
    marks["heal"] = marks["fault"]


def fault_disk_full(ctx: Context, marks: dict[str, float], hold: float) -> None:
    assert ctx.disk is not None
    marks["fault"] = time.time()
    marks["filled_mb"] = ctx.disk.fill() / 1e6
    time.sleep(hold)
    ctx.disk.free()
    marks["heal"] = time.time()


def fault_slow_disk(ctx: Context, marks: dict[str, float], hold: float) -> None:
    marks["fault"] = time.time()
    ctx.slow.set(SLOW_MS)
    time.sleep(hold)
    ctx.slow.set(0)
    marks["heal"] = time.time()


FAULT_FUNCS: dict[str, Fault] = {
    "kill": fault_kill,
    "pg-restart": fault_pg_restart,
    "disk-full": fault_disk_full,
    "slow-disk": fault_slow_disk,
}


def read_records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in directory.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return sorted(out, key=lambda r: float(r["t"]))


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def figures(records: list[dict[str, Any]], marks: dict[str, float], *, slow: bool = False) -> dict[str, Any]:
    """Per-route latency and statuses, throughput, and the fault window's counts and recovery."""
    routes: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for r in records:
        statuses[r["route"]][int(r["status"])] += 1
        if 200 <= int(r["status"]) < 300 or int(r["status"]) in (403, 404):  # answered as intended
            routes[r["route"]].append(float(r["ms"]))
    span = (float(records[-1]["t"]) - float(records[0]["t"])) if len(records) > 1 else 0.0
    out: dict[str, Any] = {
        "requests": len(records),
        "throughput_rps": round(len(records) / span, 1) if span else 0.0,
        "routes": {
            name: {
                "n": sum(statuses[name].values()),
                "p50_ms": round(_pct(routes[name], 50), 1),
                "p99_ms": round(_pct(routes[name], 99), 1),
                "statuses": {str(k): v for k, v in sorted(statuses[name].items())},
            }
            for name in sorted(statuses)
        },
    }
    if "fault" in marks:
        fault, heal = marks["fault"], marks["heal"]
        before = [float(r["ms"]) for r in records if float(r["t"]) < fault and 200 <= int(r["status"]) < 300]
        baseline_p99 = _pct(before, 99) if before else float("inf")
        recovered_at = None
        for r in records:
            answered = float(r["t"]) + float(r["ms"]) / 1000
            if float(r["t"]) >= heal and 200 <= int(r["status"]) < 300:
                if slow and float(r["ms"]) > baseline_p99:
                    continue
                recovered_at = answered
                break
        end = recovered_at or float(records[-1]["t"])
        window = Counter(int(r["status"]) for r in records if fault <= float(r["t"]) <= end)
        failing = [float(r["t"]) for r in records if float(r["t"]) >= fault and int(r["status"]) in (0, 500, 503)]
        during = [float(r["ms"]) for r in records if fault <= float(r["t"]) < heal and 200 <= int(r["status"]) < 300]
        out["fault"] = {
            "recovery_seconds": None if recovered_at is None else round(recovered_at - heal, 2),
            "first_failure_after_s": round(failing[0] - fault, 2) if failing else None,
            "recovery_after_ready_s": (
                round(recovered_at - fault - marks["ready_after_s"], 2)
                if recovered_at is not None and "ready_after_s" in marks
                else None
            ),
            "window_statuses": {str(k): v for k, v in sorted(window.items())},
            "held_seconds": round(heal - fault, 1),
            "p50_ms_during": round(_pct(during, 50), 1) if during else None,
            "p99_ms_before": round(baseline_p99, 1) if before else None,
            **{k: round(v, 2) for k, v in marks.items() if k not in ("fault", "heal")},
        }
    return out


def run_one(ctx: Context, name: str, seconds: int, fault: Fault | None, inject: int) -> dict[str, Any]:
    """Load for ``seconds``, the fault (if any) a quarter into the steady part, then the checks."""
    records = ctx.work / "runs" / name
    records.mkdir(parents=True)
    ramp = ctx.users / ctx.spawn_rate
    marks: dict[str, float] = {}
    loc = _locust(ctx, records, seconds)
    start = time.time()
    if fault is not None:
        steady = max(seconds - ramp, 1.0)
        _at(start, ramp + 0.25 * steady)
        fault(ctx, marks, min(30.0, 0.3 * steady))
    loc.wait(timeout=seconds + 180)
    recs = read_records(records)
    if not recs:
        raise SystemExit(f"error: the run {name} recorded no request; see {records / 'locust.log'}")
    fig = figures(recs, marks, slow=name == "slow-disk")
    check_json = records / "check.json"
    cmd = [sys.executable, "-m", "loadtest.check", str(records), "--json", str(check_json)]
    if inject:
        cmd += ["--inject-unaudited", str(inject)]
    done = subprocess.run(cmd, env=ctx.env, cwd=ROOT, capture_output=True, text=True)
    checked: dict[str, Any] = json.loads(check_json.read_text()) if check_json.exists() else {}
    result = {"name": name, "store": ctx.store, "users": ctx.users, "seconds": seconds, **fig, "check": checked}
    print_run(result, done.stdout + done.stderr)
    ctx.results.append(result)
    return result


def print_run(result: dict[str, Any], check_output: str) -> None:
    statuses: Counter[int] = Counter()
    for route in result["routes"].values():
        statuses.update({int(k): v for k, v in route["statuses"].items()})
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    n503 = statuses.get(503, 0)
    check = result.get("check", {})
    print(
        f"\n== {result['name']} ({result['store']}, {result['users']} users, {result['seconds']} s): "
        f"{result['requests']} requests, {result['throughput_rps']} req/s"
    )
    print(f"   {'route':<18} {'n':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for name, r in result["routes"].items():
        print(f"   {name:<18} {r['n']:>7} {r['p50_ms']:>8} {r['p99_ms']:>8}  {r['statuses']}")
    print(
        f"   requests {result['requests']}, 2xx {ok}, 503 {n503}, other {result['requests'] - ok - n503} "
        f"{ {k: v for k, v in sorted(statuses.items()) if not 200 <= k < 300 and k != 503} }, "
        f"unaudited {len(check.get('unaudited', [])) if check else 'NOT CHECKED'}, "
        f"lost acknowledged writes {len(check.get('lost_writes', [])) if check else 'NOT CHECKED'}, "
        f"doubled writes {len(check.get('doubled_writes', [])) if check else 'NOT CHECKED'}"
    )
    if "fault" in result:
        f = result["fault"]
        print(
            f"   fault: held {f['held_seconds']} s; recovery {f['recovery_seconds']} s; statuses from the fault "
            f"to recovery {f['window_statuses']}; "
            + ", ".join(
                f"{k} {v}" for k, v in f.items() if k not in ("recovery_seconds", "window_statuses", "held_seconds")
            )
        )
    for line in check_output.strip().splitlines():
        print("   " + line)


# -- main ---------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--minutes", type=float, default=10.0, help="length of the steady run")
    p.add_argument("--seconds", type=int, help="length of the steady run in seconds (overrides --minutes)")
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--faults", help="all (default; none with --smoke), none, or a list of " + ", ".join(FAULTS))
    p.add_argument("--fault-seconds", type=int, default=90, help="length of each fault run")
    p.add_argument("--taxpayers", type=int, default=20000)
    p.add_argument("--spawn-rate", type=float, help="users started per second (default: users/10)")
    p.add_argument("--wait", type=float, default=1.0, help="mean think time between a user's requests (s)")
    p.add_argument("--disk-mb", type=int, default=512, help="size of the disk-full fault's tmpfs")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the work directory (store, records, logs)")
    p.add_argument("--smoke", action="store_true", help="5 users, 15 s, SQLite, 1000 taxpayers, no fault")
    p.add_argument("--inject-unaudited", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.users, args.store, args.taxpayers = 5, "sqlite", 1000
        args.seconds = args.seconds or 15
        args.faults = args.faults or "none"
    args.faults = args.faults or "all"
    if args.spawn_rate is None:
        args.spawn_rate = max(args.users / 10, 1.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    faults = list(FAULTS) if args.faults == "all" else [] if args.faults == "none" else args.faults.split(",")
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise SystemExit(f"error: unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
    seconds = args.seconds or int(args.minutes * 60)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="taxvault-loadtest-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the throwaway PostgreSQL (user postgres) reads the slow-disk control file here
    print(f"work directory: {work}")
    ctx = prepare(args, work, faults)
    skipped: list[str] = []
    try:
        ctx.server.start()
        run_one(ctx, "steady", seconds, None, args.inject_unaudited)
        for name in faults:
            if name == "pg-restart" and ctx.pg is None:
                skipped.append("pg-restart: n/a on SQLite (no database server to restart; run --store postgres)")
                continue
            if name == "disk-full" and ctx.disk is None:
                skipped.append(f"disk-full: could not mount a size-limited tmpfs ({ctx.disk_note})")
                continue
            if name == "slow-disk" and ctx.slow.shim is None:
                skipped.append("slow-disk: no C compiler to build slowfsync.so")
                continue
            run_one(ctx, name, args.fault_seconds, FAULT_FUNCS[name], 0)
    finally:
        ctx.server.stop()
        if ctx.pg is not None:
            ctx.pg.stop()
        if ctx.disk is not None:
            ctx.disk.detach()
    bad = False
    print("\n== summary")
    for r in ctx.results:
        check = r.get("check", {})
        unaudited = len(check.get("unaudited", [])) if check else -1
        lost = len(check.get("lost_writes", [])) if check else -1
        doubled = len(check.get("doubled_writes", [])) if check else -1
        proofs = f"{check.get('proofs_checked', 0) - check.get('proofs_failed', 0)}/{check.get('proofs_checked', 0)}"
        rec = r.get("fault", {}).get("recovery_seconds", "-")
        print(
            f"   {r['name']:<11} requests {r['requests']:>7}  unaudited {unaudited}  lost writes {lost}  "
            f"doubled {doubled}  proofs {proofs}  recovery {rec} s"
        )
        bad = bad or unaudited != 0 or lost != 0 or doubled != 0 or bool(check.get("proofs_failed", 1))
    for s in skipped:
        print(f"   skipped {s}")
    (work / "results.json").write_text(json.dumps(ctx.results, indent=1), encoding="utf-8")
    if not args.keep and args.workdir is None and not bad:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"records, logs and results.json kept in {work}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
