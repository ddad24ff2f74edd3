"""Request ids, body limits, no-store caching and JSON request logs, as plain ASGI middleware (cheap).

Log lines carry the request id, method, path (opaque ids only), status, duration
and principal. Anything in a path that looks like a TIN is redacted before it is
logged, in case a client puts one where it does not belong; opaque ids stay readable.

Bodies over their limit (:mod:`taxvault.api.limits`) are answered 413 here, before
any route reads, parses or authenticates them (as problem+json; on the console's paths as a
page, since a browser's form post made it). Every ``/v1`` response, errors
included, carries ``Cache-Control: no-store``: taxpayer data must not linger in a
browser or proxy cache.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taxvault.api.limits import BodyLimits, CountingReceive, declared_length
from taxvault.web.kit import too_large_page
from taxvault.web.security import CONSOLE_PREFIXES

access_log = logging.getLogger("taxvault.api.access")
# A TIN shape: nine digits as SSN (3-2-4) or EIN (2-7) groups, each separator one of
# "-", "." or " " or none, and not part of a longer run of letters or digits (an opaque
# id such as "ee9003512344f1a..." contains nine digits but is not a TIN). Any script's
# digits count: a TIN in full-width digits is still a TIN.
_TIN = re.compile(
    r"(?<![^\W_])(?:\d{3}[-. ]?\d{2}[-. ]?\d{4}|\d{2}[-. ]?\d{7})(?![^\W_])",
)
# Client request ids are echoed and logged: refuse any that carries nine digits in a row
# or in TIN grouping anywhere, whatever surrounds them.
_DIGITS_IN_ID = re.compile(r"[0-9]{3}[-.]?[0-9]{2}[-.]?[0-9]{4}|[0-9]{2}[-.]?[0-9]{7}")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
_TOO_LARGE_HEADERS = [(b"content-type", b"application/problem+json"), (b"connection", b"close")]


def redact(text: str) -> str:
    """Replace TIN-shaped digit runs by ``[redacted]``; opaque ids and other numbers stay."""
    return _TIN.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; TIN-shaped values redacted."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms", "principal"):
            value = getattr(record, key, None)
            if value is not None:
                body[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            body["error"] = record.exc_info[0].__name__
        return json.dumps(body, separators=(",", ":"))


def configure_logging(level: int = logging.INFO) -> None:
    """Route taxvault's loggers to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("taxvault")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RequestContextMiddleware:
    """Assigns a request id (``X-Request-ID``), caps the body, times the request, logs one line."""

    def __init__(self, app: ASGIApp, body_limits: BodyLimits | None = None) -> None:
        self.app = app
        self.body_limits = body_limits or BodyLimits.from_env()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        length: bytes | None = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                if incoming is None:
                    text = value.decode("latin-1")
                    if _INCOMING_ID.match(text) and not _DIGITS_IN_ID.search(text):
                        incoming = text
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        request_id = incoming or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        path: str = scope.get("path", "")
        no_store = path.startswith("/v1/")
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                if counter is not None and counter.exceeded:
                    return  # the app's answer to an oversized body is replaced by our 413
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("ascii")))
                if no_store:
                    headers.extend(_NO_STORE)
                review = state.get("break_glass_review")
                if review is not None:
                    headers.append((b"break-glass", f"flagged; review={review}".encode("ascii")))
                message["headers"] = headers
            elif counter is not None and counter.exceeded and not response_started:
                return
            await send(message)

        counter: CountingReceive | None = None
        try:
            limit = self.body_limits.limit_for(path)
            declared = None if length is None else declared_length(length)
            if declared is not None and declared > limit:
                await self._too_large(scope, path, request_id, limit, send_with_id)
                return
            if declared is None and (chunked or length is not None or scope.get("method") not in ("GET", "HEAD")):
                counter = CountingReceive(receive, limit)
                receive = counter
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                if counter is None or not counter.exceeded or response_started:
                    raise
            if counter is not None and counter.exceeded and not response_started:
                await self._too_large(scope, path, request_id, limit, send_with_id, counter)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "principal": state.get("principal"),
                    },
                )

    @staticmethod
    async def _too_large(
        scope: Scope,
        path: str,
        request_id: str,
        limit: int,
        send: Send,
        counter: CountingReceive | None = None,
    ) -> None:
        """Answer 413 problem+json and close the connection (the rest of the body is never read)."""
        if counter is not None:
            counter.exceeded = False  # let send_with_id pass our own answer
        if path.startswith(CONSOLE_PREFIXES):  # a browser's form post: a page, not problem+json
            page = too_large_page(limit)
            headers = [(b"content-type", b"text/html; charset=utf-8"), (b"connection", b"close")]
            headers.append((b"content-length", str(len(page)).encode("ascii")))
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": page})
            return
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content too large",
                "status": 413,
                "detail": f"the request body is larger than {limit} bytes",
                "instance": redact(path),
                "request_id": request_id,
            },
            separators=(",", ":"),
        ).encode()
        headers = [*_TOO_LARGE_HEADERS, (b"content-length", str(len(body)).encode("ascii"))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
