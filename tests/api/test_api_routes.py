"""Routes: versioned paths with opaque ids only, consistent pagination and filtering."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from access_world import World, entity_ref, make_world
from sqlalchemy.engine import Engine


@pytest.fixture
def api_world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    yield w
    w.client.close()
    w.audit.close()


def test_openapi_is_versioned_and_tin_free(api_world: World) -> None:
    spec = api_world.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    data_paths = [p for p in spec["paths"] if p not in ("/health",)]
    assert data_paths and all(p.startswith("/v1/") for p in data_paths)
    assert not any("tin" in p.lower() for p in spec["paths"])
    lookup = spec["paths"]["/v1/taxpayers/lookup"]
    assert "post" in lookup and "get" not in lookup


@pytest.mark.parametrize(
    ("path", "purpose", "who", "filters"),
    [
        ("/v1/taxpayers/{e}/modules", "collection", "cw-alice", {"mft": 30}),
        ("/v1/taxpayers/{e}/returns", "collection", "cw-alice", {"tax_year": 2024}),
        ("/v1/taxpayers/{e}/information-returns", "examination", "cw-bob", {"tax_year": 2024, "form": "W-2"}),
        ("/v1/me/cases", "collection", "cw-alice", {"status": "open"}),
        ("/v1/audit/events", "oversight_review", "ovs-privacy", {}),
    ],
)
def test_list_routes_paginate_and_filter_alike(
    api_world: World, path: str, purpose: str, who: str, filters: dict[str, object]
) -> None:
    url = path.format(e=entity_ref("tp"))
    h = api_world.headers(who, purpose)
    api_world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=api_world.headers("cw-alice", "collection"))
    api_world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=api_world.headers("cw-alice", "collection"))
    page = api_world.client.get(url, params={"limit": 1, **filters}, headers=h)
    assert page.status_code == 200, page.text
    body = page.json()
    assert set(body) >= {"items", "limit", "offset", "next_offset", "masked", "withheld"}
    assert body["limit"] == 1 and body["offset"] == 0 and len(body["items"]) <= 1
    if body["next_offset"] is not None:
        nxt = api_world.client.get(url, params={"limit": 1, "offset": body["next_offset"], **filters}, headers=h)
        assert nxt.status_code == 200 and nxt.json()["offset"] == 1
        assert nxt.json()["items"] != body["items"]
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert api_world.client.get(url, params=bad, headers=h).status_code == 422
