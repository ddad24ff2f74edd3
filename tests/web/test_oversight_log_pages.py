"""The audit log browser's pages: sizes 50/100/500, keyset links by leaf (older/newer), filters kept
across pages, the two ends of the log, a bounded read per page, and no TIN in any URL it makes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from console_harness import SignIn, World
from fastapi.testclient import TestClient

from taxvault.audit import browse
from taxvault.audit.event import AuditEvent
from taxvault.audit.log import AuditLog
from taxvault.audit.tables import audit_events

OVS = "ovs-privacy"
_LEAF = re.compile(r'href="/web/oversight/events/([0-9]+)"')


def _leaves(html: str) -> list[int]:
    """The leaves a page lists, in order (each row links its leaf once)."""
    return [int(x) for x in _LEAF.findall(html)]


def _link(html: str, name: str) -> str | None:
    found = re.search(r'<a class="button" rel="(?:prev|next)" href="([^"]+)">' + name + "</a>", html)
    return None if found is None else found.group(1).replace("&amp;", "&")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _newest(world: World) -> int:
    return int(world.scalar(sa.select(sa.func.max(audit_events.c.leaf_index))))


BULK = "sys-pagetest"


@pytest.fixture(scope="module", autouse=True)
def long_log(world: World) -> None:
    """1,200 more events (a job's reads, principal ``sys-pagetest``) so there are pages of 500 to turn."""
    if _newest(world) < 1200:
        events = [
            AuditEvent.now(
                principal=BULK, action="read:entity", resource=f"e{i:020x}", decision="allow",
                request_id=f"pagetest-{i}", purpose="oversight_review", channel="job",
            )
            for i in range(1200)
        ]  # fmt: skip
        with AuditLog(world.engine) as log:
            log.append_many(events)


def test_page_sizes_and_older_newer_by_leaf(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, OVS, purpose="oversight_review")
    assert _newest(world) >= 1000  # the shared world's log is long enough for these pages
    first = client.get("/web/oversight/events", params={"size": 50})
    assert first.status_code == 200
    top = _leaves(first.text)
    assert len(top) == 50 and top == list(range(top[0], top[0] - 50, -1))  # unfiltered: 50 consecutive leaves
    assert _link(first.text, "Newer events") is None and "The newest events." in first.text
    assert f"leaves {top[-1]} to {top[0]} read: 50" in first.text  # reads what it shows, no more
    older = _link(first.text, "Older events")
    assert older and _query(older) == {"size": "50", "before": str(top[-1])}  # keyset: the lowest leaf shown
    second = client.get(older)
    below = _leaves(second.text)
    assert below == list(range(top[-1] - 1, top[-1] - 51, -1))
    newer = _link(second.text, "Newer events")
    assert newer and _query(newer) == {"size": "50", "after": str(below[0])}
    assert _leaves(client.get(newer).text) == top  # back up: the same 50 leaves, newest first
    # the other sizes, and the default
    assert len(_leaves(client.get("/web/oversight/events").text)) == 100
    assert len(_leaves(client.get("/web/oversight/events", params={"size": 500}).text)) == 500
    assert client.get("/web/oversight/events", params={"size": 7}).status_code == 400
    assert client.get("/web/oversight/events", params={"before": 10, "after": 3}).status_code == 400


def test_the_two_ends_of_the_log(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, OVS, purpose="oversight_review")
    oldest = client.get("/web/oversight/events", params={"size": 50, "before": 20})
    assert _leaves(oldest.text) == list(range(19, -1, -1))  # a short last page
    assert _link(oldest.text, "Older events") is None and "The start of the log." in oldest.text
    assert _link(oldest.text, "Newer events")
    upward = client.get("/web/oversight/events", params={"size": 50, "after": 0})
    assert _leaves(upward.text) == list(range(50, 0, -1))
    assert _query(_link(upward.text, "Older events") or "") == {"size": "50", "before": "1"}
    # read upward to the newest event: the page says so and offers no newer page
    near_end = client.get("/web/oversight/events", params={"size": 500, "after": _newest(world) - 3})
    shown = _leaves(near_end.text)
    assert 3 <= len(shown) < 500 and shown[0] >= _newest(world) - 1
    assert _link(near_end.text, "Newer events") is None and "The newest events." in near_end.text
    beyond = client.get("/web/oversight/events", params={"before": 1})
    assert _leaves(beyond.text) == [0] and _link(beyond.text, "Older events") is None


def test_filters_are_kept_across_pages(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, OVS, purpose="oversight_review")
    for _ in range(3):
        client.get("/web/oversight/heads")  # a few more of her reads
    wanted = {"principal": OVS, "resource": "audit_log", "size": "50"}
    first = client.get("/web/oversight/events", params=wanted)
    assert first.status_code == 200
    rows = re.findall(r'data-label="Principal">([^<]*)<', first.text)
    assert rows and set(rows) == {OVS}
    older = _link(first.text, "Older events")
    assert older  # the first page read its bound (500 events) without reaching the start
    assert {k: _query(older)[k] for k in wanted} == wanted
    nxt = client.get(older)
    assert set(re.findall(r'data-label="Principal">([^<]*)<', nxt.text)) <= {OVS}
    newer = _link(nxt.text, "Newer events")
    assert newer and {k: _query(newer)[k] for k in wanted} == wanted
    sizes = re.findall(r'href="(/web/oversight/events\?[^"]*size=(?:100|500)[^"]*)"', first.text)
    assert sizes and all(f"principal={OVS}" in u and "resource=audit_log" in u for u in sizes)


def test_the_filter_form_is_posted_and_no_tin_reaches_a_url(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, OVS, purpose="oversight_review")
    page = client.get("/web/oversight/events")
    assert 'method="post" action="/web/oversight/events"' in page.text
    posted = client.post(
        "/web/oversight/events",
        data={"principal": OVS, "since": "2026-01-01", "size": "500", "csrf_token": token},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    assert _query(posted.headers["location"]) == {"principal": OVS, "since": "2026-01-01", "size": "500"}
    digits = world.demo.tin.replace("-", "")
    dashed = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    for value in (digits, dashed, f"tin:{digits}", f"x{dashed}"):
        for field in ("principal", "resource"):
            refused = client.post(
                "/web/oversight/events", data={field: value, "csrf_token": token}, follow_redirects=False
            )
            assert refused.status_code == 400, value
            assert digits not in refused.text and dashed not in refused.text  # not echoed
            assert client.get("/web/oversight/events", params={field: value}).status_code == 400
    # without the token: refused, nothing filtered
    assert client.post("/web/oversight/events", data={"principal": OVS}, follow_redirects=False).status_code == 403
    # an opaque taxpayer ref is a filter (its hex may hold any digits)
    by_ref = client.post(
        "/web/oversight/events",
        data={"resource": world.demo.taxpayer_ref, "csrf_token": token},
        follow_redirects=False,
    )
    assert by_ref.status_code == 303 and world.demo.taxpayer_ref in by_ref.headers["location"]
    # every link the log pages make carries refs and leaves only
    html = client.get(by_ref.headers["location"]).text
    for url in re.findall(r'href="([^"]+)"', html):
        assert digits not in url and dashed not in url


def test_a_page_reads_a_bounded_number_of_events(world: World) -> None:
    """A filtered page reads at most ten events per row; pages in either direction cover the log once."""
    rare = browse.EventFilter(principal="nobody-at-all")
    with world.engine.connect() as conn:
        for size in browse.PAGE_SIZES:
            page = browse.page(conn, rare, size=size)
            assert page["items"] == [] and page["scanned"] == min(10 * size, _newest(world) + 1)
        flt = browse.EventFilter(principal=BULK)
        everything = browse.page(conn, flt, size=10**6, budget=10**7)
        assert everything["older_before"] is None and everything["newer_after"] is None
        expected = [e["leaf_index"] for e in everything["items"]]
        assert expected
        down: list[int] = []
        before = None
        while True:
            page = browse.page(conn, flt, size=50, before=before)
            down += [e["leaf_index"] for e in page["items"]]
            if page["older_before"] is None:
                break
            before = page["older_before"]
        assert down == expected
        up: list[int] = []
        after = -1
        while True:
            page = browse.page(conn, flt, size=50, after=after)
            up = [e["leaf_index"] for e in page["items"]] + up
            if page["newer_after"] is None:
                break
            after = page["newer_after"]
        assert up == expected
