"""Request ids and structured (JSON) request logs, as plain ASGI middleware (cheap).

Log lines carry the request id, method, path (opaque ids only), status, duration
and principal. Anything in a path that looks like a TIN is redacted before it is
logged, in case a client puts one where it does not belong.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("taxvault.api.access")
_TIN = re.compile(r"\d{3}-?\d{2}-?\d{4}|\d{2}-?\d{7}")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def redact(text: str) -> str:
    """Replace TIN-shaped digit runs by ``[redacted]``."""
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
    """Assigns a request id (``X-Request-ID``), times the request, logs one line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if _INCOMING_ID.match(text) and not _TIN.search(text):
                    incoming = text
                break
        request_id = incoming or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("ascii")))
                review = state.get("break_glass_review")
                if review is not None:
                    headers.append((b"break-glass", f"flagged; review={review}".encode("ascii")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "principal": state.get("principal"),
                    },
                )
