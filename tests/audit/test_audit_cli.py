"""``taxvault audit`` commands, and the verifier's independence from the rest of taxvault."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_audit import event
from typer.testing import CliRunner

from taxvault.audit import verifier
from taxvault.audit.cli import app
from taxvault.audit.log import AuditLog
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade

runner = CliRunner()


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded store with 20 events under a temporary var dir."""
    monkeypatch.setenv("TAXVAULT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("TAXVAULT_DATABASE_URL", raising=False)
    monkeypatch.delenv("TAXVAULT_AUDIT_KEY", raising=False)
    engine = make_engine()
    upgrade(engine)
    with AuditLog(engine) as log:
        log.append_many([event(i) for i in range(20)])
    engine.dispose()
    return tmp_path


def test_sth_prove_consistency(var_dir: Path) -> None:
    result = runner.invoke(app, ["sth"])
    assert result.exit_code == 0, result.output
    sth = json.loads(result.stdout)
    assert sth["tree_size"] == 20
    assert (var_dir / "keys" / "audit-ed25519.pem").exists()
    assert json.loads(runner.invoke(app, ["sth", "--latest"]).stdout) == sth

    proof = json.loads(runner.invoke(app, ["prove", "--index", "7", "--size", "12"]).stdout)
    assert (proof["leaf_index"], proof["tree_size"], proof["verifies"]) == (7, 12, True)
    assert proof["event"]["request_id"] == "req-00000007"

    cons = json.loads(runner.invoke(app, ["consistency", "--from", "5", "--to", "20"]).stdout)
    assert cons["verifies"] is True
    assert cons["new_root"] == sth["root_hash"]


def test_errors_are_one_line(var_dir: Path) -> None:
    result = runner.invoke(app, ["prove", "--index", "99"])
    assert result.exit_code == 1
    assert "leaf index 99 is not in a tree of size 20" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    result = runner.invoke(app, ["consistency", "--from", "30"])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_store_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("TAXVAULT_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["sth"])
    assert result.exit_code == 1
    assert "taxvault init" in result.stderr


def test_export_and_verify(var_dir: Path) -> None:
    export = var_dir / "export"
    result = runner.invoke(app, ["export", str(export)])
    assert result.exit_code == 0, result.output
    assert "exported 20 events" in result.stdout
    pem = var_dir / "trusted.pem"
    pem.write_bytes((export / "public_key.pem").read_bytes())
    result = runner.invoke(app, ["verify", str(export), "--public-key", str(pem), "--check-events"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 20 events")
    assert runner.invoke(app, ["verify"]).exit_code == 0
    assert runner.invoke(app, ["export", str(export)]).exit_code == 1  # not empty

    # the standalone file, as an auditor would run it
    standalone = subprocess.run(
        [sys.executable, verifier.__file__, str(export), "--public-key", str(pem)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert standalone.returncode == 0, standalone.stderr
    assert standalone.stdout.startswith("OK")


def test_verify_names_the_tampered_index(var_dir: Path) -> None:
    assert runner.invoke(app, ["sth"]).exit_code == 0
    engine = make_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        conn.execute(sa.text("UPDATE audit_events SET event = :e WHERE leaf_index = 11"), {"e": event(12).to_bytes()})
    engine.dispose()
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "first index that does not verify: 11" in result.stderr


def test_verifier_depends_only_on_stdlib_and_cryptography() -> None:
    tree = ast.parse(Path(verifier.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) <= {"cryptography"}, roots
