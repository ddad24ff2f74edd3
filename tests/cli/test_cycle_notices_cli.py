"""`taxvault cycle ...` and `taxvault notices ...` as a new user meets them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.cli import app
from taxvault.store import make_engine
from taxvault.store.tables import entities, notices, tax_modules
from taxvault.store.tins import aad, tin_vault

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [["cycle"], ["cycle", "run"], ["cycle", "unpostables"], ["cycle", "resolve"], ["notices"],
                ["notices", "list"], ["notices", "pdf"]],
)  # fmt: skip
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_cycle_then_notices_list_and_pdf_through_the_gate(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0
    assert runner.invoke(app, ["synth", "--taxpayers", "300", "--seed", "4"]).exit_code == 0
    bad = runner.invoke(app, ["cycle", "run", "--date", "2026-13-01"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    result = runner.invoke(app, ["cycle", "run", "--date", "2026-01-05", "--no-cp2000"])
    assert result.exit_code == 0, result.output
    assert re.search(r"notice CP501\s+│\s+[1-9]", result.output), result.output
    back = runner.invoke(app, ["cycle", "run", "--date", "2025-12-01"])
    assert back.exit_code == 1 and "back in time" in back.output

    engine = make_engine()
    with engine.begin() as conn:
        module_ref, entity_ref, tin_enc = conn.execute(
            sa.select(tax_modules.c.ref, entities.c.ref, entities.c.tin_enc)
            .join(entities, entities.c.id == tax_modules.c.entity_id)
            .join(notices, notices.c.module_id == tax_modules.c.id)
            .where(notices.c.notice_type == "CP501")
            .limit(1)
        ).one()
        me = ensure_taxpayer_principal(conn, entity_ref)
        tin = tin_vault(conn).decrypt(conn, tin_enc, aad("entities", "tin", entity_ref))
    listed = runner.invoke(app, ["notices", "list", "--module", module_ref, "--as", me, "--purpose", "self_service"])
    assert listed.exit_code == 0, listed.output
    assert "CP14" in listed.output and "CP501" in listed.output
    notice_id = re.search(r"(n[0-9a-f]{20})\s+│\s+CP501", listed.output)
    assert notice_id is not None
    out = tmp_path / "cp501.pdf"
    saved = runner.invoke(
        app,
        ["notices", "pdf", notice_id.group(1), "--module", module_ref, "--out", str(out), "--as", me,
         "--purpose", "self_service"],
    )  # fmt: skip
    assert saved.exit_code == 0, saved.output
    assert out.read_bytes().startswith(b"%PDF")
    assert tin not in saved.output + listed.output

    # someone without a case on it: one clear line, nothing written
    denied = runner.invoke(
        app, ["notices", "list", "--module", module_ref, "--as", "eng-001", "--purpose", "collection"]
    )
    assert denied.exit_code == 1 and "not authorized" in denied.output
    unknown = runner.invoke(app, ["notices", "list", "--module", module_ref, "--as", "nobody", "--purpose", "x_y"])
    assert unknown.exit_code == 1 and "no active principal" in unknown.output


def test_a_date_past_the_rate_table_is_refused_before_anything_is_written() -> None:
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0
    assert runner.invoke(app, ["synth", "--taxpayers", "200", "--seed", "4"]).exit_code == 0
    late = runner.invoke(app, ["cycle", "run", "--date", "2099-01-04"])
    assert late.exit_code == 1 and "TAXVAULT_UNDERPAYMENT_RATES" in late.output and "Traceback" not in late.output
    ok = runner.invoke(app, ["cycle", "run", "--date", "2026-01-05"])
    assert ok.exit_code == 0, ok.output
