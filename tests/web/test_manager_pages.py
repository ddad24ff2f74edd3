"""Manager pages through httpx: the approvals queue (two-person rule by the door), break-glass reviews."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of, csrf_of
from fastapi.testclient import TestClient

from taxvault.access.tables import break_glass_reviews
from taxvault.audit.tables import audit_events
from taxvault.ledger import adjustments
from taxvault.ledger.tables import ledger_adjustments
from taxvault.store.tables import principals, tax_modules

OVER = "20000.00"  # over any caseworker's authority ($10,000 at most), within her manager's ($250,000)
REASON = "the taxpayer called about a levy; the case was opened the next day"


def _manager_of(world: World, who: str) -> str:
    found = world.scalar(sa.select(principals.c.manager_id).where(principals.c.id == who))
    assert found, "the demo caseworker has no manager"
    return str(found)


def _propose_over_authority(client: TestClient, world: World, sign_in: SignIn) -> str:
    token = sign_in(client, world.demo.principal, purpose="collection")
    done = client.post(
        f"/web/cases/modules/{world.demo.module_ref}/adjustments",
        data={"tc": "290", "amount": OVER, "csrf_token": token},
    )
    assert done.status_code == 200, done.text[-500:]
    proposed = re.search(r"proposed=([a-z0-9]+)", str(done.url))
    assert proposed
    return proposed.group(1)


def _state(world: World, ref: str) -> str:
    return str(world.scalar(sa.select(ledger_adjustments.c.state).where(ledger_adjustments.c.ref == ref)))


def test_manager_approves_her_staff_request_with_the_form(client: TestClient, world: World, sign_in: SignIn) -> None:
    adj = _propose_over_authority(client, world, sign_in)
    manager = _manager_of(world, world.demo.principal)
    token = sign_in(client, manager, purpose="collection")
    queue = client.get("/web/approvals/")
    assert queue.status_code == 200
    assert adj in queue.text and world.demo.module_ref in queue.text
    assert "$20,000.00" in queue.text
    assert world.demo.tin not in queue.text
    assert any(e["action"] == "read:approvals" and e["channel"] == "web" for e in audit_events_of(world, manager))
    action = f"/web/approvals/{world.demo.module_ref}/{adj}/approve"
    assert f'action="{action}"' in queue.text
    # without the CSRF token: refused (audited), nothing changes
    refused = client.post(action, data={"note": "ok"})
    assert refused.status_code == 403
    assert _state(world, adj) == "awaiting_approval"
    assert any(e["action"] == "web_post" and e["decision"] == "deny" for e in audit_events_of(world, manager))
    # a cross-site post with her cookie does nothing either
    cross = client.post(action, data={"note": "ok", "csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and _state(world, adj) == "awaiting_approval"
    done = client.post(action, data={"note": "checked the levy file", "csrf_token": token})
    assert done.status_code == 200, (re.findall(r"<p>.*</p>", done.text), audit_events_of(world, manager)[-1])
    assert done.url.path == "/web/approvals/"
    assert f"Adjustment {adj} approved." in done.text
    assert _state(world, adj) == "pending"
    events = audit_events_of(world, manager)
    assert any(e["action"] == "approve_adjustment:module_transcript" and e["decision"] == "allow" for e in events)


def test_a_manager_cannot_approve_her_own_request(client: TestClient, world: World, sign_in: SignIn) -> None:
    manager = _manager_of(world, world.demo.principal)
    with world.engine.begin() as conn:
        module_id = conn.execute(sa.select(tax_modules.c.id).where(tax_modules.c.ref == world.demo.module_ref)).scalar()
        assert module_id is not None
        own = adjustments.request(
            conn, int(module_id), tc=290, amount_cents=2_000_000, reason_code=None, requested_by=manager,
            request_id="web-test-own-request", within_authority=False,
        )  # fmt: skip
    token = sign_in(client, manager, purpose="collection")
    refused = client.post(
        f"/web/approvals/{world.demo.module_ref}/{own.ref}/approve", data={"note": "", "csrf_token": token}
    )
    assert refused.status_code == 403
    assert "Not authorized" in refused.text
    assert _state(world, own.ref) == "awaiting_approval"
    denied = [e for e in audit_events_of(world, manager) if e["action"] == "approve_adjustment:module_transcript"]
    assert denied and denied[-1]["decision"] == "deny"
    assert "forbid-approve-own-request" in (denied[-1]["policy"] or "")


def test_a_caseworker_has_no_approvals_queue(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    page = client.get("/web/approvals/")
    assert page.status_code == 403
    assert '<a href="/web/approvals/"' not in page.text  # not in her navigation either
    events = audit_events_of(world, world.demo.principal)
    assert events[-1]["action"] == "read:approvals" and events[-1]["decision"] == "deny"


def _queue_break_glass(world: World, employee: str) -> int:
    with world.engine.begin() as conn:
        leaf = conn.execute(sa.select(sa.func.max(audit_events.c.leaf_index))).scalar_one()
        key = conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=int(leaf), request_id="web-0000000000000000", principal_id=employee,
                action="read:module_transcript", resource=world.demo.module_ref, purpose="collection",
                justification="taxpayer on the phone, urgent levy", created_at=dt.datetime.now(dt.UTC),
                state="pending",
            )
        ).inserted_primary_key  # fmt: skip
    assert key is not None
    return int(key[0])


def test_manager_upholds_and_refers_break_glass_accesses(client: TestClient, world: World, sign_in: SignIn) -> None:
    manager = _manager_of(world, world.demo.principal)
    first, second = _queue_break_glass(world, world.demo.principal), _queue_break_glass(world, world.demo.principal)
    token = sign_in(client, manager, purpose="collection")
    page = client.get("/web/reviews/")
    assert page.status_code == 200
    assert f'action="/web/reviews/{first}/uphold"' in page.text
    assert "taxpayer on the phone, urgent levy" in page.text
    short = client.post(f"/web/reviews/{first}/uphold", data={"reason": "ok", "csrf_token": token})
    assert short.status_code == 400  # a reason of 10 characters at least
    upheld = client.post(f"/web/reviews/{first}/uphold", data={"reason": REASON, "csrf_token": token})
    assert upheld.status_code == 200 and upheld.url.params["state"] == "upheld"
    assert REASON in upheld.text
    referred = client.post(f"/web/reviews/{second}/refer", data={"reason": REASON, "csrf_token": csrf_of(page.text)})
    assert referred.status_code == 200 and referred.url.params["state"] == "referred"
    again = client.post(f"/web/reviews/{second}/uphold", data={"reason": REASON, "csrf_token": token})
    assert again.status_code == 409
    # the employee herself may not review her own
    own = _queue_break_glass(world, world.demo.principal)
    token = sign_in(client, world.demo.principal, purpose="collection")
    mine = client.post(f"/web/reviews/{own}/uphold", data={"reason": REASON, "csrf_token": token})
    assert mine.status_code == 403
    events = audit_events_of(world, world.demo.principal)
    assert events[-1]["action"] == "uphold_break_glass:break_glass_review" and events[-1]["decision"] == "deny"
