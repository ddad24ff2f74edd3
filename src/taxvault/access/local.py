"""The door for the command line and for jobs: a named principal instead of a token.

A CLI command that shows taxpayer data goes through the same door as the API:
the same policies decide, the same masking applies, the same audit log records
it. Only authentication differs: the operator names who acts (``--as``), and the
principal must exist and be active in the store. Jobs act as named system
principals (:meth:`taxvault.access.door.Door.system_session`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from taxvault.access.door import Access, Door, new_request_id
from taxvault.access.policy import PolicyEngine
from taxvault.access.resources import Resource
from taxvault.audit import AuditLog


@contextmanager
def local_door(engine: Engine, *, sign_on_exit: bool = True) -> Iterator[Door]:
    """A door over ``engine`` with its own audit log, closed on exit.

    With ``sign_on_exit`` a signed tree head covering what the command appended is
    issued before the log closes, so a CLI session never leaves an unsigned tail.
    """
    log = AuditLog(engine)
    try:
        yield Door(engine, log, PolicyEngine())
    finally:
        try:
            if sign_on_exit and log.tree_head().tree_size > _signed_size(log):
                log.sign_tree_head()
        finally:
            log.close()


def _signed_size(log: AuditLog) -> int:
    latest = log.latest_sth()
    return latest.tree_size if latest is not None else 0


def local_access(door: Door, principal_id: str, resource: Resource, ref: str, purpose: str) -> Access:
    """An :class:`Access` for ``principal_id`` acting from the command line.

    Raises :class:`taxvault.errors.Unauthenticated` for an unknown or inactive principal and
    :class:`taxvault.errors.Invalid` for a malformed purpose (both audited).
    """
    rid = new_request_id("cli")
    caller = door.caller(principal_id, request_id=rid)
    session = door.session(caller, purpose, channel="cli", request_id=rid)
    return Access(door, session, resource, ref)
