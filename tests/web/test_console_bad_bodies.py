"""The console's form posts with bodies no form of it sends: a clean 4xx page, nothing done.

Oversized (over the API's body limit, declared or streamed), not a form (JSON, text, a
multipart body without a boundary or cut short, thousands of fields), invalid UTF-8 and
non-ASCII digits: each POST route answers an HTML page (413 or 400; CSRF-less ones 403,
refused and audited as before), never problem+json, never a traceback, never the TIN that
was in the body. Nothing is written and nothing is audited, as on the API (its 413 and 422
come before any decision, so they are not audit events either).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of
from fastapi.testclient import TestClient

from taxvault.api.limits import DEFAULT_MAX_BODY_BYTES
from taxvault.ledger.tables import ledger_adjustments
from taxvault.store.tables import notices, sources

FORM = "application/x-www-form-urlencoded"


def _routes(world: World) -> dict[str, bool]:
    """POST route -> whether it has required fields (then any body that is not its form is a 400).

    A route whose fields are all optional (a manager's note) reads a JSON or text body as an
    empty form, like a form sent empty: only bodies refused before any route runs apply to it.
    """
    m = world.demo.module_ref
    return {
        "/web/purpose": True,
        "/web/cases/lookup": True,
        f"/web/cases/modules/{m}/adjustments": True,
        f"/web/cases/modules/{m}/notices": True,
        f"/web/approvals/{m}/a0123456789abcdef0123/approve": False,
        "/web/reviews/1/refer": False,
    }


BEFORE_ANY_ROUTE = {"oversized, declared", "oversized, streamed", "oversized multipart"}
BEFORE_ANY_ROUTE |= {"multipart without a boundary", "thousands of fields"}


def _streamed(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A chunked body (no Content-Length): the limit is counted as it streams."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


def _bad_bodies(token: str, tin: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """name -> (status, httpx post arguments). Each carries the CSRF token (body or header) and the TIN."""
    header = {"x-csrf-token": token}
    fields = f"csrf_token={token}&tin={tin}&tc=290&amount=1.00&notice_type=CP14&purpose=collection"
    pad = "x" * (DEFAULT_MAX_BODY_BYTES + 1)
    part = f'--XX\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
    return {
        "oversized, declared": (413, {"content": f"{fields}&pad={pad}".encode(), "headers": {"content-type": FORM}}),
        "oversized, streamed": (
            413,
            {"content": _streamed(DEFAULT_MAX_BODY_BYTES * 3), "headers": {**header, "content-type": FORM}},
        ),
        "oversized multipart": (413, {"data": {"csrf_token": token, "tin": tin}, "files": {"f": ("f", pad.encode())}}),
        "JSON": (400, {"json": {"tin": tin, "tc": 290, "purpose": "collection"}, "headers": header}),
        "plain text": (400, {"content": fields.encode(), "headers": {**header, "content-type": "text/plain"}}),
        "multipart without a boundary": (
            400,
            {"content": fields.encode(), "headers": {**header, "content-type": "multipart/form-data"}},
        ),
        "multipart cut short": (
            400,
            {
                "content": f'{part}--XX\r\nContent-Disposition: form-data; name="tin"\r\n\r\n{tin}'.encode(),
                "headers": {"content-type": "multipart/form-data; boundary=XX"},
            },
        ),
        "thousands of fields": (
            400,
            {
                "content": ("&".join(f"f{i}=1" for i in range(2000)) + f"&{fields}").encode(),
                "headers": {"content-type": FORM},
            },
        ),
        "invalid UTF-8, raw": (
            400,
            {
                "content": f"csrf_token={token}&tin=".encode()
                + b"\xff\xfe"
                + tin.encode()
                + b"&tc=\xc3&notice_type=\xff&purpose=\xfe",
                "headers": {"content-type": FORM},
            },
        ),
        "invalid UTF-8, escaped": (
            400,
            {
                "content": f"csrf_token={token}&tin=%FF{tin}&tc=%C3&notice_type=%FF&purpose=%FE".encode(),
                "headers": {"content-type": FORM},
            },
        ),
        "non-ASCII digits": (
            400,
            {
                "data": {
                    "csrf_token": token,
                    "tin": "９００４９０００１",
                    "tc": "２９０",
                    "notice_type": "ＣＰ14",
                    "purpose": "cöllection",
                }
            },
        ),
    }


def _written(world: World) -> tuple[int, ...]:
    """What a post could have written: adjustments, notices, sources (each notice or load has one)."""
    with world.engine.connect() as conn:
        return tuple(
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (ledger_adjustments, notices, sources)
        )


def test_bodies_no_console_form_sends_get_a_clean_page_and_change_nothing(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    token = sign_in(client, world.demo.principal, purpose="collection")
    tin = world.demo.tin
    before, events = _written(world), len(audit_events_of(world, world.demo.principal))
    for route, has_required_fields in _routes(world).items():
        for name, (status, kwargs) in _bad_bodies(token, tin).items():
            if not has_required_fields and name not in BEFORE_ANY_ROUTE:
                continue
            r = client.post(route, follow_redirects=False, **kwargs)
            what = f"{name} -> {route}: {r.status_code} {r.text[:300]!r}"
            assert r.status_code == status, what
            assert r.headers["content-type"].startswith("text/html"), what
            assert r.headers["content-security-policy"].startswith("default-src 'none'"), what
            assert "<h1>" in r.text and "Traceback" not in r.text, what
            assert tin not in r.text and tin[-4:] not in r.text, what
            if status == 413:
                assert "too large" in r.text and "nothing was changed" in r.text, what
    assert _written(world) == before, "a refused body wrote something"
    assert len(audit_events_of(world, world.demo.principal)) == events, "a refused body was audited as an action"
    home = client.get("/web/")
    assert 'value="collection" selected' in home.text, "her purpose changed"


def test_without_the_csrf_token_a_non_form_body_is_still_the_audited_csrf_refusal(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    before = _written(world)
    refused = client.post("/web/cases/lookup", json={"tin": world.demo.tin})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert world.demo.tin not in refused.text
    assert _written(world) == before
    last = audit_events_of(world, world.demo.principal)[-1]
    assert last["action"] == "web_post" and last["policy"] == "refused:csrf-token-invalid"


def test_the_api_keeps_answering_problem_json_over_its_body_limit(client: TestClient) -> None:
    """The console's page is for its own paths only: ``/v1`` still answers problem+json, before authentication."""
    big = b'{"tin": "' + b"9" * (DEFAULT_MAX_BODY_BYTES + 10) + b'"}'
    r = client.post("/v1/taxpayers/lookup", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
