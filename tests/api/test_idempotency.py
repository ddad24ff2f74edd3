"""Idempotency-Key on API writes: a retry answers the first response and never writes twice (issue 16)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from access_world import World, make_world, module_ref
from sqlalchemy.engine import Engine

from taxvault.access import idempotency
from taxvault.access.door import Door
from taxvault.access.idempotency import Claim
from taxvault.access.policy import PolicyDecision, PolicyEngine
from taxvault.access.tables import idempotency_keys
from taxvault.audit import Decision
from taxvault.ledger.tables import ledger_adjustments

BODY = {"tc": 290, "amount_cents": 12_345, "reason_code": 51}
PATH = f"/v1/modules/{module_ref('tp')}/adjustments"
REQUESTED = "request_adjustment:module_transcript"


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    yield w
    w.client.close()
    w.audit.close()


def _adjust(world: World, key: str | None, body: dict[str, Any] = BODY, who: str = "cw-alice") -> httpx.Response:
    headers = world.headers(who, "collection" if who != "cw-bob" else "examination")
    headers["Content-Type"] = "application/json"
    if key is not None:
        headers["Idempotency-Key"] = key
    answer: httpx.Response = world.client.post(PATH, headers=headers, content=json.dumps(body).encode())
    return answer


def _rows(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _events(world: World, start: int) -> list[Any]:
    return [world.event(i) for i in range(start, world.size())]


def test_a_retry_replays_the_first_response_and_writes_once(world: World) -> None:
    start = world.size()
    first = _adjust(world, "retry-after-503-a1")
    again = _adjust(world, "retry-after-503-a1")
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert _rows(world.engine, ledger_adjustments) == 1

    events = _events(world, start)
    writes = [e for e in events if e.action == REQUESTED]
    assert len(writes) == 1 and writes[0].request_id == first.headers["x-request-id"]
    replays = [e for e in events if e.request_id == again.headers["x-request-id"]]
    assert [(e.action, e.decision) for e in replays] == [("replay:module_transcript", Decision.ALLOW)]
    assert replays[0].resource == writes[0].resource and replays[0].subject == writes[0].subject
    assert replays[0].policy == idempotency.REPLAY_POLICY

    with world.engine.connect() as conn:
        row = conn.execute(sa.select(idempotency_keys)).one()
    assert row.key_hash != "retry-after-503-a1" and len(row.key_hash) == 64
    assert row.request_id == first.headers["x-request-id"] and row.status == 202
    assert json.loads(row.body) == first.json()


def test_the_same_key_with_another_body_is_refused_and_writes_nothing(world: World) -> None:
    assert _adjust(world, "k-body-1").status_code == 202
    other = _adjust(world, "k-body-1", {**BODY, "amount_cents": 99})
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "different request" in other.json()["detail"]
    refused = [e for e in _events(world, 0) if e.request_id == other.headers["x-request-id"]]
    assert [(e.decision, e.policy) for e in refused] == [(Decision.DENY, "refused:idempotency-key-reused")]
    other_purpose = world.client.post(
        PATH, headers={**world.headers("cw-alice", "examination"), "Idempotency-Key": "k-body-1"}, json=BODY
    )
    assert other_purpose.status_code == 422, "the purpose is part of the request: its answer was masked for it"
    quoted = _adjust(world, '"k-body-1"')  # an RFC 8941 sf-string, as the IETF draft writes it: the same key
    assert quoted.headers.get("idempotent-replayed") == "true"
    assert _rows(world.engine, ledger_adjustments) == 1


MALFORMED: list[str | bytes] = ["", "x" * 256, "caf\u00e9".encode("latin-1"), "tab\there"]


def test_a_malformed_key_is_a_400_problem_and_writes_nothing(world: World) -> None:
    base = list(world.headers("cw-alice", "collection").items())
    for value in MALFORMED:
        r = world.client.post(PATH, headers=[*base, ("Idempotency-Key", value)], json=BODY)
        assert r.status_code == 400, value
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 400 and "x-request-id" in r.headers
    twice = world.client.post(PATH, headers=[*base, ("Idempotency-Key", "a-1"), ("Idempotency-Key", "a-2")], json=BODY)
    assert twice.status_code == 400
    assert _rows(world.engine, ledger_adjustments) == 0
    assert "Idempotency-Key" in world.client.get("/openapi.json").json()["info"]["description"]


def test_a_key_is_the_principals_own_another_principal_gets_a_fresh_write(world: World) -> None:
    mine = _adjust(world, "shared-key-1")
    theirs = _adjust(world, "shared-key-1", who="cw-bob")
    assert mine.status_code == 202 and theirs.status_code == 202, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["requested_by"] != mine.json()["requested_by"]
    assert _rows(world.engine, ledger_adjustments) == 2
    assert _rows(world.engine, idempotency_keys) == 2


def test_an_expired_key_makes_a_fresh_write(world: World) -> None:
    assert _adjust(world, "expiring-1").status_code == 202
    with world.engine.begin() as conn:
        conn.execute(idempotency_keys.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    fresh = _adjust(world, "expiring-1")
    assert fresh.status_code == 202 and "idempotent-replayed" not in fresh.headers
    assert _rows(world.engine, ledger_adjustments) == 2
    assert _rows(world.engine, idempotency_keys) == 1  # the expired row gave way to the new one
    with world.engine.begin() as conn:
        conn.execute(idempotency_keys.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert _adjust(world, "expiring-2", who="cw-bob").status_code == 202  # any keyed write purges expired keys
    with world.engine.connect() as conn:
        left = conn.execute(sa.select(idempotency_keys.c.principal_id)).scalars().all()
    assert left == [world.principal_of("cw-bob")]


def test_a_refused_write_or_a_read_stores_nothing(world: World) -> None:
    start = world.size()
    r = world.client.post(
        f"/v1/modules/{module_ref('tp2')}/adjustments",  # her case on tp2 is closed
        headers={**world.headers("cw-alice", "collection"), "Idempotency-Key": "denied-1"},
        json=BODY,
    )
    assert r.status_code == 403
    denied = [e for e in _events(world, start) if e.request_id == r.headers["x-request-id"]]
    assert denied and all(e.decision == Decision.DENY for e in denied)
    looked = world.client.post(
        "/v1/taxpayers/lookup",
        headers={**world.headers("cw-alice", "collection"), "Idempotency-Key": "lookup-1"},
        json={"tin": "900010005", "tin_type": "SSN"},
    )
    assert looked.status_code == 200, looked.text
    assert _rows(world.engine, idempotency_keys) == 0


def test_a_503_after_the_commit_then_a_retry_applies_the_write_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case of the issue: COMMIT reported a failure (503) although it committed; the retry must not double."""
    finish = Claim.finish

    def committed_then_failed(self: Claim, status: int, content_type: str, body: bytes) -> None:
        finish(self, status, content_type, body)
        raise sa.exc.OperationalError("COMMIT", {}, Exception("connection lost after the commit"))

    monkeypatch.setattr(Claim, "finish", committed_then_failed)
    lost = _adjust(world, "ambiguous-1")
    assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
    assert lost.headers["content-type"].startswith("application/problem+json")
    monkeypatch.setattr(Claim, "finish", finish)
    retry = _adjust(world, "ambiguous-1")
    assert retry.status_code == 202 and retry.headers["idempotent-replayed"] == "true"
    assert _rows(world.engine, ledger_adjustments) == 1


def test_a_write_applied_without_its_stored_response_is_a_409_not_a_second_write(world: World) -> None:
    """After an early commit whose response was never stored (the process died): never write again."""
    assert _adjust(world, "unrecorded-1").status_code == 202
    with world.engine.begin() as conn:
        conn.execute(idempotency_keys.update().values(status=None, body=None))
    again = _adjust(world, "unrecorded-1")
    assert again.status_code == 409 and "not recorded" in again.json()["detail"]
    assert _rows(world.engine, ledger_adjustments) == 1


def test_a_concurrent_duplicate_waits_then_is_a_409_on_postgresql(world: World) -> None:
    """The first request holds its transaction (key reserved, not committed) while the duplicate arrives.

    PostgreSQL: the duplicate's INSERT waits on the primary key, then fails: 409, nothing written.
    SQLite: the duplicate waits for the write lock, then finds the stored response: a replay.
    """
    door = Door(world.engine, world.audit, PolicyEngine())
    same = idempotency.fingerprint("POST", PATH, b"", json.dumps(BODY).encode(), b"collection", b"")
    claim = Claim("concurrent-1", same, "first-request-0001")
    token = idempotency.begin(claim)
    try:
        session = door.session(door.caller("cw-alice"), "collection", channel="http", request_id=claim.request_id)
        with door.unit(session, write=True):
            pass  # the key is reserved; the transaction stays open (the request has not answered yet)
    finally:
        idempotency.end(token)
    assert claim.open
    answers: list[httpx.Response] = []
    second = threading.Thread(target=lambda: answers.append(_adjust(world, "concurrent-1")))
    second.start()
    time.sleep(0.6)
    assert not answers, "the duplicate waits while the first is in flight"
    claim.finish(201, "application/json", b'{"first":true}')
    second.join(30)
    (dup,) = answers
    if world.engine.dialect.name == "postgresql":
        assert dup.status_code == 409, dup.text
        assert "in progress" in dup.json()["detail"]
        refused = [e for e in _events(world, 0) if e.request_id == dup.headers["x-request-id"]]
        assert [e.policy for e in refused] == ["refused:idempotency-key-in-progress"]
    else:
        assert dup.status_code == 201 and dup.headers["idempotent-replayed"] == "true"
        assert dup.json() == {"first": True}
    assert _rows(world.engine, ledger_adjustments) == 0
    assert _rows(world.engine, idempotency_keys) == 1


def test_a_read_after_the_write_shares_the_requests_transaction(world: World) -> None:
    """Units of one keyed request share its transaction: a later read sees the write and gets its leaves."""
    door = Door(world.engine, world.audit, PolicyEngine())
    claim = Claim("shared-tx-1", "1" * 64, "shared-tx-request-01")
    token = idempotency.begin(claim)
    start = world.size()
    try:
        session = door.session(door.caller("cw-alice"), "collection", channel="http", request_id=claim.request_id)
        with door.unit(session, write=True) as unit:
            unit.conn.execute(
                idempotency_keys.update().where(idempotency_keys.c.request_id == claim.request_id).values(status=299)
            )
            unit.audit("probe_write", "probe", "p1", PolicyDecision(True, ("probe",)))
        with door.unit(session) as read:
            seen = read.conn.execute(sa.select(idempotency_keys.c.status)).scalar_one()
            read.audit("probe_read", "probe", "p1", PolicyDecision(True, ("probe",)))
        assert seen == 299
        assert len(read.leaves) == 1
    finally:
        idempotency.end(token)
    claim.finish(200, "application/json", b"{}")
    actions = [e.action for e in _events(world, start)]
    assert actions == ["probe_write:probe", "probe_read:probe"]


def test_a_durable_append_in_the_request_commits_its_write_first(world: World) -> None:
    """The audit writer thread appends on a connection of its own: the request's open write would block it."""
    door = Door(world.engine, world.audit, PolicyEngine())
    claim = Claim("settle-1", "2" * 64, "settle-request-0001")
    token = idempotency.begin(claim)
    start = world.size()
    try:
        session = door.session(door.caller("cw-alice"), "collection", channel="http", request_id=claim.request_id)
        with door.unit(session, write=True) as unit:
            unit.audit("probe_write", "probe", "p2", PolicyDecision(True, ("probe",)))
        assert claim.open
        door.refuse("cw-alice", "probe", "probe-refusal", request_id=claim.request_id)
        assert not claim.open and claim.early
    finally:
        idempotency.end(token)
    claim.finish(200, "application/json", b'{"late":true}')
    with world.engine.connect() as conn:
        row = conn.execute(sa.select(idempotency_keys.c.status, idempotency_keys.c.action)).one()
    assert (row.status, row.action) == (200, "probe_write:probe")
    assert [e.action for e in _events(world, start)] == ["probe_write:probe", "probe"]
