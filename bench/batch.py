"""Benchmark: Spark's fixed costs against the batch work they would carry (ingest; the posting cycle's scale).

Prints, for one population size on a fresh PostgreSQL database (``--url``: an admin
URL, as ``scripts/pg-test-server`` gives): the SparkSession start, an empty Spark
job, the embedded ingest of the population's legacy files and the Spark ingest of
the same files (stage and commit), with the CPU time of Spark's processes (JVM, Python workers) beside each wall time
(on a shared machine wall time is inflated; CPU time is what the work costs).

    python bench/batch.py --url "$(scripts/pg-test-server)" --people 2000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu(spark: Any = None) -> float:
    """CPU seconds of every process below this one (the JVM, PySpark's daemon and its Python workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    me, total = os.getpid(), 0.0
    for pid in cpu:
        p = pid
        while p in parent and p != me and p > 1:
            p = parent[p]
        if p == me and pid != me:
            total += cpu[pid]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="PostgreSQL admin URL (a database is created and dropped)")
    parser.add_argument("--people", type=int, default=2000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tv-bench-batch-"))
    os.environ["TAXVAULT_VAR_DIR"] = str(work / "var")
    os.environ["TAXVAULT_KEYS_DIR"] = str(work / "keys")
    import sqlalchemy as sa

    from taxvault.access.system_principals import ensure_system_principals
    from taxvault.batch.config import batch_config
    from taxvault.batch.ingest import ingest_job
    from taxvault.batch.session import batch_spark
    from taxvault.ingest import ingest_paths
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.synth.legacy import write_legacy
    from taxvault.synth.load import synthesize

    source = make_engine(f"sqlite:///{work / 'synth.db'}")
    upgrade(source)
    synthesize(source, args.people, seed=1)
    write_legacy(source, work / "legacy")
    files = sum(p.stat().st_size for p in (work / "legacy").iterdir())

    admin = make_engine(args.url, isolation_level="AUTOCOMMIT")
    names = [f"tv_bench_batch_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    urls = [sa.engine.make_url(admin.url).set(database=n).render_as_string(hide_password=False) for n in names]
    with admin.connect() as conn:
        for n in names:
            conn.exec_driver_sql(f'CREATE DATABASE "{n}"')
    out: dict[str, Any] = {"people": args.people, "legacy_bytes": files, "load_avg": os.getloadavg()[0]}
    try:
        engines = [make_engine(u) for u in urls]
        for e in engines:
            upgrade(e)
            with e.begin() as conn:
                ensure_system_principals(conn)
        t0, c0 = time.perf_counter(), _cpu()
        ingest_paths(engines[0], [work / "legacy"])
        out["embedded_ingest_s"], out["embedded_ingest_cpu_s"] = time.perf_counter() - t0, _cpu() - c0

        t0 = time.perf_counter()
        config = batch_config(database_url=urls[1])
        spark = batch_spark(config)
        out["spark_start_s"], out["spark_start_spark_cpu_s"] = time.perf_counter() - t0, _children_cpu()
        for k in range(3):
            t0, j0 = time.perf_counter(), _children_cpu()
            spark.sparkContext.parallelize(range(4), 2).map(lambda x: x + 1).collect()
            out[f"empty_job_{k}_s"], out[f"empty_job_{k}_spark_cpu_s"] = time.perf_counter() - t0, _children_cpu() - j0
        t0, c0, j0 = time.perf_counter(), _cpu(), _children_cpu()
        job = ingest_job(engines[1], [work / "legacy"], config, spark=spark)
        out["spark_ingest_s"] = time.perf_counter() - t0
        out["spark_ingest_driver_cpu_s"], out["spark_ingest_spark_cpu_s"] = _cpu() - c0, _children_cpu() - j0
        out["spark_ingest_phases"] = job.phases
        out["spark_ingest_seconds"] = job.seconds
        out["records"] = sum(r.read for r in job.files)
        for e in engines:
            e.dispose()
    finally:
        with admin.connect() as conn:
            for n in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
