"""Ask pages through httpx: the plan is shown before it runs, the run is audited, refusals offer the nearest forms."""

from __future__ import annotations

import re

from console_harness import SignIn, World, audit_events_of
from fastapi.testclient import TestClient

_PLAN_ID = re.compile(r'name="plan_id" value="(p[0-9a-f]{24})"')


def test_caseworker_sees_the_plan_then_runs_it(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    assert client.get("/web/ask/").status_code == 200
    before = len(audit_events_of(world, world.demo.principal))
    plan = client.post("/web/ask/", data={"question": "How many notices were issued each year?", "csrf_token": token})
    assert plan.status_code == 200
    assert 'id="plan-description"' in plan.text and "Run this plan" in plan.text
    assert len(audit_events_of(world, world.demo.principal)) == before  # nothing read yet
    plan_id = _PLAN_ID.search(plan.text)
    assert plan_id
    answer = client.post("/web/ask/run", data={"plan_id": plan_id.group(1), "csrf_token": token})
    assert answer.status_code == 200
    assert 'id="answer"' in answer.text and '<td class="num">' in answer.text  # counts, right-aligned
    assert "Differential privacy" not in answer.text  # her cases, exact counts
    ran = audit_events_of(world, world.demo.principal)[-1]
    assert ran["action"].startswith("query:") and ran["decision"] == "allow" and ran["channel"] == "web"
    # the run form without its token is refused
    assert client.post("/web/ask/run", data={"plan_id": plan_id.group(1)}).status_code == 403


def test_a_question_with_a_tin_is_never_echoed(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    page = client.post("/web/ask/", data={"question": f"what does {world.demo.tin} owe", "csrf_token": token})
    assert world.demo.tin not in page.text
    assert world.demo.tin not in str(page.url)


def test_refusal_offers_the_nearest_forms(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    page = client.post("/web/ask/", data={"question": "delete all taxpayers", "csrf_token": token})
    assert page.status_code == 200
    assert 'id="refusal"' in page.text
    nearest = re.findall(r'<input type="hidden" name="question" value="([^"]+)">', page.text)
    assert nearest
    again = client.post("/web/ask/", data={"question": nearest[0].replace("&#39;", "'"), "csrf_token": token})
    assert again.status_code == 200 and "Run this plan" in again.text


def test_analyst_sees_noise_and_budget(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, "ana-001", purpose="statistics")
    plan = client.post("/web/ask/", data={"question": "How many returns by filing status?", "csrf_token": token})
    assert plan.status_code == 200, plan.text[-400:]
    plan_id = _PLAN_ID.search(plan.text)
    assert plan_id
    answer = client.post("/web/ask/run", data={"plan_id": plan_id.group(1), "csrf_token": token})
    assert answer.status_code == 200
    assert "Differential privacy" in answer.text and "Noise per release" in answer.text
    assert re.search(r'id="budget">Privacy budget: ε [0-9.]+ spent of [0-9.]+', answer.text)


def test_another_persons_plan_id_is_refused(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, "ana-002", purpose="statistics")
    plan = client.post("/web/ask/", data={"question": "How many returns by filing status?", "csrf_token": token})
    plan_id = _PLAN_ID.search(plan.text)
    assert plan_id
    token = sign_in(client, "ana-001", purpose="statistics")
    stolen = client.post("/web/ask/run", data={"plan_id": plan_id.group(1), "csrf_token": token})
    assert stolen.status_code == 404
    assert audit_events_of(world, "ana-001")[-1]["decision"] == "deny"
