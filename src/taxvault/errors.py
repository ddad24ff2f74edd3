"""The error tree every layer raises; the edges (HTTP, CLI) translate it.

::

    TaxvaultError                   base: a message safe to show (never a TIN, never input echoed)
    ├── Denied                      the caller may not do this          HTTP 403 / CLI exit 1
    │   └── Unauthenticated         no valid identity                   HTTP 401
    ├── NotFound                    no such record (or none you may see) HTTP 404
    ├── Invalid                     the input is wrong                  HTTP 422 (413 when too large)
    ├── Conflict                    the state does not allow it now     HTTP 409
    └── Unavailable                 cannot be served now; try later     HTTP 503
        └── RateLimited             too many requests                   HTTP 429 (Retry-After)

Domains and the door raise these; ``api/`` maps them to RFC 9457 problem+json and
the CLIs to one line and a non-zero exit. This module imports nothing, so any
layer may use it.
"""

from __future__ import annotations


class TaxvaultError(Exception):
    """Base of every error meant for the user. ``str(exc)`` is safe to show and to log."""

    status = 500
    kind = "error"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # a stable machine-readable name, e.g. "forbidden", "rate-not-published"
        self.hint = hint  # what to do about it, when there is something to do


class Denied(TaxvaultError):
    """The caller may not do this (policy, purpose, role)."""

    status = 403
    kind = "denied"


class Unauthenticated(Denied):
    """No valid identity: missing or bad token, unknown or inactive principal."""

    status = 401
    kind = "unauthenticated"


class NotFound(TaxvaultError):
    """No such record, or none the caller may know exists."""

    status = 404
    kind = "not-found"


class Invalid(TaxvaultError):
    """The input is wrong: its shape, its values, or its size."""

    status = 422
    kind = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, hint: str | None = None, too_large: bool = False
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        if too_large:
            self.status = 413


class Conflict(TaxvaultError):
    """The record's state does not allow this now (already approved, dates going backwards, ...)."""

    status = 409
    kind = "conflict"


class Unavailable(TaxvaultError):
    """It cannot be served now (the audit append failed, the store is down): nothing was returned."""

    status = 503
    kind = "unavailable"


class RateLimited(Unavailable):
    """Too many requests from this principal; ``retry_after`` seconds until the next one."""

    status = 429
    kind = "rate-limited"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, code="rate-limited")
        self.retry_after = retry_after
