"""The API skeleton: health tells whether the store is reachable and current; OpenAPI 3.1."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from taxvault.api.app import create_app
from taxvault.store import make_engine


def test_health_on_a_current_store(db_engine: Engine) -> None:
    client = TestClient(create_app(db_engine))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["schema_current"] is True


def test_health_on_an_uninitialised_store(tmp_path: Path) -> None:
    client = TestClient(create_app(make_engine(f"sqlite:///{tmp_path / 'empty.db'}")))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"


def test_openapi_describes_the_api(db_engine: Engine) -> None:
    spec = TestClient(create_app(db_engine)).get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/health" in spec["paths"]
