"""Tampering with the stored log directly (as an administrator with database access could)
is caught by the independent verifier, which names the first index that does not verify."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_audit import event
from sqlalchemy.engine import Connection, Engine

from taxvault.audit.export import export_log, verify_store
from taxvault.audit.frontier import HASH_SIZE, LEAF_BLOCK, MIN_STORED_LEVEL, Frontier
from taxvault.audit.log import AuditLog
from taxvault.audit.signing import public_key_pem
from taxvault.audit.verifier import VerificationReport, verify_export

STH_SIZES = (10, 20, 30, 40)


def build(engine: Engine, key_path: Path) -> bytes:
    """40 events, an STH after every 10; returns the trusted public key (PEM)."""
    with AuditLog(engine, key_path=key_path) as log:
        for start in range(0, 40, 10):
            log.append_many([event(i) for i in range(start, start + 10)])
            log.sign_tree_head()
        return public_key_pem(log.public_key())


def drop_guards(conn: Connection) -> None:
    """What an administrator does first: remove the append-only triggers."""
    for table in ("audit_events", "audit_leaves", "audit_nodes", "audit_sths"):
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            for verb in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def rows_from(conn: Connection, start: int) -> list[tuple[int, bytes]]:
    q = sa.text("SELECT leaf_index, event FROM audit_events WHERE leaf_index >= :s ORDER BY leaf_index")
    return [(int(i), bytes(e)) for i, e in conn.execute(q, {"s": start})]


def put(conn: Connection, rows: list[tuple[int, bytes]]) -> None:
    for index, data in rows:
        conn.execute(sa.text("INSERT INTO audit_events (leaf_index, event) VALUES (:i, :e)"), {"i": index, "e": data})


def delete_from(conn: Connection, start: int) -> None:
    conn.execute(sa.text("DELETE FROM audit_events WHERE leaf_index >= :s"), {"s": start})


def change_field(conn: Connection) -> None:
    (_index, data), *_ = rows_from(conn, 13)
    conn.execute(
        sa.text("UPDATE audit_events SET event = :e WHERE leaf_index = 13"),
        {"e": data.replace(b"emp-000007", b"emp-000666")},
    )


def delete_one_renumbered(conn: Connection) -> None:
    rest = rows_from(conn, 18)
    delete_from(conn, 17)
    put(conn, [(i - 1, e) for i, e in rest])


def delete_one_leaving_gap(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_events WHERE leaf_index = 17"))


def swap_two(conn: Connection) -> None:
    (_, a), (_, b) = rows_from(conn, 5)[0], rows_from(conn, 9)[0]
    for index, data in ((5, b), (9, a)):
        conn.execute(sa.text("UPDATE audit_events SET event = :e WHERE leaf_index = :i"), {"e": data, "i": index})


def insert_one(conn: Connection) -> None:
    rest = rows_from(conn, 22)
    delete_from(conn, 22)
    put(conn, [(22, event(999).to_bytes()), *[(i + 1, e) for i, e in rest]])


def truncate_tail(conn: Connection) -> None:
    delete_from(conn, 33)


def truncate_and_reappend(conn: Connection) -> None:
    """Cut at 33, repair every hash table consistently, then append new events normally."""
    delete_from(conn, 33)
    blocks = conn.execute(sa.text("SELECT hashes FROM audit_leaves ORDER BY block")).scalars()
    blob = b"".join(bytes(b) for b in blocks)
    size, data = conn.execute(sa.text("SELECT tree_size, frontier FROM audit_tree")).one()
    stored = [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]
    leaves = (stored + Frontier.from_bytes(int(size), bytes(data)).tail)[:33]
    conn.execute(sa.text("DELETE FROM audit_leaves WHERE (block + 1) * :w > 33"), {"w": LEAF_BLOCK})
    for level in range(MIN_STORED_LEVEL, 40):
        conn.execute(
            sa.text("DELETE FROM audit_nodes WHERE level = :l AND (idx + 1) * :w > 33"),
            {"l": level, "w": 1 << level},
        )
    frontier = Frontier()
    frontier.extend(leaves)
    conn.execute(
        sa.text("UPDATE audit_tree SET tree_size = :n, frontier = :f, root_hash = :r"),
        {"n": frontier.size, "f": frontier.to_bytes(), "r": frontier.root()},
    )


def replace_sth_signature(conn: Connection) -> None:
    other = conn.execute(sa.text("SELECT signature FROM audit_sths WHERE tree_size = 30")).scalar_one()
    conn.execute(sa.text("UPDATE audit_sths SET signature = :s WHERE tree_size = 20"), {"s": other})


Tamper = Callable[[Connection], None]
CASES: list[tuple[Tamper, int | None, int | None]] = [
    # tamper, first bad index, first bad STH (position in size order)
    (change_field, 13, 1),
    (delete_one_renumbered, 17, 1),
    (delete_one_leaving_gap, 17, 1),
    (swap_two, 5, 0),
    (insert_one, 22, 2),
    (truncate_tail, 33, 3),
    (truncate_and_reappend, 30, 3),
    (replace_sth_signature, None, 1),
]


def tamper_and_verify(engine: Engine, key_path: Path, tmp_path: Path, tamper: Tamper) -> VerificationReport:
    trusted = build(engine, key_path)
    with engine.begin() as conn:
        drop_guards(conn)
        tamper(conn)
    with AuditLog(engine, key_path=key_path) as log:
        if tamper is truncate_and_reappend:
            log.append_many([event(500 + i) for i in range(15)])
        export_log(log, tmp_path / "export", sign=False)
    return verify_export(tmp_path / "export", trusted)


@pytest.mark.parametrize(("tamper", "bad_index", "bad_sth"), CASES, ids=[c[0].__name__ for c in CASES])
def test_verifier_catches_and_names_tampering(
    db_engine: Engine,
    key_path: Path,
    tmp_path: Path,
    tamper: Tamper,
    bad_index: int | None,
    bad_sth: int | None,
) -> None:
    report = tamper_and_verify(db_engine, key_path, tmp_path, tamper)
    assert not report.ok
    assert report.first_bad_index == bad_index, report.problems
    assert report.first_bad_sth == bad_sth, report.problems
    if tamper is truncate_and_reappend:  # hashes rewritten too: located between two signed sizes
        assert any("[30, 40)" in p for p in report.problems)
    if tamper is replace_sth_signature:
        assert any("STH #1 (tree size 20): signature does not verify" in p for p in report.problems)


def test_untampered_log_verifies(db_engine: Engine, key_path: Path, tmp_path: Path) -> None:
    trusted = build(db_engine, key_path)
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append(event(40))
        export_log(log, tmp_path / "export")
        store_report = verify_store(log)
    report = verify_export(tmp_path / "export", trusted, check_events=True)
    assert report.ok, report.problems
    assert (report.events, report.sths, report.verified_size) == (41, 5, 41)
    assert store_report.ok, store_report.problems


def test_store_verification_catches_an_edit(db_engine: Engine, key_path: Path) -> None:
    build(db_engine, key_path)
    with db_engine.begin() as conn:
        drop_guards(conn)
        change_field(conn)
    with AuditLog(db_engine, key_path=key_path) as log:
        report = verify_store(log)
    assert not report.ok
    assert report.first_bad_index == 13


def test_a_different_key_fails_every_sth(db_engine: Engine, key_path: Path, tmp_path: Path) -> None:
    build(db_engine, key_path)
    with AuditLog(db_engine, key_path=key_path) as log:
        export_log(log, tmp_path / "export", sign=False)
    other = AuditLog(db_engine, key_path=tmp_path / "other.pem")
    impostor = public_key_pem(other.signer.public_key)
    other.close()
    report = verify_export(tmp_path / "export", impostor)
    assert not report.ok
    assert report.first_bad_sth == 0
    assert sum("signature does not verify" in p for p in report.problems) == len(STH_SIZES)


@pytest.mark.parametrize(("tamper", "bad_index", "bad_sth"), CASES, ids=[c[0].__name__ for c in CASES])
def test_parallel_verification_agrees_with_one_pass(
    db_engine: Engine,
    key_path: Path,
    tmp_path: Path,
    tamper: Tamper,
    bad_index: int | None,
    bad_sth: int | None,
) -> None:
    """Split across processes at tiny chunk boundaries, the verifier reports exactly the same."""
    one = tamper_and_verify(db_engine, key_path, tmp_path, tamper)
    trusted = public_key_pem(AuditLog(db_engine, key_path=key_path).public_key())
    for workers, level in ((2, 2), (3, 1), (1, 0)):
        split = verify_export(tmp_path / "export", trusted, workers=workers, chunk_level=level)
        assert (split.first_bad_index, split.first_bad_sth) == (bad_index, bad_sth)
        assert (split.problems, split.events, split.verified_size) == (one.problems, one.events, one.verified_size)


def test_parallel_verification_of_many_unaligned_tree_heads(db_engine: Engine, key_path: Path, tmp_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        for size in (1, 2, 7, 8, 9, 31, 64, 65, 100, 127, 200, 257):
            log.append_many([event(i) for i in range(log.tree_head().tree_size, size)])
            log.sign_tree_head()
        log.append_many([event(i) for i in range(257, 300)])
        export_log(log, tmp_path / "export", sign=False)
    for workers, level in ((1, 16), (2, 3), (4, 2), (2, 5)):
        report = verify_export(tmp_path / "export", workers=workers, chunk_level=level, check_events=True)
        assert report.ok, report.problems
        assert (report.events, report.verified_size) == (300, 257)
