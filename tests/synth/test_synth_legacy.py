"""``write_legacy``: every file reads back with its reader, is marked synthetic, and holds
as many records as the store has rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from taxvault.formats.efw2 import read_efw2
from taxvault.formats.pub1220 import read_pub1220
from taxvault.ingest.extracts import decode_records, read_extract
from taxvault.store import make_engine
from taxvault.store import tables as t
from taxvault.synth.legacy import SYNTHETIC_EFW2_USER, write_legacy
from taxvault.synth.load import synthesize


def _count(engine: sa.Engine, table: sa.Table, where: sa.ColumnElement[bool] | None = None) -> int:
    q = sa.select(sa.func.count()).select_from(table)
    with engine.connect() as conn:
        return int(conn.execute(q if where is None else q.where(where)).scalar_one())


def test_legacy_files_read_back_whole_and_synthetic(tmp_path: Path, sqlite_template: Path) -> None:
    db = tmp_path / "s.db"
    shutil.copyfile(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    synthesize(engine, 400, 2)
    written = write_legacy(engine, tmp_path / "legacy")
    files = {Path(p).name: n for p, n in written.items()}
    ir = t.information_returns.c
    p1220 = read_pub1220((tmp_path / "legacy" / "irp_1099.p1220").read_bytes(), strict=True)
    assert p1220.transmitter.test_file and not p1220.record_problems
    assert len(p1220.payees) == files["irp_1099.p1220"] == _count(engine, t.information_returns, ir.form != "W-2")
    efw2 = read_efw2((tmp_path / "legacy" / "w2.efw2").read_bytes())
    assert efw2.consistent and efw2.submitter.user_id.strip() == SYNTHETIC_EFW2_USER
    assert len(efw2.employees) == files["w2.efw2"] == _count(engine, t.information_returns, ir.form == "W-2")
    expected = {
        "imf_entity.ebc": _count(engine, t.entities, t.entities.c.tin_type != "EIN"),
        "bmf_entity.ebc": _count(engine, t.entities, t.entities.c.tin_type == "EIN"),
        "cms_staff.ebc": _count(engine, t.principals, t.principals.c.kind != "system"),  # init makes those
        "imf_module.ebc": _count(engine, t.tax_modules, t.tax_modules.c.mft == 30),
        "bmf_module.ebc": _count(engine, t.tax_modules, t.tax_modules.c.mft != 30),
        "imf_return.ebc": _count(engine, t.returns),
        "imf_notice.ebc": _count(engine, t.notices),
        "cms_cases.ebc": _count(engine, t.cases),
    }
    for name, n in expected.items():
        extract = read_extract((tmp_path / "legacy" / name).read_bytes(), name)
        assert extract.synthetic and extract.stated_count == n == files[name], name
        assert all(values is not None for _, _, values in decode_records(extract)), name
