"""Matching runs as a Spark job: the matching job of ``jobs/matching.py``, linking on Spark.

Why no second matching pipeline: a run's protocol (decide ``run_match``, read both
sides in one read unit and audit what was read; link outside any transaction;
decide again, evaluate, store the run and its leads and audit, in one write unit)
is :func:`taxvault.jobs.matching.run_agreement`. The part that grows with the
agency's size is the linkage (blocking, comparisons, scoring), and
:func:`taxvault.matching.linkage.link` runs it on Spark with ``backend="spark"``
on the process's SparkSession, which :func:`taxvault.batch.session.batch_spark`
starts from the batch settings (local mode, or the cluster the master URL names).
The run's writes (one run row, its leads: small) go through the door from the
driver, to whichever store the engine is (PostgreSQL in production).
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack

from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.local import local_door
from taxvault.batch.config import BatchConfig
from taxvault.batch.session import batch_spark
from taxvault.jobs import matching as jm
from taxvault.matching.programs import RunReport


def match_job(
    engine: Engine,
    config: BatchConfig,
    *,
    agreement_ref: str | None = None,
    today: dt.date | None = None,
    door: Door | None = None,
) -> list[RunReport]:
    """Run one agreement (``agreement_ref``) or every active one, linking on Spark; one report per run."""
    batch_spark(config)  # the process's session (started here from the settings): linkage on Spark uses it
    with ExitStack() as stack:
        if door is None:
            door = stack.enter_context(local_door(engine))
        session = jm.job_session(door)
        if agreement_ref is not None:
            return [jm.run_agreement(door, session, agreement_ref, today=today, backend="spark")]
        return jm.run_active(door, session, today=today, backend="spark")
