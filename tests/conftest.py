"""Shared fixtures: a migrated store on SQLite and on a real PostgreSQL server.

``db_engine`` is parametrized ``sqlite`` / ``postgresql``. The PostgreSQL case is
marked ``postgres`` and needs ``TAXVAULT_TEST_PG_URL`` (an admin URL; ``./dev test``
starts a throwaway server and sets it). Without it those tests fail rather than
skip: the full suite must not pass silently without PostgreSQL. The quick suite
deselects them with ``-m "not postgres"``.

Each test gets its own empty database, cloned from a template migrated once per
session (PostgreSQL ``CREATE DATABASE ... TEMPLATE``; a file copy on SQLite).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

# store_factory is checked with the test files (scripts/mypy_tests.py pass 1); pass 2 cannot resolve it.
from store_factory import PG_ENV, _pg_admin_url, _with_database, new_store  # type: ignore[import-not-found,unused-ignore]
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade

__all__ = ["PG_ENV", "new_store"]


@pytest.fixture(autouse=True)
def _isolated_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test has its own ./var (keys, embedded store), never the developer's."""
    monkeypatch.setenv("TAXVAULT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TAXVAULT_DATABASE_URL", raising=False)
    monkeypatch.delenv("TAXVAULT_KEYS_DIR", raising=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    admin_url = _pg_admin_url()
    name = f"tv_template_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(_with_database(admin_url, name))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store: SQLite in tmp_path, or a fresh PostgreSQL database."""
    yield from new_store(request.param, request, tmp_path)
