"""Callers: a principal's policy facts, loaded once and cached briefly.

The facts that change with every request (case assignments, grants) are read per
request by the Gate; the ones that change rarely (roles, unit, own entity and
declared relations, own address) are cached for ``ttl`` seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.policy import PrincipalFacts
from taxvault.store.tables import entities, principal_relations, principals

Address = tuple[str, str, str, str]
TAXPAYER_PREFIX = "tp-"


class UnknownPrincipal(LookupError):
    """The token's subject is not an active principal of the store."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated principal and what the Gate needs to know about her."""

    facts: PrincipalFacts
    entity_id: int | None
    address: Address | None
    related: dict[int, str] = field(default_factory=dict)  # entity id -> self|spouse|household|relative
    fingerprint: tuple[Any, ...] = ()  # the principal's row as of loading (see CallerCache.current)

    @property
    def id(self) -> str:
        return self.facts.id

    @property
    def roles(self) -> frozenset[str]:
        return self.facts.roles

    def relation_to(self, entity_id: int, address: Address | None) -> str:
        """How the caller relates to the taxpayer ``entity_id`` (``none`` if not at all)."""
        if entity_id == self.entity_id:
            return "self"
        rel = self.related.get(entity_id)
        if rel is not None:
            return rel
        if address is not None and self.address is not None and _norm(address) == _norm(self.address):
            return "same_address"
        return "none"


def _norm(address: Address) -> Address:
    line, city, state, zip_code = address
    return (" ".join(line.upper().split()), city.strip().upper(), state.strip().upper(), zip_code[:5])


def load_caller(conn: Connection, principal_id: str) -> Caller:
    """The caller's facts from the store (UnknownPrincipal if absent or inactive)."""
    row = conn.execute(
        sa.select(
            principals.c.kind,
            principals.c.roles,
            principals.c.unit,
            principals.c.entity_id,
            principals.c.dollar_limit_cents,
            principals.c.active,
            entities.c.address_line,
            entities.c.city,
            entities.c.state,
            entities.c.zip,
            entities.c.spouse_id,
        )
        .select_from(principals.outerjoin(entities, entities.c.id == principals.c.entity_id))
        .where(principals.c.id == principal_id)
    ).first()
    if row is None or not row.active:
        raise UnknownPrincipal(principal_id)
    related: dict[int, str] = {}
    for entity_id, relation in conn.execute(
        sa.select(principal_relations.c.entity_id, principal_relations.c.relation).where(
            principal_relations.c.principal_id == principal_id
        )
    ):
        related[int(entity_id)] = str(relation)
    if row.entity_id is not None:
        # The store's own spouse link counts whether or not a relation was declared: the
        # caller's spouse, and anyone who names the caller's entity as spouse.
        spouses = {int(row.spouse_id)} if row.spouse_id is not None else set()
        spouses.update(
            int(e)
            for e in conn.execute(sa.select(entities.c.id).where(entities.c.spouse_id == row.entity_id)).scalars()
        )
        for spouse in spouses:
            if related.get(spouse) != "self":
                related[spouse] = "spouse"
    address = (row.address_line, row.city, row.state, row.zip) if row.entity_id is not None else None
    facts = PrincipalFacts(
        id=principal_id,
        kind=row.kind,
        roles=frozenset(row.roles.split()),
        unit=row.unit or "",
        dollar_limit_cents=int(row.dollar_limit_cents),
    )
    return Caller(facts, None if row.entity_id is None else int(row.entity_id), address, related)


_SPOUSE = entities.alias("spouse_link")
_FINGERPRINT = sa.select(
    principals.c.active,
    principals.c.roles,
    principals.c.unit,
    principals.c.dollar_limit_cents,
    principals.c.entity_id,
    principals.c.manager_id,
    sa.select(sa.func.count()).where(principal_relations.c.principal_id == principals.c.id).scalar_subquery(),
    sa.select(sa.func.coalesce(sa.func.sum(principal_relations.c.entity_id), 0))
    .where(principal_relations.c.principal_id == principals.c.id)
    .scalar_subquery(),
    # the store's own spouse links, either side (a relation the policies count)
    sa.select(_SPOUSE.c.spouse_id).where(_SPOUSE.c.id == principals.c.entity_id).scalar_subquery(),
    sa.select(sa.func.coalesce(sa.func.sum(_SPOUSE.c.id), 0))
    .where(_SPOUSE.c.spouse_id == principals.c.entity_id)
    .scalar_subquery(),
).where(principals.c.id == sa.bindparam("pid"))


def fingerprint(conn: Connection, principal_id: str) -> tuple[Any, ...] | None:
    """What the policies may depend on in the principal's row and relations (None if absent).

    One indexed query: checked on every request, so a deactivation, a role or unit
    change, or a new declared relation takes effect on the next request, not after a TTL.
    """
    row = conn.execute(_FINGERPRINT, {"pid": principal_id}).first()
    return None if row is None else tuple(row)


class CallerCache:
    """Callers by principal id; a cached caller is used only while its fingerprint is unchanged."""

    def __init__(self, engine: Engine, ttl: float = 30.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._items: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def cached(self, principal_id: str) -> Caller | None:
        """The cached caller, if any (never touches the store; the door re-checks it per request)."""
        hit = self._items.get(principal_id)
        return hit[1] if hit is not None else None

    def current(self, principal_id: str, conn: Connection | None = None) -> Caller:
        """The caller as the store has it now: the cached one if its fingerprint still matches."""
        if conn is None:
            with self.engine.connect() as own:
                return self.current(principal_id, own)
        now = fingerprint(conn, principal_id)
        if now is None or not now[0]:
            self.forget(principal_id)
            raise UnknownPrincipal(principal_id)
        hit = self._items.get(principal_id)
        if hit is not None and hit[1].fingerprint == now:
            return hit[1]
        caller = replace(load_caller(conn, principal_id), fingerprint=now)
        with self._lock:
            self._items[principal_id] = (time.monotonic(), caller)
        return caller

    def get(self, principal_id: str, conn: Connection | None = None) -> Caller:
        """The caller, checked against the store (same as :meth:`current`)."""
        return self.current(principal_id, conn)

    def forget(self, principal_id: str) -> None:
        with self._lock:
            self._items.pop(principal_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def taxpayer_principal_id(entity_ref: str) -> str:
    """The principal id of a taxpayer (derived from her opaque entity ref, never her TIN)."""
    return TAXPAYER_PREFIX + hashlib.sha256(entity_ref.encode("ascii")).hexdigest()[:24]


def ensure_taxpayer_principal(conn: Connection, entity_ref: str) -> str:
    """Create (if needed) the taxpayer principal of the entity with ``entity_ref``; returns its id."""
    row = conn.execute(
        sa.select(entities.c.id).where(  # the id only: making a principal discloses nothing of the taxpayer
            entities.c.ref == entity_ref
        )
    ).first()
    if row is None:
        raise LookupError("no taxpayer with that reference")
    pid = taxpayer_principal_id(entity_ref)
    exists = conn.execute(sa.select(principals.c.id).where(principals.c.id == pid)).first()
    if exists is None:
        conn.execute(
            principals.insert().values(
                id=pid,
                kind="taxpayer",
                display_name="Taxpayer " + entity_ref[:8],
                roles="taxpayer",
                unit=None,
                entity_id=row.id,
                manager_id=None,
                dollar_limit_cents=0,
                active=True,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        conn.execute(principal_relations.insert().values(principal_id=pid, entity_id=row.id, relation="self"))
    return pid
