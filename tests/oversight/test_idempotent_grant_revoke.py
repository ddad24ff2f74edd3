"""A keyed request whose route runs a second transaction (a grant's revocation shreds its key as a job).

The request's transaction is committed before the job's begins (it would otherwise wait on the
request's locks for ever); its response is stored after, and a retry still replays it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from custody_world import APPROVER, HOLDER, PURPOSE, Custody, make_custody
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tables import idempotency_keys
from taxvault.access.tokens import issue_token
from taxvault.api.app import create_app
from taxvault.audit import Decision


@pytest.fixture
def api(db_engine: Engine) -> Iterator[tuple[Custody, TestClient]]:
    w = make_custody(db_engine)
    app = create_app(db_engine, audit_log=w.log, rate_limiter=RateLimiter(1e6, 1_000_000))
    client = TestClient(app, raise_server_exceptions=False)
    yield w, client
    client.close()
    w.log.close()


def _h(who: str, key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {issue_token(who)}",
        "Purpose-Of-Use": "grant_administration",
        "Idempotency-Key": key,
    }


def test_a_keyed_revocation_that_shreds_as_a_job_answers_once_and_replays(api: tuple[Custody, TestClient]) -> None:
    w, client = api
    body = {"datasets": ["entities"], "fields": ["name"], "purpose": PURPOSE, "days": 30, "reason": "check names"}
    made = client.post("/v1/grants", json=body, headers=_h(HOLDER, "grant-1"))
    again = client.post("/v1/grants", json=body, headers=_h(HOLDER, "grant-1"))
    assert made.status_code == 201 and again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == made.json()
    grant = made.json()["id"]
    assert client.post(f"/v1/grants/{grant}/approve", headers=_h(APPROVER, "approve-1")).status_code == 200

    revoke = {"reason": "deployment over"}
    revoked = client.post(f"/v1/grants/{grant}/revoke", json=revoke, headers=_h(APPROVER, "revoke-1"))
    assert revoked.status_code == 200 and revoked.json()["shredded"] is True, revoked.text
    retried = client.post(f"/v1/grants/{grant}/revoke", json=revoke, headers=_h(APPROVER, "revoke-1"))
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert retried.json() == revoked.json()
    fresh = client.post(f"/v1/grants/{grant}/revoke", json=revoke, headers=_h(APPROVER, "revoke-2"))
    assert fresh.status_code == 409, "a new key is a new request: revoked already"
    events = [w.log.event(i) for i in range(w.log.tree_head().tree_size)]
    revokes = [e for e in events if e.action == "revoke_grant:grant" and e.decision == Decision.ALLOW]
    assert [e.request_id for e in revokes] == [revoked.headers["x-request-id"]]
    replays = [e for e in events if e.request_id == retried.headers["x-request-id"]]
    assert [(e.action, e.resource) for e in replays] == [("replay:grant", grant)]
    with w.engine.connect() as conn:
        stored = conn.execute(sa.select(idempotency_keys.c.status).order_by(idempotency_keys.c.created_at)).all()
    assert [s for (s,) in stored] == [201, 200, 200]
