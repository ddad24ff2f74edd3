"""A fresh migrated store per test, importable from any test module (``from store_factory import new_store``).

Kept out of ``conftest.py``: ``from conftest import ...`` resolves to whichever directory's
conftest was imported first when several directories are collected in one run.
The templates it clones are the session fixtures ``sqlite_template`` and ``pg_template``
of tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.store import make_engine

PG_ENV = "TAXVAULT_TEST_PG_URL"


def _pg_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(f"{PG_ENV} is not set: run ./dev test (it starts PostgreSQL), or -m 'not postgres'")
    return url


def _with_database(url: str, name: str) -> str:
    return sa.engine.make_url(make_engine(url).url).set(database=name).render_as_string(hide_password=False)


def new_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated store of ``kind`` ('sqlite' or 'postgresql') for one test."""
    if kind == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    template = request.getfixturevalue("pg_template")
    admin_url = _pg_admin_url()
    name = f"tv_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    engine = make_engine(_with_database(admin_url, name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
