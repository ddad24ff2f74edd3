"""Each role's main flow in a real browser (Debian's chromium through Playwright), with screenshots.

One chromium and one server per module (fixtures in console_harness.py). Every page is checked
for console errors (a CSP violation or a script error shows there), and the server's log of
the whole run is checked for the TIN the caseworker typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_harness import LiveServer, World, aur_caseworker, browser_sign_in, screenshot, seed_lead

from taxvault.access.principals import ensure_taxpayer_principal

pytestmark = [pytest.mark.browser, pytest.mark.slow]
_FOCUSED = "(e => e.tagName + ':' + (e.id || e.textContent.trim()))(document.activeElement)"
_TIN_SHAPE = re.compile(r"(?<![0-9A-Za-z])[0-9]{3}-?[0-9]{2}-?[0-9]{4}(?![0-9A-Za-z])")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.errors = errors
    yield tab
    context.close()
    assert not errors, errors  # no CSP violation, no script error


def test_caseworker_main_flow(page: Any, live_server: LiveServer, world: World) -> None:
    base = live_server.base_url
    browser_sign_in(page, live_server, world, world.demo.principal, purpose="collection")
    assert "Acting for: Collection" in page.inner_text("header")
    screenshot(page, "caseworker-home")

    page.get_by_role("link", name="My cases").first.click()
    page.wait_for_url("**/web/cases/")
    assert page.title() == "My cases · taxvault console"
    assert page.locator("table caption").inner_text().startswith("Your assigned cases")
    screenshot(page, "caseworker-cases")

    page.get_by_role("link", name="Look up a taxpayer").first.click()
    page.get_by_label("TIN (SSN, ITIN or EIN)").fill(world.demo.tin)
    page.get_by_role("button", name="Look up").click()
    page.wait_for_url(f"**/web/cases/taxpayers/{world.demo.taxpayer_ref}")
    assert world.demo.tin not in page.url and world.demo.tin not in page.title()
    assert page.locator(".tag", has_text="masked for this purpose").count() >= 1
    screenshot(page, "caseworker-taxpayer")

    page.locator(f'a[href="/web/cases/modules/{world.demo.module_ref}"]').click()
    page.get_by_label("Penalties and interest as of").fill("2026-06-30")
    page.get_by_role("button", name="Recompute").click()
    page.wait_for_url("**as_of=2026-06-30")
    assert "Balance as of 2026-06-30" in page.inner_text("main")
    assert page.locator("#accruals").is_visible()
    screenshot(page, "caseworker-module")

    page.get_by_label("Transaction code").select_option("290")
    page.get_by_label("Amount (dollars)").fill("8000000.00")
    page.get_by_role("button", name="Propose").click()
    page.wait_for_url("**proposed=*")
    assert "waits for your manager's approval" in page.locator("#proposed").inner_text()
    screenshot(page, "caseworker-adjustment-waiting")

    pdf_href = page.locator('a[href$=".pdf"]').first.get_attribute("href")
    answer = page.request.get(base + pdf_href)
    assert answer.status == 200 and answer.body().startswith(b"%PDF")


def test_caseworker_verifies_a_matching_lead(page: Any, live_server: LiveServer, world: World) -> None:
    lead = seed_lead(world)
    browser_sign_in(page, live_server, world, aur_caseworker(world), purpose="matching_verification")
    page.get_by_role("link", name="Matching leads").first.click()
    page.wait_for_url("**/web/cases/leads")
    row = page.locator("tr", has_text=lead)
    assert row.count() == 1
    screenshot(page, "caseworker-leads")
    row.get_by_label("Note").fill("Checked the death record against the estate's letters.")
    row.get_by_role("button", name="Mark verified").click()
    page.wait_for_url("**state=verified")
    assert page.locator("tr", has_text=lead).count() == 1


def test_keyboard_skip_link_and_focus(page: Any, live_server: LiveServer, world: World) -> None:
    browser_sign_in(page, live_server, world, world.demo.principal, purpose="collection")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    inside_main = page.evaluate("document.activeElement.closest('main') !== null")
    assert inside_main
    order = []
    page.goto(live_server.base_url + "/web/")
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate(_FOCUSED))
    assert order[0] == "A:Skip to content"
    assert "SELECT:purpose-select" in order  # the purpose is reachable by keyboard, before the navigation


def test_url_tampering_in_the_browser_gives_a_page_not_a_traceback(
    page: Any, live_server: LiveServer, world: World
) -> None:
    browser_sign_in(page, live_server, world, world.demo.principal, purpose="collection")
    answer = page.goto(live_server.base_url + "/web/cases/taxpayers/e0000000000000000000f")
    assert answer is not None and answer.status == 404
    assert page.title() == "Not found · taxvault console"
    page.errors.clear()  # the 404 itself is logged by chromium as a failed resource
    screenshot(page, "error-not-found")


def test_taxpayer_main_flow(page: Any, live_server: LiveServer, world: World) -> None:
    with world.engine.begin() as conn:
        me = ensure_taxpayer_principal(conn, world.demo.taxpayer_ref)
    browser_sign_in(page, live_server, world, me)
    assert "Acting for: Self service" in page.inner_text("header")
    page.get_by_role("link", name="My account").first.click()
    page.wait_for_url("**/web/me/")
    screenshot(page, "taxpayer-account")
    page.locator(f'a[href="/web/me/modules/{world.demo.module_ref}"]').click()
    assert page.title() == "Account transcript · taxvault console"
    screenshot(page, "taxpayer-transcript")
    page.get_by_role("link", name="My notices").first.click()
    assert page.locator("table caption").inner_text().startswith("Notices sent to you")
    screenshot(page, "taxpayer-notices")
    page.get_by_role("link", name="Who looked at my records").first.click()
    assert page.locator("svg.chart rect.bar").count() >= 6
    assert page.locator("#accesses tbody tr").count() >= 1  # the caseworker's reads above
    screenshot(page, "taxpayer-access-report")
    page.get_by_role("button", name="Prepare the PDF").click()
    link = page.get_by_role("link", name="Open access-report.pdf")
    link.wait_for(timeout=30_000)
    answer = page.request.get(live_server.base_url + link.get_attribute("href"))
    assert answer.body().startswith(b"%PDF")
    screenshot(page, "taxpayer-access-report-pdf-ready")


def test_the_server_log_of_the_run_holds_no_tin(live_server: LiveServer, world: World) -> None:
    log = live_server.log()
    assert "/web/cases/lookup" in log  # the look-up happened in this run
    assert world.demo.tin not in log
    for line in log.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            assert not _TIN_SHAPE.search(str(entry.get("path", ""))), line


def test_docs_and_redoc_render_with_no_network_but_the_server(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(live_server.base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.goto(live_server.base_url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI drew the operations
    assert page.locator(".opblock").count() > 10
    screenshot(page, "docs-swagger")
    page.goto(live_server.base_url + "/redoc")
    page.wait_for_selector("[data-section-id]", timeout=30_000)  # ReDoc drew the sections
    context.close()
    assert not outside, outside
