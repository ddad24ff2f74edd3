"""Real files into ingest: the synthetic-only guard is the store's setting, never the file's.

The Pub 1220 files written by other projects (tests/conformance/pub1220, the same as
../shared/conformance/pub1220) are test transmissions: their T record says "T". That marks a
FIRE test file of real data, not taxvault's synthetic data. A store made for real data loads
every one of their records; a demo store (``taxvault init --synthetic``) quarantines each with a
reason that names the setting. The same for EFW2 files and IMF/BMF entity extracts.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.formats.pub1220 import read_pub1220
from taxvault.ingest import IngestError, ingest_paths
from taxvault.ingest.extracts import write_extract
from taxvault.ingest.tables import ingest_quarantine
from taxvault.store import tables as t
from taxvault.store.settings import is_synthetic_store, set_synthetic_store

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
OTHERS = CONFORMANCE / "pub1220" / "others"
PUB1220 = [CONFORMANCE / "pub1220" / "oneTransactionFile.ascii", *sorted(OTHERS.glob("*.txt"))]
EFW2_VALID = sorted((CONFORMANCE / "efw2").glob("sky8c9-*.txt"))
EFW2_INCONSISTENT = CONFORMANCE / "efw2" / "ariwagen-ma-w2-efw2-gen-synthetic.txt"
SETTING_NAMED = ("synthetic-only", "`synthetic`", "taxvault init --synthetic")


def _expected_payees() -> dict[str, int]:
    """Payees per file as the conformance material states them (its own count, not our reader's)."""
    out = {e["file"]: int(e["payees_computed_total"]) for e in json.loads((OTHERS / "expected.json").read_text())}
    one = json.loads((CONFORMANCE / "pub1220" / "oneTransactionFile.json").read_text())
    out["oneTransactionFile.ascii"] = sum(len(p["payees"]) for p in one["payment_persons"])
    return out


def _setting(engine: Engine, synthetic: bool) -> Engine:
    with engine.begin() as conn:
        set_synthetic_store(conn, synthetic)
    return engine


def _quarantine(engine: Engine) -> list[tuple[str, str, str]]:
    q = ingest_quarantine.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(q.file_name, q.field, q.reason).order_by(q.id))]


def test_the_four_fire_test_files_are_test_transmissions() -> None:
    """The premise: each file says "test file" in its T record, which must not make it synthetic."""
    assert len(PUB1220) == 4
    assert all(read_pub1220(p.read_bytes()).transmitter.test_file for p in PUB1220)


def test_a_store_for_real_data_loads_every_record_of_the_real_fire_files(db_engine: Engine) -> None:
    engine = _setting(db_engine, synthetic=False)
    expected = _expected_payees()
    reports = ingest_paths(engine, PUB1220)
    assert {r.path.name: (r.status, r.read, r.loaded, r.quarantined) for r in reports} == {
        name: ("loaded", n, n, 0) for name, n in expected.items()
    }
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(t.information_returns)).scalar_one()
        forms = {f for (f,) in conn.execute(sa.select(t.information_returns.c.form).distinct())}
    assert rows == sum(expected.values()) == 8
    assert forms == {"1099-MISC"}  # sdj0's NEC file writes type of return "A" (MISC): kept as the file says
    assert _quarantine(engine) == []
    assert _money_by_file(engine) == _expected_money()


def _expected_money() -> dict[str, int]:
    """Cents per file over every amount code, as the conformance material computes them from the B records."""
    out = {
        e["file"]: sum(sum(p["totals_computed_cents"].values()) for p in e["payers"])
        for e in json.loads((OTHERS / "expected.json").read_text())
    }
    out["oneTransactionFile.ascii"] = 1400  # README: both payees 700 cents under code 7; C and K say 1400
    return out


def _money_by_file(engine: Engine) -> dict[str, int]:
    ir, src = t.information_returns.c, t.sources.c
    q = sa.select(src.name, ir.boxes).join_from(t.information_returns, t.sources, ir.source_id == src.id)
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for name, boxes in conn.execute(q):
            values = json.loads(boxes) if isinstance(boxes, str) else boxes
            out[name] = out.get(name, 0) + sum(int(v) for v in values.values())
    return out


def test_a_synthetic_store_refuses_them_naming_the_setting(db_engine: Engine) -> None:
    engine = _setting(db_engine, synthetic=True)
    reports = ingest_paths(engine, [*PUB1220, *EFW2_VALID])
    assert all(r.read > 0 and r.loaded == 0 and r.quarantined == r.read for r in reports)
    quarantined = _quarantine(engine)
    assert len(quarantined) == sum(r.read for r in reports) == 8 + 10
    assert {field for _, field, _ in quarantined} == {"payer_tin", "employer_ein"}
    for _, _, reason in quarantined:
        assert all(s in reason for s in SETTING_NAMED), reason
        assert not any(ch.isdigit() for ch in reason), "a reason never carries a TIN"
    assert all(r.reasons and all(SETTING_NAMED[0] in k for k in r.reasons) for r in reports)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.information_returns)).scalar_one() == 0


def test_efw2_files_load_into_a_real_store_and_an_inconsistent_one_is_still_refused(db_engine: Engine) -> None:
    engine = _setting(db_engine, synthetic=False)
    reports = ingest_paths(engine, EFW2_VALID)
    assert [(r.read, r.loaded, r.quarantined) for r in reports] == [(2, 2, 0), (8, 8, 0)]
    with pytest.raises(IngestError, match="RF number of RW records"):
        ingest_paths(engine, [EFW2_INCONSISTENT])


def _person(tin: str) -> dict[str, object]:
    return {
        "ENT_TIN": tin,
        "ENT_TIN_TYPE": "S",
        "ENT_NAME_CONTROL": "REAL",
        "ENT_NAME": {"ENT_LAST_NAME": "REAL", "ENT_FIRST_NAME": "ANNA", "ENT_MIDDLE_NAME": ""},
        "ENT_ADDRESS": {
            "ENT_ADDR_LINE_1": "1 MAIN ST",
            "ENT_CITY": "ALBANY",
            "ENT_STATE": "NY",
            "ENT_ZIP": {"ENT_ZIP_5": "12207", "ENT_ZIP_4": ""},
        },
        "ENT_BIRTH_DATE": 19800101,
        "ENT_DEATH_DATE": 0,
        "ENT_FLAGS": {"ENT_DECEASED_FLAG": "N", "ENT_RESTRICTED_FLAG": "N", "ENT_EMPLOYEE_FLAG": "N"},
        "ENT_SPOUSE_TIN": "",
    }


@pytest.mark.parametrize("flag_in_file", [True, False])
@pytest.mark.parametrize("synthetic_store", [True, False])
def test_entity_extracts_follow_the_store_not_the_extracts_flag(
    db_engine: Engine, tmp_path: Path, flag_in_file: bool, synthetic_store: bool
) -> None:
    engine = _setting(db_engine, synthetic=synthetic_store)
    real, synthetic = "212345678", "900011234"
    data = write_extract(
        "IMFENTTY", [_person(real), _person(synthetic)], synthetic=flag_in_file, run_date=dt.date(2026, 1, 5)
    )
    path = tmp_path / "imf.ebc"
    path.write_bytes(data)
    (report,) = ingest_paths(engine, [path])
    if synthetic_store:
        assert (report.loaded, report.quarantined) == (1, 1)
        ((_, field, reason),) = _quarantine(engine)
        assert field == "tin" and all(s in reason for s in SETTING_NAMED)
    else:
        assert (report.loaded, report.quarantined) == (2, 0)


def test_a_migrated_store_counts_as_synthetic_until_init_chooses(db_engine: Engine) -> None:
    """Migration 0016 records ``synthetic = true``: every store before it was a demo store."""
    with db_engine.connect() as conn:
        assert is_synthetic_store(conn)
    _setting(db_engine, synthetic=False)
    with db_engine.connect() as conn:
        assert not is_synthetic_store(conn)
