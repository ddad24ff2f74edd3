"""Issue 12: every stored hash is recomputed, under and past the last signed head.

A log of 100 events with signed heads at 20, 40 and 64 (events 64..99 arrived just
after the last head, within the signing interval). Each tamper is applied with the
tree-head rows kept and with every ``audit_sths`` row deleted; ``taxvault audit
verify`` (exit 1) and the standalone verifier on an export (exit 1) must fail every
time and name the first bad index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_audit import event
from sqlalchemy.engine import Connection, Engine
from test_audit_tamper import drop_guards
from typer.testing import CliRunner

from taxvault.audit import verifier
from taxvault.audit.cli import app
from taxvault.audit.event import AuditEvent
from taxvault.audit.export import export_log, verify_store
from taxvault.audit.frontier import Frontier, leaf_hashes
from taxvault.audit.log import AuditLog
from taxvault.audit.signing import public_key_pem

runner = CliRunner()
HEADS = (20, 40, 64)
SIZE = 100


def recent(i: int, when: dt.datetime | None = None) -> AuditEvent:
    """Event ``i`` stamped now (or at ``when``), as the server would."""
    return dataclasses.replace(event(i), time=when or dt.datetime.now(dt.UTC))


def build(engine: Engine, key_path: Path) -> bytes:
    """100 events, heads at 20, 40, 64; returns the trusted public key (PEM)."""
    with AuditLog(engine, key_path=key_path) as log:
        done = 0
        for size in HEADS:
            log.append_many([recent(i) for i in range(done, size)])
            log.sign_tree_head()
            done = size
        log.append_many([recent(i) for i in range(done, SIZE)])  # past the head, within the interval
        return public_key_pem(log.public_key())


@pytest.fixture
def cli_env(db_engine: Engine, key_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``taxvault audit`` at this test's store and key."""
    monkeypatch.setenv("TAXVAULT_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TAXVAULT_AUDIT_KEY", str(key_path))
    monkeypatch.delenv("TAXVAULT_AUDIT_STH_SECONDS", raising=False)


# -- tampers -------------------------------------------------------------------------------


def _event(conn: Connection, index: int) -> bytes:
    q = sa.text("SELECT event FROM audit_events WHERE leaf_index = :i")
    return bytes(conn.execute(q, {"i": index}).scalar_one())


def edit_event(index: int) -> Callable[[Connection], None]:
    def tamper(conn: Connection) -> None:
        data = _event(conn, index).replace(b"emp-000007", b"emp-000666")
        conn.execute(sa.text("UPDATE audit_events SET event = :e WHERE leaf_index = :i"), {"e": data, "i": index})

    tamper.__name__ = f"edit_event_{index}"
    return tamper


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def edit_leaf_hash(index: int) -> Callable[[Connection], None]:
    """Change the stored leaf hash of ``index`` (a block row, or the open leaves in audit_tree)."""

    def tamper(conn: Connection) -> None:
        block = index // 16
        row = conn.execute(sa.text("SELECT hashes FROM audit_leaves WHERE block = :b"), {"b": block}).scalar()
        if row is not None:
            data = _flip(bytes(row), 32 * (index % 16))
            conn.execute(sa.text("UPDATE audit_leaves SET hashes = :h WHERE block = :b"), {"h": data, "b": block})
        else:
            frontier = bytes(conn.execute(sa.text("SELECT frontier FROM audit_tree")).scalar_one())
            at = 32 * (bin(SIZE).count("1") + index % 16)
            conn.execute(sa.text("UPDATE audit_tree SET frontier = :f"), {"f": _flip(frontier, at)})

    tamper.__name__ = f"edit_leaf_hash_{index}"
    return tamper


def edit_node(level: int, idx: int) -> Callable[[Connection], None]:
    def tamper(conn: Connection) -> None:
        q = sa.text("SELECT hash FROM audit_nodes WHERE level = :l AND idx = :i")
        data = _flip(bytes(conn.execute(q, {"l": level, "i": idx}).scalar_one()), 0)
        conn.execute(
            sa.text("UPDATE audit_nodes SET hash = :h WHERE level = :l AND idx = :i"), {"h": data, "l": level, "i": idx}
        )

    tamper.__name__ = f"edit_node_{level}_{idx}"
    return tamper


def edit_frontier(position: int) -> Callable[[Connection], None]:
    """Change subtree hash ``position`` of the stored frontier (100 = [0,64) + [64,96) + [96,100))."""

    def tamper(conn: Connection) -> None:
        frontier = bytes(conn.execute(sa.text("SELECT frontier FROM audit_tree")).scalar_one())
        conn.execute(sa.text("UPDATE audit_tree SET frontier = :f"), {"f": _flip(frontier, 32 * position)})

    tamper.__name__ = f"edit_frontier_{position}"
    return tamper


def delete_from(start: int) -> Callable[[Connection], None]:
    def tamper(conn: Connection) -> None:
        conn.execute(sa.text("DELETE FROM audit_events WHERE leaf_index >= :s"), {"s": start})

    tamper.__name__ = f"delete_events_from_{start}"
    return tamper


def truncate_events(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_events"))


def shrink_tree(conn: Connection) -> None:
    """audit_tree rewritten, consistently with itself, to a tree of 90 (hiding the last 10 events)."""
    rows = conn.execute(sa.text("SELECT event FROM audit_events WHERE leaf_index < 90 ORDER BY leaf_index"))
    frontier = Frontier()
    frontier.extend(leaf_hashes([bytes(e) for (e,) in rows]))
    conn.execute(
        sa.text("UPDATE audit_tree SET tree_size = :n, frontier = :f, root_hash = :r"),
        {"n": frontier.size, "f": frontier.to_bytes(), "r": frontier.root()},
    )


def edit_root(conn: Connection) -> None:
    root = bytes(conn.execute(sa.text("SELECT root_hash FROM audit_tree")).scalar_one())
    conn.execute(sa.text("UPDATE audit_tree SET root_hash = :r"), {"r": _flip(root, 0)})


def delete_heads(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_sths"))


Tamper = Callable[[Connection], None]
CASES: list[tuple[Tamper, int | None]] = [
    # under the last signed head (64)
    (edit_event(13), 13),
    (edit_leaf_hash(13), 13),
    (edit_node(5, 1), 32),
    (edit_node(6, 0), 0),
    (edit_frontier(0), 0),
    (delete_from(50), 50),
    (truncate_events, 0),
    # past the last signed head
    (edit_event(70), 70),
    (edit_event(98), 98),
    (edit_leaf_hash(70), 70),
    (edit_leaf_hash(98), 98),
    (edit_node(5, 2), 64),
    (edit_frontier(1), 64),
    (delete_from(90), 90),
    (shrink_tree, 90),
    (edit_root, None),  # the root alone: no leaf is wrong, the tree table is
]
IDS = [c[0].__name__ for c in CASES]


def apply(engine: Engine, tamper: Tamper, *, heads: bool) -> None:
    with engine.begin() as conn:
        drop_guards(conn)
        tamper(conn)
        if not heads:
            delete_heads(conn)


def check_message(output: str, bad_index: int | None) -> None:
    if bad_index is None:
        assert "the tree table's root does not match the events [0, 100)" in output, output
    else:
        assert f"first index that does not verify: {bad_index};" in output or output.startswith(
            f"FAILED: first index that does not verify: {bad_index} "
        ), output


@pytest.mark.parametrize("heads", [True, False], ids=["with-heads", "heads-deleted"])
@pytest.mark.parametrize(("tamper", "bad_index"), CASES, ids=IDS)
def test_cli_verify_fails_and_names_the_index(
    db_engine: Engine, key_path: Path, cli_env: None, tamper: Tamper, bad_index: int | None, heads: bool
) -> None:
    build(db_engine, key_path)
    assert runner.invoke(app, ["verify"]).exit_code == 0
    apply(db_engine, tamper, heads=heads)
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1, result.output
    check_message(result.stderr, bad_index)
    if not heads and tamper is not truncate_events:  # events left, and no head covers them
        assert "unsigned tail of" in result.stderr


@pytest.mark.parametrize("heads", [True, False], ids=["with-heads", "heads-deleted"])
@pytest.mark.parametrize(("tamper", "bad_index"), CASES, ids=IDS)
def test_standalone_verifier_fails_on_the_export(
    db_engine: Engine,
    key_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: Tamper,
    bad_index: int | None,
    heads: bool,
) -> None:
    pem_path = tmp_path / "trusted.pem"
    pem_path.write_bytes(build(db_engine, key_path))
    apply(db_engine, tamper, heads=heads)
    with AuditLog(db_engine, key_path=key_path) as log:
        export_log(log, tmp_path / "export", sign=False)
    capsys.readouterr()
    code = verifier.main([str(tmp_path / "export"), "--public-key", str(pem_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    check_message(out, bad_index)
    for workers, level in ((2, 3), (1, 2)):  # split at tiny chunks: the same verdict
        split = verifier.verify_export(tmp_path / "export", pem_path.read_bytes(), workers=workers, chunk_level=level)
        assert not split.ok
        assert split.first_bad_index == bad_index, split.problems


def test_untampered_log_verifies_everywhere(db_engine: Engine, key_path: Path, tmp_path: Path) -> None:
    pem = build(db_engine, key_path)
    with AuditLog(db_engine, key_path=key_path) as log:
        report = verify_store(log, sth_interval=1.0)
        assert report.ok, report.problems
        assert (report.events, report.sths, report.verified_size) == (SIZE, 3, 64)
        export_log(log, tmp_path / "export", sign=False)
    for workers, level in ((1, 16), (2, 3), (3, 1)):
        report = verifier.verify_export(tmp_path / "export", pem, workers=workers, chunk_level=level)
        assert report.ok, report.problems


def test_standalone_verifier_as_a_separate_process(db_engine: Engine, key_path: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "trusted.pem").write_bytes(build(db_engine, key_path))
    apply(db_engine, edit_leaf_hash(70), heads=True)
    with AuditLog(db_engine, key_path=key_path) as log:
        export_log(log, tmp_path / "export", sign=False)
    pem = str(tmp_path / "trusted.pem")
    run = subprocess.run(
        [sys.executable, "-I", verifier.__file__, str(tmp_path / "export"), "--public-key", pem],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.startswith("FAILED: first index that does not verify: 70")


# -- the unsigned tail ------------------------------------------------------------------------


def test_unsigned_tail_fails_verify(db_engine: Engine, key_path: Path, cli_env: None, tmp_path: Path) -> None:
    """Events that arrived well after the newest head, with no head since: the signer was not running."""
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([recent(i) for i in range(10)])
        head = log.sign_tree_head()
        later = dt.datetime.fromtimestamp(head.timestamp_ms / 1000, dt.UTC) + dt.timedelta(seconds=5)
        log.append_many([recent(i, later) for i in range(10, 17)])
        report = verify_store(log, sth_interval=1.0)
        assert not report.ok
        assert report.unsigned_tail == 7
        assert any(p.startswith("unsigned tail of 7 events: events [10, 17)") for p in report.problems)
        assert verify_store(log, sth_interval=10.0).ok  # within a longer interval it is fine
        export_log(log, tmp_path / "export", sign=False)
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "unsigned tail of 7 events" in result.stderr
    assert runner.invoke(app, ["verify", "--sth-interval", "10"]).exit_code == 0
    assert verifier.main([str(tmp_path / "export")]) == 1
    assert verifier.main([str(tmp_path / "export"), "--sth-interval", "10"]) == 0
    assert runner.invoke(app, ["sth"]).exit_code == 0  # a head now covers them
    assert runner.invoke(app, ["verify"]).exit_code == 0


def test_events_but_no_key_and_no_head_is_an_unsigned_tail(db_engine: Engine, key_path: Path, cli_env: None) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([recent(i) for i in range(5)])
    assert not key_path.exists()
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "unsigned tail of 5 events" in result.stderr
    assert not key_path.exists()  # verify never creates a key


def test_empty_store_verifies(db_engine: Engine, key_path: Path, cli_env: None) -> None:
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: the log is empty")
    assert not key_path.exists()
