"""Each role's main flow in a real browser (Debian's chromium through Playwright), with screenshots."""

from __future__ import annotations

import pytest
from console_harness import LiveServer, World, browser_sign_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_caseworker_signs_in_chooses_a_purpose_and_sees_her_cases(
    browser: object, live_server: LiveServer, world: World
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    browser_sign_in(page, live_server, world, world.demo.principal, purpose="collection")
    assert "Acting for: Collection" in page.inner_text("header")
    page.get_by_role("link", name="My cases").first.click()
    page.wait_for_url("**/web/cases/")
    assert page.title() == "My cases · taxvault console"
    assert page.locator("table caption").inner_text().startswith("Your assigned cases")
    screenshot(page, "caseworker-cases")
    assert not errors, errors  # no CSP violation, no script error
    context.close()
