"""Oversight pages through httpx: log browser, proofs verified server-side, heads, verify now, the alert queue."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of
from fastapi.testclient import TestClient

from taxvault.audit import export
from taxvault.audit.tables import audit_events
from taxvault.oversight.alerts import AlertDraft, raise_alerts
from taxvault.web.pages import oversight

OVS, OVS2 = "ovs-privacy", "ovs-tigta"
REASON = "the access matches an open collection case assignment"


def _last_leaf(world: World) -> int:
    return int(world.scalar(sa.select(sa.func.max(audit_events.c.leaf_index))))


def test_a_caseworker_cannot_open_the_oversight_pages(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    for path in ("/web/oversight/events", "/web/oversight/events/0", "/web/oversight/heads", "/web/oversight/alerts"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "Not authorized" in page.text
    assert client.post("/web/oversight/verify", data={"csrf_token": token}).status_code == 403
    denied = [e for e in audit_events_of(world, world.demo.principal) if e["decision"] == "deny"]
    actions = {e["action"] for e in denied[-5:]}
    assert {"read_audit:audit_log", "read:oversight_alert", "verify:audit_log"} <= actions
    assert "/web/oversight/" not in client.get("/web/").text  # not in her navigation


def test_log_browser_filters_and_pages_by_leaf(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    client.get("/web/cases/")  # one event of hers, channel web
    sign_in(client, OVS, purpose="oversight_review")
    page = client.get("/web/oversight/events", params={"principal": world.demo.principal})
    assert page.status_code == 200
    leaves = [int(x) for x in re.findall(r'href="/web/oversight/events/([0-9]+)"', page.text)]
    assert leaves and leaves == sorted(leaves, reverse=True)
    assert "read:my_cases" in page.text
    assert "<td>" + OVS + "</td>" not in page.text  # only hers
    # by resource kind and a day range; the page after the first goes below its lowest leaf
    day = dt.datetime.now(dt.UTC).date().isoformat()
    kind = client.get("/web/oversight/events", params={"resource": "my_cases", "since": day, "until": day})
    assert kind.status_code == 200 and "read:my_cases" in kind.text
    everything = client.get("/web/oversight/events", params={"size": 50})
    older = re.search(r'href="/web/oversight/events\?size=50&amp;before=([0-9]+)"', everything.text)
    assert older
    below = int(older.group(1))
    second = client.get("/web/oversight/events", params={"before": below})
    shown = [int(x) for x in re.findall(r'href="/web/oversight/events/([0-9]+)"', second.text)]
    assert shown and max(shown) == below - 1
    # a TIN is not a filter (nor ever in a URL this page makes)
    assert client.get("/web/oversight/events", params={"principal": world.demo.tin}).status_code == 400
    events = audit_events_of(world, OVS)
    assert any(e["action"] == "read_audit:audit_log" and e["channel"] == "web" for e in events)


def test_inclusion_proof_is_verified_on_the_server(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, OVS, purpose="oversight_review")
    client.get("/web/oversight/heads")  # a head exists over the cycle's events at least
    leaf = 3
    page = client.get(f"/web/oversight/events/{leaf}")
    assert page.status_code == 200
    assert "Verified on the server" in page.text
    assert re.search(r'class="hash">[0-9a-f]{64}<', page.text)
    assert "Audit path (" in page.text
    missing = client.get(f"/web/oversight/events/{_last_leaf(world) + 10_000}")
    assert missing.status_code == 404


def test_signed_heads_and_verify_now_with_progress(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, OVS, purpose="oversight_review")
    heads = client.get("/web/oversight/heads")
    assert heads.status_code == 200
    assert "signed tree heads" in heads.text and ">valid<" in heads.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', heads.text)
    assert token
    started = client.post("/web/oversight/verify", data={"csrf_token": token.group(1)}, headers={"HX-Request": "true"})
    assert started.status_code == 200
    task_id = re.search(r'id="verify-([0-9a-f]{24})"', started.text)  # a small log may be verified already
    assert task_id, started.text
    poll = f"/web/oversight/verify/{task_id.group(1)}"
    deadline = time.monotonic() + 30
    status = started.text
    while 'hx-trigger="every 1s"' in status and time.monotonic() < deadline:
        assert f'hx-get="{poll}"' in status
        time.sleep(0.2)
        status = client.get(poll, headers={"HX-Request": "true"}).text
    assert 'id="verify-summary">OK:' in status, status
    assert "<html" not in status  # a fragment
    # without htmx: a page that refreshes itself
    assert "<title>Verify the audit log" in client.get(poll).text
    # another session cannot read this session's task
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    assert other.get(poll).status_code in (303, 200)  # sent to sign in
    assert "verify:audit_log" in {e["action"] for e in audit_events_of(world, OVS)}


def _percent(fragment: str) -> int:
    found = re.search(r'id="verify-percent">([0-9]+)%<', fragment)
    assert found, fragment
    return int(found.group(1))


def test_verify_now_shows_the_verifiers_progress(
    client: TestClient, world: World, sign_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The polled fragment shows the verifier's own counts as a rising percentage.

    The real verification runs; after each progress report it waits until this test has
    polled the fragment once, so every report is seen whatever the machine's speed.
    """
    real = export.verify_store  # what the page calls (it imported it from there)
    polled = threading.Semaphore(0)
    reported = threading.Event()

    def one_report_per_poll(log: Any, *args: Any, progress: Any = None, **kwargs: Any) -> Any:
        def then_wait(phase: str, done: int, total: int) -> None:
            progress(phase, done, total)
            reported.set()
            polled.acquire(timeout=10)

        return real(log, *args, progress=then_wait, **kwargs)

    monkeypatch.setattr(oversight, "verify_store", one_report_per_poll)
    token = sign_in(client, OVS, purpose="oversight_review")
    hx = {"HX-Request": "true"}
    started = client.post("/web/oversight/verify", data={"csrf_token": token}, headers=hx)
    poll = re.search(r'hx-get="(/web/oversight/verify/[0-9a-f]{24})"', started.text)
    assert poll, started.text
    percents: list[int] = []
    steps: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if reported.wait(0.05):
            reported.clear()
            fragment = client.get(poll.group(1), headers=hx).text
            percents.append(_percent(fragment))
            steps += re.findall(r'id="verify-step">([^<]*)<', fragment)
            polled.release()
            continue
        fragment = client.get(poll.group(1), headers=hx).text
        if 'hx-trigger="every 1s"' not in fragment:
            percents.append(_percent(fragment))
            break
    assert 'id="verify-summary">OK:' in fragment, fragment
    assert percents == sorted(percents) and percents[-1] == 100, percents
    assert len({p for p in percents if 0 < p < 100}) >= 3, percents  # it rises through the hashing
    hashed = [s for s in steps if s.startswith("leaves:")]
    assert hashed and hashed[-1].endswith("events hashed"), steps
    assert any(s.startswith("tree heads:") for s in steps) and any(s.startswith("consistency:") for s in steps)


def _alert(world: World, employee: str) -> str:
    leaf = _last_leaf(world)
    now = dt.datetime.now(dt.UTC)
    draft = AlertDraft(
        rule="browsing", severity="high", summary=f"{employee} read records outside her cases",
        leaves=[leaf], principal_id=employee, subject=world.demo.taxpayer_ref, window=(now, now),
        dedupe=f"web-test:{employee}:{leaf}",
    )  # fmt: skip
    with world.engine.begin() as conn:
        return raise_alerts(conn, [draft], now=now)[0]


def test_alert_queue_two_reviewers_confirm(client: TestClient, world: World, sign_in: SignIn) -> None:
    ref = _alert(world, world.demo.principal)
    token = sign_in(client, OVS, purpose="oversight_review")
    queue = client.get("/web/oversight/alerts")
    assert queue.status_code == 200 and f'href="/web/oversight/alerts/{ref}"' in queue.text
    page = client.get(f"/web/oversight/alerts/{ref}")
    assert page.status_code == 200 and 'name="action" value="confirm"' in page.text
    assert f'href="/web/oversight/events/{_last_leaf(world)}"' in page.text or "leaf " in page.text
    dismiss = client.post(f"/web/oversight/alerts/{ref}/review", data={"action": "dismiss", "csrf_token": token})
    assert dismiss.status_code == 400  # a dismissal takes a reason
    first = client.post(f"/web/oversight/alerts/{ref}/review", data={"action": "confirm", "csrf_token": token})
    assert first.status_code == 200 and 'id="alert-state">confirming<' in first.text
    twice = client.post(f"/web/oversight/alerts/{ref}/review", data={"action": "confirm", "csrf_token": token})
    assert twice.status_code == 403 and "second, different reviewer" in twice.text
    token = sign_in(client, OVS2, purpose="oversight_review")
    second = client.post(
        f"/web/oversight/alerts/{ref}/review", data={"action": "confirm", "reason": REASON, "csrf_token": token}
    )
    assert second.status_code == 200 and 'id="alert-state">confirmed<' in second.text
    assert 'name="action"' not in second.text  # final: no more review form
    assert any(e["action"] == "confirm_unax:oversight_alert" for e in audit_events_of(world, OVS2))


def test_browse_filters_agree_with_a_full_scan(world: World) -> None:
    """The byte pre-filter never drops an event the parsed filter would show; paging covers the log once."""
    import json

    from taxvault.audit import browse

    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_events.c.leaf_index, audit_events.c.event)).all()
        everything = [{"leaf_index": int(i), **json.loads(bytes(e))} for i, e in rows]
        today = dt.datetime.now(dt.UTC).date()
        filters = [
            browse.EventFilter(principal=world.demo.principal),
            browse.EventFilter(resource="module_transcript"),
            browse.EventFilter(resource=world.demo.taxpayer_ref),
            browse.EventFilter(principal="sys-posting", since=today, until=today),
            browse.EventFilter(until=dt.date(2000, 1, 1)),
        ]
        for flt in filters:
            found = browse.page(conn, flt, size=10**6, budget=10**7)
            expected = sorted((e["leaf_index"] for e in everything if flt.matches(e)), reverse=True)
            assert [e["leaf_index"] for e in found["items"]] == expected, flt
            assert found["older_before"] is None
        # small pages: each continues below the last, together they are the whole log
        seen: list[int] = []
        before = None
        while True:
            page = browse.page(conn, browse.EventFilter(), before=before, size=700, budget=900)
            seen += [e["leaf_index"] for e in page["items"]]
            if page["older_before"] is None:
                break
            before = page["older_before"]
        assert seen == sorted((e["leaf_index"] for e in everything), reverse=True)
