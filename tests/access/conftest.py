"""Fixtures for access tests: the hand-made world over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from access_world import World, make_world
from sqlalchemy.engine import Engine


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    yield w
    w.client.close()
    w.audit.close()
