"""``/v1/me/access-report`` and its PDF over the hand-made access world, through the real door.

The PDF is read back with pypdf: it lists the same pseudonyms as the JSON report, flags
the break-glass access, and carries no TIN (only the masked last four) and no employee id.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "access"))
from access_world import World, entity_ref, make_world, module_ref, tin_of

JUSTIFICATION = "Taxpayer at the counter; the case tool is down."


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    yield w
    w.client.close()
    w.audit.close()


def _looks(world: World) -> None:
    """Three accesses to tp's records by others (one break-glass), one refused attempt, one about tp2."""
    tp = entity_ref("tp")
    assert world.client.get(f"/v1/taxpayers/{tp}", headers=world.headers("cw-alice", "collection")).status_code == 200
    r = world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=world.headers("cw-bob", "examination"))
    assert r.status_code == 200
    r = world.client.get(f"/v1/taxpayers/{tp}", headers=world.headers("mgr-carol", "collection", JUSTIFICATION))
    assert r.status_code == 200 and r.headers["break-glass"].startswith("flagged")
    assert world.client.get(f"/v1/taxpayers/{tp}", headers=world.headers("ana-001", "research")).status_code == 403
    r = world.client.get(f"/v1/taxpayers/{entity_ref('tp2')}", headers=world.headers("cw-bob", "examination"))
    assert r.status_code == 403


def _report(world: World, **params: Any) -> dict[str, Any]:
    r = world.client.get("/v1/me/access-report", params=params, headers=world.headers("taxpayer", "self_service"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_report_lists_accesses_and_attempts_about_her_only(world: World) -> None:
    _looks(world)
    _report(world)  # her own reads never show
    body = _report(world)
    items, attempts = body["items"], body["attempts"]
    assert [(i["unit"], i["record"]) for i in items] == [
        ("collection", "entity"),
        ("examination", "module_transcript"),
        ("collection", "entity"),
    ]
    carol, bob, alice = items
    assert carol["break_glass"] and not bob["break_glass"] and not alice["break_glass"]
    assert "tin" in alice["fields"] and bob["purpose"] == "examination"
    assert [(a["unit"], a["outcome"], a["fields"]) for a in attempts] == [("research", "denied", [])]
    assert len({carol["accessor"], bob["accessor"], alice["accessor"], attempts[0]["accessor"]}) == 4
    for line in items + attempts:
        assert line["accessor"].startswith("employee-")
        assert world.event(line["event"]).subject == entity_ref("tp")
    raw = world.client.get("/v1/me/access-report", headers=world.headers("taxpayer", "self_service")).text
    assert not any(who in raw for who in ("cw-", "mgr-", "ana-"))


def test_pages_follow_next_before(world: World) -> None:
    _looks(world)
    seen: list[int] = []
    before = None
    for _ in range(10):
        body = _report(world, limit=1, **({"before": before} if before else {}))
        seen += [line["event"] for line in body["items"] + body["attempts"]]
        before = body["next_before"]
        if before is None:
            break
    whole = _report(world, limit=50)
    assert seen == sorted((line["event"] for line in whole["items"] + whole["attempts"]), reverse=True)
    assert len(seen) == 4


def test_the_pdf_reads_back_without_a_tin(world: World) -> None:
    _looks(world)
    body = _report(world)
    r = world.client.get("/v1/me/access-report.pdf", headers=world.headers("taxpayer", "self_service"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Who accessed your tax records" in text and "Accesses per month" in text
    assert "XXX-XX-0005" in text  # the masked TIN, as notices print it
    tin = tin_of("tp")
    flat = text.replace("-", "").replace(" ", "").replace("\n", "")
    assert tin not in flat and tin.encode() not in r.content
    for line in body["items"] + body["attempts"]:
        assert line["accessor"] in text and f"event {line['event']}" in text
    assert "[emergency access]" in text
    assert not any(p in text for p in ("cw-alice", "cw-bob", "mgr-carol", "ana-001"))
    # The download itself is an audited read of her report, which names what it disclosed.
    last = world.event(world.size() - 1)
    assert last.action == "read:access_report" and last.subject == entity_ref("tp")
    assert set(last.fields) == {"access_report", "name", "tin:masked"}


def test_only_the_taxpayer_gets_her_report(world: World) -> None:
    r = world.client.get("/v1/me/access-report.pdf", headers=world.headers("cw-alice", "collection"))
    assert r.status_code == 403
    assert world.event(world.size() - 1).decision.value == "deny"


def test_oversight_sees_each_events_subject_and_channel(world: World) -> None:
    tp = entity_ref("tp")
    assert world.client.get(f"/v1/taxpayers/{tp}", headers=world.headers("cw-alice", "collection")).status_code == 200
    r = world.client.get(
        "/v1/audit/events", params={"limit": 500}, headers=world.headers("ovs-privacy", "oversight_review")
    )
    assert r.status_code == 200
    (read,) = [e for e in r.json()["items"] if e["principal"] == "cw-alice"]
    assert read["subject"] == tp and read["channel"] == "http"
