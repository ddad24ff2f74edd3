"""A slice of the matrix over a real uvicorn server on loopback (sockets, HTTP/1.1 parsing)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from access_world import World, entity_ref, make_world, module_ref
from sqlalchemy.engine import Engine


@pytest.fixture
def served(db_engine: Engine) -> Iterator[tuple[World, str]]:
    world = make_world(db_engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield world, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)
    world.audit.close()


ROWS = [
    ("cw-alice", "collection", "/v1/modules/{m_tp}/transcript", 200, "caseworker-assigned-read"),
    ("cw-alice", "collection", "/v1/modules/{m_spouse}/transcript", 403, "forbid-own-or-related-account"),
    ("cw-alice", "examination", "/v1/modules/{m_tp}/transcript", 403, "default-deny"),
    ("ovs-privacy", "oversight_review", "/v1/taxpayers/{e_tp}", 403, "forbid-oversight-taxpayer-data"),
    ("taxpayer", "self_service", "/v1/modules/{m_tp}/transcript", 200, "taxpayer-own-transcript"),
    ("eng-001", "legacy_migration_validation", "/v1/taxpayers/{e_tp}", 200, "engineer-within-grant"),
]


def test_matrix_slice_over_loopback(served: tuple[World, str]) -> None:
    world, base = served
    ids = {"m_tp": module_ref("tp"), "m_spouse": module_ref("alice_spouse"), "e_tp": entity_ref("tp")}
    with httpx.Client(base_url=base, timeout=30) as client:
        for who, purpose, path, status, policy in ROWS:
            before = world.size()
            r = client.get(path.format(**ids), headers=world.headers(who, purpose))
            assert r.status_code == status, (who, path, r.text)
            assert r.headers["x-request-id"]
            assert world.size() == before + 1
            event = world.event(before)
            assert policy in (event.policy or "").split(",")
            assert event.request_id == r.headers["x-request-id"]
        bad = client.get(f"/v1/modules/{ids['m_tp']}/transcript", headers={"Authorization": "Bearer x.y.z"})
        assert bad.status_code == 401
