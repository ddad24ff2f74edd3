"""The command line as a new user meets it: help everywhere, one-line errors, counts after synth."""

from __future__ import annotations

import re

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
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["init"]).exit_code == 0  # idempotent
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
