"""Ingest runs on a store as ``taxvault init`` leaves it: migrated, with the jobs' system principals."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from taxvault.access.system_principals import ensure_system_principals


@pytest.fixture
def db_engine(db_engine: Engine) -> Engine:
    """The shared migrated store (SQLite and PostgreSQL) plus what ``init`` adds: ``sys-ingest`` and the others."""
    with db_engine.begin() as conn:
        ensure_system_principals(conn)
    return db_engine
