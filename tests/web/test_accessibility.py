"""axe-core on the main pages of every role: no serious or critical violation (390 px; 1280 px for some).

axe-core comes bundled with axe-playwright-python (axe.min.js in the wheel, injected with
``page.evaluate``): nothing is fetched from the network; the test also checks that no page
asks for anything outside the server under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from console_harness import LiveServer, World, aur_caseworker, browser_sign_in, seed_lead
from playwright.sync_api import expect

from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.access.tables import break_glass_reviews
from taxvault.audit.tables import audit_events
from taxvault.ledger import adjustments
from taxvault.oversight.alerts import AlertDraft, raise_alerts
from taxvault.store.tables import principals, tax_modules

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AXE = Axe()
BLOCKING = frozenset({"serious", "critical"})
WIDTHS = (1280, 390)
_RUN = "() => axe.run(document, {resultTypes: ['violations']})"
_SETTLED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(null))))"


class Audit:
    """One browser context: visits pages, runs axe at both widths, records violations and outside requests."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.outside: list[str] = []
        self.checked: list[str] = []
        self.page.on("request", self._request)

    def _request(self, req: Any) -> None:
        if not req.url.startswith((self.server.base_url, "data:", "about:")):
            self.outside.append(req.url)

    def check(self, name: str, path: str | None = None, *, wide: bool = False) -> None:
        """axe on the current page (after going to ``path`` if given) at 390 px, and at 1280 px when ``wide``.

        Why not every page at both widths: the same templates and CSS serve both, and what differs
        (reflow, tables that scroll, stacked cards) shows at 390 px; each role's pages are also
        checked at 1280 px once (its header and navigation), which keeps the module's time down.
        """
        if path is not None:
            self.page.goto(self.server.base_url + path)
        for width in WIDTHS if wide else WIDTHS[1:]:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.evaluate(_SETTLED)  # the resize handlers have run
            found = self._axe()
            for v in found:
                if v.get("impact") in BLOCKING:
                    targets = [n["target"] for n in v["nodes"]][:3]
                    self.problems.append(f"{name} @{width}px: {v['id']} ({v['impact']}) {v['help']} {targets}")
        self.page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        self.checked.append(name)

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.wait_for_url("**/web/signed-out")

    def _axe(self) -> list[dict[str, Any]]:
        """axe.run on the page: the bundled script injected once per document (as ``Axe.run`` does each time)."""
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.evaluate(AXE.axe_script)
        found: list[dict[str, Any]] = self.page.evaluate(_RUN)["violations"]
        return found

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def audit(browser: Any, live_server: LiveServer) -> Iterator[Audit]:
    a = Audit(browser, live_server)
    yield a
    a.close()
    assert not a.outside, f"requests outside the server: {a.outside}"
    assert not a.problems, "\n".join(a.problems)


def test_axe_bundled_offline() -> None:
    assert "axe v4." in AXE.axe_script[:40]
    assert "fetch(" not in AXE.axe_script.split("axe.run", 1)[0][:200]  # injected as text, not loaded


def test_sign_in_and_caseworker_pages(audit: Audit, world: World) -> None:
    audit.check("sign-in", "/web/", wide=True)
    browser_sign_in(audit.page, audit.server, world, world.demo.principal, purpose="collection")
    audit.check("home")
    audit.check("caseworker-cases", "/web/cases/")
    audit.check("caseworker-lookup", "/web/cases/lookup")
    audit.check("caseworker-taxpayer", f"/web/cases/taxpayers/{world.demo.taxpayer_ref}")
    audit.check("caseworker-module", f"/web/cases/modules/{world.demo.module_ref}", wide=True)
    audit.check("error-not-found", "/web/cases/taxpayers/e0000000000000000000f")
    seed_lead(world)
    audit.sign_out()
    browser_sign_in(audit.page, audit.server, world, aur_caseworker(world), purpose="matching_verification")
    audit.check("caseworker-leads", "/web/cases/leads")


def test_taxpayer_pages(audit: Audit, world: World) -> None:
    with world.engine.begin() as conn:
        me = ensure_taxpayer_principal(conn, world.demo.taxpayer_ref)
    browser_sign_in(audit.page, audit.server, world, me)
    audit.check("taxpayer-account", "/web/me/")
    audit.check("taxpayer-transcript", f"/web/me/modules/{world.demo.module_ref}")
    audit.check("taxpayer-notices", "/web/me/notices")
    audit.check("taxpayer-access-report", "/web/me/access-report", wide=True)


def test_manager_pages(audit: Audit, world: World) -> None:
    manager = str(world.scalar(sa.select(principals.c.manager_id).where(principals.c.id == world.demo.principal)))
    with world.engine.begin() as conn:
        module_id = conn.execute(sa.select(tax_modules.c.id).where(tax_modules.c.ref == world.demo.module_ref)).scalar()
        adjustments.request(
            conn, int(module_id or 0), tc=290, amount_cents=1_200_000, reason_code=None,
            requested_by=world.demo.principal, request_id="web-axe", within_authority=False,
        )  # fmt: skip
        leaf = conn.execute(sa.select(sa.func.max(audit_events.c.leaf_index))).scalar_one()
        conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=int(leaf), request_id="web-0000000000000002", principal_id=world.demo.principal,
                action="read:module_transcript", resource=world.demo.module_ref, purpose="collection",
                justification="taxpayer on the phone, urgent levy", created_at=dt.datetime.now(dt.UTC),
                state="pending",
            )
        )  # fmt: skip
    browser_sign_in(audit.page, audit.server, world, manager, purpose="collection")
    audit.check("manager-approvals", "/web/approvals/", wide=True)
    audit.check("manager-reviews", "/web/reviews/")


def test_oversight_pages(audit: Audit, world: World) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = int(world.scalar(sa.select(sa.func.max(audit_events.c.leaf_index))))
    draft = AlertDraft(
        rule="browsing", severity="high", summary="read records outside her cases", leaves=[leaf],
        principal_id=world.demo.principal, subject=world.demo.taxpayer_ref, window=(now, now),
        dedupe=f"web-axe:{leaf}",
    )  # fmt: skip
    with world.engine.begin() as conn:
        ref = raise_alerts(conn, [draft], now=now)[0]
    browser_sign_in(audit.page, audit.server, world, "ovs-privacy", purpose="oversight_review")
    audit.check("oversight-events", "/web/oversight/events?principal=ovs-privacy", wide=True)  # structure, not volume
    audit.check("oversight-proof", f"/web/oversight/events/{leaf}", wide=True)
    audit.check("oversight-heads", "/web/oversight/heads")
    audit.check("oversight-scan", "/web/oversight/scan/")
    audit.check("oversight-alerts", "/web/oversight/alerts?state=all")
    audit.check("oversight-alert", f"/web/oversight/alerts/{ref}")


def test_ask_pages(audit: Audit, world: World) -> None:
    browser_sign_in(audit.page, audit.server, world, "ana-001", purpose="statistics")
    audit.check("ask", "/web/ask/")
    page = audit.page
    page.get_by_label("Your question").fill("How many returns by filing status?")
    page.get_by_role("button", name="Show the plan").click()
    expect(page).to_have_title("The plan · taxvault console")
    audit.check("ask-plan")
    page.get_by_role("button", name="Run this plan").click()
    expect(page).to_have_title("The answer · taxvault console")
    audit.check("ask-answer", wide=True)
    page.goto(audit.server.base_url + "/web/ask/")
    page.get_by_label("Your question").fill("delete all taxpayers")
    page.get_by_role("button", name="Show the plan").click()
    expect(page.locator("#refusal")).to_be_visible()
    audit.check("ask-refused")
