"""``taxvault --help`` imports no domain: the sub-commands load only when they run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from taxvault.cli import LAZY, app, load

HEAVY = ("splink", "duckdb", "pyarrow", "pyspark", "fastapi", "uvicorn", "sqlalchemy", "numpy", "alembic", "fpdf")

_PROBE = """
import json, sys
from taxvault.cli import main
sys.argv = ["taxvault", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def _loaded_by(*args: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``taxvault ARGS``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, timeout=120
    )
    assert "Usage" in done.stdout, done.stdout + done.stderr
    return list(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_heavy_module() -> None:
    assert _loaded_by("--help") == []


def test_the_probe_sees_a_heavy_import() -> None:
    # The same probe on a command that does load its domain: the check above can fail.
    assert "sqlalchemy" in _loaded_by("match", "--help")


@pytest.mark.parametrize("name", list(LAZY))
def test_a_lazy_commands_listed_help_is_its_own(name: str) -> None:
    command = load(name)
    assert command.name == name
    own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    assert own == LAZY[name][1]


@pytest.mark.parametrize("name", list(LAZY))
def test_every_lazy_command_answers_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_the_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, (_, short) in LAZY.items():
        assert name in result.output and short[:40] in result.output
    for name in ("init", "serve", "db"):
        assert name in result.output


def test_an_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(app, ["nosuch"])
    assert result.exit_code == 2 and "No such command" in result.output
