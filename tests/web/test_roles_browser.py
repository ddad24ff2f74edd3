"""Manager, oversight and ask: each main flow in a real browser (Debian's chromium), with screenshots at 1280/390.

One chromium and one server for the module (console_harness.py). Every page is checked for
console errors (a CSP violation shows there); "verify now" is followed through htmx polling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from console_harness import LiveServer, World, browser_sign_in, screenshot
from playwright.sync_api import expect

from taxvault.access.tables import break_glass_reviews
from taxvault.audit.tables import audit_events
from taxvault.ledger import adjustments
from taxvault.oversight.alerts import AlertDraft, raise_alerts
from taxvault.store.tables import principals, tax_modules

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REASON = "the taxpayer called about a levy; the case was opened the next day"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert not errors, errors


def _manager(world: World) -> str:
    return str(world.scalar(sa.select(principals.c.manager_id).where(principals.c.id == world.demo.principal)))


def _last_leaf(world: World) -> int:
    return int(world.scalar(sa.select(sa.func.max(audit_events.c.leaf_index))))


def _seed_manager_work(world: World) -> tuple[str, int]:
    """An adjustment of her staff over his authority and a break-glass access awaiting review."""
    with world.engine.begin() as conn:
        module_id = conn.execute(sa.select(tax_modules.c.id).where(tax_modules.c.ref == world.demo.module_ref)).scalar()
        adj = adjustments.request(
            conn, int(module_id or 0), tc=290, amount_cents=1_500_000, reason_code=None,
            requested_by=world.demo.principal, request_id="web-browser-test", within_authority=False,
        )  # fmt: skip
        key = conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=_last_leaf(world), request_id="web-0000000000000001", principal_id=world.demo.principal,
                action="read:module_transcript", resource=world.demo.module_ref, purpose="collection",
                justification="taxpayer on the phone, urgent levy", created_at=dt.datetime.now(dt.UTC),
                state="pending",
            )
        ).inserted_primary_key  # fmt: skip
    assert key is not None
    return adj.ref, int(key[0])


def test_manager_main_flow(page: Any, live_server: LiveServer, world: World) -> None:
    adj, review_id = _seed_manager_work(world)
    browser_sign_in(page, live_server, world, _manager(world), purpose="collection")
    page.get_by_role("link", name="Approvals").first.click()
    page.wait_for_url("**/web/approvals/")
    row = page.locator("tr", has_text=adj)
    assert "$15,000.00" in row.inner_text()
    screenshot(page, "manager-approvals")
    row.get_by_label(f"Note for {adj}").fill("Checked the levy file.")
    row.get_by_role("button", name="Approve").click()
    page.wait_for_url("**outcome=approved")
    assert f"Adjustment {adj} approved." in page.inner_text("main")
    assert page.locator("tr", has_text=adj).count() == 0

    page.get_by_role("link", name="Break-glass reviews").first.click()
    page.wait_for_url("**/web/reviews/")
    row = page.locator("tr", has_text="taxpayer on the phone, urgent levy").first
    screenshot(page, "manager-reviews")
    page.get_by_label(f"Reason for access {review_id}").fill(REASON)
    page.locator(f'form[action="/web/reviews/{review_id}/uphold"]').get_by_role(
        "button", name="Refer to oversight"
    ).click()
    page.wait_for_url("**state=referred**")
    assert f"Break-glass access {review_id} referred." in page.inner_text("main")


def test_oversight_main_flow(page: Any, live_server: LiveServer, world: World) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = _last_leaf(world)
    draft = AlertDraft(
        rule="browsing", severity="high", summary=f"{world.demo.principal} read records outside her cases",
        leaves=[leaf], principal_id=world.demo.principal, subject=world.demo.taxpayer_ref,
        window=(now, now), dedupe=f"web-browser:{leaf}",
    )  # fmt: skip
    with world.engine.begin() as conn:
        ref = raise_alerts(conn, [draft], now=now)[0]
    browser_sign_in(page, live_server, world, "ovs-privacy", purpose="oversight_review")
    page.get_by_role("link", name="Audit log").first.click()
    page.wait_for_url("**/web/oversight/events")
    page.get_by_label("Principal").fill("ovs-privacy")  # her own reads of the log: the newest events
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**principal=*")
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 1
    texts = rows.all_inner_texts()  # her events only (other tests of the run add other actions of hers)
    assert all("ovs-privacy" in t for t in texts) and any("read_audit:audit_log" in t for t in texts)
    screenshot(page, "oversight-events")
    rows.first.locator("a").first.click()
    page.wait_for_url("**/web/oversight/events/*")
    assert page.locator("#proof-verdict").inner_text().startswith("Verified on the server")
    screenshot(page, "oversight-proof")

    page.get_by_role("link", name="Tree heads").first.click()
    page.wait_for_url("**/web/oversight/heads")
    page.get_by_role("button", name="Verify the whole log now").click()
    page.locator("#verify-summary").wait_for(timeout=30_000)
    assert page.locator("#verify-summary").inner_text().startswith("OK:")
    assert page.url.endswith("/web/oversight/heads")  # htmx swapped the result in
    screenshot(page, "oversight-heads-verified")

    page.get_by_role("link", name="Scan").first.click()
    page.wait_for_url("**/web/oversight/scan/")
    page.get_by_role("button", name="Scan now").click()
    page.locator("#scan-task .step", has_text="scanned").wait_for(timeout=60_000)
    assert page.locator("#scan-task progress").get_attribute("value") == "100"
    screenshot(page, "oversight-scan")

    page.get_by_role("link", name="Alerts").first.click()
    page.wait_for_url("**/web/oversight/alerts")
    screenshot(page, "oversight-alerts")
    page.locator(f'a[href="/web/oversight/alerts/{ref}"]').click()
    page.get_by_label("Confirm unauthorised access", exact=False).check()
    page.get_by_role("button", name="Record the review").click()
    page.wait_for_url("**done=confirm")
    assert page.locator("#alert-state").inner_text() == "confirming"
    screenshot(page, "oversight-alert")


def test_ask_main_flow(page: Any, live_server: LiveServer, world: World) -> None:
    browser_sign_in(page, live_server, world, world.demo.principal, purpose="collection")
    page.get_by_role("link", name="Ask a question").first.click()
    page.get_by_label("Your question").fill("How many notices were issued each year?")
    page.get_by_role("button", name="Show the plan").click()
    expect(page).to_have_title("The plan · taxvault console")
    assert page.locator("#plan-description").inner_text()
    screenshot(page, "ask-plan")
    page.get_by_role("button", name="Run this plan").click()
    expect(page).to_have_title("The answer · taxvault console")
    assert page.locator("#answer tbody tr").count() >= 1
    screenshot(page, "ask-answer")
    page.get_by_role("link", name="Ask another question").click()
    page.get_by_label("Your question").fill("delete all taxpayers")
    page.get_by_role("button", name="Show the plan").click()
    expect(page.locator("#refusal")).to_be_visible()
    screenshot(page, "ask-refused")
    page.locator("ul.nearest button").first.click()
    expect(page).to_have_title("The plan · taxvault console")


def test_analyst_sees_noise_and_budget(page: Any, live_server: LiveServer, world: World) -> None:
    browser_sign_in(page, live_server, world, "ana-001", purpose="statistics")
    page.goto(live_server.base_url + "/web/ask/")
    page.get_by_label("Your question").fill("How many returns by filing status?")
    page.get_by_role("button", name="Show the plan").click()
    expect(page).to_have_title("The plan · taxvault console")
    page.get_by_role("button", name="Run this plan").click()
    expect(page).to_have_title("The answer · taxvault console")
    assert "Privacy budget" in page.locator("#budget").inner_text()
    assert page.locator("#answer tbody tr").count() >= 1
    screenshot(page, "ask-analyst-answer")
