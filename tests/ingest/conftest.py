"""Ingest runs on a store as ``taxvault init`` leaves it (migrated, with the jobs' system principals);
the module-scoped stores share the TIN keys too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from taxvault.access.system_principals import ensure_system_principals


@pytest.fixture
def db_engine(db_engine: Engine) -> Engine:
    """The shared migrated store (SQLite and PostgreSQL) plus what ``init`` adds: ``sys-ingest`` and the others."""
    with db_engine.begin() as conn:
        ensure_system_principals(conn)
    return db_engine


# The ingest tests share module-scoped stores across tests, so they share the TIN keys too:
# a store's TINs are hashed and encrypted under keys in the keys dir (store/tins.py), and
# the keys follow the store, as in production. The root conftest gives every test its own
# var dir; here one keys dir serves the module's stores and every test in it.
@pytest.fixture(scope="module", autouse=True)
def module_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAXVAULT_KEYS_DIR", str(path))
        yield path


@pytest.fixture(autouse=True)
def _keys_follow_the_stores(module_keys_dir: Path, _isolated_var_dir: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_KEYS_DIR", str(module_keys_dir))
