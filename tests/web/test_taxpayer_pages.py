"""Taxpayer pages through httpx: her transcript, notices, access report (chart, PDF with progress)."""

from __future__ import annotations

import re
import time

from console_harness import SignIn, World, audit_events_of
from fastapi.testclient import TestClient

from taxvault.access.principals import ensure_taxpayer_principal


def _taxpayer(world: World) -> str:
    with world.engine.begin() as conn:
        return ensure_taxpayer_principal(conn, world.demo.taxpayer_ref)


def test_taxpayer_account_transcript_and_notices(client: TestClient, world: World, sign_in: SignIn) -> None:
    me = _taxpayer(world)
    sign_in(client, me)
    home = client.get("/web/")
    assert "Acting for: <strong>Self service</strong>" in home.text
    assert "My cases" not in home.text  # a caseworker's pages are not offered
    account = client.get("/web/me/")
    assert account.status_code == 200
    assert f"/web/me/modules/{world.demo.module_ref}" in account.text
    module = client.get(f"/web/me/modules/{world.demo.module_ref}", params={"as_of": "2026-06-30"})
    assert module.status_code == 200
    assert "Payoff" in module.text
    sent = client.get("/web/me/notices")
    link = re.search(r'href="(/web/me/modules/[a-z0-9]+/notices/[a-z0-9]+\.pdf)"', sent.text)
    assert link
    pdf = client.get(link.group(1))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    channels = {e["channel"] for e in audit_events_of(world, me)}
    assert channels == {"web"}


def test_a_taxpayer_reaches_only_her_own_records(client: TestClient, world: World, sign_in: SignIn) -> None:
    me = _taxpayer(world)
    sign_in(client, me)
    assert client.get("/web/cases/").status_code == 403  # a caseworker's page: the door refuses
    other = client.get("/web/me/modules/m0000000000000000000a")
    assert other.status_code == 404
    with world.engine.connect() as conn:
        import sqlalchemy as sa

        from taxvault.store.tables import entities, tax_modules

        foreign = conn.execute(
            sa.select(tax_modules.c.ref)
            .join(entities, entities.c.id == tax_modules.c.entity_id)
            .where(entities.c.ref != world.demo.taxpayer_ref, entities.c.spouse_id.is_(None))
            .limit(1)
        ).scalar_one()
    assert client.get(f"/web/me/modules/{foreign}").status_code == 403
    assert any(e["resource"] == foreign and e["decision"] == "deny" for e in audit_events_of(world, me))


def test_access_report_lists_who_looked_with_a_chart_and_a_pdf_with_progress(
    client: TestClient, app: object, world: World, sign_in: SignIn
) -> None:
    staff = TestClient(app, base_url="http://127.0.0.1:8000")  # type: ignore[arg-type]
    sign_in(staff, world.demo.principal, purpose="collection")
    assert staff.get(f"/web/cases/taxpayers/{world.demo.taxpayer_ref}").status_code == 200
    me = _taxpayer(world)
    token = sign_in(client, me)
    report = client.get("/web/me/access-report")
    assert report.status_code == 200
    assert '<svg class="chart"' in report.text and "<rect" in report.text
    assert "<script>" not in report.text
    assert world.demo.principal not in report.text  # a pseudonym, not the employee's id
    assert "collection" in report.text.lower() and 'id="accesses"' in report.text
    started = client.post("/web/me/access-report/pdf", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert started.status_code == 200
    assert 'role="status"' in started.text
    task = re.search(r'id="task-([0-9a-f]{24})"', started.text)
    assert task
    for _ in range(100):
        status = client.get(f"/web/tasks/{task.group(1)}", headers={"HX-Request": "true"})
        if "hx-trigger" not in status.text:
            break
        time.sleep(0.1)
    assert "Open access-report.pdf" in status.text
    pdf = client.get(f"/web/tasks/{task.group(1)}/result")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    # another session cannot see her task
    assert staff.get(f"/web/tasks/{task.group(1)}/result").status_code == 404
    actions = [e["action"] for e in audit_events_of(world, me)]
    assert actions.count("read:access_report") >= 2  # the page and the PDF
