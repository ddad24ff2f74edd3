"""``/v1/oversight/`` and ``/v1/break-glass/{id}``: the same rules over HTTP, problem+json refusals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from review_world import alert, entity_ref, last_event, module_ref, reads_by, world
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tables import break_glass_reviews
from taxvault.access.tokens import issue_token
from taxvault.api.app import create_app
from taxvault.audit import AuditLog

__all__ = ["world"]  # fixture

REASON = "the access was duty-related after all"


@pytest.fixture
def api(world: Engine) -> Iterator[tuple[TestClient, Door]]:
    log = AuditLog(world)
    app = create_app(world, audit_log=log, rate_limiter=RateLimiter(1e6, 1_000_000))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, Door(world, log, PolicyEngine())
    log.close()


def _h(who: str, purpose: str = "oversight_review") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(who)}", "Purpose-Of-Use": purpose}


def test_queue_and_reviews_over_http(world: Engine, api: tuple[TestClient, Door]) -> None:
    client, door = api
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    ref = alert(world, "cw-alice", entity_ref("tp"), leaves, "k1")

    got = client.get("/v1/oversight/alerts", headers=_h("ovs-a"))
    assert got.status_code == 200, got.text
    assert [(a["ref"], a["principal"], a["leaves"]) for a in got.json()] == [(ref, "cw-alice", leaves)]
    assert client.get("/v1/oversight/alerts", headers=_h("cw-alice", "collection")).status_code == 403
    assert client.get("/v1/oversight/alerts").status_code == 401
    assert client.get("/v1/oversight/alerts?state=bogus", headers=_h("ovs-a")).status_code == 422

    url = f"/v1/oversight/alerts/{ref}/review"
    first = client.post(url, json={"action": "confirm"}, headers=_h("ovs-a"))
    assert first.status_code == 200 and first.json()["state"] == "confirming"
    twice = client.post(url, json={"action": "confirm"}, headers=_h("ovs-a"))
    assert twice.status_code == 403 and twice.headers["content-type"].startswith("application/problem+json")
    assert "already confirmed" in twice.json()["detail"]
    own = client.post(url, json={"action": "dismiss", "reason": REASON}, headers=_h("ovs-c"))
    assert own.status_code == 403 and "related taxpayer" in own.json()["detail"]  # ovs-c is the taxpayer
    second = client.post(url, json={"action": "confirm"}, headers=_h("ovs-b"))
    assert second.status_code == 200 and second.json()["state"] == "confirmed" and len(second.json()["letters"]) == 1
    final = client.post(url, json={"action": "refer", "reason": REASON}, headers=_h("ovs-a"))
    assert final.status_code == 409
    assert client.post(url, json={"action": "dismiss"}, headers=_h("ovs-a")).status_code in (400, 409, 422)
    missing = client.post("/v1/oversight/alerts/l00000000000000000000/review", json={"action": "confirm"},
                          headers=_h("ovs-a"))  # fmt: skip
    assert missing.status_code == 404
    assert client.post("/v1/oversight/alerts/123-45-6789/review", json={"action": "confirm"},
                       headers=_h("ovs-a")).status_code in (404, 422)  # fmt: skip

    detail = client.get(f"/v1/oversight/alerts/{ref}", headers=_h("ovs-b")).json()
    assert detail["confirmed_by"] == ["ovs-a", "ovs-b"] and len(detail["letters"]) == 1
    report = client.get("/v1/oversight/report", headers=_h("ovs-b")).json()
    assert report["letters"] == 1 and report["alerts"]["by_state"] == {"confirmed": 1}


def test_break_glass_over_http(world: Engine, api: tuple[TestClient, Door]) -> None:
    client, door = api
    leaf = reads_by(door, "cw-alice", [module_ref("tp")])[0]
    with world.begin() as conn:
        conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=leaf, request_id="cli-0000000000000000", principal_id="cw-alice",
                action="read:module_transcript", resource=module_ref("tp"), purpose="collection",
                justification="taxpayer on the phone, urgent levy", state="pending",
                created_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip
        review_id = conn.execute(sa.select(sa.func.max(break_glass_reviews.c.id))).scalar_one()
    h = _h("mgr-dan", "break_glass_review")
    assert client.post(f"/v1/break-glass/{review_id}/uphold", json={"reason": REASON}, headers=h).status_code == 403
    assert last_event(door).policy is not None and "not-her-manager" in (last_event(door).policy or "")
    h = _h("mgr-carol", "break_glass_review")
    assert [r["id"] for r in client.get("/v1/break-glass", headers=h).json()] == [review_id]
    assert client.get("/v1/break-glass", headers=_h("ovs-a", "break_glass_review")).status_code == 403
    assert client.post(f"/v1/break-glass/{review_id}/uphold", json={"reason": "short"}, headers=h).status_code == 422
    done = client.post(f"/v1/break-glass/{review_id}/uphold", json={"reason": REASON}, headers=h)
    assert done.status_code == 200 and done.json() == {"id": review_id, "state": "upheld", "reviewer": "mgr-carol",
                                                      "alert": None}  # fmt: skip
    again = client.post(f"/v1/break-glass/{review_id}/refer", json={"reason": REASON}, headers=h)
    assert again.status_code == 409
    assert client.post("/v1/break-glass/99999/refer", json={"reason": REASON}, headers=h).status_code == 404


def test_scan_over_http(world: Engine, api: tuple[TestClient, Door]) -> None:
    client, door = api
    reads_by(door, "cw-alice", [module_ref("tp")])
    assert client.post("/v1/oversight/scan", headers=_h("cw-alice", "collection")).status_code == 403
    done = client.post("/v1/oversight/scan", headers=_h("ovs-a"))
    assert done.status_code == 200, done.text
    assert done.json()["end_leaf"] >= 1
    size = door.audit.tree_head().tree_size
    recent = [door.audit.event(i) for i in range(size - 2, size)]
    # the reviewer's request, then the job's own decided pass (sys-oversight reads addresses and cases)
    assert recent[0].action.startswith("scan:") and recent[0].principal == "ovs-a"
    assert recent[1].action == "scan_for_browsing:oversight_scan" and recent[1].principal == "sys-oversight"


def test_one_route_per_decision(world: Engine, api: tuple[TestClient, Door]) -> None:
    client, door = api
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    refs = [alert(world, "cw-alice", entity_ref("tp"), leaves, f"k{i}") for i in range(2)]
    assert client.post(f"/v1/oversight/alerts/{refs[0]}/confirm", headers=_h("ovs-a")).json()["state"] == "confirming"
    done = client.post(f"/v1/oversight/alerts/{refs[0]}/confirm", json={"reason": REASON}, headers=_h("ovs-b"))
    assert done.json()["state"] == "confirmed" and len(done.json()["letters"]) == 1
    assert client.post(f"/v1/oversight/alerts/{refs[1]}/dismiss", json={}, headers=_h("ovs-a")).status_code == 422
    referred = client.post(f"/v1/oversight/alerts/{refs[1]}/refer", json={"reason": REASON}, headers=_h("ovs-a"))
    assert referred.json()["state"] == "referred"
    assert last_event(door).action == "refer_alert:oversight_alert"
