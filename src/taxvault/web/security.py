"""Browser security for the console: response headers, and the cross-site and CSRF checks.

Why each: the CSP forbids inline script and style (an injected ``<script>`` does nothing);
``frame-ancestors 'none'`` stops click-jacking; ``no-store`` keeps taxpayer data out of
caches; ``Referrer-Policy: no-referrer`` keeps opaque ids out of other sites' logs. A POST
is refused unless it is same-origin (``Sec-Fetch-Site``/``Origin``) and carries the
session's synchronizer token: with the SameSite=Strict cookie, a cross-site request with
the session cookie does nothing.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP = (  # Swagger UI / ReDoc pages carry one inline script of FastAPI's: only there
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
CONSOLE_PREFIXES = ("/web", "/idp", "/static/console")
DOCS_PATHS = ("/docs", "/redoc")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _headers(path: str) -> list[tuple[bytes, bytes]]:
    csp = DOCS_CSP if path in DOCS_PATHS else CSP
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", PERMISSIONS.encode()),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if not path.startswith("/static/"):
        headers.append((b"cache-control", b"no-store"))
    return headers


class ConsoleHeaders:
    """Adds the console's security headers to its pages, assets and the offline docs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(CONSOLE_PREFIXES) or path in DOCS_PATHS):
            await self.app(scope, receive, send)
            return
        extra = _headers(path)
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def same_origin(headers: dict[str, str], own_origin: str) -> bool:
    """Whether a state-changing request comes from the console itself (not another site).

    ``Sec-Fetch-Site`` decides when the browser sends it. ``Origin`` must otherwise be ours; it
    may be ``null`` only beside ``Sec-Fetch-Site: same-origin`` (``Referrer-Policy: no-referrer``
    makes a browser send ``Origin: null`` on its own form posts).
    """
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is not None:
        return site in ("same-origin", "none") and origin in (None, "null", own_origin)
    return origin is None or origin == own_origin


def token_matches(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of the CSRF token sent with the session's."""
    return bool(sent) and hmac.compare_digest(str(sent), expected)
