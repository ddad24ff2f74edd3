"""A store that is down, restarting or full answers 503 (retry later), not 500 (issue 16, faults).

The load test's disk-full fault found a write whose COMMIT failed ("database or disk is full")
answered 500; a PostgreSQL restart makes every new connection fail the same way. Both are
transient: 503 problem+json with Retry-After, never data.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.testclient import TestClient

from taxvault.api.problems import install_problem_handlers


def _app(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/boom")
    def boom() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    "exc",
    [
        sqlalchemy.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full")),
        sqlalchemy.exc.OperationalError("connect", {}, OSError("connection refused")),
        sqlalchemy.exc.InterfaceError("SELECT 1", {}, sqlite3.InterfaceError("connection already closed")),
    ],
)
def test_store_errors_are_503_problems(exc: Exception) -> None:
    response = TestClient(_app(exc), raise_server_exceptions=False).get("/v1/boom")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["status"] == 503 and body["type"] == "urn:taxvault:problem:unavailable"
    assert "disk is full" not in response.text and "SELECT" not in response.text  # no driver text leaks


def test_other_errors_stay_500() -> None:
    response = TestClient(_app(RuntimeError("bug")), raise_server_exceptions=False).get("/v1/boom")
    assert response.status_code == 500
