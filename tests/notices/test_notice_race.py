"""Two caseworker requests race to issue the same notice: exactly one notice, the other answered cleanly.

``POST /v1/modules/{m}/notices`` is idempotent per module, type and day (the ``notices`` unique
index; :mod:`taxvault.notices.on_request`): a request that finds today's notice answers it (200,
``created`` false); one that loses the race at the unique index is a 409 Conflict. On PostgreSQL
the race is forced: a third connection holds ``LOCK TABLE notices IN EXCLUSIVE MODE`` (reads pass,
inserts wait) until both requests have checked for today's notice and wait to insert it, then lets
them go. SQLite serialises writers itself: the second request sees the first's notice (200).
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "access"))

from access_world import ENTITIES, World, make_world, module_ref

from taxvault.notices import on_request
from taxvault.notices.documents import NoticeType
from taxvault.store.bulk import reset_sequences
from taxvault.store.tables import notices, sources, transactions

DAY = dt.date(2025, 6, 2)
"""A day the access world's ``tp`` module (balance due since April 2025, no notice yet) is due its CP14."""


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    with db_engine.begin() as conn:
        reset_sequences(conn, [sources, transactions, notices])  # the world inserts explicit ids
        assert on_request.issuable(conn, ENTITIES["tp"][0], DAY) == (NoticeType.CP14,)
    door = w.app.state.services.get().door
    door.clock = lambda: dt.datetime.combine(DAY, dt.time(15), tzinfo=dt.UTC)
    yield w
    w.client.close()
    w.audit.close()


def _waiting_on_notices(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE relation = 'notices'::regclass AND NOT granted")
            ).scalar_one()
        )


def test_two_requests_for_the_same_notice_make_one(world: World, db_engine: Engine) -> None:
    url = f"/v1/modules/{module_ref('tp')}/notices"
    headers = world.headers("cw-alice", "collection")
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def ask() -> None:
        client = TestClient(world.app, raise_server_exceptions=False)
        barrier.wait()
        answers.append(client.post(url, json={"notice_type": "CP14"}, headers=headers))

    postgres = db_engine.dialect.name == "postgresql"
    locker = db_engine.connect()
    hold = locker.begin()
    if postgres:
        locker.exec_driver_sql("LOCK TABLE notices IN EXCLUSIVE MODE")
    threads = [threading.Thread(target=ask) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        if postgres:
            deadline = time.monotonic() + 60
            while _waiting_on_notices(db_engine) < 2:
                assert time.monotonic() < deadline, "both requests should be waiting to insert the notice"
                time.sleep(0.02)
    finally:
        hold.rollback()
        locker.close()
        for t in threads:
            t.join(timeout=120)
    assert len(answers) == 2, "a request did not finish"
    statuses = sorted(a.status_code for a in answers)
    assert statuses == ([201, 409] if postgres else [200, 201]), [a.text for a in answers]
    made = next(a.json() for a in answers if a.status_code == 201)
    assert made["created"] is True and made["notice_type"] == "CP14"
    other = next(a for a in answers if a.status_code != 201)
    if postgres:
        problem = other.json()
        assert other.headers["content-type"].startswith("application/problem+json")
        assert "issued on this module today by another request" in problem["detail"]
    else:
        assert other.json()["id"] == made["id"] and other.json()["created"] is False
    n = notices.c
    with db_engine.connect() as conn:
        rows = conn.execute(sa.select(n.ref, n.notice_type).where(n.module_id == ENTITIES["tp"][0])).all()
        assert [(r.ref, r.notice_type) for r in rows] == [(made["id"], "CP14")]
    # each request is one audit event of cw-alice's: the winner's issue, the loser's failed write
    events = [world.event(i) for i in range(world.size())]
    issued = [e for e in events if e.principal == "cw-alice" and e.action.startswith("issue_notice")]
    assert len(issued) == 2, issued
    # a source row per notice issued, none left by the request that lost
    with db_engine.connect() as conn:
        named = conn.execute(sa.select(sa.func.count()).where(sources.c.name.like("notice on request %"))).scalar_one()
    assert named == 1
