"""The adjustment form sent twice (a double click, a resubmit from the history) proposes it once.

The form carries a one-time ``form_id``, used as the write's idempotency key: the second submit
is answered with the first proposal (and audited as a replay), never a second adjustment.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of
from fastapi.testclient import TestClient

from taxvault.ledger.tables import ledger_adjustments
from taxvault.store.tables import tax_modules

_FORM_ID = re.compile(r'name="form_id" value="([A-Za-z0-9_\-]+)"')


def _count(world: World) -> int:
    with world.engine.connect() as conn:
        module = sa.select(tax_modules.c.id).where(tax_modules.c.ref == world.demo.module_ref).scalar_subquery()
        q = sa.select(sa.func.count()).select_from(ledger_adjustments).where(ledger_adjustments.c.module_id == module)
        return int(conn.execute(q).scalar_one())


def test_the_adjustment_form_sent_twice_proposes_once(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    page = client.get(f"/web/cases/modules/{world.demo.module_ref}")
    match = _FORM_ID.search(page.text)
    assert page.status_code == 200 and match, page.text[-600:]
    before, events_before = _count(world), len(audit_events_of(world, world.demo.principal))
    url = f"/web/cases/modules/{world.demo.module_ref}/adjustments"
    form = {"tc": "291", "amount": "2.25", "reason_code": "51", "csrf_token": token, "form_id": match.group(1)}
    first = client.post(url, data=form, follow_redirects=False)
    second = client.post(url, data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"] and "proposed=" in first.headers["location"]
    assert _count(world) == before + 1
    actions = [e["action"] for e in audit_events_of(world, world.demo.principal)[events_before:]]
    assert actions.count("request_adjustment:module_transcript") == 1
    assert actions.count("replay:module_transcript") == 1

    shown = client.get(first.headers["location"])
    fresh = _FORM_ID.search(shown.text)
    assert fresh and fresh.group(1) != match.group(1), "every page gets a new form id"
    again = client.post(url, data={**form, "form_id": fresh.group(1)}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] != first.headers["location"]
    assert _count(world) == before + 2, "the same adjustment from a new page is a new proposal"
