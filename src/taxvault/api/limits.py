"""Request-body limits, enforced before anything reads, parses or authenticates a body.

An unauthenticated client must not make the server buffer and parse megabytes of
JSON only to be told 401 at the end. Every body is capped (64 KiB by default,
``TAXVAULT_MAX_BODY_BYTES``); a route that genuinely needs more declares it in
:data:`LARGER_BODIES` by path prefix. A declared ``Content-Length`` over the limit is
refused without reading a byte; a chunked (or lying) body is counted as it streams
and refused the moment it passes the limit, so at most ``limit`` bytes plus one
server read buffer are ever held.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

DEFAULT_MAX_BODY_BYTES = 64 * 1024
"""JSON bodies of this API are small (a look-up, an adjustment, an agreement)."""

LARGER_BODIES: tuple[tuple[str, int], ...] = ()
"""``(path prefix, limit)`` for routes that need bodies above the default; none today.

A route taking an upload (e.g. a partner file for matching) adds its prefix here with
the size it needs; the longest matching prefix wins.
"""


class BodyTooLarge(HTTPException):
    """The request body passed its limit (raised from ``receive`` while the app reads it).

    An :class:`HTTPException` so that FastAPI's body reader lets it through instead of
    turning it into a 400; the middleware answers 413 whatever the app makes of it.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The default body limit and the per-prefix exceptions (longest prefix first)."""

    default: int = DEFAULT_MAX_BODY_BYTES
    larger: tuple[tuple[str, int], ...] = LARGER_BODIES

    def __post_init__(self) -> None:
        if self.default < 0 or any(limit < 0 for _, limit in self.larger):
            raise ValueError("body limits must not be negative")
        ordered = tuple(sorted(self.larger, key=lambda item: len(item[0]), reverse=True))
        object.__setattr__(self, "larger", ordered)

    @classmethod
    def from_env(cls) -> BodyLimits:
        """``TAXVAULT_MAX_BODY_BYTES`` (default 64 KiB) and the declared larger routes."""
        raw = os.environ.get("TAXVAULT_MAX_BODY_BYTES", "").strip()
        if not raw:
            return cls()
        try:
            default = int(raw)
        except ValueError:
            raise ValueError("TAXVAULT_MAX_BODY_BYTES must be a whole number of bytes") from None
        return cls(default)

    def limit_for(self, path: str) -> int:
        """The limit for a request to ``path``."""
        for prefix, limit in self.larger:
            if path.startswith(prefix):
                return limit
        return self.default


def declared_length(value: bytes) -> int | None:
    """The ``Content-Length`` value, or None if it is not a plain non-negative integer."""
    if not value.isdigit():
        return None
    return int(value)


class CountingReceive:
    """Wraps ``receive``: counts body bytes and raises :class:`BodyTooLarge` past ``limit``.

    ``exceeded`` tells the middleware afterwards that whatever the app answered must be
    replaced by a 413 (the app may have turned the exception into something else).
    """

    __slots__ = ("exceeded", "limit", "receive", "received")

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0
        self.exceeded = False

    async def __call__(self) -> Message:
        if self.exceeded:
            raise BodyTooLarge(self.limit)
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLarge(self.limit)
        return message
