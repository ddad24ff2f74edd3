"""The door's HTTP adapter: FastAPI dependencies that turn a request into a :class:`Session`.

A route declares what it needs, ``access: Annotated[Access, Depends(read(Resource.X))]``,
and calls ``access.serve(fetch)`` / ``access.write(...)``; it never checks a role nor
builds an audit event. Everything here is transport: the bearer token, the
``Purpose-Of-Use`` and ``Break-Glass-Justification`` headers, the rate limit. The
decisions, masking and audit are the door's (:mod:`taxvault.access.door`).
"""

# No `from __future__ import annotations`: FastAPI must resolve the closures in read().

import inspect
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from taxvault.access.door import REF_PATTERN, Access, Door
from taxvault.access.principals import Caller, UnknownPrincipal
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.resources import Resource
from taxvault.access.tokens import TokenError, TokenVerifier
from taxvault.errors import RateLimited, Unauthenticated

_BEARER = re.compile(r"^[Bb]earer +([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*)$", re.ASCII)


class ProblemDetail(BaseModel):
    """An RFC 9457 problem."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM_JSON = "application/problem+json"
PROBLEM_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetail, "content": {PROBLEM_JSON: {}}, "description": PROBLEM_TITLES[code]}
    for code in (401, 403, 404, 422, 429, 503)
}
"""OpenAPI descriptions of the problems every protected route may return."""


@dataclass(slots=True)
class Services:
    """What the HTTP adapter needs: the door, the token verifier, the rate limiter."""

    door: Door
    verifier: TokenVerifier
    limiter: RateLimiter


class ServicesHolder:
    """The app's services, built on first use (keys and the audit writer only once a request needs them)."""

    def __init__(self, build: Callable[[], Services]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self.built: Services | None = None

    def get(self) -> Services:
        built = self.built
        if built is None:
            with self._lock:
                if self.built is None:
                    self.built = self._build()
                built = self.built
        return built


def services(request: Request) -> Services:
    """The app's door and its HTTP helpers."""
    holder: ServicesHolder = request.app.state.services
    return holder.get()


def get_door(request: Request) -> Door:
    """The app's door."""
    return services(request).door


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An OAuth2 bearer JWT from the configured issuer (embedded: `taxvault token issue`).",
)


async def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None, *, recheck: bool) -> Caller:
    """The caller behind the bearer token; a refusal after the token names a principal is audited.

    Token verification is CPU-only and cached. With ``recheck`` the principal's row is read
    now; otherwise the door re-checks it inside the request's unit of work (one query either way).
    """
    svc = services(request)
    if credentials is None:
        raise Unauthenticated("a bearer token is required")
    match = _BEARER.match(f"Bearer {credentials.credentials}")
    if match is None:
        raise Unauthenticated("the Authorization header must carry a bearer JWT", code="invalid_token")
    try:
        claims = svc.verifier.verify(match.group(1))
    except TokenError as exc:
        raise Unauthenticated(str(exc), code="invalid_token") from None
    rid = request_id(request)
    caller = None if recheck else svc.door.callers.cached(claims.subject)
    if caller is None:
        caller = await run_in_threadpool(svc.door.caller, claims.subject, request_id=rid)
    wait = svc.limiter.take(caller.id)
    if wait > 0:
        await run_in_threadpool(svc.door.refuse, caller.id, "request", "rate-limited", request_id=rid)
        raise RateLimited("rate limit exceeded for this principal", retry_after=int(wait) + 1)
    request.state.principal = caller.id
    return caller


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """Dependency: the authenticated caller, checked against the store now (401/429 otherwise)."""
    return await _authenticate(request, credentials, recheck=True)


_PURPOSE_DOC = (
    "Why the data is needed (e.g. collection, examination, underreporter, taxpayer_assistance, "
    "self_service, oversight_review, or a grant's purpose). Lower-case letters and underscores."
)
PurposeHeader = Annotated[
    str | None,
    Header(alias="Purpose-Of-Use", max_length=40, description=_PURPOSE_DOC),
]
JustificationHeader = Annotated[
    str | None,
    Header(
        alias="Break-Glass-Justification",
        max_length=1000,
        description="A written justification (20 to 1000 characters): asks for break-glass access (flagged, reviewed).",
    ),
]


_REF_PARAMS: dict[str, inspect.Parameter | None] = {
    "entity": inspect.Parameter(
        "taxpayer_id",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[str, Path(pattern=REF_PATTERN, description="Opaque taxpayer id")],
    ),
    "module": inspect.Parameter(
        "module_id",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[str, Path(pattern=REF_PATTERN, description="Opaque tax module id")],
    ),
    "self": None,
    "audit": None,
}


def read(resource: Resource, *, located_by: str | None = None) -> Callable[..., Awaitable[Access]]:
    """Dependency factory: the route reads (or writes) ``resource`` through the door.

    The purpose and a break-glass justification are checked by the door, which audits a
    refusal. ``located_by="body"``: the route names the record from its body (sets ``access.ref``).
    One flat dependency (token, path id and headers in one signature): each nested
    dependency costs FastAPI a resolution pass on every request.
    """
    ref_param = None if located_by == "body" else _REF_PARAMS[resource.locator]

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        purpose: str | None = None,
        justification: str | None = None,
        **path: str,
    ) -> Access:
        caller = await _authenticate(request, credentials, recheck=False)
        ref = next(iter(path.values()), "")
        door = get_door(request)
        rid = request_id(request)
        if not _cheap_purpose_ok(purpose) or justification is not None:
            session = await run_in_threadpool(
                door.session, caller, purpose, channel="http", request_id=rid, justification=justification
            )
        else:  # the common case: a well-formed purpose and no break-glass; nothing to audit here
            session = door.session(caller, purpose, channel="http", request_id=rid)

        def flag(review: int) -> None:
            request.state.break_glass_review = review

        return Access(door, session, resource, ref, on_break_glass=flag)

    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter("request", kw, annotation=Request),
        inspect.Parameter(
            "credentials", kw, annotation=Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
        ),
        inspect.Parameter("purpose", kw, default=None, annotation=PurposeHeader),
        inspect.Parameter("justification", kw, default=None, annotation=JustificationHeader),
    ]
    if ref_param is not None:
        params.append(ref_param)
    dependency.__signature__ = inspect.Signature(params, return_annotation=Access)  # type: ignore[attr-defined]
    dependency.__name__ = f"door_{resource.value}"
    return dependency


write = read
"""Writes declare their resource the same way; the route calls :meth:`Access.write`."""

_PURPOSE_RE = re.compile(r"[a-z][a-z_]{1,39}", re.ASCII)


def _cheap_purpose_ok(purpose: str | None) -> bool:
    return purpose is not None and _PURPOSE_RE.fullmatch(purpose) is not None


__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_RESPONSES",
    "PROBLEM_TITLES",
    "Access",
    "ProblemDetail",
    "Services",
    "ServicesHolder",
    "UnknownPrincipal",
    "authenticated",
    "get_door",
    "read",
    "services",
    "write",
]
