"""The Spark backend of linkage: the same Splink model, run by Spark (local mode or a cluster).

DuckDB links a few million records a side on one machine; past that, the same
settings run on Spark through Splink's SparkAPI. :func:`local_spark` starts a
quiet local session (no UI, few shuffle partitions, Splink's similarity UDF
jar registered) for tests and single-machine runs; a cluster deployment passes
its own SparkSession to :func:`taxvault.matching.linkage.link`, or configures the
process's session with :func:`spark_session` (the batch jobs do, from ``TAXVAULT_SPARK_*``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

import pyarrow as pa

_SESSION: Any = None


class SparkUnavailableError(RuntimeError):
    """Spark cannot start here (no Java runtime)."""


def java_available() -> bool:
    """True when a Java runtime is on the PATH (or JAVA_HOME), which pyspark needs."""
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and os.path.exists(os.path.join(home, "bin", "java"))))


def local_spark(cores: int = 2, shuffle_partitions: int = 2, driver_memory: str = "2g") -> Any:
    """A process-wide local SparkSession (created once), quiet and small, with Splink's UDF jar."""
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.driver.memory": driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "false",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
        # Many small queries: compiling whole-stage code costs more than it saves here
        # (a linkage of 800 x 800 people: 195 s with it, 51 s without; same pairs).
        "spark.sql.codegen.wholeStage": "false",
    }
    return spark_session(f"local[{cores}]", settings, app_name="taxvault-matching")


def spark_session(master: str, settings: dict[str, str], *, app_name: str = "taxvault") -> Any:
    """The process's SparkSession (created once; later calls get the same one, whatever they ask).

    One session per process because a JVM holds one SparkContext: the batch jobs
    (:mod:`taxvault.batch`) and linkage on Spark share it, so a matching run started
    by ``taxvault batch match`` links on the cluster the batch settings name.
    Splink's similarity UDF jar is always added; in local mode the Python workers
    run this interpreter (they import taxvault).
    """
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    if not java_available():
        raise SparkUnavailableError("Spark needs a Java runtime; none was found on PATH or JAVA_HOME")
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    tmp = tempfile.mkdtemp(prefix="taxvault-spark-")
    local = master.startswith("local")
    merged = {
        "spark.local.dir": tmp,
        # In local mode the driver is the only executor: broadcasting a join side copies it
        # within one JVM for no gain, and building it there is what ran out of driver memory
        # in CI ("Not enough memory to build and broadcast the table"), after other jobs of
        # the same process had used the heap. Sort-merge joins spill to disk instead.
        "spark.sql.autoBroadcastJoinThreshold": "-1" if local else str(64 * 1024 * 1024),
        "spark.sql.codegen.wholeStage": "true",
        **settings,
    }
    jars = [similarity_jar_location(), *filter(None, merged.pop("spark.jars", "").split(","))]
    merged["spark.jars"] = ",".join(jars)
    if local:
        merged.setdefault("spark.pyspark.python", sys.executable)
        merged.setdefault("spark.pyspark.driver.python", sys.executable)
    if "spark.pyspark.python" in merged:
        # A SparkContext started from Python takes its executors' interpreter from
        # PYSPARK_PYTHON, not from this setting (spark-submit would translate it; a builder
        # does not): without this, a standalone cluster's executors ran `python3`, which has
        # no taxvault ("No module named 'taxvault'": measured on a loopback cluster).
        os.environ.setdefault("PYSPARK_PYTHON", merged["spark.pyspark.python"])
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in merged.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(os.path.join(tmp, "checkpoints"))
    _SESSION = session
    return session


class SparkRun:
    """Backend hooks for Spark: run SQL to Arrow; on close, free what the linkage persisted.

    Splink persists its intermediate tables (``break_lineage_method="persist"``). The
    session is shared by the whole process (batch jobs, later linkages), so a run that
    left them cached would shrink every later run's memory until a broadcast join fails
    ("Not enough memory to build and broadcast the table"): close() unpersists the RDDs
    that appeared during this run, and only those.
    """

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._before = self._persistent_ids()

    def _persistent_ids(self) -> set[int]:
        try:
            return {int(k) for k in self.spark.sparkContext._jsc.getPersistentRDDs().keySet()}
        except Exception:  # a remote/Connect session has no JVM handle: nothing to track
            return set()

    def arrow(self, sql: str) -> pa.Table:
        result = self.spark.sql(sql).toArrow()
        return result if isinstance(result, pa.Table) else pa.Table.from_batches(result)

    def close(self) -> None:
        try:
            persistent = self.spark.sparkContext._jsc.getPersistentRDDs()
            for rdd_id in self._persistent_ids() - self._before:
                persistent.get(rdd_id).unpersist(False)
        except Exception:  # freeing memory is best effort; the linkage's result is already taken
            return None
        return None


def spark_api(spark: Any = None) -> tuple[Any, SparkRun]:
    """(a Splink SparkAPI, its hooks) on ``spark`` or on :func:`local_spark`."""
    from splink import SparkAPI

    session = spark if spark is not None else local_spark()
    api = SparkAPI(spark_session=session, break_lineage_method="persist")  # type: ignore[no-untyped-call]
    return api, SparkRun(session)
