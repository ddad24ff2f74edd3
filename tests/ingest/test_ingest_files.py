"""Idempotence, quarantine of bad records, and files that are not what they claim."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_ingest import counts, legacy_population
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.access.system_principals import ensure_system_principals
from taxvault.ingest import IngestError, ingest_paths
from taxvault.ingest.pipeline import quarantined_raw
from taxvault.ingest.tables import ingest_quarantine
from taxvault.store import make_engine


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    return legacy_population(tmp_path_factory.mktemp("files"), sqlite_template, 300, seed=5)[1]


def test_double_ingest_changes_nothing(db_engine: Engine, legacy: Path) -> None:
    first = ingest_paths(db_engine, [legacy])
    before = counts(db_engine)
    second = ingest_paths(db_engine, [legacy])
    assert [r.status for r in first] == ["loaded"] * len(first)
    assert [r.status for r in second] == ["skipped"] * len(second)
    assert counts(db_engine) == before


def _replace_in_record(data: bytearray, record: int, length: int, sep: int, start: int, new: bytes) -> None:
    offset = (record - 1) * (length + sep) + start - 1
    data[offset : offset + len(new)] = new


def test_bad_records_are_quarantined_and_the_rest_loads(db_engine: Engine, legacy: Path, tmp_path: Path) -> None:
    work = tmp_path / "legacy"
    shutil.copytree(legacy, work)
    p1220 = work / "irp_1099.p1220"
    data = bytearray(p1220.read_bytes())
    # Record 3 is the first B record: a TIN outside the synthetic ranges, then a wrong name control.
    _replace_in_record(data, 3, 750, 2, 12, b"123456789")
    _replace_in_record(data, 4, 750, 2, 7, b"ZZZZ")
    p1220.write_bytes(bytes(data))
    reports = {r.kind: r for r in ingest_paths(db_engine, [work])}
    r = reports["pub1220"]
    assert (r.read, r.loaded, r.quarantined) == (r.loaded + 2, r.read - 2, 2)
    with db_engine.connect() as conn:
        q = ingest_quarantine.c
        rows = conn.execute(sa.select(q.record_number, q.field, q.raw, q.source_id).order_by(q.record_number)).all()
        raws = [quarantined_raw(conn, int(src), int(n), bytes(sealed)) for n, _, sealed, src in rows]
    assert [(n, f) for n, f, _, _ in rows] == [(3, "payee_tin"), (4, "payee_name_control")]
    assert all(len(raw) == 750 for raw in raws)
    assert b"123456789" in raws[0], "the quarantined record comes back as it was read"
    assert all(b"123456789" not in bytes(sealed) for _, _, sealed, _ in rows), "kept sealed, never in clear"
    assert all(x.read == x.loaded + x.quarantined for x in reports.values())


@pytest.mark.parametrize(
    ("name", "mangle"),
    [
        ("irp_1099.p1220", lambda b: b[:-100]),  # truncated
        ("w2.efw2", lambda b: b[:600] + b[601:]),  # a record of the wrong length
        ("imf_entity.ebc", lambda b: b[: len(b) // 2]),  # truncated extract
        ("imf_module.ebc", lambda b: b"\x00\xff" * 500),  # binary junk
        ("cms_cases.ebc", lambda b: b[: len(b) - 70]),  # trailer lost
    ],
)
def test_a_file_that_is_not_what_it_claims_is_one_clear_error(
    db_engine: Engine, legacy: Path, tmp_path: Path, name: str, mangle: object
) -> None:
    bad = tmp_path / name
    bad.write_bytes(mangle((legacy / name).read_bytes()))  # type: ignore[operator]
    before = counts(db_engine)
    with pytest.raises(IngestError) as exc:
        ingest_paths(db_engine, [bad])
    message = str(exc.value)
    assert "\n" not in message and name in message
    assert counts(db_engine) == before


def test_cli_reports_counts_and_fails_with_one_line(
    legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path
) -> None:
    import typer

    from taxvault.ingest.cli import ingest

    db = tmp_path / "cli.db"
    shutil.copyfile(sqlite_template, db)
    monkeypatch.setenv("TAXVAULT_DATABASE_URL", f"sqlite:///{db}")
    app = typer.Typer()
    app.command()(ingest)
    app.command("noop")(lambda: None)
    bare = CliRunner().invoke(app, ["ingest", str(legacy)])  # migrated, but `init` has not made sys-ingest
    assert bare.exit_code == 1 and "taxvault init" in bare.output and "Traceback" not in bare.output
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        ensure_system_principals(conn)
    engine.dispose()
    ok = CliRunner().invoke(app, ["ingest", str(legacy)])
    assert ok.exit_code == 0, ok.output
    assert "quarantined 0" in ok.output and "read" in ok.output
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00" * 1000)
    bad = CliRunner().invoke(app, ["ingest", str(junk)])
    assert bad.exit_code == 1
    assert "Traceback" not in bad.output
    assert "junk.dat" in bad.output
