"""The Gate for the command line: a person's identity (``--as PRINCIPAL``) instead of a token.

A CLI command that shows taxpayer data goes through the same Gate as the API:
the same policies decide, the same masking applies, the same audit log records
it. Only authentication differs: the operator names who acts, and the principal
must exist and be active in the store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import cast

from fastapi import Request
from sqlalchemy.engine import Engine

from taxvault.access.gate import Access, Gate
from taxvault.access.policy import PolicyEngine
from taxvault.access.principals import UnknownPrincipal
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.resources import Resource
from taxvault.access.tokens import TokenConfig, TokenVerifier
from taxvault.audit import AuditLog


class LocalAccessError(Exception):
    """The named principal cannot act (unknown or inactive)."""


@contextmanager
def local_gate(engine: Engine) -> Iterator[Gate]:
    """A Gate over ``engine`` with its own audit log, closed on exit."""
    log = AuditLog(engine)
    try:
        yield Gate(engine, log, PolicyEngine(), TokenVerifier(TokenConfig.from_env()), RateLimiter.from_env())
    finally:
        log.close()


def local_access(gate: Gate, principal_id: str, resource: Resource, ref: str, purpose: str) -> Access:
    """An :class:`Access` for ``principal_id`` acting from the command line."""
    try:
        caller = gate.callers.get(principal_id)
    except UnknownPrincipal:
        raise LocalAccessError("no active principal with that id") from None
    request = cast(Request, SimpleNamespace(state=SimpleNamespace(request_id="cli-" + secrets.token_hex(8))))
    return Access(gate, request, caller, resource, ref, purpose, None)
