"""The console's skeleton: sign-in (OIDC-style, one-time codes), sessions, CSRF, headers, offline docs."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from taxvault.store.tables import principals
from taxvault.web import idp
from taxvault.web.codes import redeem_sign_in_code
from taxvault.web.sessions import COOKIE
from taxvault.web.tables import web_sessions, web_sign_in_codes


def _session_cookie_header(response_headers: list[str]) -> str:
    found = [h for h in response_headers if h.startswith(COOKIE + "=")]
    assert found, "no session cookie was set"
    return found[0]


def _flow_until_callback(client: TestClient, world: World, principal: str) -> str:
    """Sign-in up to the issuer's redirect back (the callback URL with code and state)."""
    start = client.get("/web/sign-in", follow_redirects=True)
    auth = re.search(r'name="auth_request" value="([^"]+)"', start.text)
    assert auth
    answer = client.post(
        "/idp/authorize",
        data={"auth_request": auth.group(1), "sign_in_code": world.code_for(principal)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return str(answer.headers["location"])


def test_pages_need_a_session_and_sign_in_starts_an_authorization_code_flow(client: TestClient) -> None:
    first = client.get("/web/cases/", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/web/sign-in"
    start = client.get("/web/sign-in", follow_redirects=False)
    assert start.status_code == 303
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert urlsplit(start.headers["location"]).path == "/idp/authorize"
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [idp.CONSOLE_CLIENT_ID]
    assert query["state"][0] and query["nonce"][0] and len(query["code_challenge"][0]) == 43
    pending = start.headers["set-cookie"]
    assert "HttpOnly" in pending and "samesite=lax" in pending.lower() and "Path=/web/callback" in pending


def test_sign_in_with_a_one_time_code_opens_a_strict_http_only_session(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    callback = _flow_until_callback(client, world, world.demo.principal)
    landed = client.get(callback, follow_redirects=False)
    assert landed.status_code == 200
    cookie = _session_cookie_header(landed.headers.get_list("set-cookie"))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback only
    assert 'http-equiv="refresh"' in landed.text
    home = client.get("/web/")
    assert home.status_code == 200
    assert world.demo.principal in home.text
    assert "My cases" in home.text
    # the code and the authorization code are single use
    again = client.get(callback, follow_redirects=False)
    assert again.status_code == 401


def test_session_cookie_is_secure_when_not_on_loopback(app: FastAPI, world: World) -> None:
    remote = TestClient(app, base_url="https://console.agency.example")
    callback = _flow_until_callback(remote, world, world.demo.principal)
    landed = remote.get(callback, follow_redirects=False)
    assert "Secure" in _session_cookie_header(landed.headers.get_list("set-cookie"))


def test_a_wrong_or_used_sign_in_code_is_refused_and_audited(client: TestClient, world: World) -> None:
    start = client.get("/web/sign-in", follow_redirects=True)
    auth = re.search(r'name="auth_request" value="([^"]+)"', start.text)
    assert auth
    wrong = client.post(
        "/idp/authorize", data={"auth_request": auth.group(1), "sign_in_code": "AAAAA-BBBBB-CCCCC-DDDDD"}
    )
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    refusals = [e for e in audit_events_of(world, "anonymous") if e["policy"] == "refused:sign-in-code-invalid"]
    assert refusals
    code = world.code_for(world.demo.principal)
    with world.engine.begin() as conn:
        assert redeem_sign_in_code(conn, code) == world.demo.principal
        assert redeem_sign_in_code(conn, code) is None
    stored = world.scalar(sa.select(sa.func.count()).select_from(web_sign_in_codes))
    assert stored and code.replace("-", "") not in str(world.scalar(sa.select(web_sign_in_codes.c.code_hash)))


def test_an_expired_sign_in_code_is_refused(world: World) -> None:
    code = world.code_for(world.demo.principal)
    with world.engine.begin() as conn:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
        assert redeem_sign_in_code(conn, code, now=later) is None


def test_the_callback_needs_the_sign_in_cookie_and_matching_state(
    app: FastAPI, client: TestClient, world: World
) -> None:
    callback = _flow_until_callback(client, world, world.demo.principal)
    other = TestClient(app, base_url="http://127.0.0.1:8000")  # no pending sign-in cookie: a forged callback
    assert other.get(callback, follow_redirects=False).status_code == 401
    parts = urlsplit(callback)
    tampered = callback.replace(parse_qs(parts.query)["state"][0], "x" * 32)
    assert client.get(tampered, follow_redirects=False).status_code == 401


def test_the_token_endpoint_needs_the_client_secret_and_the_pkce_verifier(client: TestClient, world: World) -> None:
    callback = _flow_until_callback(client, world, world.demo.principal)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1:8000/web/callback",
        "client_id": idp.CONSOLE_CLIENT_ID,
        "client_secret": "wrong",
        "code_verifier": "v" * 43,
    }
    assert client.post("/idp/token", data=form).json() == {"error": "invalid_client"}
    form["client_secret"] = idp.embedded_client_secret()
    assert client.post("/idp/token", data=form).json() == {"error": "invalid_grant"}  # wrong verifier, code now used
    assert client.get(callback, follow_redirects=False).status_code == 401  # the code is spent


def test_authorize_refuses_an_unregistered_redirect_uri(client: TestClient) -> None:
    start = client.get("/web/sign-in", follow_redirects=False)
    evil = start.headers["location"].replace("127.0.0.1%3A8000", "evil.example")
    page = client.get(evil, follow_redirects=False)
    assert page.status_code == 400
    assert "auth_request" not in page.text


def test_purpose_is_chosen_by_a_csrf_protected_form_and_shown_on_every_page(
    client: TestClient, sign_in: SignIn
) -> None:
    token = sign_in(client, "E000007")
    home = client.get("/web/")
    assert "No purpose chosen" in home.text
    for p in ("collection", "examination", "self_service", "oversight_review", "matching_verification"):
        assert f'value="{p}"' in home.text
    refused = client.post("/web/purpose", data={"purpose": "collection"})
    assert refused.status_code == 403
    assert "No purpose chosen" in client.get("/web/").text
    chosen = client.post("/web/purpose", data={"purpose": "collection", "csrf_token": token, "back": "/web/cases/"})
    assert chosen.status_code == 200
    assert chosen.url.path == "/web/cases/"
    assert "Acting for: <strong>Collection</strong>" in chosen.text
    unknown = client.post("/web/purpose", data={"purpose": "curiosity", "csrf_token": token})
    assert unknown.status_code == 400
    offsite = client.post(
        "/web/purpose", data={"purpose": "collection", "csrf_token": token, "back": "https://evil.example/web/"}
    )
    assert offsite.url.path == "/web/"


def test_csrf_wrong_token_and_htmx_header(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal)
    wrong = client.post("/web/purpose", data={"purpose": "collection", "csrf_token": token[:-2] + "xx"})
    assert wrong.status_code == 403
    assert "out of date" in wrong.text
    assert "No purpose chosen" in client.get("/web/").text
    by_header = client.post("/web/purpose", data={"purpose": "collection"}, headers={"X-CSRF-Token": token})
    assert by_header.status_code == 200
    refusals = [e for e in audit_events_of(world, world.demo.principal) if e["policy"] == "refused:csrf-token-invalid"]
    assert refusals


def test_a_cross_site_post_with_the_session_cookie_does_nothing(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    token = sign_in(client, world.demo.principal)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        attempt = client.post("/web/purpose", data={"purpose": "collection", "csrf_token": token}, headers=headers)
        assert attempt.status_code == 403
        assert "No purpose chosen" in client.get("/web/").text
        out = client.post("/web/sign-out", data={"csrf_token": token}, headers=headers)
        assert out.status_code == 403
        assert client.get("/web/", follow_redirects=False).status_code == 200  # still signed in


def test_sign_out_destroys_the_session(client: TestClient, world: World, sign_in: SignIn) -> None:
    token = sign_in(client, world.demo.principal)
    cookie = client.cookies.get(COOKIE)
    assert cookie
    out = client.post("/web/sign-out", data={"csrf_token": token})
    assert out.status_code == 200
    assert out.url.path == "/web/signed-out"
    client.cookies.set(COOKIE, cookie)  # a copy of the old cookie opens nothing
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_idle_and_absolute_expiry(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal)
    cookie = client.cookies.get(COOKIE)
    assert cookie
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(web_sessions)
            .where(web_sessions.c.principal_id == world.demo.principal)
            .values(last_seen_at=long_ago)
        )
    assert client.get("/web/", follow_redirects=False).status_code == 303
    sign_in(client, world.demo.principal)
    with world.engine.begin() as conn:
        conn.execute(
            sa.update(web_sessions)
            .where(web_sessions.c.principal_id == world.demo.principal)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_a_principal_deactivated_mid_session_is_refused_on_the_next_page(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    victim = "E000001"
    sign_in(client, victim)
    assert client.get("/web/").status_code == 200
    with world.engine.begin() as conn:
        conn.execute(sa.update(principals).where(principals.c.id == victim).values(active=False))
    try:
        refused = client.get("/web/", follow_redirects=False)
        assert refused.status_code == 401
        assert victim not in refused.text.split("<main", 1)[1]
        assert any(e["policy"] == "refused:principal-inactive-or-unknown" for e in audit_events_of(world, victim))
        assert (
            world.scalar(
                sa.select(sa.func.count()).select_from(web_sessions).where(web_sessions.c.principal_id == victim)
            )
            == 0
        )
    finally:
        with world.engine.begin() as conn:
            conn.execute(sa.update(principals).where(principals.c.id == victim).values(active=True))


def test_security_headers_on_console_pages(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal)
    for path in ("/web/", "/web/signed-out", "/web/sign-in"):
        r = client.get(path, follow_redirects=False)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert "style-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in r.headers["permissions-policy"]
        assert r.headers["cache-control"] == "no-store"
    page = client.get("/web/").text
    assert "<script>" not in page and " style=" not in page and "onclick" not in page
    assert '<script src="/static/console/vendor/htmx.min.js"' in page
    assert 'href="#main"' in page and '<main id="main"' in page


def test_static_assets_are_served_by_the_app(client: TestClient) -> None:
    js = client.get("/static/console/vendor/htmx.min.js")
    assert js.status_code == 200
    import hashlib

    assert hashlib.sha256(js.content).hexdigest() == "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    assert client.get("/static/console/console.css").status_code == 200


def test_docs_and_redoc_work_offline(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/docs/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    redoc = client.get("/redoc")
    assert "/static/docs/redoc.standalone.js" in redoc.text and "cdn" not in redoc.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert client.get(f"/static/docs/{asset}").status_code == 200


def test_page_views_are_audited_on_the_web_channel(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    before = len(audit_events_of(world, world.demo.principal))
    assert client.get("/web/cases/").status_code == 200
    events = audit_events_of(world, world.demo.principal)[before:]
    assert [(e["action"], e["decision"], e["channel"], e["purpose"]) for e in events] == [
        ("read:my_cases", "allow", "web", "collection")
    ]


def test_the_log_with_web_events_verifies(client: TestClient, world: World, sign_in: SignIn) -> None:
    from typer.testing import CliRunner

    from taxvault.audit import AuditLog
    from taxvault.cli import app as taxvault_cli

    sign_in(client, world.demo.principal, purpose="collection")
    assert client.get("/web/cases/").status_code == 200
    assert any(e["channel"] == "web" for e in audit_events_of(world, world.demo.principal))
    AuditLog(world.engine).sign_tree_head()  # what `serve` does every second (no lifespan in TestClient)
    verified = CliRunner().invoke(taxvault_cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_the_api_rate_limit_applies_to_pages(world: World, sign_in: SignIn) -> None:
    from taxvault.access.ratelimit import RateLimiter
    from taxvault.api.app import create_app

    slow = TestClient(create_app(world.engine, rate_limiter=RateLimiter(0.01, 6)), base_url="http://127.0.0.1:8000")
    sign_in(slow, world.demo.principal)  # uses the first pages of the burst
    statuses = [slow.get("/web/").status_code for _ in range(6)]
    assert statuses[-1] == 429
    assert "Too many requests" in slow.get("/web/").text
    assert any(e["policy"] == "refused:rate-limited" for e in audit_events_of(world, world.demo.principal))


def test_a_malformed_parameter_is_a_400_page_that_does_not_echo_it(
    client: TestClient, world: World, sign_in: SignIn
) -> None:
    sign_in(client, world.demo.principal, purpose="collection")
    bad = client.get(f"/web/cases/modules/{world.demo.module_ref}", params={"as_of": "900-49-0001"})
    assert bad.status_code == 400
    assert "900-49-0001" not in bad.text and "Traceback" not in bad.text
    assert client.get("/web/cases/modules/not-a-ref").status_code == 400


def test_signing_in_again_ends_the_previous_session(client: TestClient, world: World, sign_in: SignIn) -> None:
    sign_in(client, world.demo.principal)
    first = client.cookies.get(COOKIE)
    sign_in(client, world.demo.principal)
    second = client.cookies.get(COOKIE)
    assert first and second and first != second
    stale = TestClient(client.app, base_url="http://127.0.0.1:8000")
    stale.cookies.set(COOKIE, first)
    assert stale.get("/web/", follow_redirects=False).status_code == 303


def test_a_bug_in_a_page_is_a_plain_500_page(world: World) -> None:
    from taxvault.api.app import create_app
    from taxvault.web.kit import page_router

    app = create_app(world.engine)
    broken = page_router("/web/broken")

    @broken.get("/")
    def explode(request: Request) -> None:
        raise RuntimeError("900-49-0001 should never reach the page")

    app.include_router(broken)
    answer = TestClient(app, base_url="http://127.0.0.1:8000").get("/web/broken/")
    assert answer.status_code == 500
    assert "Something went wrong" in answer.text
    assert "900-49-0001" not in answer.text and "Traceback" not in answer.text
