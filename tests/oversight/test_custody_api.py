"""``/v1/grants`` and ``/v1/exports`` over the real app: revoked, refused on the next request; canary look-ups alert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from custody_world import APPROVER, HOLDER, PURPOSE, Custody, make_custody
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tokens import issue_token
from taxvault.api.app import create_app
from taxvault.oversight import exports as ex
from taxvault.oversight.custody_tables import export_canaries
from taxvault.oversight.tables import oversight_alerts
from taxvault.store.tables import entities


@pytest.fixture
def api(db_engine: Engine) -> Iterator[tuple[Custody, TestClient]]:
    w = make_custody(db_engine)
    app = create_app(db_engine, audit_log=w.log, rate_limiter=RateLimiter(1e6, 1_000_000))
    client = TestClient(app, raise_server_exceptions=False)
    yield w, client
    client.close()
    w.log.close()


def _h(who: str, purpose: str = "grant_administration") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(who)}", "Purpose-Of-Use": purpose}


def test_grant_lifecycle_over_http_and_the_next_request_after_revocation_is_refused(
    api: tuple[Custody, TestClient],
) -> None:
    w, client = api
    body = {
        "datasets": ["entities"],
        "fields": ["name", "address", "tin"],
        "purpose": PURPOSE,
        "days": 45,
        "reason": "validate migrated names and addresses",
    }
    made = client.post("/v1/grants", json=body, headers=_h(HOLDER))
    assert made.status_code == 201, made.text
    grant = made.json()["id"]
    assert client.post(f"/v1/grants/{grant}/approve", headers=_h(HOLDER)).status_code == 403
    ok = client.post(f"/v1/grants/{grant}/approve", headers=_h(APPROVER))
    assert ok.status_code == 200 and ok.json()["state"] == "active"
    with w.engine.connect() as conn:
        q = sa.select(entities.c.ref).where(entities.c.is_restricted.is_(False), entities.c.is_employee.is_(False))
        ref = str(conn.execute(q.order_by(entities.c.id).limit(1)).scalar_one())
    assert client.get(f"/v1/taxpayers/{ref}", headers=_h(HOLDER, PURPOSE)).status_code == 200
    revoked = client.post(f"/v1/grants/{grant}/revoke", json={"reason": "deployment over"}, headers=_h(APPROVER))
    assert revoked.status_code == 200 and revoked.json()["shredded"] is True
    assert client.get(f"/v1/taxpayers/{ref}", headers=_h(HOLDER, PURPOSE)).status_code == 403
    listed = client.get("/v1/grants", headers=_h(HOLDER)).json()["items"]
    assert [g["state"] for g in listed if g["id"] == grant] == ["revoked"]
    assert client.post(f"/v1/grants/{grant}/renew", json={"days": 30}, headers=_h(APPROVER)).status_code == 409
    certs = client.get(f"/v1/grants/{grant}/certificates", headers=_h(HOLDER)).json()
    assert [(c["what"], c["verified"]) for c in certs["items"]] == [(f"grant:{grant}", True)]
    assert "BEGIN PUBLIC KEY" in certs["public_key"]
    assert client.get(f"/v1/grants/{grant}/certificates", headers=_h("eng-002")).status_code == 404


def test_export_over_http_two_person_and_a_canary_looked_up_raises_an_alert(
    api: tuple[Custody, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    w, client = api
    monkeypatch.setenv(ex.THRESHOLD_ENV, "5")
    body = {
        "datasets": ["entities"],
        "fields": ["name", "tin"],
        "purpose": PURPOSE,
        "days": 10,
        "reason": "check the TIN conversion",
    }
    grant = client.post("/v1/grants", json=body, headers=_h(HOLDER)).json()["id"]
    client.post(f"/v1/grants/{grant}/approve", headers=_h(APPROVER))
    request = {"grant": grant, "dataset": "entities", "fields": ["last_name", "tin"], "records": 8}
    made = client.post("/v1/exports", json=request, headers=_h(HOLDER, PURPOSE))
    assert made.status_code == 201 and made.json()["needs_second_approver"] is True, made.text
    export = made.json()["id"]
    assert client.get(f"/v1/exports/{export}/file", headers=_h(HOLDER, PURPOSE)).status_code == 409
    assert client.post(f"/v1/exports/{export}/approve", headers=_h(HOLDER, "export_approval")).status_code == 403
    approved = client.post(f"/v1/exports/{export}/approve", headers=_h(w.manager, "export_approval"))
    assert approved.status_code == 200 and approved.json()["state"] == "produced"
    sealed = client.get(f"/v1/exports/{export}/file", headers=_h(HOLDER, PURPOSE))
    assert sealed.status_code == 200 and sealed.content.startswith(b"TVX1")
    opened = ex.open_export(w.door, w.session(HOLDER), export, sealed.content)
    with w.engine.connect() as conn:
        planted = {str(r) for (r,) in conn.execute(sa.select(export_canaries.c.ref))}
    tin = next(str(r["tin"]) for r in opened["rows"] if r["ref"] in planted)
    # Someone with the leaked file looks the canary up: not found, and a critical alert names the export.
    looked = client.post("/v1/taxpayers/lookup", json={"tin": tin}, headers=_h("E000003", "collection"))
    assert looked.status_code == 404
    with w.engine.connect() as conn:
        a = oversight_alerts.c
        rows = conn.execute(sa.select(a.rule, a.severity, a.principal_id, a.summary)).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [("canary", "critical", HOLDER)]
    assert export in rows[0][3] and "E000003" in rows[0][3] and tin not in rows[0][3]
