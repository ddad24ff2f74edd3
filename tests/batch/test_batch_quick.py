"""The batch jobs' parts that need neither Spark nor PostgreSQL: settings, phases, staging, the CLI's refusals."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.batch.config import DEFAULT_MASTER, batch_config, parse_conf, spark_settings
from taxvault.batch.ingest import ingest_job, phases
from taxvault.batch.stage import (
    FileTask,
    _local_path,
    quarantine_stage,
    stage_file,
    stage_partition,
    stage_table,
    staging_aad,
)
from taxvault.cli import app
from taxvault.errors import Invalid
from taxvault.ingest.pipeline import KIND_ORDER, FileReport
from taxvault.store import make_engine
from taxvault.store import tables as t


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert batch_config().master == DEFAULT_MASTER and batch_config().local
    monkeypatch.setenv("TAXVAULT_SPARK_MASTER", "spark://batch-head:7077")
    monkeypatch.setenv("TAXVAULT_SPARK_CONF", "spark.executor.memory=8g; spark.executor.instances=20;")
    monkeypatch.setenv("TAXVAULT_BATCH_DATABASE_URL", "postgresql://tv:secret@db.internal/taxvault")
    monkeypatch.setenv("TAXVAULT_BATCH_KEYS_DIR", "/mnt/secrets/taxvault")
    config = batch_config()
    assert (config.master, config.local, config.keys_dir) == ("spark://batch-head:7077", False, "/mnt/secrets/taxvault")
    assert config.database_url == "postgresql+psycopg://tv:secret@db.internal/taxvault"
    settings = spark_settings(config)
    assert settings["spark.executor.instances"] == "20" and settings["spark.ui.enabled"] == "false"
    assert batch_config(master="local[4]").master == "local[4]"  # the CLI's --master wins


@pytest.mark.parametrize("text", ["spark.executor.memory", "=8g", "a=1;b"])
def test_a_setting_without_key_and_value_is_refused(text: str) -> None:
    with pytest.raises(Invalid, match="key=value"):
        parse_conf(text)


def test_shuffle_partitions_must_be_a_positive_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_SPARK_SHUFFLE_PARTITIONS", "0")
    with pytest.raises(Invalid, match="positive integer"):
        batch_config()


def _reports(*kinds: str) -> list[FileReport]:
    return [FileReport(Path(f"{i}.{k}"), k, f"{i:064x}") for i, k in enumerate(kinds)]


def test_phases_group_files_that_do_not_read_what_the_phase_writes() -> None:
    grouped = phases(_reports(*KIND_ORDER, "pub1220", "efw2"))
    assert [[r.kind for r in p] for p in grouped] == [
        ["BMFENTTY", "IMFENTTY"],
        ["CMSSTAFF", "BMFMODUL"],
        ["IMFMODUL"],
        ["IMFRETRN", "IMFNOTIC", "pub1220", "efw2", "CMSCASES", "pub1220", "efw2"],
    ]
    # Two entity files of one kind read what the other writes (duplicates): never one phase.
    assert len(phases(_reports("IMFENTTY", "IMFENTTY"))) == 2
    # Information returns alone: any number of files, one phase.
    assert len(phases(_reports("pub1220", "pub1220", "efw2"))) == 1
    # A kind this module does not know gets a phase of its own.
    assert [len(p) for p in phases(_reports("pub1220", "NEWKIND", "pub1220"))] == [1, 1, 1]


def test_staging_tables_copy_the_columns_all_nullable() -> None:
    stage = stage_table("abc123", t.information_returns)
    assert stage.name == "batch_stage_abc123_information_returns"
    assert {c.name for c in stage.c} == {c.name for c in t.information_returns.c} | {"_file", "_row"}
    assert all(c.nullable for c in stage.c) and not stage.foreign_keys
    assert "raw" in quarantine_stage("abc123").c
    assert staging_aad("j", "h", 3) != staging_aad("j", "h", 4) != staging_aad("k", "h", 3)
    assert _local_path("file:/data/in/w2.efw2") == "/data/in/w2.efw2" == _local_path("file:///data/in/w2.efw2")
    assert _local_path("hdfs://nn/in/w2.efw2") == "hdfs://nn/in/w2.efw2"


def test_a_task_reports_a_changed_file_a_bad_file_and_a_known_one(db_engine: Engine, tmp_path: Path) -> None:
    data = b"T" + b"x" * 100  # no record of Pub 1220's 750 bytes
    task = FileTask(str(tmp_path / "x.p1220"), hashlib.sha256(data).hexdigest(), "pub1220")
    changed = stage_file(db_engine, "j1", task, data + b"more")
    assert (changed.status, changed.error) == ("error", "x.p1220: the file changed while being ingested")
    bad = stage_file(db_engine, "j1", task, data)
    assert bad.status == "error" and bad.error.startswith("x.p1220: ") and bad.read == 0
    with db_engine.begin() as conn:
        conn.execute(
            t.sources.insert().values(
                kind="file", name="x.p1220", content_hash=task.content_hash, created_at=sa.func.now()
            )
        )
    assert stage_file(db_engine, "j1", task, data).status == "known"


def test_the_spark_ingest_refuses_the_embedded_store(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with pytest.raises(Invalid, match="PostgreSQL"):
        ingest_job(engine, [tmp_path], batch_config())


def test_cli_settings_print_where_without_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_BATCH_DATABASE_URL", "postgresql://tv:secret@db.internal:5433/taxvault")
    result = CliRunner().invoke(app, ["batch", "settings", "--master", "spark://head:7077"])
    assert result.exit_code == 0, result.output
    assert "master: spark://head:7077" in result.output
    assert "postgresql+psycopg://db.internal:5433/taxvault" in result.output and "secret" not in result.output
    assert "spark.sql.shuffle.partitions=2" in result.output


def test_cli_ingest_on_the_embedded_store_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["batch", "ingest", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: the Spark ingest writes to PostgreSQL" in result.output


def test_cli_refuses_bad_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAXVAULT_SPARK_CONF", "nonsense")
    result = CliRunner().invoke(app, ["batch", "ingest", str(tmp_path)])
    assert result.exit_code == 1 and "is not key=value" in result.output


def test_a_partition_stages_each_of_its_files_by_the_surveyed_path(db_engine: Engine, tmp_path: Path) -> None:
    data = b"T" + b"x" * 100
    path = tmp_path / "y.p1220"
    task = FileTask(str(path), hashlib.sha256(data).hexdigest(), "pub1220")
    url = db_engine.url.render_as_string(hide_password=False)
    keys = os.environ["TAXVAULT_KEYS_DIR"]
    files = iter([(f"file:{path}", data)])
    out = list(stage_partition(files, tasks={str(path): task}, job="j2", url=url, keys_dir=keys))
    assert [(s.path, s.status) for s in out] == [(str(path), "error")]
    assert out[0].error.startswith("y.p1220: ")


def test_local_mode_compiles_no_whole_stage_code_a_cluster_does() -> None:
    assert spark_settings(batch_config())["spark.sql.codegen.wholeStage"] == "false"
    assert "spark.sql.codegen.wholeStage" not in spark_settings(batch_config(master="spark://head:7077"))
