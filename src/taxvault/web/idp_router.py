"""The embedded issuer's endpoints: ``/idp/authorize`` (sign-in form), ``/idp/token``, ``/idp/jwks``.

Why here and not in ``access/``: it is the console's development identity provider, with the
console as its one client. The credential is a one-time sign-in code (``taxvault console
sign-in-code --as P``), never a choice of principal. Failed sign-ins are audited as refusals.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from taxvault.access.http import get_door
from taxvault.access.tokens import EMBEDDED_ISSUER, embedded_signing_key, public_jwk
from taxvault.errors import Denied, Invalid, TaxvaultError
from taxvault.web import idp, oidc
from taxvault.web.codes import redeem_sign_in_code
from taxvault.web.kit import Page, PageRoute, own_origin, render, request_id
from taxvault.web.security import same_origin

router = APIRouter(prefix="/idp", route_class=PageRoute, include_in_schema=False)
Param = Annotated[str | None, Query(max_length=300)]


def _expected_redirect(request: Request) -> str:
    return own_origin(request) + oidc.CALLBACK_PATH


@router.get("/authorize")
def authorize(
    request: Request,
    response_type: Param = None,
    client_id: Param = None,
    redirect_uri: Param = None,
    state: Param = None,
    nonce: Param = None,
    code_challenge: Param = None,
    code_challenge_method: Param = None,
    scope: Param = None,
) -> HTMLResponse:
    """The sign-in form for a checked authorization request (an unknown client or redirect URI: 400)."""
    req = idp.check_request(
        response_type=response_type,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        scope=scope,
        expected_redirect=_expected_redirect(request),
    )
    return render(request, "idp_sign_in.html", Page("Sign in"), auth_request=idp.seal_request(req), failed=False)


@router.post("/authorize")
def authorize_with_code(
    request: Request,
    auth_request: Annotated[str, Form(max_length=2000)],
    sign_in_code: Annotated[str, Form(max_length=64)],
) -> Response:
    """Check the one-time code; redirect back to the client with a single-use authorization code."""
    door = get_door(request)
    rid = request_id(request)
    if not same_origin({k.lower(): v for k, v in request.headers.items()}, own_origin(request)):
        door.refuse("anonymous", "sign_in", "cross-site", request_id=rid)
        raise Denied("cross-site requests are refused", code="cross-site")
    req = idp.open_request(auth_request)
    if req.redirect_uri != _expected_redirect(request):
        raise Invalid("unknown client or redirect URI")
    engine = request.app.state.engine
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        principal = redeem_sign_in_code(conn, sign_in_code, now=now)
    if principal is None:
        door.refuse("anonymous", "sign_in", "sign-in-code-invalid", request_id=rid)
        page = Page("Sign in", status=401)
        return render(request, "idp_sign_in.html", page, auth_request=auth_request, failed=True)
    door.caller(principal, request_id=rid)  # active now, or Unauthenticated (audited)
    with engine.begin() as conn:
        code = idp.grant_code(conn, req, principal, now=now)
    return RedirectResponse(f"{req.redirect_uri}?{urlencode({'code': code, 'state': req.state})}", status_code=303)


@router.post("/token")
def token(
    request: Request,
    grant_type: Annotated[str, Form(max_length=40)],
    code: Annotated[str, Form(max_length=200)],
    redirect_uri: Annotated[str, Form(max_length=300)],
    client_id: Annotated[str, Form(max_length=64)],
    client_secret: Annotated[str, Form(max_length=200)],
    code_verifier: Annotated[str, Form(min_length=43, max_length=128)],
) -> Response:
    """The token endpoint (client_secret_post): an ID token for a valid code, once."""
    try:
        id_token = idp.exchange(
            request.app.state.engine,
            grant_type=grant_type,
            code=code,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            now=dt.datetime.now(dt.UTC),
        )
    except TaxvaultError as exc:
        error = "invalid_client" if exc.kind == "unauthenticated" else "invalid_grant"
        return JSONResponse({"error": error}, status_code=400, headers={"Cache-Control": "no-store"})
    body = {"id_token": id_token, "token_type": "Bearer", "expires_in": idp.ID_TOKEN_TTL_SECONDS}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/jwks")
def jwks() -> dict[str, Any]:
    """The issuer's public keys (the same Ed25519 key as the API's bearer tokens)."""
    return {"keys": [public_jwk(embedded_signing_key())]}


@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> dict[str, Any]:
    """OIDC discovery for the embedded issuer."""
    base = own_origin(request)
    return {
        "issuer": EMBEDDED_ISSUER,
        "authorization_endpoint": base + "/idp/authorize",
        "token_endpoint": base + "/idp/token",
        "jwks_uri": base + "/idp/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "subject_types_supported": ["public"],
    }
