"""The door: the one path to protected data, for HTTP requests, CLI commands and jobs alike.

::

    Session (who, why, from where)            built by an adapter: api (token), cli (--as), job (system principal)
      -> Door.unit(session, write=...)        one transaction: the unit of work
           -> locate -> decide (Cedar) -> fetch/perform -> mask -> audit event
           -> commit (writes: the audit append is inside the same transaction, before COMMIT)
      -> the masked answer

The door knows no HTTP. The FastAPI dependency (:mod:`taxvault.access.http`), the
CLI helpers (:mod:`taxvault.access.local`) and the jobs build a :class:`Session` and
call the same :class:`Access` methods; none of them builds an audit event or asks
the policies by itself. Every event is made by :func:`taxvault.access.events.event`.

Failing closed: if the audit append fails, nothing is returned (:class:`Unavailable`)
and a write is rolled back. Denials, refusals before a decision (bad purpose, rate
limit, inactive principal) and authorised reads that fail while fetching are audited too.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.disclosure import DisclosureRules
from taxvault.access.events import event as build_event
from taxvault.access.idempotency import claim_for, claimed_unit, settle_claim
from taxvault.access.masking import Disclosure, MaskPlan, mask_body
from taxvault.access.policy import ContextFacts, PolicyDecision, PolicyEngine, ResourceFacts
from taxvault.access.principals import Address, Caller, CallerCache, UnknownPrincipal
from taxvault.access.resources import Resource
from taxvault.access.tables import break_glass_reviews
from taxvault.audit import AuditEvent, AuditLog, Decision
from taxvault.audit.errors import AuditError
from taxvault.errors import Denied, Invalid, NotFound, TaxvaultError, Unauthenticated, Unavailable
from taxvault.store.tables import case_subjects, cases, entities, grants, tax_modules

log = logging.getLogger("taxvault.access")

REF_PATTERN = r"^[a-z][0-9a-f]{8,31}$"
PURPOSE_PATTERN = r"^[a-z][a-z_]{1,39}$"
JUSTIFICATION_MIN, JUSTIFICATION_MAX = 20, 1000
AUDIT_RESOURCE = "audit-log"
CHANNELS = ("http", "cli", "job", "web")

_E = entities.c
_SELF_ENTITY = sa.select(_E.ref, _E.is_restricted, _E.is_employee).where(_E.id == sa.bindparam("eid"))
_ENTITY_FACTS = (
    _E.id, _E.ref.label("subject"), _E.is_restricted, _E.is_employee, _E.address_line, _E.city, _E.state, _E.zip
)  # fmt: skip
_LOCATE_ENTITY = sa.select(*_ENTITY_FACTS).where(_E.ref == sa.bindparam("ref"))
_LOCATE_MODULE = (
    sa.select(tax_modules.c.id.label("module_id"), *_ENTITY_FACTS)
    .select_from(tax_modules.join(entities, entities.c.id == tax_modules.c.entity_id))
    .where(tax_modules.c.ref == sa.bindparam("ref"))
)
_ASSIGNED = (
    sa.select(cases.c.purpose)
    .select_from(cases.join(case_subjects, case_subjects.c.case_id == cases.c.id))
    .where(
        cases.c.assigned_to == sa.bindparam("pid"),
        cases.c.status == "open",
        case_subjects.c.entity_id == sa.bindparam("eid"),
    )
)
_ASSIGNED_MODULE = _ASSIGNED.where(
    sa.or_(case_subjects.c.module_id == sa.bindparam("mid"), case_subjects.c.module_id.is_(None))
)
_CS, _C = case_subjects.alias("cs"), cases.alias("c")
_OPEN_CASES_OF_CALLER = _CS.join(
    _C, sa.and_(_C.c.id == _CS.c.case_id, _C.c.assigned_to == sa.bindparam("pid"), _C.c.status == "open")
)
_LOCATE_ENTITY_CASES = (
    sa.select(*_ENTITY_FACTS, _C.c.purpose)
    .select_from(entities.outerjoin(_OPEN_CASES_OF_CALLER, _CS.c.entity_id == _E.id))
    .where(_E.ref == sa.bindparam("ref"))
)
_LOCATE_MODULE_CASES = (
    sa.select(tax_modules.c.id.label("module_id"), *_ENTITY_FACTS, _C.c.purpose)
    .select_from(
        tax_modules.join(entities, entities.c.id == tax_modules.c.entity_id).outerjoin(
            _OPEN_CASES_OF_CALLER,
            sa.and_(_CS.c.entity_id == _E.id, sa.or_(_CS.c.module_id == tax_modules.c.id, _CS.c.module_id.is_(None))),
        )
    )
    .where(tax_modules.c.ref == sa.bindparam("ref"))
)


# -- who acts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """One principal acting for one purpose, from one channel (``http``, ``cli`` or ``job``)."""

    caller: Caller
    purpose: str
    channel: str
    request_id: str
    justification: str | None = None

    @property
    def principal(self) -> str:
        return self.caller.id


@dataclass(frozen=True, slots=True)
class Target:
    """The located record: opaque ref plus the internal ids and flags the door needs."""

    ref: str
    entity_id: int | None = None
    module_id: int | None = None
    restricted: bool = False
    employee: bool = False
    address: Address | None = None
    assigned: frozenset[str] | None = None  # the caller's case purposes, when read with the record
    subject: str | None = None  # the opaque ref of the taxpayer the record belongs to (audit event v2)


@dataclass(frozen=True, slots=True)
class Grant:
    """An active, unexpired grant of the caller."""

    purpose: str
    datasets: frozenset[str]
    fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class WriteFacts:
    """What a write's decision depends on, read inside the write's own transaction."""

    amount_cents: int = 0
    second_person: bool = True
    manages_requester: bool = False


@dataclass(frozen=True, slots=True)
class Decided:
    """A policy decision and how to mask what it allows."""

    decision: PolicyDecision
    plan: MaskPlan


def new_request_id(channel: str) -> str:
    """A fresh request id that names its channel (``cli-…``, ``job-…``)."""
    return f"{channel}-{secrets.token_hex(8)}"


# -- the door -----------------------------------------------------------------------------------


class Door:
    """Authorization, masking and audit around every read and write of protected data."""

    def __init__(
        self,
        engine: Engine,
        audit_log: AuditLog,
        policies: PolicyEngine,
        *,
        caller_ttl: float = 30.0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.clock: Callable[[], dt.datetime] = clock or _utcnow  # a simulator sets simulated time
        self.audit = audit_log
        self.policies = policies
        self.disclosures = DisclosureRules.from_policies(policies)  # PolicyError: the door does not open
        self.callers = CallerCache(engine, caller_ttl)
        self.is_sqlite = engine.dialect.name == "sqlite"

    # -- sessions --------------------------------------------------------------------------------

    def caller(self, principal_id: str, *, request_id: str = "-") -> Caller:
        """The active principal ``principal_id``, its facts checked against the store now.

        Cached facts are used only while the principal's row is unchanged, so a
        deactivation or a role change takes effect on the next request. An unknown
        or inactive principal is refused (and the refusal audited).
        """
        try:
            return self.callers.current(principal_id)
        except UnknownPrincipal:
            self.refuse(
                principal_id if _printable_id(principal_id) else "unknown",
                "authenticate",
                "principal-inactive-or-unknown",
                request_id=request_id,
            )
            raise Unauthenticated("no active principal with that id") from None

    def session(
        self,
        caller: Caller,
        purpose: str | None,
        *,
        channel: str,
        request_id: str | None = None,
        justification: str | None = None,
        action: str = "request",
    ) -> Session:
        """Check the purpose (and a break-glass justification) and open a session; refusals are audited."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        request_id = request_id or new_request_id(channel)
        if purpose is None or not re.fullmatch(PURPOSE_PATTERN, purpose, flags=re.ASCII):
            self.refuse(caller.id, action, "purpose-missing-or-invalid", request_id=request_id)
            raise Invalid(
                "a purpose of use is required: lower-case letters and underscores (e.g. collection)",
                code="purpose-of-use",
            )
        if justification is not None and not JUSTIFICATION_MIN <= len(justification.strip()) <= JUSTIFICATION_MAX:
            self.refuse(caller.id, action, "break-glass-justification-invalid", request_id=request_id, purpose=purpose)
            raise Invalid(
                f"a break-glass justification must be {JUSTIFICATION_MIN} to {JUSTIFICATION_MAX} characters",
                code="break-glass-justification",
            )
        return Session(caller, purpose, channel, request_id, justification.strip() if justification else None)

    def system_session(self, principal_id: str, purpose: str, *, request_id: str | None = None) -> Session:
        """A job's session: a named system principal with its own narrow policies."""
        caller = self.caller(principal_id, request_id=request_id or "-")
        if caller.facts.kind != "system":
            raise Denied("jobs act only as system principals")
        return self.session(caller, purpose, channel="job", request_id=request_id)

    def refuse(
        self,
        principal: str,
        action: str,
        reason: str,
        *,
        request_id: str,
        purpose: str | None = None,
        resource: str = "request",
    ) -> None:
        """Audit a request refused before any decision (bad purpose, rate limit, inactive principal)."""
        self.append(
            build_event(
                principal=principal,
                action=action,
                resource=resource,
                allowed=False,
                request_id=request_id,
                purpose=_safe_purpose(purpose),
                policy=f"refused:{reason}",
                time=self.clock(),
            )
        )

    # -- the unit of work --------------------------------------------------------------------------

    @contextmanager
    def unit(self, session: Session, *, write: bool = False) -> Iterator[Unit]:
        """One transaction for one request or job step: decide, fetch or write, audit, commit.

        A write unit holds the write lock from its first statement (SQLite ``BEGIN
        IMMEDIATE``; PostgreSQL row locks on the facts it decided on), appends its
        audit events inside the transaction and commits both or neither. A read unit
        appends its events durably after the read and before anything is returned.
        Events of a unit that fails (a denial, a fetch error) are still appended.
        An HTTP request with an ``Idempotency-Key`` owns one transaction for all its units
        (:mod:`taxvault.access.idempotency`): its response is stored and committed with its write.
        """
        claim = claim_for(session, write)
        if claim is not None:
            with claimed_unit(self, claim, session, write=write) as claimed:
                yield claimed
            return
        unit: Unit | None = None
        try:
            with self.engine.connect() as conn:
                if write and self.is_sqlite:
                    conn.exec_driver_sql("PRAGMA synchronous=FULL")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif self.is_sqlite:
                    conn.exec_driver_sql("BEGIN")  # one snapshot for every query of the read
                unit = Unit(self, session, conn, write)
                try:
                    unit.session = self._recheck(conn, session)
                    yield unit
                    if write and unit.events:
                        self._append_in(conn, unit.events)
                        unit.events.clear()
                    conn.commit() if write else conn.rollback()
                except BaseException:
                    conn.rollback()
                    raise
                finally:
                    if write and self.is_sqlite:
                        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        except _Revoked:
            self.refuse(session.principal, "request", "principal-inactive", request_id=session.request_id)
            raise Unauthenticated("the principal is no longer active") from None
        except BaseException:
            # Denials, refusals and failed fetches are recorded although the work is not; an
            # allowed write that was rolled back left nothing, so its event is not appended.
            if unit is not None:
                for ev in unit.events:
                    if ev.decision == Decision.DENY:
                        self.append(ev)
            raise
        # A read: its events are appended durably once its connection is back, before any answer.
        for ev in unit.events:
            unit.leaves.append(self.append(ev))
        unit.events.clear()
        unit.committed()

    def _recheck(self, conn: Connection, session: Session) -> Session:
        """The session with the caller as the store has it now (a revoked principal is refused here)."""
        try:
            caller = self.callers.current(session.caller.id, conn)
        except UnknownPrincipal:
            raise _Revoked(session) from None
        return session if caller is session.caller else replace(session, caller=caller)

    def append(self, ev: AuditEvent) -> int:
        """Append one event durably (group commit), or :class:`Unavailable` (fail closed)."""
        settle_claim()  # the writer thread would wait on a keyed request's open transaction
        try:
            return self.audit.append(ev)
        except AuditError as exc:
            log.error("audit append failed; request refused", extra={"request_id": ev.request_id})
            raise Unavailable("the access could not be recorded; no data was returned") from exc

    def _append_in(self, conn: Connection, events: list[AuditEvent]) -> None:
        try:
            self.audit.append_in(conn, events)
        except AuditError as exc:
            log.error("audit append failed; write rolled back", extra={"request_id": events[0].request_id})
            raise Unavailable("the access could not be recorded; nothing was written") from exc

    # -- facts (pure reads on the unit's connection) -------------------------------------------------

    def locate(self, conn: Connection, resource: Resource, ref: str, caller: Caller) -> Target | None:
        """Find the record a request names (None if there is none)."""
        loc = resource.locator
        if loc == "audit":
            return Target(AUDIT_RESOURCE)
        if loc == "self":
            if resource is not Resource.ACCESS_REPORT or caller.entity_id is None:
                return Target(caller.id)
            me = conn.execute(_SELF_ENTITY, {"eid": caller.entity_id}).first()
            if me is None:
                return Target(caller.id)
            return Target(
                me.ref, caller.entity_id, None, bool(me.is_restricted), bool(me.is_employee), subject=str(me.ref)
            )
        if not ref:
            return None
        row: Any
        if "caseworker" in caller.roles:
            stmt = _LOCATE_ENTITY_CASES if loc == "entity" else _LOCATE_MODULE_CASES
            rows = conn.execute(stmt, {"ref": ref, "pid": caller.id}).all()
            if not rows:
                return None
            row = rows[0]
            assigned: frozenset[str] | None = frozenset(str(r.purpose) for r in rows if r.purpose is not None)
        else:
            row = conn.execute(_LOCATE_ENTITY if loc == "entity" else _LOCATE_MODULE, {"ref": ref}).first()
            if row is None:
                return None
            assigned = None
        return Target(
            ref,
            int(row.id),
            None if loc == "entity" else int(row.module_id),
            bool(row.is_restricted),
            bool(row.is_employee),
            (row.address_line, row.city, row.state, row.zip),
            assigned,
            str(row.subject),
        )

    def assigned_purposes(self, conn: Connection, caller: Caller, target: Target, *, lock: bool) -> frozenset[str]:
        """Purposes of the caller's open cases whose subjects cover the target.

        With ``lock`` (write units on PostgreSQL) the case rows are locked FOR SHARE, so
        no case can close between the decision and the write it allows.
        """
        if "caseworker" not in caller.roles or target.entity_id is None:
            return frozenset()
        if target.assigned is not None and not (lock and not self.is_sqlite):
            return target.assigned
        if target.module_id is None:
            stmt, params = _ASSIGNED, {"pid": caller.id, "eid": target.entity_id}
        else:
            stmt, params = _ASSIGNED_MODULE, {"pid": caller.id, "eid": target.entity_id, "mid": target.module_id}
        if lock and not self.is_sqlite:
            stmt = stmt.with_for_update(read=True, of=cases)
        return frozenset(str(p) for (p,) in conn.execute(stmt, params))

    @staticmethod
    def active_grants(conn: Connection, caller: Caller, now: dt.datetime) -> list[Grant]:
        """The caller's grants that are active and inside their time box now."""
        if "engineer" not in caller.roles:
            return []
        rows = conn.execute(
            sa.select(grants.c.purpose, grants.c.datasets, grants.c.fields, grants.c.starts_at, grants.c.ends_at).where(
                grants.c.principal_id == caller.id, grants.c.state == "active"
            )
        )
        found: list[Grant] = []
        for row in rows:
            starts, ends = _aware(row.starts_at), _aware(row.ends_at)
            if starts <= now < ends:
                found.append(Grant(row.purpose, frozenset(row.datasets), frozenset(row.fields)))
        return found

    def decide(
        self,
        conn: Connection,
        session: Session,
        action: str,
        resource: Resource,
        target: Target,
        *,
        amount_cents: int = 0,
        second_person: bool = True,
        manages_requester: bool = False,
        lock: bool = False,
        now: dt.datetime | None = None,
    ) -> Decided:
        """Gather the facts, ask the policies (a pure function), derive the mask plan from the rules."""
        now = now or self.clock()
        caller = session.caller
        relation = "none"
        if target.entity_id is not None:
            relation = caller.relation_to(target.entity_id, target.address)
        taxpayer = resource.taxpayer_data
        assigned = self.assigned_purposes(conn, caller, target, lock=lock) if taxpayer else frozenset()
        held = self.active_grants(conn, caller, now) if taxpayer else []
        context = ContextFacts(
            purpose=session.purpose,
            relation=relation,
            assigned_purposes=assigned,
            grants=frozenset((g.purpose, d) for g in held for d in g.datasets),
            break_glass=session.justification is not None,
            amount_cents=abs(amount_cents),
            second_person=second_person,
            manages_requester=manages_requester,
        )
        facts = ResourceFacts(
            target.ref, resource.value, resource.dataset, taxpayer, target.restricted, target.employee
        )
        decision = self.policies.decide(caller.facts, action, facts, context)
        plan = MaskPlan()
        if decision.allowed:
            categories = frozenset(
                f for g in held if g.purpose == session.purpose and resource.dataset in g.datasets for f in g.fields
            )
            plan = self.disclosures.plan(decision.policies, session.purpose, categories)
        return Decided(decision, plan)

    def queue_break_glass(self, conn: Connection, leaf: int, ev: AuditEvent, justification: str) -> int:
        """Put a break-glass access on the review queue; returns the review id."""
        result = conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=leaf,
                request_id=ev.request_id,
                principal_id=ev.principal,
                action=ev.action,
                resource=ev.resource,
                purpose=ev.purpose or "",
                justification=justification,
                created_at=ev.time,
                state="pending",
            )
        )
        key = result.inserted_primary_key
        return int(key[0]) if key else 0


class _Revoked(Exception):
    """The session's principal was deactivated after it authenticated."""

    def __init__(self, session: Session) -> None:
        super().__init__("revoked")
        self.session = session


# -- one unit of work ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Unit:
    """The connection of one unit of work and the audit events it will append."""

    door: Door
    session: Session
    conn: Connection
    write: bool
    events: list[AuditEvent] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)  # located ref -> its taxpayer's ref

    def committed(self) -> None:
        for hook in self.after_commit:
            hook()

    def audit(
        self,
        action: str,
        resource: Resource | str,
        target_ref: str,
        decision: PolicyDecision | None,
        fields: list[str] | tuple[str, ...] = (),
        *,
        reason: str | None = None,
        subject: str | None = None,
    ) -> AuditEvent:
        """Add this unit's event for ``action`` (appended when the unit ends, whatever its outcome).

        ``subject`` defaults to the taxpayer of the record this unit located under ``target_ref``.
        """
        kind = resource.value if isinstance(resource, Resource) else resource
        policy = decision.policy_text if decision is not None else None
        if reason:
            policy = f"{policy}|{reason}" if policy else reason
        ev = build_event(
            principal=self.session.principal,
            action=f"{action}:{kind}",
            resource=target_ref,
            allowed=bool(decision and decision.allowed) and reason is None,
            request_id=self.session.request_id,
            purpose=self.session.purpose,
            policy=policy,
            fields=fields,
            subject=subject or self.subjects.get(target_ref),
            channel=self.session.channel,
            time=self.door.clock(),
        )
        self.events.append(ev)
        return ev

    @contextmanager
    def failures_recorded(
        self, action: str, resource: Resource, target: Target, decided: Decided, what: str
    ) -> Iterator[None]:
        """Record an allowed fetch or write that then failed (``<what>:<kind>``); nothing was disclosed.

        A domain error passes through as it is; anything else becomes :class:`Unavailable`.
        """
        try:
            yield
        except TaxvaultError as exc:
            self.audit(action, resource, target.ref, decided.decision, reason=f"{what}:{exc.kind}")
            raise
        except Exception as exc:
            self.audit(action, resource, target.ref, decided.decision, reason=f"{what}:error")
            raise Unavailable("the request could not be completed; nothing was disclosed or written") from exc

    def locate(self, resource: Resource, ref: str, *, label: str = "read") -> Target:
        """The target, or :class:`NotFound` (audited)."""
        target = self.door.locate(self.conn, resource, ref, self.session.caller)
        if target is None:
            self.audit(label, resource, ref or "none", PolicyDecision(False, ("not-found",)))
            raise NotFound("no such record")
        if target.subject is not None:
            self.subjects[target.ref] = target.subject
        return target

    def authorize(
        self,
        resource: Resource,
        target: Target,
        action: str,
        *,
        label: str | None = None,
        amount_cents: int = 0,
        second_person: bool = True,
        manages_requester: bool = False,
    ) -> Decided:
        """Decide; a denial is audited and raised as :class:`Denied`."""
        if target.subject is not None:
            self.subjects[target.ref] = target.subject
        decided = self.door.decide(
            self.conn,
            self.session,
            action,
            resource,
            target,
            amount_cents=amount_cents,
            second_person=second_person,
            manages_requester=manages_requester,
            lock=self.write,
        )
        if not decided.decision.allowed:
            self.audit(label or action, resource, target.ref, decided.decision)
            raise Denied("not authorized for this record and purpose", code="forbidden")
        return decided

    def permits(self, resource: Resource, target: Target, action: str, amount_cents: int = 0) -> bool:
        """Would the policies allow ``action``? A question, not an access (the caller records its access)."""
        return self.door.decide(
            self.conn, self.session, action, resource, target, amount_cents=amount_cents
        ).decision.allowed


# -- what adapters use -------------------------------------------------------------------------------


Fetch = Callable[[Connection, Target], dict[str, Any]]
_STRUCTURAL = frozenset(
    {"items", "next_offset", "limit", "offset", "module", "transactions", "masked", "withheld"}
    | {"attempts", "before", "next_before"}  # the access report's second list and its paging by leaf
)


@dataclass(slots=True)
class Access:
    """One session's access to one resource: ``serve`` (read), ``write``, ``serve_bytes``.

    Built by the HTTP dependency (:func:`taxvault.access.http.read`), by the CLI
    (:func:`taxvault.access.local.local_access`) or by a job, over the same door.
    """

    door: Door
    session: Session
    resource: Resource
    ref: str
    on_break_glass: Callable[[int], None] | None = None
    break_glass_review: int | None = None

    @property
    def caller(self) -> Caller:
        return self.session.caller

    @property
    def purpose(self) -> str:
        return self.session.purpose

    @property
    def request_id(self) -> str:
        return self.session.request_id

    def serve(
        self,
        fetch: Fetch,
        action: str = "read",
        label: str | None = None,
        *,
        find: Callable[[Connection], str | None] | None = None,
    ) -> dict[str, Any]:
        """locate -> decide -> fetch -> mask -> audit -> the masked body (one read unit).

        ``find`` names the record from the request body (a TIN look-up) inside the same unit.
        """
        label = label or action
        with self.door.unit(self.session) as unit:
            if find is not None:
                self.ref = find(unit.conn) or ""
            target = unit.locate(self.resource, self.ref, label=label)
            decided = unit.authorize(self.resource, target, action, label=label)
            with unit.failures_recorded(label, self.resource, target, decided, "fetch-failed"):
                body = fetch(unit.conn, target)
            disclosure = Disclosure()
            masked = mask_body(body, decided.plan, disclosure, structural=_STRUCTURAL)
            if isinstance(masked, dict):
                masked["masked"] = sorted(disclosure.masked)
                masked["withheld"] = sorted(disclosure.withheld)
            ev = unit.audit(label, self.resource, target.ref, decided.decision, disclosure.audit_fields(_STRUCTURAL))
        if self.session.justification and self.door.disclosures.is_break_glass(decided.decision.policies):
            self._queue_break_glass(unit.leaves[-1], ev)
        return masked  # type: ignore[no-any-return]

    def serve_bytes(self, fetch: Callable[[Connection, Target], bytes | None], fields: list[str]) -> bytes:
        """locate -> decide -> fetch a document -> audit -> its bytes (NotFound if there is none)."""
        with self.door.unit(self.session) as unit:
            target = unit.locate(self.resource, self.ref)
            decided = unit.authorize(self.resource, target, "read")
            with unit.failures_recorded("read", self.resource, target, decided, "fetch-failed"):
                body = fetch(unit.conn, target)
            if body is None:
                unit.audit("read", self.resource, target.ref, decided.decision, reason="fetch-failed:no-document")
                raise NotFound("no such document")
            unit.audit("read", self.resource, target.ref, decided.decision, fields)
        return body

    def write(
        self,
        amount_cents: int,
        perform: Fetch,
        fields: list[str],
        action: str = "adjust",
        *,
        second_person: bool = True,
        manages_requester: bool = False,
        facts: Callable[[Connection, Target], WriteFacts] | None = None,
    ) -> dict[str, Any]:
        """locate -> decide (with the amount) -> perform -> audit -> commit, in one transaction.

        ``facts`` reads what the decision depends on (the amount of the adjustment being
        approved, who requested it) inside the same transaction, after the write lock.
        """
        with self.door.unit(self.session, write=True) as unit:
            target = unit.locate(self.resource, self.ref, label=action)
            if facts is not None:
                known = facts(unit.conn, target)
                amount_cents, second_person, manages_requester = (
                    known.amount_cents, known.second_person, known.manages_requester
                )  # fmt: skip
            decided = unit.authorize(
                self.resource,
                target,
                action,
                amount_cents=amount_cents,
                second_person=second_person,
                manages_requester=manages_requester,
            )
            with unit.failures_recorded(action, self.resource, target, decided, "write-failed"):
                result = perform(unit.conn, target)
            unit.audit(action, self.resource, target.ref, decided.decision, fields)
        return result

    def permits(self, conn: Connection, target: Target, action: str, amount_cents: int = 0) -> bool:
        """Would the policies allow ``action`` on the target? A question, not an access."""
        return self.door.decide(
            conn, self.session, action, self.resource, target, amount_cents=amount_cents
        ).decision.allowed

    def _queue_break_glass(self, leaf: int, ev: AuditEvent) -> None:
        with self.door.engine.begin() as conn:
            review = self.door.queue_break_glass(conn, leaf, ev, self.session.justification or "")
        self.break_glass_review = review
        if self.on_break_glass is not None:
            self.on_break_glass(review)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _printable_id(value: str) -> bool:
    """A value safe to record as a principal id: ASCII, starts with a letter (never a TIN's shape)."""
    return (
        0 < len(value) <= 64
        and value.isascii()
        and value[0].isalpha()
        and value.replace("-", "").replace("_", "").isalnum()
    )


def _safe_purpose(purpose: str | None) -> str | None:
    if purpose is not None and re.fullmatch(PURPOSE_PATTERN, purpose, flags=re.ASCII):
        return purpose
    return None
