"""``/v1/matching`` through the real HTTP stack: the Gate decides, every access is audited.

The app is built with the app factory and the matching router included here (the
lead engineer mounts it in the served app).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from matching_jobs import clear_tins
from sqlalchemy.engine import Engine

from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tokens import issue_token
from taxvault.api.app import create_app
from taxvault.audit import AuditLog
from taxvault.matching import agreements as ag
from taxvault.matching import leads
from taxvault.matching.keys import create_key, load_keys
from taxvault.matching.tables import matching_leads, matching_runs
from taxvault.store.tables import entities, principals
from taxvault.synth.load import synthesize

TODAY = dt.datetime.now(dt.UTC).date()
WORKER = "E000009"  # an AUR caseworker of the synthetic store (and a taxpayer herself)
WHO = (
    "E000000",
    "E000006",
    "E000009",
    "E000003",
    "eng-lead",
    "partner-ssa",
    "partner-state-ca",
    "ovs-privacy",
    "sys-matching",
)


@dataclass
class World:
    engine: Engine
    client: TestClient
    log: AuditLog
    tokens: dict[str, str]
    agreement: str
    leads: dict[str, str]  # ordinary | own | restricted | employee -> lead ref
    entity_refs: dict[str, str]

    def h(self, who: str, purpose: str = "matching_verification") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", "Purpose-Of-Use": purpose}


def _terms(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partner_id": "partner-ssa",
        "program": "death_refunds",
        "purpose": "Refunds issued after a date of death",
        "legal_authority": "26 USC 6103(d); 5 USC 552a(o)",
        "agency_fields": ["first_name", "last_name", "birth_date", "tin", "refunds_846"],
        "partner_fields": ["first_name", "last_name", "birth_date", "tin", "death_date"],
        "starts_on": (TODAY - dt.timedelta(days=30)).isoformat(),
        "ends_on": (TODAY + dt.timedelta(days=300)).isoformat(),
        "destroy_on": (TODAY + dt.timedelta(days=400)).isoformat(),
    }
    body.update(over)
    return body


def _seed_leads(engine: Engine) -> tuple[str, dict[str, str], dict[str, str]]:
    with engine.begin() as conn:
        t = _terms()
        a = ag.draft_agreement(
            conn,
            partner_id=t["partner_id"],
            program=t["program"],
            purpose=t["purpose"],
            legal_authority=t["legal_authority"],
            agency_fields=t["agency_fields"],
            partner_fields=t["partner_fields"],
            starts_on=dt.date.fromisoformat(t["starts_on"]),
            ends_on=dt.date.fromisoformat(t["ends_on"]),
            destroy_on=dt.date.fromisoformat(t["destroy_on"]),
            created_by="E000000",
        )
        a = ag.approve_agreement(conn, a.ref, approver="eng-lead")
        create_key(a.ref)
        now = dt.datetime.now(dt.UTC)
        run_id = conn.execute(
            matching_runs.insert()
            .values(
                ref="u" + "3" * 24,
                agreement_id=a.id,
                program=a.program,
                run_by="sys-matching",
                as_of=TODAY,
                started_at=now,
                finished_at=now,
                fields_read=[],
                agency_rows=4,
                partner_records=4,
                pairs_compared=4,
                matched=4,
                leads_new=4,
                threshold=0.9,
            )
            .returning(matching_runs.c.id)
        ).scalar_one()
        e = entities.c
        own = conn.execute(sa.select(principals.c.entity_id).where(principals.c.id == WORKER)).scalar_one()
        own_addr = conn.execute(sa.select(e.address_line).where(e.id == own)).scalar_one()
        plain = (
            sa.select(e.id)
            .where(
                e.kind == "individual",
                ~e.is_restricted,
                ~e.is_employee,
                e.household_id > 10,
                e.address_line != own_addr,
            )
            .limit(1)
        )
        picks = {
            "ordinary": conn.execute(plain).scalar_one(),
            "own": own,
            "restricted": conn.execute(sa.select(e.id).where(e.is_restricted).limit(1)).scalar_one(),
            "employee": conn.execute(
                sa.select(e.id).where(e.is_employee, e.id != own, e.address_line != own_addr).limit(1)
            ).scalar_one(),
        }
        findings = [
            leads.Finding(
                eid,
                f"{n:064x}",
                f"846:m{n}",
                2024,
                0.99,
                {"tin": 800.0},
                {"refund_cents": 10_000 + n},
                {"death_date": "2024-06-01"},
            )
            for n, eid in enumerate(picks.values())
        ]
        leads.insert_findings(conn, a, load_keys(a.ref), run_id, findings, actor="sys-matching", note="seed")
        refs = {
            name: conn.execute(sa.select(matching_leads.c.ref).where(matching_leads.c.entity_id == eid)).scalar_one()
            for name, eid in picks.items()
        }
        erefs = {name: conn.execute(sa.select(e.ref).where(e.id == eid)).scalar_one() for name, eid in picks.items()}
    return a.ref, refs, erefs


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    synthesize(db_engine, 2500, 21)
    agreement, refs, erefs = _seed_leads(db_engine)
    log = AuditLog(db_engine)
    app = create_app(db_engine, audit_log=log, rate_limiter=RateLimiter(1e6, 10**6))
    client = TestClient(app, raise_server_exceptions=False)
    yield World(db_engine, client, log, {p: issue_token(p) for p in WHO}, agreement, refs, erefs)
    client.close()
    log.close()


def _last(w: World) -> Any:
    return w.log.event(w.log.tree_head().tree_size - 1)


def test_agreements_drafted_by_one_approved_by_another(world: World) -> None:
    w = world
    gov = "matching_governance"
    r = w.client.post("/v1/matching/agreements", json=_terms(), headers=w.h("E000006", gov))
    assert r.status_code == 403 and _last(w).decision.value == "deny"  # a caseworker does not draft
    too_long = _terms(ends_on=(TODAY + dt.timedelta(days=600)).isoformat())
    r = w.client.post("/v1/matching/agreements", json=too_long, headers=w.h("E000000", gov))
    assert r.status_code == 422 and "at most 18 months" in r.json()["detail"]
    r = w.client.post("/v1/matching/agreements", json=_terms(), headers=w.h("E000000", gov))
    assert r.status_code == 201, r.text
    drafted = r.json()
    assert (drafted["state"], drafted["status"], drafted["created_by"]) == ("draft", "draft", "E000000")
    ref = drafted["agreement_id"]
    r = w.client.post(f"/v1/matching/agreements/{ref}/approve", headers=w.h("E000000", gov))
    assert r.status_code == 403
    assert _last(w).policy == "forbid-approve-own-agreement" and _last(w).resource == ref
    r = w.client.post(f"/v1/matching/agreements/{ref}/approve", headers=w.h("eng-lead", gov))
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["approver_id"] == "eng-lead"
    again = w.client.post(f"/v1/matching/agreements/{ref}/approve", headers=w.h("E000003", gov))
    assert again.status_code == 409 and "only a draft" in again.json()["detail"]
    assert (
        w.client.get(f"/v1/matching/agreements/{ref}", headers=w.h("ovs-privacy", "oversight_review")).json()[
            "approver_id"
        ]
        == "eng-lead"
    )


def test_a_partner_sees_its_own_agreements_only(world: World) -> None:
    w = world
    h = {p: w.h(p, "matching_outcomes") for p in ("partner-ssa", "partner-state-ca")}
    mine = w.client.get("/v1/matching/agreements", headers=h["partner-ssa"]).json()["items"]
    assert [a["agreement_id"] for a in mine] == [w.agreement]
    assert w.client.get("/v1/matching/agreements", headers=h["partner-state-ca"]).json()["items"] == []
    assert w.client.get(f"/v1/matching/agreements/{w.agreement}", headers=h["partner-state-ca"]).status_code == 404
    assert _last(w).policy == "not-own-agreement"
    assert w.client.post("/v1/matching/agreements", json=_terms(), headers=h["partner-ssa"]).status_code == 403


def test_leads_are_shown_only_where_every_rule_about_the_taxpayer_allows(world: World) -> None:
    w = world
    r = w.client.get("/v1/matching/leads", headers=w.h(WORKER))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["lead_id"] for i in items] == [w.leads["ordinary"]]  # not her own, a restricted or an employee's
    assert items[0]["taxpayer_id"] == w.entity_refs["ordinary"] and items[0]["agency_facts"]["refund_cents"] >= 10_000
    read = [w.log.event(i) for i in range(w.log.tree_head().tree_size)]
    assert any(e.resource == w.entity_refs["ordinary"] and e.action == "read:matching_lead" for e in read)
    assert not any(e.resource in (w.entity_refs["own"], w.entity_refs["restricted"]) for e in read)
    for hidden in ("own", "restricted", "employee"):
        got = w.client.get(f"/v1/matching/leads/{w.leads[hidden]}", headers=w.h(WORKER))
        assert got.status_code == 403, hidden
        assert _last(w).decision.value == "deny" and _last(w).resource == w.entity_refs[hidden]
    assert w.client.get("/v1/matching/leads", headers=w.h(WORKER, "collection")).status_code == 403
    assert w.client.get("/v1/matching/leads", headers=w.h("E000006")).status_code == 403  # assistance unit
    for outsider, purpose in (("partner-ssa", "matching_verification"), ("ovs-privacy", "oversight_review")):
        assert w.client.get("/v1/matching/leads", headers=w.h(outsider, purpose)).status_code == 403
    detail = w.client.get(f"/v1/matching/leads/{w.leads['ordinary']}", headers=w.h(WORKER)).json()
    assert detail["evidence"] == {"death_date": "2024-06-01"} and detail["evidence_destroyed"] is False
    assert detail["history"][0]["to_state"] == "new"


def test_lead_work_through_the_api_keeps_due_process(world: World) -> None:
    w = world
    url = f"/v1/matching/leads/{w.leads['ordinary']}/transitions"
    early = w.client.post(url, json={"to": "closed", "outcome": "adverse_action"}, headers=w.h(WORKER))
    assert early.status_code == 409 and "notified" in early.json()["detail"]
    bad = w.client.post(url, json={"to": "verdict"}, headers=w.h(WORKER))
    assert bad.status_code == 422
    ok = w.client.post(
        url, json={"to": "verified", "note": "Death certificate on file with the estate."}, headers=w.h(WORKER)
    )
    assert ok.status_code == 200 and ok.json()["state"] == "verified" and ok.json()["verified_by"] == WORKER
    event = _last(w)
    assert (event.action, event.resource, event.decision.value) == (
        "move_lead:matching_lead",
        w.entity_refs["ordinary"],
        "allow",
    )
    notified = w.client.post(url, json={"to": "notified"}, headers=w.h("E000003"))
    assert (
        notified.status_code == 200
        and notified.json()["contest_deadline"] == (TODAY + dt.timedelta(days=30)).isoformat()
    )
    adverse = w.client.post(url, json={"to": "closed", "outcome": "adverse_action"}, headers=w.h("E000003"))
    assert adverse.status_code == 409 and "may contest until" in adverse.json()["detail"]
    other = w.client.post(
        f"/v1/matching/leads/{w.leads['own']}/transitions",
        json={"to": "closed", "outcome": "no_action"},
        headers=w.h(WORKER),
    )
    assert other.status_code == 403  # not on her own account, whatever the lead


def test_a_partner_sees_tokens_and_outcomes_of_its_own_agreements_only(world: World) -> None:
    w = world
    url = f"/v1/matching/leads/{w.leads['ordinary']}/transitions"
    w.client.post(url, json={"to": "closed", "outcome": "not_a_match"}, headers=w.h(WORKER))
    r = w.client.get("/v1/matching/outcomes", headers=w.h("partner-ssa", "matching_outcomes"))
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 4
    assert all(set(i) == {"agreement_id", "partner_token", "program", "state", "outcome", "updated_at"} for i in items)
    assert {(i["state"], i["outcome"]) for i in items} == {("closed", "not_a_match"), ("new", None)}
    assert not any(ref in r.text for ref in w.entity_refs.values())
    other = w.client.get("/v1/matching/outcomes", headers=w.h("partner-state-ca", "matching_outcomes"))
    assert other.status_code == 200 and other.json()["items"] == []
    assert w.client.get("/v1/matching/outcomes", headers=w.h("ovs-privacy", "oversight_review")).status_code == 200
    assert w.client.get("/v1/matching/outcomes", headers=w.h(WORKER)).status_code == 403


def test_no_tin_in_any_matching_response_nor_path(world: World) -> None:
    w = world
    bodies = [
        w.client.get("/v1/matching/leads", headers=w.h(WORKER)).text,
        w.client.get(f"/v1/matching/leads/{w.leads['ordinary']}", headers=w.h(WORKER)).text,
        w.client.get("/v1/matching/agreements", headers=w.h("E000000", "matching_governance")).text,
        w.client.get("/v1/matching/outcomes", headers=w.h("partner-ssa", "matching_outcomes")).text,
    ]
    tins = set(clear_tins(w.engine).values())
    assert len(tins) > 2000
    assert not [t for t in tins if any(t in b for b in bodies)]
    paths = w.client.get("/openapi.json").json()["paths"]
    matching = [p for p in paths if p.startswith("/v1/matching")]
    assert len(matching) == 9 and not [p for p in matching if "tin" in p.lower()]


def test_lead_evidence_is_masked_like_any_taxpayer_data(world: World) -> None:
    """A lead whose evidence and facts carry a TIN and a date of birth shows neither in full
    to a verifier (the matching-lead-work permit discloses them masked), and says so."""
    w = world
    with w.engine.begin() as conn:
        a = ag.get_agreement(conn, w.agreement)
        eid = conn.execute(sa.select(entities.c.id).where(entities.c.ref == w.entity_refs["ordinary"])).scalar_one()
        run_id = conn.execute(sa.select(matching_runs.c.id)).scalar_one()
        finding = leads.Finding(
            eid,
            "f" * 64,
            "846:masking",
            2024,
            0.98,
            {"tin": 700.0, "birth_date": 30.0},
            {"refund_cents": 5_000, "payer_tin": "912345678"},
            {"death_date": "2024-06-01", "tin": "987654321", "birth_date": "1951-04-09"},
        )
        leads.insert_findings(conn, a, load_keys(a.ref), run_id, [finding], actor="sys-matching", note="seed")
        ref = conn.execute(
            sa.select(matching_leads.c.ref).where(matching_leads.c.finding_key == "846:masking")
        ).scalar_one()
    r = w.client.get(f"/v1/matching/leads/{ref}", headers=w.h(WORKER))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["evidence"]["tin"] == "*****4321" and body["evidence"]["birth_date"] == "1951"
    assert body["evidence"]["death_date"] == "2024-06-01"  # what the verifier checks stays readable
    assert body["agency_facts"]["payer_tin"] == "*****5678" and body["agency_facts"]["refund_cents"] == 5_000
    assert body["contributions"] == {"tin": 700.0, "birth_date": 30.0}  # Bayes factors, not values: not masked
    assert set(body["masked"]) == {"tin", "birth_date", "payer_tin"}
    assert not any(v in r.text for v in ("987654321", "1951-04-09", "912345678"))
    event = _last(w)
    assert (event.action, event.resource) == ("read:matching_lead", w.entity_refs["ordinary"])
    assert {"tin:masked", "birth_date:masked", "payer_tin:masked", "death_date"} <= set(event.fields)
    page = w.client.get("/v1/matching/leads", headers=w.h(WORKER)).json()
    (shown,) = [i for i in page["items"] if i["lead_id"] == ref]
    assert shown["agency_facts"]["payer_tin"] == "*****5678" and "payer_tin" in page["masked"]


def test_a_deactivated_principal_is_refused_on_the_next_request(world: World) -> None:
    w = world
    assert w.client.get("/v1/matching/leads", headers=w.h(WORKER)).status_code == 200
    with w.engine.begin() as conn:
        conn.execute(principals.update().where(principals.c.id == WORKER).values(active=False))
    refused = w.client.get("/v1/matching/leads", headers=w.h(WORKER))
    assert refused.status_code == 401 and "active" in refused.json()["detail"]
    event = _last(w)
    assert (event.principal, event.decision.value) == (WORKER, "deny") and event.policy.startswith("refused:")
    move = w.client.post(
        f"/v1/matching/leads/{w.leads['ordinary']}/transitions",
        json={"to": "closed", "outcome": "no_action"},
        headers=w.h(WORKER),
    )
    assert move.status_code == 401
    with w.engine.connect() as conn:
        state = conn.execute(sa.select(matching_leads.c.state).where(matching_leads.c.ref == w.leads["ordinary"]))
        assert state.scalar_one() == "new"  # nothing written for a revoked principal
