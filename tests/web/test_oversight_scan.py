"""Oversight's "Scan now": refused to a caseworker before anything runs; for a reviewer, progress, a summary."""

from __future__ import annotations

import re
import time

import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of
from fastapi.testclient import TestClient

from taxvault.oversight.tables import oversight_cursors
from taxvault.web.pages.oversight_scan import scan_summary

OVS = "ovs-privacy"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_a_caseworker_is_refused_before_the_scan_starts(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    assert client.get("/web/oversight/scan/").status_code in (200, 403)  # the form itself reads nothing
    refused = client.post("/web/oversight/scan/", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    assert "hx-get" not in refused.text  # no task was started
    last = audit_events_of(world, world.demo.principal)[-1]
    assert last["decision"] == "deny" and last["action"].endswith(":oversight_alert")
    assert "/web/oversight/scan/" not in client.get("/web/").text  # not in her navigation


def test_scan_now_shows_progress_then_what_it_found(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, OVS, purpose="oversight_review")
    page = client.get("/web/oversight/scan/")
    assert page.status_code == 200 and "Scan now" in page.text
    assert '/web/oversight/scan/"' in client.get("/web/").text  # in her navigation
    before = world.scalar(sa.select(sa.func.max(oversight_cursors.c.leaf)))
    started = client.post("/web/oversight/scan/", data={"csrf_token": _csrf(page.text)}, headers={"HX-Request": "true"})
    assert started.status_code == 200, started.text
    task_id = re.search(r'id="task-([0-9a-f]{24})"', started.text)  # a short pass may have ended already
    assert task_id, started.text
    poll = f"/web/tasks/{task_id.group(1)}"
    seen: list[int] = []
    status = started.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r'<progress[^>]*value="([0-9]+)"', status)
        assert found, status
        seen.append(int(found.group(1)))
        if 'hx-trigger="every 1s"' not in status:
            break
        time.sleep(0.1)
        status = client.get(poll, headers={"HX-Request": "true"}).text
    assert seen == sorted(seen) and seen[-1] == 100, seen  # never goes back; ends full
    summary = re.search(r'class="step">(scanned [^<]*)<', status)
    assert summary, status
    after = world.scalar(sa.select(sa.func.max(oversight_cursors.c.leaf)))
    assert after is not None and (before is None or after >= before)
    assert "new alerts" in summary.group(1)
    report = client.get(poll + "/result")
    assert report.status_code == 200 and report.text.startswith("scanned ")
    assert "scan:oversight_alert" in {e["action"] for e in audit_events_of(world, OVS)}


def test_the_summary_names_rules_and_counts_only() -> None:
    line = scan_summary(
        {"events": 1234, "start_leaf": 10, "end_leaf": 1244, "new_alerts": 2, "by_rule": {"b": 1, "a": 1}, "letters": 0}
    )
    assert line == "scanned 1,234 events (leaves 10..1244): 2 new alerts (a 1, b 1), 0 letters"
