"""Heads kept outside the store (``audit sth --out``) convict a log rewritten and re-signed later."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_audit import event
from sqlalchemy.engine import Engine
from test_audit_tamper import drop_guards
from test_audit_verify_store import cli_env  # noqa: F401 - fixture
from typer.testing import CliRunner

from taxvault.audit import verifier
from taxvault.audit.cli import app
from taxvault.audit.export import export_log, verify_store
from taxvault.audit.log import AuditLog
from taxvault.audit.merkle import EMPTY_ROOT
from taxvault.audit.signing import public_key_pem

runner = CliRunner()


def rewrite_history(engine: Engine, key_path: Path, *, keep: int | None = None) -> None:
    """What an insider with the database and the signing key does: edit event 5 (or keep only
    the first ``keep`` events), rebuild every stored hash from the new events, delete the old
    heads and sign a new one with the same key. The store alone then verifies."""
    with engine.begin() as conn:
        drop_guards(conn)
        rows = [bytes(e) for (e,) in conn.execute(sa.text("SELECT event FROM audit_events ORDER BY leaf_index"))]
        if keep is None:
            rows[5] = rows[5].replace(b"emp-000007", b"emp-000666")
        else:
            rows = rows[:keep]
        for table in ("audit_events", "audit_leaves", "audit_nodes", "audit_sths"):
            conn.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
        conn.execute(
            sa.text("UPDATE audit_tree SET tree_size = 0, frontier = :f, root_hash = :r"), {"f": b"", "r": EMPTY_ROOT}
        )
    with AuditLog(engine, key_path=key_path) as log:
        log.append_bytes(rows)
        log.sign_tree_head()


def test_sth_out_appends_to_a_private_witness_file(tmp_path: Path, db_engine: Engine, cli_env: None) -> None:  # noqa: F811
    with AuditLog(db_engine) as log:
        log.append_many([event(i) for i in range(3)])
    witness = tmp_path / "auditor" / "witness.jsonl"
    first = runner.invoke(app, ["sth", "--out", str(witness)])
    assert first.exit_code == 0, first.output
    with AuditLog(db_engine) as log:
        log.append_many([event(i) for i in range(3, 8)])
    assert runner.invoke(app, ["sth", "--out", str(witness)]).exit_code == 0
    lines = witness.read_text().splitlines()
    assert [json.loads(line)["tree_size"] for line in lines] == [3, 8]
    assert json.loads(lines[0]) == json.loads(first.stdout)
    assert stat.S_IMODE(os.stat(witness).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(witness.parent).st_mode) == 0o700


@pytest.mark.parametrize("keep", [None, 6], ids=["edited", "truncated"])
def test_a_rewritten_log_no_longer_extends_the_witness(
    db_engine: Engine,
    key_path: Path,
    tmp_path: Path,
    cli_env: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    keep: int | None,
) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i) for i in range(10)])
    witness = tmp_path / "witness.jsonl"
    assert runner.invoke(app, ["sth", "--out", str(witness)]).exit_code == 0
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i) for i in range(10, 20)])
    assert runner.invoke(app, ["sth", "--out", str(witness)]).exit_code == 0
    ok = runner.invoke(app, ["verify", "--trusted-sth", str(witness)])
    assert ok.exit_code == 0, ok.output
    assert "the log extends all 2 trusted head(s)" in ok.stdout

    rewrite_history(db_engine, key_path, keep=keep)
    assert runner.invoke(app, ["verify"]).exit_code == 0  # the store alone is self-consistent again
    result = runner.invoke(app, ["verify", "--trusted-sth", str(witness)])
    assert result.exit_code == 1, result.output
    assert "trusted head #0 (tree size 10) is not extended by the log" in result.stderr
    assert "trusted head #0 not extended" in result.stderr
    if keep is None:
        assert "history was rewritten" in result.stderr
    else:
        assert "the log holds only 6 events (it was truncated)" in result.stderr

    # the same from an export, with the standalone verifier
    pem = tmp_path / "key.pem"
    with AuditLog(db_engine, key_path=key_path) as log:
        pem.write_bytes(public_key_pem(log.public_key()))
        export_log(log, tmp_path / "export", sign=False)
    capsys.readouterr()
    assert verifier.main([str(tmp_path / "export"), "--public-key", str(pem)]) == 0
    code = verifier.main([str(tmp_path / "export"), "--public-key", str(pem), "--trusted-sth", str(witness)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "trusted head #0 (tree size 10) is not extended by the log" in out


def test_trusted_head_from_another_key_or_forged_fails(
    db_engine: Engine,
    key_path: Path,
    tmp_path: Path,
    cli_env: None,  # noqa: F811
) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i) for i in range(10)])
        head = log.sign_tree_head().to_json()
    single = tmp_path / "head.json"
    single.write_text(json.dumps(head, indent=2))  # one pretty-printed object is accepted too
    assert runner.invoke(app, ["verify", "--trusted-sth", str(single)]).exit_code == 0
    with AuditLog(db_engine, key_path=tmp_path / "other.pem") as other:
        foreign = other.signer.sign(head["tree_size"], bytes.fromhex(head["root_hash"])).to_json()
    (tmp_path / "foreign.json").write_text(json.dumps(foreign))
    result = runner.invoke(app, ["verify", "--trusted-sth", str(tmp_path / "foreign.json")])
    assert result.exit_code == 1
    assert "signature does not verify with the trusted key" in result.stderr
    forged = dict(head, tree_size=9)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert runner.invoke(app, ["verify", "--trusted-sth", str(tmp_path / "forged.json")]).exit_code == 1
    (tmp_path / "junk.json").write_text("not json\n")
    junk = runner.invoke(app, ["verify", "--trusted-sth", str(tmp_path / "junk.json")])
    assert junk.exit_code == 1
    assert "neither a JSON head nor JSON lines" in junk.stderr


def test_store_consistency_is_recomputed_not_read_from_stored_hashes(db_engine: Engine, key_path: Path) -> None:
    """Rewriting the stored hashes to agree with a trusted head does not help: events are rehashed."""
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i) for i in range(40)])
        trusted = log.sign_tree_head()
    witness = verifier.ExportedSth(
        trusted.tree_size, trusted.timestamp_ms, trusted.root_hash, trusted.signature, trusted.key_id, None
    )
    with db_engine.begin() as conn:
        drop_guards(conn)
        conn.execute(sa.text("UPDATE audit_events SET event = :e WHERE leaf_index = 3"), {"e": event(99).to_bytes()})
    with AuditLog(db_engine, key_path=key_path) as log:
        report = verify_store(log, trusted=[witness])
    assert report.first_bad_trusted == 0
    assert report.first_bad_index == 3
