"""The batch ingest on a Spark cluster (standalone master + worker on loopback) gives the embedded store.

Local mode shares the driver's JVM and interpreter with the tasks, so it cannot show that a job
runs where the executors are separate processes started by a cluster manager: a standalone
cluster can. It caught one such bug: executors ran ``python3`` (no taxvault) because a
session built from Python takes the executors' interpreter from PYSPARK_PYTHON, not from
``spark.pyspark.python``. The job runs as a user runs it, ``taxvault batch ingest --master
spark://...`` in its own process (one SparkContext per process: this one may hold a local one).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fingerprint import fingerprints
from sqlalchemy.engine import Engine
from test_batch_ingest import _store, legacy  # noqa: F401 (legacy: the module's fixture, shared)

from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.audit import AuditLog
from taxvault.ingest import ingest_paths
from taxvault.matching.spark import java_available

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not java_available(), reason="Spark needs a Java runtime"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{path.name}: no {text!r} within {seconds} s:\n{path.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone Spark master and one worker (2 cores, 1.5 GiB), loopback only."""
    import pyspark

    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(logs)}
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    master_args = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    worker_args = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "2"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        master_log = logs / "master.log"
        with master_log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [*master_args, "--port", str(port), "--webui-port", str(_free_port())],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(master_log, "I have been elected leader", procs[0])
        worker_log = logs / "worker.log"
        with worker_log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [*worker_args, "--memory", "1536m", "--webui-port", str(_free_port()), master_url],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(worker_log, "Successfully registered with master", procs[1])
        yield master_url
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def embedded_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from _store(request, tmp_path / "a")


@pytest.fixture
def cluster_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from _store(request, tmp_path / "b")


def test_the_ingest_job_on_a_standalone_cluster_equals_the_embedded_ingest(
    cluster: str,
    legacy: Path,  # noqa: F811
    embedded_store: Engine,
    cluster_store: Engine,
) -> None:
    with AuditLog(embedded_store) as log:
        embedded = ingest_paths(embedded_store, [legacy], door=Door(embedded_store, log, PolicyEngine()))
    env = {
        **os.environ,
        "TAXVAULT_DATABASE_URL": cluster_store.url.render_as_string(hide_password=False),
        "TAXVAULT_SPARK_CONF": f"spark.pyspark.python={sys.executable};spark.executor.memory=1g;spark.cores.max=2",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    env.pop("PYSPARK_PYTHON", None)  # as on a user's shell: only the setting names the executors' interpreter
    done = subprocess.run(
        [str(Path(sys.executable).with_name("taxvault")), "batch", "ingest", str(legacy), "--master", cluster],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for report in embedded:  # the job prints each file's counts as the embedded ingest reports them
        counts = f"read {report.read:,}, loaded {report.loaded:,}, quarantined {report.quarantined:,}"
        assert any(x.startswith(f"{report.path.name} (") and x.endswith(counts) for x in lines), (counts, lines)
    a, b = fingerprints(embedded_store), fingerprints(cluster_store)
    assert a["information_returns"][0] > 0 and a["ingest_quarantine"][0] == 2
    assert b == a
