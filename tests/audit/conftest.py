"""Store fixtures for the audit tests: the same test runs on SQLite and on PostgreSQL.

``db_engine`` is parametrized ``sqlite`` / ``postgresql``; the PostgreSQL case is
marked ``postgres`` and needs ``TAXVAULT_TEST_PG_URL`` (an admin URL): each test
gets a freshly created, uniquely named database, dropped afterwards.
(Local stand-in until tests/conftest.py provides a shared ``db_engine``.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from taxvault.store import make_engine
from taxvault.store.migrate import alembic_config, upgrade

PG_ENV = "TAXVAULT_TEST_PG_URL"


def install_schema(engine: Engine) -> None:
    """``upgrade heads``; if another branch cannot migrate on this store, the audit branch alone."""
    try:
        upgrade(engine)
    except sa.exc.DBAPIError:
        cfg = alembic_config(engine)
        command.stamp(cfg, "0001")
        command.upgrade(cfg, "audit@head")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store: SQLite in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        install_schema(engine)
        yield engine
        engine.dispose()
        return
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"taxvault_audit_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(
        sa.engine.make_url(make_engine(admin_url).url).set(database=name).render_as_string(False)
    )
    try:
        install_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    """Where this test's signing key lives."""
    return tmp_path / "keys" / "audit-ed25519.pem"
