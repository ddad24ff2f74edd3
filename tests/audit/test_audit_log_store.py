"""The stored log on SQLite and PostgreSQL: appends, group commit, proofs, STHs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_audit import event
from sqlalchemy.engine import Engine
from test_audit_merkle import mth, path, subproof

from taxvault.audit import merkle
from taxvault.audit.errors import AuditAppendError, AuditKeyError, AuditProofError
from taxvault.audit.export import verify_store
from taxvault.audit.log import AuditLog
from taxvault.audit.periodic import PeriodicSigner
from taxvault.audit.signing import TreeHeadSigner, load_or_create_key


def test_every_size_1_to_64_roots_and_proofs_match_naive(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        leaves: list[bytes] = []
        for i in range(64):
            assert log.append(event(i)) == i
            leaves.append(event(i).to_bytes())
            assert log.tree_head().root_hash == mth(leaves)
        for n in range(1, 65):
            d = leaves[:n]
            for i in range(n):
                proof = log.inclusion_proof(i, n)
                assert proof.path == path(i, d), (i, n)
                assert proof.root_hash == mth(d)
                assert merkle.verify_inclusion(d[i], i, n, proof.path, proof.root_hash)
            for m in range(1, n):
                cons = log.consistency_proof(m, n)
                assert cons.path == subproof(m, d, True), (m, n)
                assert (cons.old_root, cons.new_root) == (mth(leaves[:m]), mth(d))


def test_batch_and_concurrent_appends_get_unique_contiguous_indexes(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        assert log.append_many([event(i) for i in range(100)]) == range(0, 100)
        got: dict[int, int] = {}
        lock = threading.Lock()

        def worker(k: int) -> None:
            for j in range(10):
                n = 100 + k * 10 + j
                index = log.append(event(n))
                with lock:
                    got[index] = n

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(100, 340))
        for index, n in got.items():
            assert log.event(index) == event(n)
        assert log._writer.batches < 240  # appends arriving together shared commits
        assert log.tree_head().tree_size == 340


def test_appends_from_two_processes_never_collide(db_engine: Engine, key_path: Path) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    script = (
        "import sys; sys.path.insert(0, sys.argv[3]);"
        "from helpers_audit import event; from taxvault.audit.log import AuditLog;"
        "from taxvault.store import make_engine;"
        "log = AuditLog(make_engine(sys.argv[1])); base = int(sys.argv[2]);"
        "[log.append(event(base + i)) for i in range(40)];"
        "log.append_many([event(base + 40 + i) for i in range(40)]); log.close()"
    )
    here = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", script, url, str(base), here]) for base in (0, 1000, 2000)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with AuditLog(db_engine, key_path=key_path) as log:
        assert log.tree_head().tree_size == 240
        seen = {log.event(i).request_id for i in range(240)}
        assert len(seen) == 240
        log.sign_tree_head()
        assert verify_store(log).ok


def test_signed_tree_heads(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        empty = log.sign_tree_head()
        assert (empty.tree_size, empty.root_hash) == (0, merkle.EMPTY_ROOT)
        log.append_many([event(i) for i in range(5)])
        sth = log.sign_tree_head()
        assert sth.tree_size == 5
        assert sth.root_hash == merkle.root_hash([event(i).to_bytes() for i in range(5)])
        assert sth.verify(log.public_key())
        assert log.latest_sth() == sth
        assert [s.tree_size for s in log.signed_tree_heads()] == [0, 5]
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


def test_key_location_is_configurable_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere" / "k.pem"
    monkeypatch.setenv("TAXVAULT_AUDIT_KEY", str(target))
    signer = TreeHeadSigner.from_path()
    assert target.exists()
    assert TreeHeadSigner.from_path().key_id == signer.key_id
    target.chmod(0o644)
    with pytest.raises(AuditKeyError, match="readable by others"):
        load_or_create_key()
    with pytest.raises(AuditKeyError, match="no audit signing key"):
        load_or_create_key(tmp_path / "missing.pem", create=False)


def test_periodic_signer_issues_after_appends(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        signer = PeriodicSigner(log, every_seconds=3600, every_appends=10)
        log.append_many([event(i) for i in range(5)])
        assert signer.tick() is None  # neither enough appends nor enough time
        log.append_many([event(i) for i in range(5, 12)])
        sth = signer.tick()
        assert sth is not None
        assert sth.tree_size == 12
        log.append(event(12))
        signer.start()
        signer.stop()  # a final STH covers the tail
        assert log.latest_sth() is not None
        assert log.latest_sth().tree_size == 13  # type: ignore[union-attr]


def test_proof_arguments_out_of_range(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i) for i in range(3)])
        with pytest.raises(AuditProofError):
            log.inclusion_proof(3)
        with pytest.raises(AuditProofError):
            log.inclusion_proof(0, 4)
        with pytest.raises(AuditProofError):
            log.consistency_proof(4)
        with pytest.raises(AuditProofError):
            log.event(99)


def test_failed_append_raises_and_records_nothing(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append(event(0))
        with db_engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_events RENAME TO audit_events_gone"))
        with pytest.raises(AuditAppendError):
            log.append(event(1))
        with pytest.raises(AuditAppendError):
            log.append_many([event(2)])
        with db_engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_events_gone RENAME TO audit_events"))
        assert log.tree_head().tree_size == 1
        assert log.append(event(1)) == 1
    with pytest.raises(AuditAppendError, match="closed"):
        log.append(event(3))


def test_log_rows_refuse_update_and_delete(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append(event(0))
        log.append_many([event(i) for i in range(1, 40)])  # closes leaf blocks and a stored node
    for sql in (
        "UPDATE audit_events SET event = event",
        "UPDATE audit_leaves SET hashes = hashes",
        "DELETE FROM audit_leaves",
        "DELETE FROM audit_nodes",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db_engine.begin() as conn:
            conn.execute(sa.text(sql))
