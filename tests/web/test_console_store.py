"""The console's store code on both stores: sign-in codes, authorization codes, sessions."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy.engine import Engine

from taxvault.access.system_principals import ensure_system_principals
from taxvault.errors import Invalid, NotFound
from taxvault.web import idp
from taxvault.web.codes import mint_sign_in_code, redeem_sign_in_code
from taxvault.web.sessions import SessionStore

WHO = "sys-synth"  # any principal row will do: these tables only reference it
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(db_engine: Engine) -> Engine:
    with db_engine.begin() as conn:
        ensure_system_principals(conn)
    return db_engine


def test_sign_in_codes_are_single_use_and_expire(store: Engine) -> None:
    with store.begin() as conn:
        code = mint_sign_in_code(conn, WHO, now=NOW)
        late = mint_sign_in_code(conn, WHO, now=NOW)
        with pytest.raises(NotFound):
            mint_sign_in_code(conn, "nobody", now=NOW)
    with store.begin() as conn:
        assert redeem_sign_in_code(conn, "not a code", now=NOW) is None
        assert redeem_sign_in_code(conn, code, now=NOW + dt.timedelta(minutes=1)) == WHO
        assert redeem_sign_in_code(conn, code, now=NOW + dt.timedelta(minutes=2)) is None
        assert redeem_sign_in_code(conn, late, now=NOW + dt.timedelta(minutes=11)) is None


def test_authorization_codes_give_one_id_token_for_the_right_verifier(store: Engine) -> None:
    verifier = secrets.token_urlsafe(48)
    req = idp.AuthorizationRequest(
        idp.CONSOLE_CLIENT_ID, "http://127.0.0.1:8000/web/callback", "s" * 20, "n" * 20, idp.s256(verifier)
    )
    with store.begin() as conn:
        code = idp.grant_code(conn, req, WHO, now=NOW)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": idp.CONSOLE_CLIENT_ID,
        "client_secret": idp.embedded_client_secret(),
        "redirect_uri": req.redirect_uri,
        "code_verifier": verifier,
    }
    token = idp.exchange(store, **form, now=NOW + dt.timedelta(seconds=5))
    assert token.count(".") == 2
    with pytest.raises(Invalid):
        idp.exchange(store, **form, now=NOW + dt.timedelta(seconds=6))  # used
    with store.begin() as conn:
        expired = idp.grant_code(conn, req, WHO, now=NOW)
    with pytest.raises(Invalid):
        idp.exchange(store, **{**form, "code": expired}, now=NOW + dt.timedelta(minutes=2))


def test_sessions_expire_when_idle_or_too_old_and_end_on_destroy(store: Engine) -> None:
    clock = [NOW]
    sessions = SessionStore(store, idle_seconds=60, absolute_seconds=600, clock=lambda: clock[0])
    cookie, made = sessions.create(WHO, None)
    assert sessions.load(cookie) == made
    assert sessions.load("forged") is None
    moved = sessions.set_purpose(made, "collection")
    assert sessions.load(cookie) == moved
    for _ in range(13):  # active every 50 s: alive until the absolute limit, then not
        clock[0] += dt.timedelta(seconds=50)
        alive = sessions.load(cookie)
        if clock[0] - NOW <= dt.timedelta(seconds=600):
            assert alive is not None
    assert sessions.load(cookie) is None
    cookie, made = sessions.create(WHO, None)
    clock[0] += dt.timedelta(seconds=61)
    assert sessions.load(cookie) is None  # idle
    cookie, made = sessions.create(WHO, None)
    sessions.destroy(made.id_hash)
    assert sessions.load(cookie) is None
