"""Idempotent writes: a retried request answers its first response instead of writing twice.

Why: a write whose COMMIT failed answers 503, yet it may have committed; a client that
retries would double it (an adjustment requested twice). With an ``Idempotency-Key``
(the HTTP adapter, :mod:`taxvault.api.idempotency`, reads the header and sets a
:class:`Claim` for the request) the request owns ONE transaction:

- its first write unit opens it and inserts the claim row (principal, keyed hash of the
  key, keyed hash of method + path + body) before anything else: on PostgreSQL a concurrent
  duplicate's INSERT waits on the primary key, then fails: 409; on SQLite it waits for the
  write lock, then finds the stored response;
- the units of the request share that transaction (the door's ``unit`` hands them this one);
  their audit events are appended in it, like any write unit's;
- the adapter stores the response (status, body) in the row and commits: the write, its
  audit events and the stored response commit together, and nothing is acknowledged before.

A later request of the same principal with the same key and the same request gets the stored
response (the door audits that read, ``replay:<resource>``); with another request, 422; a
failed request stores nothing (a retry runs afresh). Keys expire after
``TAXVAULT_IDEMPOTENCY_TTL_SECONDS`` (default 24 h); each keyed write deletes two expired rows.
Keys of another principal are invisible: the key is hashed under the principal's scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.events import event as build_event
from taxvault.access.tables import idempotency_keys
from taxvault.audit import AuditEvent, Decision
from taxvault.audit.errors import AuditError
from taxvault.errors import Conflict, Invalid, Unauthenticated, Unavailable
from taxvault.keys import keys_dir, load_or_create_secret

if TYPE_CHECKING:
    from taxvault.access.door import Door, Session, Unit

KEY_MAX = 255
DEFAULT_TTL_SECONDS = 24 * 3600
PURGE_PER_WRITE = 2
REPLAY_POLICY = "idempotency:own-stored-response"
_SECRET_NAME = "idempotency-hmac"  # noqa: S105 - the name of a key file, not a secret
_K = idempotency_keys.c
log = logging.getLogger("taxvault.access.idempotency")


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters (space to tilde), as the IETF draft's examples and Stripe use."""
    return 0 < len(key) <= KEY_MAX and all(" " <= ch <= "~" for ch in key)


def ttl() -> dt.timedelta:
    """How long a key is remembered (``TAXVAULT_IDEMPOTENCY_TTL_SECONDS``, default 24 h)."""
    raw = os.environ.get("TAXVAULT_IDEMPOTENCY_TTL_SECONDS", "")
    seconds = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_TTL_SECONDS
    return dt.timedelta(seconds=seconds)


_secrets: dict[str, bytes] = {}
_secrets_lock = threading.Lock()


def _keyed(kind: str, *parts: bytes) -> str:
    """HMAC-SHA256 under the deployment's key: a stored hash of a body that held a TIN cannot be brute-forced."""
    where = str(keys_dir())
    secret = _secrets.get(where)
    if secret is None:
        with _secrets_lock:
            secret = _secrets.get(where) or load_or_create_secret(_SECRET_NAME)
            _secrets[where] = secret
    mac = hmac.new(secret, kind.encode(), hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


def fingerprint(method: str, path: str, query: bytes, body: bytes, *context: bytes) -> str:
    """What makes two requests "the same": method, path (opaque ids only), query, body bytes, and the
    ``context`` that changes what the answer may disclose (the purpose of use, a break-glass justification)."""
    return _keyed("request", method.upper().encode(), path.encode(), query, body, *context)


# -- the claim of one request ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored response and the event of the write that made it (named again by the replay's event)."""

    status: int
    content_type: str
    body: bytes
    request_id: str
    action: str | None = None
    resource: str | None = None
    subject: str | None = None
    fields: str | None = None


class Replayed(Exception):  # not an error: the request is answered from the store
    """The request was applied before: answer its stored response (the replay is audited)."""

    def __init__(self, stored: Stored) -> None:
        super().__init__("replayed")
        self.stored = stored


@dataclass(slots=True)
class Claim:
    """One HTTP request's ``Idempotency-Key``; holds the request's transaction once a write opens it."""

    key: str
    fingerprint: str
    request_id: str
    conn: Connection | None = None
    door: Door | None = None
    principal: str | None = None
    events: list[AuditEvent] = field(default_factory=list)
    written: AuditEvent | None = None  # the request's write event, named again by a replay's event
    early: bool = False  # committed before the response (another transaction began in the request)

    @property
    def open(self) -> bool:
        """The request's transaction is open (a write began it, nothing committed it yet)."""
        return self.conn is not None

    @property
    def pending(self) -> bool:
        """A write of the request awaits its response: to commit with it, or to store it after an early commit."""
        return self.conn is not None or (self.early and self.principal is not None)

    def key_hash(self, principal: str) -> str:
        return _keyed("key", principal.encode(), self.key.encode("ascii"))

    def finish(self, status: int, content_type: str, body: bytes) -> None:
        """Store the response with the write's audit events and COMMIT (the request's one transaction).

        Raises what the store raises (the adapter answers 503: the outcome is then unknown, and a
        retry with the same key is safe: it replays if this committed, writes once if not).
        After an early commit the response is stored in a transaction of its own, best effort.
        """
        conn, door, principal = self.conn, self.door, self.principal
        if door is None or principal is None:
            return
        if conn is None:
            if self.early:
                try:
                    with door.engine.begin() as late:
                        self._store(late, principal, status, content_type, body)
                except Exception:  # the write is durable; only its replay is lost (a retry gets a 409)
                    log.exception("idempotency: the response of an applied write was not stored")
            return
        try:
            self._store(conn, principal, status, content_type, body)
            self._append_events(conn, door)
            conn.commit()
        finally:
            self.close()

    def commit_early(self) -> None:
        """Another transaction begins in this request (a job's unit, a direct write): commit ours first.

        Holding ours open would make that one wait on our locks (SQLite's write lock, PostgreSQL's row
        locks) for ever. The write and its events commit now; the response is stored when known.
        """
        conn, door = self.conn, self.door
        if conn is None or door is None:
            return
        try:
            self._append_events(conn, door)
            conn.commit()
            self.early = True
        finally:
            self.close()

    def _append_events(self, conn: Connection, door: Door) -> None:
        self.written = next((e for e in reversed(self.events) if e.decision == Decision.ALLOW), self.written)
        if self.events:
            door._append_in(conn, self.events)
            self.events.clear()

    def _store(self, conn: Connection, principal: str, status: int, content_type: str, body: bytes) -> None:
        written = self.written or next((e for e in reversed(self.events) if e.decision == Decision.ALLOW), None)
        conn.execute(
            idempotency_keys.update()
            .where(_K.principal_id == principal, _K.key_hash == self.key_hash(principal))
            .values(
                status=status,
                content_type=content_type[:100],
                body=body,
                action=written.action[:100] if written else None,
                resource=written.resource[:64] if written else None,
                subject=written.subject if written else None,
                fields=",".join(written.fields)[:2000] if written else None,
            )
        )

    def abandon(self) -> None:
        """Roll the request's transaction back (the request failed: nothing of it is kept)."""
        if self.conn is not None:
            try:
                self.conn.rollback()
            finally:
                self.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if self.door is not None and self.door.is_sqlite:
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        finally:
            conn.close()

    def reserve(self, conn: Connection, session: Session, now: dt.datetime) -> None:
        """Insert the claim row first in the transaction, or answer from the row a previous request stored."""
        principal = session.principal
        key_hash = self.key_hash(principal)
        row = conn.execute(
            sa.select(
                _K.fingerprint, _K.status, _K.content_type, _K.body, _K.request_id, _K.expires_at,
                _K.action, _K.resource, _K.subject, _K.fields,
            ).where(_K.principal_id == principal, _K.key_hash == key_hash)
        ).first()  # fmt: skip
        if row is not None and _aware(row.expires_at) <= now:
            conn.execute(idempotency_keys.delete().where(_K.principal_id == principal, _K.key_hash == key_hash))
            row = None
        if row is not None:
            if not hmac.compare_digest(str(row.fingerprint), self.fingerprint):
                raise Invalid(
                    "this Idempotency-Key was used with a different request (method, path or body): "
                    "use a new key for a new request",
                    code="idempotency-key-reused",
                )
            if row.status is None:  # applied, committed early, and its response not (yet) stored
                raise Conflict(
                    "a request with this Idempotency-Key was applied but its response is not recorded "
                    "(or is being recorded): read the resource before writing again",
                    code="idempotency-key-applied",
                )
            raise Replayed(
                Stored(
                    int(row.status), str(row.content_type or ""), bytes(row.body or b""), str(row.request_id),
                    row.action, row.resource, row.subject, row.fields,
                )
            )  # fmt: skip
        purge_expired(conn, now, limit=PURGE_PER_WRITE)
        try:  # PostgreSQL: waits while a concurrent duplicate's transaction holds the key, then fails
            conn.execute(
                idempotency_keys.insert().values(
                    principal_id=principal,
                    key_hash=key_hash,
                    fingerprint=self.fingerprint,
                    request_id=session.request_id,
                    created_at=now,
                    expires_at=now + ttl(),
                )
            )
        except sa.exc.IntegrityError:
            raise Conflict(
                "a request with this Idempotency-Key is in progress; retry it when that one has answered",
                code="idempotency-key-in-progress",
            ) from None
        self.principal = principal


def purge_expired(conn: Connection, now: dt.datetime, *, limit: int = 1000) -> int:
    """Delete up to ``limit`` keys expired at ``now``; returns how many (the caller commits).

    Every reservation purges a couple (``PURGE_PER_WRITE``): at least as many expire as are made, so
    the table keeps up with any write rate without a sweep. PostgreSQL skips rows another purge holds.
    """
    q = sa.select(_K.principal_id, _K.key_hash).where(_K.expires_at <= now).order_by(_K.expires_at).limit(limit)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = [(str(p), str(k)) for p, k in conn.execute(q)]
    if rows:
        conn.execute(idempotency_keys.delete().where(sa.tuple_(_K.principal_id, _K.key_hash).in_(rows)))
    return len(rows)


# -- the request's claim, for the door ----------------------------------------------------------------

_current: ContextVar[Claim | None] = ContextVar("taxvault_idempotency_claim", default=None)


def begin(claim: Claim) -> Token[Claim | None]:
    """Make ``claim`` the current request's (the HTTP adapter; the door's units of the request see it)."""
    return _current.set(claim)


def end(token: Token[Claim | None]) -> None:
    _current.reset(token)


@contextmanager
def keyed(key: str, fingerprint: str, request_id: str) -> Iterator[Claim]:
    """A claim for code that is not behind the HTTP adapter (a console form): call ``claim.finish`` inside.

    Raises :class:`Replayed` from the first write unit if the key's request was applied before.
    Leaving without ``finish`` (or by an exception) rolls the request's transaction back.
    """
    claim = Claim(key, fingerprint, request_id)
    token = begin(claim)
    try:
        yield claim
    finally:
        end(token)
        claim.abandon()


def claim_for(session: Session, write: bool) -> Claim | None:
    """The claim that governs a unit of ``session``: an HTTP session of the claiming request, once it writes.

    A job or a system session running inside the request (its own request id) is not governed.
    """
    claim = _current.get()
    if claim is None or session.channel not in ("http", "web") or session.request_id != claim.request_id:
        return None
    return claim if write or claim.open else None


@contextmanager
def claimed_unit(door: Door, claim: Claim, session: Session, *, write: bool) -> Iterator[Unit]:
    """A unit of work inside the request's one transaction (see the module's docstring).

    The first write unit begins the transaction and reserves the key; later units of the request
    reuse it. A unit's events are kept for the commit (a read's are appended now, in the transaction,
    so its leaves are known). A failure rolls the whole request back; its denials are still appended.
    """
    from taxvault.access.door import Unit, _Revoked

    fresh = claim.conn is None
    if fresh:
        _watch(door)
        conn = door.engine.connect()
        claim.conn, claim.door = conn, door
        if door.is_sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=FULL")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    assert claim.conn is not None
    unit = Unit(door, session, claim.conn, write)
    try:
        unit.session = door._recheck(claim.conn, session)
        if fresh:
            claim.reserve(claim.conn, unit.session, door.clock())
        yield unit
        if not write:  # a read after the request's write: its events now, in the transaction (leaves known)
            events, claim.events = [*claim.events, *unit.events], []
            try:
                leaves = door.audit.append_in(claim.conn, events)
            except AuditError as exc:
                raise Unavailable("the access could not be recorded; nothing was written") from exc
            unit.leaves.extend(leaves[len(events) - len(unit.events) :])
        else:
            claim.events.extend(unit.events)
        unit.events.clear()
    except _Revoked:
        claim.abandon()
        door.refuse(session.principal, "request", "principal-inactive", request_id=session.request_id)
        raise Unauthenticated("the principal is no longer active") from None
    except Replayed as replay:
        claim.abandon()
        door.append(_replay_event(door, unit.session, replay.stored))
        raise
    except BaseException as exc:
        claim.abandon()
        for ev in [*claim.events, *unit.events]:
            if ev.decision == Decision.DENY:
                door.append(ev)
        claim.events.clear()
        if isinstance(exc, Invalid | Conflict) and (exc.code or "").startswith("idempotency-key"):
            door.refuse(  # refused before any decision: the key was reused, or its request is in flight
                session.principal, "idempotent_request", exc.code or "", request_id=session.request_id,
                purpose=session.purpose, resource="idempotency-key",
            )  # fmt: skip
        raise
    unit.committed()


def settle_claim() -> None:
    """Commit the current request's open transaction now (before a durable append by another thread)."""
    claim = _current.get()
    if claim is not None and claim.conn is not None:
        claim.commit_early()


def _watch(door: Door) -> None:
    """Listen for other transactions beginning on the door's engine (once per engine)."""
    if not sa.event.contains(door.engine, "begin", _on_begin):
        sa.event.listen(door.engine, "begin", _on_begin)


def _on_begin(conn: Connection) -> None:
    """A transaction begins: if it is not the current request's own while that one is open, commit ours first."""
    claim = _current.get()
    if claim is not None and claim.conn is not None and conn is not claim.conn:
        claim.commit_early()


def _replay_event(door: Door, session: Session, stored: Stored) -> AuditEvent:
    """The read of a stored response, named like the write it answers (its resource, subject, fields)."""
    kind = stored.action.split(":", 1)[-1] if stored.action else "idempotent_response"
    return build_event(
        principal=session.principal,
        action=f"replay:{kind}",
        resource=stored.resource or stored.request_id,
        allowed=True,
        request_id=session.request_id,
        purpose=session.purpose,
        policy=REPLAY_POLICY,
        fields=[f for f in (stored.fields or "").split(",") if f],
        subject=stored.subject,
        channel=session.channel,
        time=door.clock(),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
