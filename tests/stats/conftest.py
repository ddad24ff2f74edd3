"""Fixtures for the stats tests: a small synthetic population over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.local import local_door
from taxvault.synth.load import synthesize


@pytest.fixture
def population(db_engine: Engine) -> Engine:
    synthesize(db_engine, 1500, 5)
    return db_engine


@pytest.fixture
def door(population: Engine) -> Iterator[Door]:
    with local_door(population) as d:
        yield d
