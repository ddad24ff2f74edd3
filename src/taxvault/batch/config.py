"""Where a batch job runs and what it writes to: ``TAXVAULT_SPARK_*`` and ``TAXVAULT_BATCH_*`` settings.

Why settings and not code: the same job runs in local mode on a laptop or in a
test (``local[2]``) and on a cluster (``spark://host:7077``, ``yarn``,
``k8s://...``); only the master URL, the executors' resources and the database
URL the executors can reach differ. Nothing here imports pyspark.

- ``TAXVAULT_SPARK_MASTER``: the master URL (default ``local[2]``).
- ``TAXVAULT_SPARK_DRIVER_MEMORY``: the driver's heap (default ``2g``: one session per process serves
  batch jobs and linkage alike, and linkage broadcasts its smaller side).
- ``TAXVAULT_SPARK_SHUFFLE_PARTITIONS``: ``spark.sql.shuffle.partitions`` (default 2).
- ``TAXVAULT_SPARK_CONF``: more Spark settings, ``key=value`` pairs separated by
  ``;`` (``spark.executor.memory=8g;spark.executor.instances=20``).
- ``TAXVAULT_BATCH_DATABASE_URL``: the PostgreSQL store as the *executors* reach it
  (default: ``TAXVAULT_DATABASE_URL``; on a cluster ``localhost`` is the wrong host).
- ``TAXVAULT_BATCH_KEYS_DIR``: the TIN keys dir as mounted on the executors (default:
  the driver's ``TAXVAULT_KEYS_DIR``; a mounted secret on a cluster).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from taxvault.config import get_settings, normalise_database_url
from taxvault.errors import Invalid

DEFAULT_MASTER = "local[2]"


@dataclass(frozen=True)
class BatchConfig:
    """One batch job's Spark and store settings (see the module docstring)."""

    master: str = DEFAULT_MASTER
    driver_memory: str = "2g"
    shuffle_partitions: int = 2
    conf: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    keys_dir: str = ""
    app_name: str = "taxvault-batch"

    @property
    def local(self) -> bool:
        """True in local mode (driver and executors are one JVM on this machine)."""
        return self.master.startswith("local")


def parse_conf(text: str) -> dict[str, str]:
    """``key=value;key=value`` -> a dict; raises :class:`Invalid` on a pair without ``=``."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise Invalid(f"TAXVAULT_SPARK_CONF: {part.split('=')[0][:40]!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def batch_config(*, master: str | None = None, database_url: str | None = None) -> BatchConfig:
    """The settings from the environment; ``master`` and ``database_url`` override them (CLI options)."""
    from taxvault.keys import keys_dir

    env = os.environ
    partitions = env.get("TAXVAULT_SPARK_SHUFFLE_PARTITIONS", "2")
    if not partitions.isdigit() or int(partitions) < 1:
        raise Invalid("TAXVAULT_SPARK_SHUFFLE_PARTITIONS must be a positive integer")
    url = database_url or env.get("TAXVAULT_BATCH_DATABASE_URL") or get_settings().database_url
    return BatchConfig(
        master=master or env.get("TAXVAULT_SPARK_MASTER") or DEFAULT_MASTER,
        driver_memory=env.get("TAXVAULT_SPARK_DRIVER_MEMORY", "2g"),
        shuffle_partitions=int(partitions),
        conf=parse_conf(env.get("TAXVAULT_SPARK_CONF", "")),
        database_url=normalise_database_url(url),
        keys_dir=env.get("TAXVAULT_BATCH_KEYS_DIR") or str(Path(keys_dir()).resolve()),
    )


def spark_settings(config: BatchConfig) -> dict[str, str]:
    """The Spark settings a job's session is built with: quiet, small, then the configured extras."""
    base = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.default.parallelism": str(config.shuffle_partitions),
        "spark.driver.memory": config.driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "false",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
        # Python workers are reused between tasks: each keeps its database engine and TIN vault.
        "spark.python.worker.reuse": "true",
    }
    if config.local:
        # Small data, many small queries (Splink issues dozens per linkage): compiling each
        # query's whole-stage code costs more than running it. Measured on a linkage of
        # 800 x 800 people: 195 s with whole-stage codegen, 51 s without; same pairs.
        base["spark.sql.codegen.wholeStage"] = "false"
    return {**base, **config.conf}
