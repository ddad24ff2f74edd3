"""The process's SparkSession for batch jobs, built from :class:`~taxvault.batch.config.BatchConfig`.

Why shared with linkage: a JVM holds one SparkContext, so the batch jobs and
Splink-on-Spark (:mod:`taxvault.matching.spark`) use the same session; the first
to start it decides the master URL. ``taxvault batch ...`` starts it from the
batch settings before anything else does.
"""

from __future__ import annotations

from typing import Any

from taxvault.batch.config import BatchConfig, spark_settings


def batch_spark(config: BatchConfig) -> Any:
    """The SparkSession for ``config`` (created on first use; raises SparkUnavailableError without Java)."""
    from taxvault.matching.spark import spark_session

    return spark_session(config.master, spark_settings(config), app_name=config.app_name)
