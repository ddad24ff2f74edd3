"""The Spark ingest gives the embedded ingest's store: same rows, same quarantine, same audit events.

Same legacy files (a synthetic population, with bad records planted) go through
``ingest_paths`` into one fresh PostgreSQL store and through the Spark job
(local[2]) into another; row counts and content fingerprints of every table,
the quarantine (opened) and the ingest audit events must be equal.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fingerprint import fingerprints
from sqlalchemy.engine import Engine

from store_factory import _pg_admin_url, new_store
from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.access.system_principals import ensure_system_principals
from taxvault.audit import AuditLog
from taxvault.batch.config import batch_config
from taxvault.batch.ingest import ingest_job
from taxvault.batch.session import batch_spark
from taxvault.errors import Unavailable
from taxvault.ingest import ingest_paths
from taxvault.matching.spark import java_available
from taxvault.store import make_engine
from taxvault.store import tables as t
from taxvault.synth.legacy import write_legacy
from taxvault.synth.load import synthesize

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not java_available(), reason="Spark needs a Java runtime"),
]


def _replace_in_record(data: bytearray, record: int, length: int, sep: int, start: int, new: bytes) -> None:
    offset = (record - 1) * (length + sep) + start - 1
    data[offset : offset + len(new)] = new


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """Legacy files of a 150-taxpayer synthetic population; two bad 1099 records."""
    tmp = tmp_path_factory.mktemp("batch")
    db = tmp / "synth.db"
    shutil.copyfile(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    synthesize(engine, 150, 11)
    out = tmp / "legacy"
    write_legacy(engine, out)
    engine.dispose()
    p1220 = out / "irp_1099.p1220"
    data = bytearray(p1220.read_bytes())
    _replace_in_record(data, 3, 750, 2, 12, b"123456789")  # a TIN outside the synthetic ranges
    _replace_in_record(data, 4, 750, 2, 7, b"ZZZZ")  # a name control that is not the payee's
    p1220.write_bytes(bytes(data))
    return out


def _store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for engine in new_store("postgresql", request, tmp_path):
        with engine.begin() as conn:
            ensure_system_principals(conn)
        yield engine


@pytest.fixture
def embedded_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from _store(request, tmp_path / "a")


@pytest.fixture
def spark_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from _store(request, tmp_path / "b")


def _ingest_events(log: AuditLog) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    events = [log.event(i) for i in range(log.tree_head().tree_size)]
    return [
        (e.principal, e.action, e.resource, e.decision.value, tuple(e.fields))
        for e in events
        if e.action.startswith("ingest:")
    ]


def test_spark_ingest_equals_the_embedded_ingest(legacy: Path, embedded_store: Engine, spark_store: Engine) -> None:
    assert _pg_admin_url()
    with AuditLog(embedded_store) as log_a:
        embedded = ingest_paths(embedded_store, [legacy], door=Door(embedded_store, log_a, PolicyEngine()))
        events_a = _ingest_events(log_a)
    config = batch_config(database_url=spark_store.url.render_as_string(hide_password=False))
    spark = batch_spark(config)
    t0 = time.perf_counter()
    with AuditLog(spark_store) as log_b:
        job = ingest_job(spark_store, [legacy], config, spark=spark, door=Door(spark_store, log_b, PolicyEngine()))
        events_b = _ingest_events(log_b)
    seconds = time.perf_counter() - t0

    assert [(r.path.name, r.status, r.read, r.loaded, r.quarantined, r.rows, r.reasons) for r in job.files] == [
        (r.path.name, r.status, r.read, r.loaded, r.quarantined, r.rows, r.reasons) for r in embedded
    ]
    assert {r.kind: r.quarantined for r in job.files}["pub1220"] == 2
    assert job.phases == 4  # [BMF+IMF entities] [staff+BMF modules] [IMF modules] [returns..cases]
    a, b = fingerprints(embedded_store), fingerprints(spark_store)
    assert a["information_returns"][0] > 0 and a["ingest_quarantine"][0] == 2
    assert b == a
    assert events_b == events_a and len(events_a) == len(embedded)
    print(f"spark ingest: {seconds:.1f} s for {len(job.files)} files, {job.seconds}")


def test_a_stage_that_fails_loads_nothing(legacy: Path, spark_store: Engine) -> None:
    url = spark_store.url.set(database="tv_no_such_database").render_as_string(hide_password=False)
    config = batch_config(database_url=url)  # the tasks cannot reach the store; the driver can
    with pytest.raises(Unavailable, match=r"^the Spark stage of bmf_entity\.ebc, imf_entity\.ebc failed"):
        ingest_job(spark_store, [legacy], config, spark=batch_spark(config))
    with spark_store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.sources)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t.entities)).scalar_one() == 0
        left = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'batch_stage_%'")).scalar()
    assert left == 0, "the job's staging tables are dropped"
