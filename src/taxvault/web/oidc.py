"""The console as an OIDC relying party: the same code for the embedded issuer and a real provider.

Why: production signs staff in at the agency's identity provider; development and tests
use the embedded issuer (:mod:`taxvault.web.idp`). Only the settings differ:

- ``TAXVAULT_OIDC_ISSUER``, ``TAXVAULT_OIDC_AUTHORIZE_URL``, ``TAXVAULT_OIDC_TOKEN_URL``,
  ``TAXVAULT_OIDC_JWKS_FILE``, ``TAXVAULT_OIDC_CLIENT_ID``, ``TAXVAULT_OIDC_CLIENT_SECRET``,
  ``TAXVAULT_OIDC_REDIRECT_URI``: a real provider (all required once the issuer is set);
- none of them: the embedded issuer at ``/idp/authorize`` on this app; its token endpoint is
  called in process (the same function ``POST /idp/token`` serves).

The flow: :func:`begin` makes state, nonce and a PKCE verifier, sealed into a short-lived
cookie; :func:`finish` checks the state, exchanges the code server side and verifies the
ID token like an API token (signature, issuer, audience, expiry) plus its nonce.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from taxvault.access.tokens import EMBEDDED_ISSUER, TokenConfig, TokenError, TokenVerifier
from taxvault.errors import Invalid, TaxvaultError, Unauthenticated
from taxvault.web import idp
from taxvault.web.sealing import seal, unseal

PENDING_TTL_SECONDS = 600
EMBEDDED_AUTHORIZE_PATH = "/idp/authorize"
CALLBACK_PATH = "/web/callback"

Exchange = Callable[[dict[str, str]], str]
"""Posts the token request's form fields, answers the ID token (in process or over HTTP)."""


@dataclass(frozen=True, slots=True)
class Provider:
    """Where people sign in and how the console proves it is the client."""

    issuer: str
    authorize_url: str
    token_url: str | None  # None: the embedded issuer, in process
    client_id: str
    client_secret: str
    jwks: dict[str, Any]
    redirect_uri: str | None  # None: this app's own /web/callback
    http: httpx.Client | None = field(default=None, compare=False)  # the token request's client (default: a new one)

    @property
    def embedded(self) -> bool:
        return self.token_url is None

    @classmethod
    def from_env(cls) -> Provider:
        """A real provider if ``TAXVAULT_OIDC_ISSUER`` is set, else the embedded issuer."""
        issuer = os.environ.get("TAXVAULT_OIDC_ISSUER")
        if not issuer:
            return cls.embedded_issuer()
        names = ("AUTHORIZE_URL", "TOKEN_URL", "JWKS_FILE", "CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI")
        values = {n: os.environ.get(f"TAXVAULT_OIDC_{n}", "") for n in names}
        missing = [f"TAXVAULT_OIDC_{n}" for n, v in values.items() if not v]
        if missing:
            raise Invalid(f"TAXVAULT_OIDC_ISSUER is set but not {', '.join(missing)}")
        jwks = json.loads(Path(values["JWKS_FILE"]).read_text(encoding="utf-8"))
        return cls(
            issuer,
            values["AUTHORIZE_URL"],
            values["TOKEN_URL"],
            values["CLIENT_ID"],
            values["CLIENT_SECRET"],
            jwks,
            values["REDIRECT_URI"],
        )

    @classmethod
    def embedded_issuer(cls) -> Provider:
        config = TokenConfig.embedded(idp.CONSOLE_CLIENT_ID)
        return cls(
            EMBEDDED_ISSUER,
            EMBEDDED_AUTHORIZE_PATH,
            None,
            idp.CONSOLE_CLIENT_ID,
            idp.embedded_client_secret(),
            config.jwks,
            None,
        )

    def http_exchange(self, form: dict[str, str]) -> str:
        """The token request to a real provider (client_secret_post; TLS verified by httpx)."""
        assert self.token_url is not None
        try:
            if self.http is not None:
                answer = self.http.post(self.token_url, data=form)
            else:
                with httpx.Client(timeout=10.0) as client:
                    answer = client.post(self.token_url, data=form)
        except httpx.HTTPError:
            raise Unauthenticated("the identity provider could not be reached") from None
        if answer.status_code != 200:
            raise Unauthenticated("the identity provider refused the sign-in")
        token = answer.json().get("id_token")
        if not isinstance(token, str):
            raise Unauthenticated("the identity provider sent no ID token")
        return token


@dataclass(frozen=True, slots=True)
class Started:
    """Where to send the browser, and the sealed cookie that remembers the attempt."""

    location: str
    pending: str


def begin(provider: Provider, redirect_uri: str) -> Started:
    """A new sign-in attempt: state, nonce and a PKCE S256 verifier (sealed, 10 minutes)."""
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": idp.s256(verifier),
            "code_challenge_method": "S256",
        }
    )
    pending = seal({"state": state, "nonce": nonce, "verifier": verifier, "redirect_uri": redirect_uri})
    return Started(f"{provider.authorize_url}?{query}", pending)


def finish(provider: Provider, pending: str | None, code: str, state: str, exchange: Exchange) -> str:
    """The signed-in principal id, or :class:`Unauthenticated` (wrong state, bad code or token)."""
    attempt = unseal(pending or "", PENDING_TTL_SECONDS)
    if attempt is None or not hmac.compare_digest(str(attempt["state"]), state):
        raise Unauthenticated("the sign-in attempt is unknown or has expired; sign in again")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": str(attempt["redirect_uri"]),
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "code_verifier": str(attempt["verifier"]),
    }
    try:
        id_token = exchange(form)
    except TaxvaultError:
        raise Unauthenticated("the identity provider refused the sign-in; sign in again") from None
    verifier = TokenVerifier(TokenConfig(provider.issuer, provider.client_id, provider.jwks))
    try:
        claims = verifier.verify(id_token)
    except TokenError as exc:
        raise Unauthenticated(f"the ID token was rejected: {exc}") from None
    nonce = jwt.decode(id_token, options={"verify_signature": False}).get("nonce")  # signature verified above
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce, str(attempt["nonce"])):
        raise Unauthenticated("the ID token does not answer this sign-in attempt")
    return claims.subject


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
