"""The ``Idempotency-Key`` header on ``/v1`` writes (POST, PUT, PATCH, DELETE), as plain ASGI middleware.

Why middleware: every write route gets it without declaring anything, and only here are both
the request body (for the fingerprint) and the response (to store) at hand. The semantics are
the door's (:mod:`taxvault.access.idempotency`): this adapter validates the header (400 if
malformed), sets the request's :class:`Claim`, holds the response until the request's one
transaction has committed with it (so nothing is acknowledged that is not durable), and
answers a replay with the stored response and ``Idempotent-Replayed: true``.

A request whose route writes nothing (a look-up, a denied write) stores nothing: its key is
simply unused. Installed inside :class:`~taxvault.api.middleware.RequestContextMiddleware`,
so the request id is set and the body already capped when it runs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taxvault.access import idempotency
from taxvault.access.idempotency import Claim, Replayed
from taxvault.api.middleware import redact

log = logging.getLogger("taxvault.api.idempotency")

HEADER = b"idempotency-key"
REPLAYED_HEADER = (b"idempotent-replayed", b"true")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROBLEM = b"application/problem+json"
_CONTEXT_HEADERS = (b"purpose-of-use", b"break-glass-justification")  # a retry under another purpose is another request


class IdempotencyMiddleware:
    """Reads ``Idempotency-Key`` on /v1 writes; see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") not in WRITE_METHODS or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        values = [v for n, v in scope.get("headers", ()) if n == HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        key = _parse(values)
        if key is None:
            await _problem(
                scope,
                send,
                400,
                "Bad request",
                "Idempotency-Key must be one header of 1 to 255 printable ASCII characters",
            )
            return
        messages, body = await _read_body(receive)
        context = [b"\n".join(v for n, v in scope.get("headers", ()) if n == name) for name in _CONTEXT_HEADERS]
        claim = Claim(
            key,
            idempotency.fingerprint(str(scope["method"]), path, scope.get("query_string", b""), body, *context),
            str(scope.get("state", {}).get("request_id", "-")),
        )
        replay_iter = iter(messages)

        async def replay_receive() -> Message:
            message = next(replay_iter, None)
            return message if message is not None else await receive()

        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        token = idempotency.begin(claim)
        try:
            await self.app(scope, replay_receive, hold)
        except Replayed as replay:
            await run_in_threadpool(claim.abandon)
            stored = replay.stored
            headers = [(b"content-type", stored.content_type.encode("latin-1")), REPLAYED_HEADER]
            headers.append((b"content-length", str(len(stored.body)).encode("ascii")))
            await send({"type": "http.response.start", "status": stored.status, "headers": headers})
            await send({"type": "http.response.body", "body": stored.body})
            return
        except BaseException:
            await run_in_threadpool(claim.abandon)
            raise
        finally:
            idempotency.end(token)
        if claim.pending:
            status, content_type, body_out = _response(held)
            try:
                await run_in_threadpool(claim.finish, status, content_type, body_out)
            except Exception:
                log.exception("idempotent write: commit failed", extra={"request_id": claim.request_id})
                await _problem(
                    scope,
                    send,
                    503,
                    "Service unavailable",
                    "the store is unavailable; the write may or may not have been recorded: "
                    "retry with the same Idempotency-Key (it is applied at most once)",
                    retry_after=True,
                )
                return
        for message in held:
            await send(message)


_KEY_DOC = (
    " Writes (POST, PUT, PATCH, DELETE under /v1) accept an `Idempotency-Key` header (1 to 255 printable "
    "ASCII characters; a fresh random key per write): a retry of the same request with the same key answers "
    "the first response with `Idempotent-Replayed: true` and writes nothing; the same key with another request "
    "is a 422, one still in flight a 409, a malformed key a 400 (docs/idempotency.md)."
)


def document(app: FastAPI) -> None:
    """Say how writes are retried in the OpenAPI description.

    In the description, not as a parameter of each operation: routes declare nothing for it, and a
    declared header would make the schema fuzzing (tests/api/test_api_schemathesis.py) send generated
    keys with every write: more requests held for their commit, testing the fuzzer's strings.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        info = schema.setdefault("info", {})
        info["description"] = str(info.get("description", "")) + _KEY_DOC
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _parse(values: list[bytes]) -> str | None:
    """The key, or None if malformed (several headers, empty, too long, not printable ASCII)."""
    if len(values) != 1:
        return None
    try:
        text = values[0].decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if len(text) >= 2 and text[0] == text[-1] == '"':  # an RFC 8941 sf-string, as the IETF draft writes it
        text = text[1:-1]
    return text if idempotency.valid_key(text) else None


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """Every request message up to the end of the body (already capped by the outer middleware)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


def _response(held: list[Message]) -> tuple[int, str, bytes]:
    status, content_type, chunks = 500, "", []
    for message in held:
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    content_type = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
    return status, content_type, b"".join(chunks)


async def _problem(
    scope: Scope, send: Send, status: int, title: str, detail: str, *, retry_after: bool = False
) -> None:
    body: dict[str, Any] = {
        "type": "urn:taxvault:problem:unavailable" if status == 503 else "urn:taxvault:problem:idempotency-key",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": redact(str(scope.get("path", ""))),
        "request_id": scope.get("state", {}).get("request_id"),
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-type", _PROBLEM), (b"content-length", str(len(data)).encode("ascii"))]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
