"""The command line as a new user meets it: help everywhere, one-line errors, counts after synth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxvault.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [[], ["init"], ["synth"], ["serve"], ["db"], ["db", "stats"], ["audit"], ["audit", "verify"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_synth_before_init_is_one_clear_line() -> None:
    result = runner.invoke(app, ["synth", "--taxpayers", "10"])
    assert result.exit_code == 1
    assert "taxvault init" in result.output
    assert "Traceback" not in result.output


def test_init_synth_stats() -> None:
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0  # idempotent
    result = runner.invoke(app, ["synth", "--taxpayers", "400", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "people" in result.output
    stats = runner.invoke(app, ["db", "stats"])
    assert stats.exit_code == 0
    counts = {m[0]: int(m[1].replace(",", "")) for m in re.findall(r"│ (\w+)\s+│ ([\d,]+)", stats.output)}
    for table in ("entities", "returns", "transactions", "information_returns", "cases", "principals", "notices"):
        assert counts[table] > 0, table
    assert counts["audit_events"] >= 1 and counts["audit_sths"] >= 1  # the job itself is audited
    verify = runner.invoke(app, ["audit", "verify"])
    assert verify.exit_code == 0, verify.output
    again = runner.invoke(app, ["synth", "--taxpayers", "10"])
    assert again.exit_code == 1 and "already holds taxpayers" in again.output


def test_init_makes_the_job_principals_and_ingest_and_the_cycle_run_on_that_store(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from taxvault.access.system_principals import SYSTEM_PRINCIPALS
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.store.tables import principals
    from taxvault.synth.legacy import write_legacy
    from taxvault.synth.load import synthesize

    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0 and "sys-ingest" in first.output
    engine = make_engine()
    system = sa.select(principals.c.id, principals.c.active).where(principals.c.kind == "system")
    with engine.begin() as conn:
        assert dict(conn.execute(system).all()) == {p[0]: True for p in SYSTEM_PRINCIPALS}
        conn.execute(principals.update().where(principals.c.id == "sys-ingest").values(active=False))
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 0 and "system principals created" not in again.output
    with engine.connect() as conn:  # idempotent: nothing added, a deactivated one left deactivated
        assert dict(conn.execute(system).all()) == {p[0]: p[0] != "sys-ingest" for p in SYSTEM_PRINCIPALS}

    # Legacy files from another store (same keys dir), ingested into the store `init` made.
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    synthesize(other, 300, seed=8)
    write_legacy(other, tmp_path / "legacy")
    refused = runner.invoke(app, ["ingest", str(tmp_path / "legacy")])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    with engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(principals)).scalar_one() == len(SYSTEM_PRINCIPALS)
        conn.execute(principals.update().where(principals.c.id == "sys-ingest").values(active=True))
    loaded = runner.invoke(app, ["ingest", str(tmp_path / "legacy")])
    assert loaded.exit_code == 0, loaded.output
    cycle = runner.invoke(app, ["cycle", "run", "--date", "2026-01-05", "--no-cp2000"])
    assert cycle.exit_code == 0, cycle.output
    assert re.search(r"notice CP501\s+│\s+[1-9]", cycle.output), cycle.output
