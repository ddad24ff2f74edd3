"""Population -> legacy files -> ingest gives the same canonical rows as synth straight into the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_ingest import COMPARED, canonical_rows, counts, legacy_population
from sqlalchemy.engine import Engine

from taxvault.ingest import ingest_paths


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> tuple[Engine, Path]:
    return legacy_population(tmp_path_factory.mktemp("roundtrip"), sqlite_template, 600)


def test_population_round_trips_through_legacy_files(db_engine: Engine, legacy: tuple[Engine, Path]) -> None:
    source, directory = legacy
    reports = ingest_paths(db_engine, [directory])
    assert all(r.status == "loaded" and r.quarantined == 0 and r.read == r.loaded for r in reports)
    expected, got = canonical_rows(source), canonical_rows(db_engine)
    for table in COMPARED:
        assert got[table] == expected[table], table
        assert sum(got[table].values()) > 0, table
    before, after = counts(source), counts(db_engine)
    assert {t: after[t] for t in COMPARED} == {t: before[t] for t in COMPARED}
    assert after["sources"] == len(reports)


def test_every_loaded_row_knows_its_file_and_record(db_engine: Engine, legacy: tuple[Engine, Path]) -> None:
    import sqlalchemy as sa

    _, directory = legacy
    reports = {r.content_hash: r for r in ingest_paths(db_engine, [directory])}
    with db_engine.connect() as conn:
        for table in ("entities", "tax_modules", "returns", "information_returns", "cases", "notices"):
            rows = conn.execute(
                sa.text(
                    f"SELECT s.content_hash, MIN(x.source_record), MAX(x.source_record), COUNT(*) "  # noqa: S608
                    f"FROM {table} x JOIN sources s ON s.id = x.source_id GROUP BY s.content_hash"
                )
            ).all()
            assert rows, table
            for content_hash, lo, hi, _n in rows:
                assert content_hash in reports
                assert 1 <= lo <= hi <= reports[content_hash].path.stat().st_size // 66  # record numbers in the file
