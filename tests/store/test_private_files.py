"""Files at rest are owner-only: 0600 files in 0700 folders, whatever the umask.

Run through the real CLI (a subprocess with the usual umask 022): ``init`` (store,
WAL, keys), ``synth --legacy`` (files with clear TINs), ``audit export``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from taxvault.files import ensure_private_file, open_private, private_dir, write_private_bytes
from taxvault.store import make_engine

TAXVAULT = [sys.executable, "-c", "from taxvault.cli import main; main()"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([*TAXVAULT, *args], env=env, capture_output=True, text=True, timeout=600, umask=0o022)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])


def _assert_private_tree(root: Path) -> list[Path]:
    seen = [root]
    assert _mode(root) == 0o700, root
    for path in root.rglob("*"):
        seen.append(path)
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, (path, oct(_mode(path)))
    return seen


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "TAXVAULT_VAR_DIR": str(tmp_path / "var")}
    for name in ("TAXVAULT_DATABASE_URL", "TAXVAULT_KEYS_DIR", "TAXVAULT_AUDIT_KEY"):
        env.pop(name, None)
    return env


def test_init_synth_legacy_and_export_write_owner_only(tmp_path: Path, cli_env: dict[str, str]) -> None:
    var = tmp_path / "var"
    _run(cli_env, "init", "--synthetic")
    _run(cli_env, "synth", "--taxpayers", "40", "--legacy", str(tmp_path / "out" / "legacy"))
    _run(cli_env, "audit", "export", str(tmp_path / "out" / "export"))
    files = {p.name for p in _assert_private_tree(var)}
    assert "taxvault.db" in files and "keys" in files
    legacy = _assert_private_tree(tmp_path / "out" / "legacy")
    assert any(p.suffix == ".ebc" for p in legacy) and any(p.name == "w2.efw2" for p in legacy)
    assert _mode(tmp_path / "out") == 0o700  # a missing parent is created private too
    export = _assert_private_tree(tmp_path / "out" / "export")
    assert any(p.name == "events.tsv" for p in export)


def test_sqlite_store_and_journal_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "store" / "deep" / "t.db"
        engine = make_engine(f"sqlite:///{db}")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            assert wal.exists() and shm.exists()
            assert _mode(wal) == 0o600 and _mode(shm) == 0o600
        assert _mode(db) == 0o600
        assert _mode(db.parent) == 0o700 and _mode(db.parent.parent) == 0o700
        engine.dispose()
        # an existing world-readable store file is tightened when the store is opened
        os.chmod(db, 0o644)
        make_engine(f"sqlite:///{db}").dispose()
        assert _mode(db) == 0o600
    finally:
        os.umask(old)


def test_helpers_ignore_the_umask_and_tighten_existing_files(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        folder = private_dir(tmp_path / "a" / "b")
        assert _mode(folder) == 0o700 and _mode(folder.parent) == 0o700
        loose = tmp_path / "loose"
        loose.write_bytes(b"x")
        os.chmod(loose, 0o666)  # noqa: S103 - a loose file to tighten
        write_private_bytes(loose, b"secret")
        assert _mode(loose) == 0o600 and loose.read_bytes() == b"secret"
        with open_private(tmp_path / "log.txt", "a") as fh:
            fh.write("one\n")
        with open_private(tmp_path / "log.txt", "a") as fh:
            fh.write("two\n")
        assert (tmp_path / "log.txt").read_text() == "one\ntwo\n" and _mode(tmp_path / "log.txt") == 0o600
        ensure_private_file(tmp_path / "empty")
        assert _mode(tmp_path / "empty") == 0o600
        existing = tmp_path / "shared"
        existing.mkdir(mode=0o755)
        os.chmod(existing, 0o755)  # noqa: S103 - a folder the user named
        private_dir(existing)  # a folder someone named keeps its mode...
        assert _mode(existing) == 0o755
        private_dir(existing, tighten=True)  # ...unless it is one of ours
        assert _mode(existing) == 0o700
        with pytest.raises(ValueError, match="mode"):
            open_private(tmp_path / "x", "rb")
    finally:
        os.umask(old)
