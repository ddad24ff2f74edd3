"""Bad input at the edge: body limits (413 before auth), 405 for shadowed paths,
no-store caching on /v1, and a redactor that hides TIN shapes but not opaque ids."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from access_world import World, entity_ref, make_world, module_ref
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from taxvault.api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimits
from taxvault.api.middleware import JsonFormatter, RequestContextMiddleware, redact


@pytest.fixture
def api_world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    yield w
    w.client.close()
    w.audit.close()


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b" " * size
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield block[:n]


# --- body limits -----------------------------------------------------------------


def _echo_app(limits: BodyLimits) -> tuple[FastAPI, list[int]]:
    """A bare app behind the middleware; ``reads`` records how many bytes the route got."""
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, body_limits=limits)
    reads: list[int] = []

    @app.post("/v1/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"n": len(body)}

    @app.post("/v1/imports/files")
    async def upload(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"n": len(body)}

    return app, reads


def test_declared_length_over_limit_is_refused_unread() -> None:
    app, reads = _echo_app(BodyLimits(1000))
    with TestClient(app) as client:
        r = client.post("/v1/echo", content=b"x" * 1001, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 413 and body["request_id"] == r.headers["x-request-id"]
        assert reads == []  # the route never ran
        ok = client.post("/v1/echo", content=b"x" * 1000)
        assert ok.status_code == 200 and ok.json() == {"n": 1000}


def test_chunked_body_is_counted_as_it_streams() -> None:
    app, reads = _echo_app(BodyLimits(100_000))
    with TestClient(app) as client:
        r = client.post("/v1/echo", content=_chunks(300_000, 10_000))
        assert r.status_code == 413 and r.json()["title"] == "Content too large"
        assert reads == []
        ok = client.post("/v1/echo", content=_chunks(100_000, 10_000))
        assert ok.status_code == 200 and ok.json() == {"n": 100_000}


def test_declared_routes_may_take_more() -> None:
    app, _ = _echo_app(BodyLimits(1000, (("/v1/imports/", 50_000),)))
    with TestClient(app) as client:
        assert client.post("/v1/imports/files", content=b"x" * 40_000).status_code == 200
        assert client.post("/v1/imports/files", content=_chunks(40_000, 4_000)).status_code == 200
        assert client.post("/v1/imports/files", content=b"x" * 50_001).status_code == 413
        assert client.post("/v1/echo", content=b"x" * 1001).status_code == 413


def test_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert BodyLimits.from_env().limit_for("/v1/anything") == DEFAULT_MAX_BODY_BYTES == 64 * 1024
    monkeypatch.setenv("TAXVAULT_MAX_BODY_BYTES", "2048")
    assert BodyLimits.from_env().limit_for("/v1/anything") == 2048
    monkeypatch.setenv("TAXVAULT_MAX_BODY_BYTES", "lots")
    with pytest.raises(ValueError, match="TAXVAULT_MAX_BODY_BYTES"):
        BodyLimits.from_env()


def test_oversized_body_is_413_before_authentication(api_world: World) -> None:
    """Unauthenticated: 413, not 401 - the body is refused before anyone looks at the token."""
    client = api_world.client
    big = b'{"tin": "' + b"9" * (DEFAULT_MAX_BODY_BYTES + 10) + b'"}'
    for content in (big, _chunks(DEFAULT_MAX_BODY_BYTES * 4)):
        r = client.post("/v1/taxpayers/lookup", content=content, headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    small = client.post("/v1/taxpayers/lookup", json={"tin": "900010005"})
    assert small.status_code == 401  # under the limit, authentication answers as before


# --- 405 for fixed paths a parameterised route would shadow ----------------------------


def test_get_lookup_is_405_with_allow(api_world: World) -> None:
    h = api_world.headers("cw-alice", "collection")
    for method in ("GET", "HEAD"):
        r = api_world.client.request(method, "/v1/taxpayers/lookup", headers=h)
        assert r.status_code == 405, (method, r.text)
        assert r.headers["allow"] == "POST"
    r = api_world.client.get("/v1/taxpayers/lookup", headers=h)
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["status"] == 405
    put = api_world.client.put("/v1/taxpayers/lookup", headers=h)
    assert put.status_code == 405 and "POST" in put.headers["allow"]
    # the parameterised route still answers for real ids, and POST still looks up
    assert api_world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=h).status_code == 200
    found = api_world.client.post("/v1/taxpayers/lookup", json={"tin": "900010005"}, headers=h)
    assert found.status_code == 200, found.text
    spec = api_world.client.get("/openapi.json").json()
    assert "get" not in spec["paths"]["/v1/taxpayers/lookup"]


# --- no-store --------------------------------------------------------------------------


def test_every_v1_response_is_no_store(api_world: World) -> None:
    h = api_world.headers("cw-alice", "collection")
    responses = [
        api_world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=h),  # 200 with taxpayer data
        api_world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=h),  # 200
        api_world.client.get(f"/v1/taxpayers/{entity_ref('alice_spouse')}", headers=h),  # 403
        api_world.client.get(f"/v1/taxpayers/{entity_ref('tp')}"),  # 401
        api_world.client.get("/v1/taxpayers/e0000", headers=h),  # 422
        api_world.client.get("/v1/taxpayers/lookup", headers=h),  # 405
        api_world.client.get("/v1/no-such-route", headers=h),  # 404
        api_world.client.post("/v1/taxpayers/lookup", content=b"x" * (DEFAULT_MAX_BODY_BYTES + 1)),  # 413
    ]
    assert {r.status_code for r in responses} == {200, 403, 401, 422, 405, 404, 413}
    for r in responses:
        assert r.headers.get("cache-control") == "no-store", (r.request.url, r.status_code)
        assert r.headers.get("pragma") == "no-cache"
    assert "cache-control" not in api_world.client.get("/health").headers


# --- redaction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["919.35.7594", "919 35 7594", "91-9357594", "919-35-7594", "919357594", "91.9357594", "91 9357594"],
)
def test_redact_hides_tin_shapes(text: str) -> None:
    for wrapped in (text, f"/v1/taxpayers/{text}", f"tin={text};", f"({text})", f"x_{text}"):
        out = redact(wrapped)
        assert "[redacted]" in out and "7594" not in out and "9357594" not in out, out


@pytest.mark.parametrize(
    "text",
    [
        "ee9003512344f1a9c0d2",  # an opaque id with nine digits inside
        "e00000000000000000005",
        "m9193575941",
        "/v1/taxpayers/e919357594a",
        "1919357594",  # ten digits: not a TIN shape
        "2025-04-15T10:00:00",
        "dln 29211105000005",
    ],
)
def test_redact_leaves_opaque_ids_and_other_numbers(text: str) -> None:
    assert redact(text) == text


@given(st.text(alphabet="abcdef0123456789", min_size=12, max_size=32))
def test_hex_ids_bounded_by_letters_stay_readable(inner: str) -> None:
    opaque = f"e{inner}f"
    runs = [len(r) for r in "".join(c if c.isdigit() else " " for c in opaque).split()]
    if 9 not in runs:  # a run of exactly nine digits between letters is still left alone below
        assert redact(opaque) == opaque
    assert redact(f"/v1/x/{opaque}/y") == f"/v1/x/{opaque}/y"


def test_dotted_tin_in_a_url_is_not_logged(api_world: World, caplog: pytest.LogCaptureFixture) -> None:
    formatter = JsonFormatter()
    opaque = "ee9003512344f1a9c0d2"
    with caplog.at_level(logging.INFO, logger="taxvault.api.access"):
        api_world.client.get("/v1/taxpayers/919.35.7594", headers=api_world.headers("cw-alice", "collection"))
        api_world.client.get(f"/v1/taxpayers/{opaque}", headers=api_world.headers("cw-alice", "collection"))
    lines: list[dict[str, Any]] = [
        json.loads(formatter.format(r)) for r in caplog.records if r.name == "taxvault.api.access"
    ]
    paths = [line["path"] for line in lines]
    assert "/v1/taxpayers/[redacted]" in paths
    assert f"/v1/taxpayers/{opaque}" in paths
    assert not any("7594" in json.dumps(line) for line in lines)
