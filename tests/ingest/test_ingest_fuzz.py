"""Ingesting mutated files never crashes: it ends in loaded + quarantined = read, or in one
clear error with the store unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers_ingest import counts, legacy_population
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.access.system_principals import ensure_system_principals
from taxvault.ingest import IngestError, ingest_paths
from taxvault.store import make_engine

FILES = ("irp_1099.p1220", "w2.efw2", "imf_entity.ebc", "imf_module.ebc", "imf_return.ebc", "cms_staff.ebc")


@pytest.fixture(scope="module")
def store_and_files(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> tuple[Path, Path]:
    """A store with the population's entities and modules loaded, and the legacy files."""
    tmp = tmp_path_factory.mktemp("fuzz")
    _, legacy = legacy_population(tmp, sqlite_template, 150, seed=9)
    db = tmp / "target.db"
    shutil.copyfile(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # as `taxvault init` leaves a store
        ensure_system_principals(conn)
    ingest_paths(engine, [legacy / n for n in ("bmf_entity.ebc", "imf_entity.ebc", "bmf_module.ebc", "imf_module.ebc")])
    engine.dispose()
    return db, legacy


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(FILES),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=6)), max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_mutated_files_load_partly_or_fail_cleanly(
    store_and_files: tuple[Path, Path], tmp_path: Path, name: str, edits: list[tuple[float, bytes]], cut: float | None
) -> None:
    db, legacy = store_and_files
    data = bytearray((legacy / name).read_bytes())
    for where, new in edits:
        at = int(where * len(data))
        data[at : at + len(new)] = new
    if cut is not None:
        data = data[: int(cut * len(data))]
    target = tmp_path / "f" / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(bytes(data))
    engine = make_engine(f"sqlite:///{db}")
    try:
        before = counts(engine)
        try:
            reports = ingest_paths(engine, [target])
        except IngestError as exc:
            assert "\n" not in str(exc)  # noqa: PT017 - either outcome is fine, so no pytest.raises
            assert counts(engine) == before
            return
        for r in reports:
            assert r.read == r.loaded + r.quarantined
    finally:
        engine.dispose()


def test_payer_tin_with_a_non_ascii_byte_quarantines_that_payer_only(
    store_and_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Regression (found by the fuzz test): junk in one A record's TIN must not crash the load."""
    db, legacy = store_and_files
    data = bytearray((legacy / "irp_1099.p1220").read_bytes())
    stride = 752 if data[750:752] == b"\r\n" else 750  # records may end in CR/LF
    assert len(data) % stride == 0
    a_records = [at for at in range(0, len(data), stride) if data[at : at + 1] == b"A"]
    assert len(a_records) >= 2
    data[a_records[0] + 11] = 0x80  # first byte of the payer TIN (positions 12-20)
    target = tmp_path / "f" / "irp_1099.p1220"
    target.parent.mkdir()
    target.write_bytes(bytes(data))
    engine = make_engine(f"sqlite:///{db}")
    try:
        (report,) = ingest_paths(engine, [target])
    finally:
        engine.dispose()
    assert report.quarantined > 0
    assert report.loaded > 0
    assert report.read == report.loaded + report.quarantined
