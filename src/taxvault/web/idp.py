"""The embedded issuer's side of an OIDC authorization-code flow (with PKCE S256).

Why: the console signs people in the way it would against the agency's real identity
provider (``web/oidc.py`` is the same client code for both): the browser is sent to
``/idp/authorize``, the issuer checks a real credential (a one-time sign-in code,
:mod:`taxvault.web.codes`), redirects back with a single-use authorization code, and the
console exchanges it server side (client secret + PKCE verifier) for an ID token signed
by the same Ed25519 key as the API's bearer tokens.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import asdict, dataclass

import jwt
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.tokens import EMBEDDED_ISSUER, embedded_signing_key, public_jwk
from taxvault.errors import Invalid, Unauthenticated
from taxvault.keys import load_or_create_secret
from taxvault.web.sealing import keyed_hash, seal, unseal
from taxvault.web.tables import web_auth_codes

CONSOLE_CLIENT_ID = "taxvault-console"
AUTH_CODE_TTL = dt.timedelta(seconds=60)
ID_TOKEN_TTL_SECONDS = 300
LOGIN_FORM_TTL_SECONDS = 600
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,128}$", re.ASCII)
_CHALLENGE = re.compile(r"^[A-Za-z0-9_\-]{43}$", re.ASCII)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """What the client asked for at ``/idp/authorize``, checked."""

    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str


def embedded_client_secret() -> str:
    """The console client's secret at the embedded issuer (derived from a local key)."""
    key = load_or_create_secret("web-oidc-client")
    return base64.urlsafe_b64encode(hashlib.sha256(key).digest()).rstrip(b"=").decode("ascii")


def check_request(
    *,
    response_type: str | None,
    client_id: str | None,
    redirect_uri: str | None,
    state: str | None,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    scope: str | None,
    expected_redirect: str,
) -> AuthorizationRequest:
    """The request, or :class:`Invalid` (the issuer never redirects to an unregistered URI)."""
    if client_id != CONSOLE_CLIENT_ID or redirect_uri != expected_redirect:
        raise Invalid("unknown client or redirect URI")
    if response_type != "code" or "openid" not in (scope or "").split():
        raise Invalid("only the authorization-code flow with scope openid is supported")
    if code_challenge_method != "S256" or not _CHALLENGE.fullmatch(code_challenge or ""):
        raise Invalid("a PKCE S256 code challenge is required")
    if not _TOKEN.fullmatch(state or "") or not _TOKEN.fullmatch(nonce or ""):
        raise Invalid("state and nonce are required")
    assert state is not None and nonce is not None and code_challenge is not None
    return AuthorizationRequest(client_id, redirect_uri, state, nonce, code_challenge)


def seal_request(req: AuthorizationRequest) -> str:
    """The request as a sealed token for the sign-in form (it cannot be altered in between)."""
    return seal(asdict(req))


def open_request(token: str) -> AuthorizationRequest:
    """The sealed request back, or :class:`Invalid` (forged, altered or older than 10 minutes)."""
    value = unseal(token, LOGIN_FORM_TTL_SECONDS)
    if value is None:
        raise Invalid("the sign-in form has expired; start again")
    return AuthorizationRequest(**{k: str(value[k]) for k in AuthorizationRequest.__slots__})


def grant_code(conn: Connection, req: AuthorizationRequest, principal_id: str, *, now: dt.datetime) -> str:
    """A single-use authorization code for ``principal_id`` (stored hashed, valid 60 s)."""
    code = secrets.token_urlsafe(32)
    conn.execute(sa.delete(web_auth_codes).where(web_auth_codes.c.expires_at < now - dt.timedelta(hours=1)))
    conn.execute(
        web_auth_codes.insert().values(
            code_hash=keyed_hash("auth-code", code),
            principal_id=principal_id,
            client_id=req.client_id,
            redirect_uri=req.redirect_uri,
            code_challenge=req.code_challenge,
            nonce=req.nonce,
            expires_at=now + AUTH_CODE_TTL,
            used_at=None,
        )
    )
    return code


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier``."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def exchange(
    engine: Engine,
    *,
    grant_type: str,
    code: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code_verifier: str,
    now: dt.datetime,
) -> str:
    """The token endpoint: a valid code (once), the client's secret and the PKCE verifier give an ID token.

    The code is spent (committed) before it is checked: a failed attempt burns it too.
    """
    if grant_type != "authorization_code":
        raise Invalid("unsupported grant type")
    if client_id != CONSOLE_CLIENT_ID or not hmac.compare_digest(client_secret, embedded_client_secret()):
        raise Unauthenticated("client authentication failed")
    c = web_auth_codes.c
    digest = keyed_hash("auth-code", code)
    with engine.begin() as conn:
        used = conn.execute(
            sa.update(web_auth_codes)
            .where(c.code_hash == digest, c.used_at.is_(None), c.expires_at > now)
            .values(used_at=now)
        )
        row = conn.execute(sa.select(web_auth_codes).where(c.code_hash == digest)).first() if used.rowcount else None
    if row is None or row.client_id != client_id or row.redirect_uri != redirect_uri:
        raise Invalid("invalid, expired or already used authorization code")
    if not hmac.compare_digest(s256(code_verifier), row.code_challenge):
        raise Invalid("the PKCE verifier does not match")
    issued = int(now.timestamp())
    key = embedded_signing_key()
    claims = {
        "iss": EMBEDDED_ISSUER,
        "aud": client_id,
        "sub": row.principal_id,
        "nonce": row.nonce,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ID_TOKEN_TTL_SECONDS,
        "auth_time": issued,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": public_jwk(key)["kid"]})
