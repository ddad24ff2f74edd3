"""Caseworker pages through httpx: each page through the door (audited, channel web), tampering refused."""

from __future__ import annotations

import re

import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of, aur_caseworker, seed_lead
from fastapi.testclient import TestClient

from taxvault.store.tables import case_subjects, cases, entities, notices, tax_modules

_TIN_SHAPES = re.compile(r"(?<![0-9a-f])[0-9]{3}-?[0-9]{2}-?[0-9]{4}(?![0-9a-f])")


def _hers(world: World) -> tuple[set[str], set[str]]:
    """The entity refs and module refs of the demo caseworker's open cases."""
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(entities.c.ref, entities.c.id)
            .select_from(
                cases.join(case_subjects, case_subjects.c.case_id == cases.c.id).join(
                    entities, entities.c.id == case_subjects.c.entity_id
                )
            )
            .where(cases.c.assigned_to == world.demo.principal)
        ).all()
        ids = [r.id for r in rows]
        mods = conn.execute(sa.select(tax_modules.c.ref).where(tax_modules.c.entity_id.in_(ids))).scalars().all()
    return {r.ref for r in rows}, set(mods)


def _someone_else(world: World) -> tuple[str, str, str]:
    """(entity ref, module ref, notice ref) of a taxpayer who is not in her cases."""
    refs, _ = _hers(world)
    with world.engine.connect() as conn:
        row = conn.execute(
            sa.select(entities.c.ref, tax_modules.c.ref.label("module"), notices.c.ref.label("notice"))
            .select_from(
                entities.join(tax_modules, tax_modules.c.entity_id == entities.c.id).join(
                    notices, notices.c.module_id == tax_modules.c.id
                )
            )
            .where(entities.c.ref.not_in(refs))
            .limit(1)
        ).one()
    return str(row.ref), str(row.module), str(row.notice)


def test_my_cases_lists_her_cases_with_links_by_opaque_ref(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    page = client.get("/web/cases/")
    assert page.status_code == 200
    assert f"/web/cases/taxpayers/{world.demo.taxpayer_ref}" in page.text
    assert world.demo.tin not in page.text


def test_look_up_by_tin_posts_the_tin_and_redirects_by_opaque_ref(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    form = client.get("/web/cases/lookup")
    assert 'method="post"' in form.text and 'name="tin"' in form.text
    found = client.post("/web/cases/lookup", data={"tin": world.demo.tin, "csrf_token": _csrf(client)})
    assert found.status_code == 200
    assert found.url.path == f"/web/cases/taxpayers/{world.demo.taxpayer_ref}"
    assert all(world.demo.tin not in str(r.url) for r in [*found.history, found])
    assert world.demo.tin not in found.text.split("<title>")[1].split("</title>")[0]
    events = audit_events_of(world, world.demo.principal)
    assert any(e["action"] == "lookup:entity" and e["decision"] == "allow" and e["channel"] == "web" for e in events)


def test_look_up_of_someone_not_in_her_cases_is_a_404_page(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    miss = client.post("/web/cases/lookup", data={"tin": "900490001", "csrf_token": _csrf(client)})
    assert miss.status_code == 404
    assert "No taxpayer you may access" in miss.text
    assert "900490001" not in miss.text
    bad = client.post("/web/cases/lookup", data={"tin": "12ab", "csrf_token": _csrf(client)})
    assert bad.status_code == 400


def test_taxpayer_summary_shows_masking_as_such(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="taxpayer_assistance")
    # not her case's purpose: the door refuses (403 page), audited
    refused = client.get(f"/web/cases/taxpayers/{world.demo.taxpayer_ref}")
    assert refused.status_code == 403
    assert "Not authorized" in refused.text
    sign_in(client, world.demo.principal, purpose="collection")
    page = client.get(f"/web/cases/taxpayers/{world.demo.taxpayer_ref}")
    assert page.status_code == 200
    assert "masked for this purpose" in page.text  # birth date: year only for collection
    assert 'class="masked"' in page.text
    assert "Taxpayer summary · taxvault console" in page.text
    assert f"/web/cases/modules/{world.demo.module_ref}" in page.text


def test_module_transcript_with_accruals_as_of_a_date(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    page = client.get(f"/web/cases/modules/{world.demo.module_ref}", params={"as_of": "2026-06-30"})
    assert page.status_code == 200
    assert "Balance as of 2026-06-30" in page.text
    assert "Payoff" in page.text and "Interest" in page.text
    assert 'id="accruals"' in page.text
    assert ".pdf" in page.text  # her module has notices (the demo picks one that has)
    kinds = {e["action"] for e in audit_events_of(world, world.demo.principal)[-3:]}
    assert kinds == {"read:module_transcript", "read_adjustments:module_transcript", "read:notices"}


def test_notice_pdf_opens_through_the_door(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    page = client.get(f"/web/cases/modules/{world.demo.module_ref}")
    assert page.status_code == 200, page.text[-600:]
    link = re.search(r'href="(/web/cases/modules/[a-z0-9]+/notices/[a-z0-9]+\.pdf)"', page.text)
    assert link
    pdf = client.get(link.group(1))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"


def test_an_adjustment_over_her_authority_waits_for_approval(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    url = f"/web/cases/modules/{world.demo.module_ref}/adjustments"
    big = client.post(url, data={"tc": "290", "amount": "9,000,000.00", "reason_code": "51", "csrf_token": token})
    assert big.status_code == 200
    assert "waits for your manager" in big.text
    small = client.post(url, data={"tc": "291", "amount": "1.50", "csrf_token": token})
    assert "posts at the next cycle" in small.text
    assert "$1.50" in small.text or "-$1.50" in small.text
    wrong = client.post(url, data={"tc": "570", "amount": "12.00", "csrf_token": token})
    assert wrong.status_code == 400
    assert "carries no amount" in wrong.text
    no_token = client.post(url, data={"tc": "290", "amount": "5.00"})
    assert no_token.status_code == 403
    actions = [e["action"] for e in audit_events_of(world, world.demo.principal)]
    assert actions.count("request_adjustment:module_transcript") >= 2


def test_url_tampering_reaches_no_other_taxpayer_module_or_notice(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    other, other_module, other_notice = _someone_else(world)
    before = len(audit_events_of(world, world.demo.principal))
    probes = [
        f"/web/cases/taxpayers/{other}",
        f"/web/cases/modules/{other_module}",
        f"/web/cases/modules/{other_module}/notices/{other_notice}.pdf",
        f"/web/cases/modules/{world.demo.module_ref}/notices/{other_notice}.pdf",  # her module, another's notice
        "/web/cases/taxpayers/e0000000000000000000f",  # no such record
    ]
    for path in probes:
        answer = client.get(path)
        assert answer.status_code in (403, 404), path
        assert "<title>" in answer.text and "Traceback" not in answer.text
    events = audit_events_of(world, world.demo.principal)[before:]
    refused = [e for e in events if e["decision"] == "deny" or (e["policy"] or "").endswith("no-document")]
    assert len(refused) >= len(probes)
    assert {other, other_module} <= {e["resource"] for e in refused}


def test_no_tin_in_any_url_or_title_of_her_pages(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    seen: list[str] = []
    for path in (
        "/web/cases/",
        f"/web/cases/taxpayers/{world.demo.taxpayer_ref}",
        f"/web/cases/modules/{world.demo.module_ref}",
    ):
        page = client.get(path)
        seen.extend(re.findall(r'href="([^"]+)"', page.text))
        seen.append(page.text.split("<title>")[1].split("</title>")[0])
    assert seen
    assert not [s for s in seen if _TIN_SHAPES.search(s)]


def test_matching_leads_to_verify(client: TestClient, world: World, sign_in: SignIn) -> None:
    lead = seed_lead(world)
    worker = aur_caseworker(world)
    token = sign_in(client, worker, purpose="matching_verification")
    assert "Matching leads" in client.get("/web/").text
    page = client.get("/web/cases/leads")
    assert page.status_code == 200
    assert lead in page.text and "Mark verified" in page.text
    done = client.post(
        f"/web/cases/leads/{lead}/verify", data={"csrf_token": token, "note": "Checked the death record."}
    )
    assert done.status_code == 200
    assert done.url.query == b"state=verified" or "state=verified" in str(done.url)
    assert lead in done.text
    assert lead not in client.get("/web/cases/leads").text  # no longer new
    actions = [e["action"] for e in audit_events_of(world, worker)]
    assert "move_lead:matching_lead" in actions and "list:matching_lead" in actions


def test_a_collection_caseworker_is_not_offered_leads_and_is_refused_them(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    sign_in(client, world.demo.principal, purpose="matching_verification")
    assert "Matching leads" not in client.get("/web/").text
    refused = client.get("/web/cases/leads")
    assert refused.status_code == 403
    assert audit_events_of(world, world.demo.principal)[-1]["decision"] == "deny"


def _csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/web/").text)
    assert match
    return match.group(1)
