"""A failed statement's error never quotes its parameters: they may be a TIN's look-up value or a record's fields."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.store import tables as t

SECRET = "900-01-2345 SHOULD-NOT-APPEAR"


def test_an_integrity_error_hides_the_statements_parameters(db_engine: Engine) -> None:
    row = {"kind": "api", "name": SECRET, "created_at": sa.func.now()}
    with db_engine.begin() as conn:
        conn.execute(t.sources.insert().values(id=-7, **row))
    with db_engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as failed:
        conn.execute(t.sources.insert().values(id=-7, **row))  # the same primary key again
    text = str(failed.value)
    assert "sources" in text  # the statement is still named, for whoever reads the log
    assert SECRET not in text and "2345" not in text
    assert "hidden" in text  # SQLAlchemy says the parameters were left out
