"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Error bodies never echo request input (a TIN in a body must not come back in an
error, nor reach a log through one).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from taxvault.access.http import PROBLEM_JSON, PROBLEM_RESPONSES, PROBLEM_TITLES, ProblemDetail
from taxvault.api.middleware import redact
from taxvault.errors import RateLimited, TaxvaultError, Unauthenticated

__all__ = ["PROBLEM_JSON", "PROBLEM_RESPONSES", "Problem", "ProblemDetail", "install_problem_handlers"]

_TITLES = PROBLEM_TITLES
_TYPES = {
    "denied": "urn:taxvault:problem:forbidden",
    "unauthenticated": "about:blank",
    "not-found": "about:blank",
    "invalid": "urn:taxvault:problem:invalid",
    "conflict": "urn:taxvault:problem:conflict",
    "unavailable": "urn:taxvault:problem:unavailable",
    "rate-limited": "about:blank",
}


class Problem(Exception):
    """Raise to answer with a problem (status, title, detail; optional headers)."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.title = title or _TITLES.get(status, "Error")
        self.detail = detail
        self.type = type_
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """A problem+json response for ``request``."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "instance": redact(request.url.path),
        "request_id": getattr(request.state, "request_id", None),
    }
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def error_headers(exc: TaxvaultError) -> dict[str, str]:
    """The headers an error needs on HTTP (a challenge for 401, Retry-After for 429)."""
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unauthenticated):
        if exc.code == "invalid_token":
            return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return {"WWW-Authenticate": 'Bearer realm="taxvault"'}
    return {}


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every error into problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, title=exc.title, detail=exc.detail, type_=exc.type, headers=exc.headers
        )

    @app.exception_handler(TaxvaultError)
    async def _domain(request: Request, exc: TaxvaultError) -> JSONResponse:
        detail = exc.message if exc.hint is None else f"{exc.message}. {exc.hint}"
        return problem_response(
            request,
            exc.status,
            detail=detail,
            type_=_TYPES.get(exc.kind, "about:blank"),
            headers=error_headers(exc) or None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(request, exc.status_code, detail=detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Location and message only: never the offending input (it may be a TIN).
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem_response(request, 422, detail="the request is not valid", errors=errors)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The store is down, restarting, full or unreachable (a write's COMMIT failed, a connection was
        # lost): a transient 503 the client may retry, not a 500. The door has served nothing by then.
        return problem_response(
            request,
            503,
            detail="the store is unavailable; nothing was returned, and a write may not have been recorded",
            type_=_TYPES["unavailable"],
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 500, detail="unexpected error; quote the request id")
