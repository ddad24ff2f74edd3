"""The Gate: the one path to protected data.

    authenticate -> authorize (Cedar) -> fetch -> mask -> append audit event -> respond

Routes declare what they need with a dependency, ``Depends(read(Resource.X))``,
and hand the Gate a fetch function; they never check a role. Denied attempts are
audited too. If the audit append fails, the client gets 503 and no data.
"""

# No `from __future__ import annotations`: FastAPI must resolve the closures in read().

import datetime as dt
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from taxvault.access.masking import PURPOSE_NEEDS_FULL, Disclosure, MaskPlan, mask_record
from taxvault.access.policy import ContextFacts, PolicyDecision, PolicyEngine, ResourceFacts
from taxvault.access.principals import Address, Caller, CallerCache, UnknownPrincipal
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.resources import Resource
from taxvault.access.tables import break_glass_reviews
from taxvault.access.tokens import TokenError, TokenVerifier
from taxvault.api.problems import Problem
from taxvault.audit import AuditAppendError, AuditEvent, AuditLog, Decision
from taxvault.audit.errors import AuditError
from taxvault.store.tables import case_subjects, cases, entities, grants, tax_modules

log = logging.getLogger("taxvault.access")

REF_PATTERN = r"^[a-z][0-9a-f]{8,31}$"
PURPOSE_PATTERN = r"^[a-z][a-z_]{1,39}$"
AUDIT_RESOURCE = "audit-log"
_STRUCTURAL = frozenset({"items", "next_offset", "limit", "offset", "module", "transactions", "masked", "withheld"})
_BEARER = re.compile(r"^[Bb]earer +([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*)$")


_E = entities.c
_SELF_ENTITY = sa.select(_E.ref, _E.is_restricted, _E.is_employee).where(_E.id == sa.bindparam("eid"))
_ENTITY_FACTS = (_E.id, _E.is_restricted, _E.is_employee, _E.address_line, _E.city, _E.state, _E.zip)
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
    .distinct()
)
_ASSIGNED_ENTITY = _ASSIGNED
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
_ASSIGNED_MODULE = _ASSIGNED.where(
    sa.or_(case_subjects.c.module_id == sa.bindparam("mid"), case_subjects.c.module_id.is_(None))
)


@dataclass(frozen=True, slots=True)
class Target:
    """The located record: opaque ref plus the internal ids and flags the Gate needs."""

    ref: str
    entity_id: int | None = None
    module_id: int | None = None
    restricted: bool = False
    employee: bool = False
    address: Address | None = None
    assigned: frozenset[str] | None = None  # the caller's case purposes, when read with the record


@dataclass(frozen=True, slots=True)
class Grant:
    """An active, unexpired grant of the caller."""

    purpose: str
    datasets: frozenset[str]
    fields: frozenset[str]


class Gate:
    """Authorization, masking and audit around every read and write of protected data."""

    def __init__(
        self,
        engine: Engine,
        audit_log: AuditLog,
        policies: PolicyEngine,
        verifier: TokenVerifier,
        limiter: RateLimiter,
        *,
        caller_ttl: float = 30.0,
    ) -> None:
        self.engine = engine
        self.audit = audit_log
        self.policies = policies
        self.verifier = verifier
        self.limiter = limiter
        self.callers = CallerCache(engine, caller_ttl)

    # -- authentication ---------------------------------------------------------------

    async def authenticate(self, authorization: str | None) -> Caller:
        """The caller behind a bearer token (Problem 401/429 otherwise).

        Runs on the event loop: token verification is CPU-only (and cached); only a
        principal-cache miss reads the store, in the thread pool.
        """
        challenge = {"WWW-Authenticate": 'Bearer realm="taxvault"'}
        if not authorization:
            raise Problem(401, "a bearer token is required", headers=challenge)
        match = _BEARER.match(authorization.strip())
        if match is None:
            raise Problem(401, "the Authorization header must carry a bearer JWT", headers=challenge)
        try:
            claims = self.verifier.verify(match.group(1))
            cached = self.callers.cached(claims.subject)
            caller: Caller = cached if cached is not None else await run_in_threadpool(self.callers.get, claims.subject)
        except TokenError as exc:
            raise Problem(401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        except UnknownPrincipal:
            raise Problem(401, "the token's subject is not an active principal", headers=challenge) from None
        wait = self.limiter.take(caller.id)
        if wait > 0:
            raise Problem(429, "rate limit exceeded for this principal", headers={"Retry-After": str(int(wait) + 1)})
        return caller

    # -- facts --------------------------------------------------------------------------

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
            return Target(me.ref, caller.entity_id, None, bool(me.is_restricted), bool(me.is_employee))
        row: Any
        if "caseworker" in caller.roles:
            # One round trip: the record and the purposes of the caller's open cases on it.
            stmt = _LOCATE_ENTITY_CASES if loc == "entity" else _LOCATE_MODULE_CASES
            rows = conn.execute(stmt, {"ref": ref, "pid": caller.id}).all()
            if not rows:
                return None
            row = rows[0]
            assigned = frozenset(str(r.purpose) for r in rows if r.purpose is not None)
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
        )

    @staticmethod
    def assigned_purposes(conn: Connection, caller: Caller, target: Target) -> frozenset[str]:
        """Purposes of the caller's open cases whose subjects cover the target."""
        if "caseworker" not in caller.roles or target.entity_id is None:
            return frozenset()
        if target.assigned is not None:
            return target.assigned
        if target.module_id is None:
            rows = conn.execute(_ASSIGNED_ENTITY, {"pid": caller.id, "eid": target.entity_id})
        else:
            rows = conn.execute(_ASSIGNED_MODULE, {"pid": caller.id, "eid": target.entity_id, "mid": target.module_id})
        return frozenset(str(p) for (p,) in rows)

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

    # -- decisions ------------------------------------------------------------------------

    def decide(
        self,
        conn: Connection,
        caller: Caller,
        action: str,
        resource: Resource,
        target: Target,
        purpose: str,
        *,
        break_glass: bool = False,
        amount_cents: int = 0,
        second_person: bool = True,
        manages_requester: bool = False,
        now: dt.datetime | None = None,
    ) -> tuple[PolicyDecision, MaskPlan]:
        """Gather the facts, ask the policies, and derive how to mask the answer."""
        now = now or dt.datetime.now(dt.UTC)
        relation = "none"
        if target.entity_id is not None:
            relation = caller.relation_to(target.entity_id, target.address)
        assigned = self.assigned_purposes(conn, caller, target) if resource.taxpayer_data else frozenset()
        held = self.active_grants(conn, caller, now) if resource.taxpayer_data else []
        scopes = frozenset((g.purpose, d) for g in held for d in g.datasets)
        context = ContextFacts(
            purpose=purpose,
            relation=relation,
            assigned_purposes=assigned,
            grants=scopes,
            break_glass=break_glass,
            amount_cents=abs(amount_cents),
            second_person=second_person,
            manages_requester=manages_requester,
        )
        facts = ResourceFacts(
            target.ref, resource.value, resource.dataset, resource.taxpayer_data, target.restricted, target.employee
        )
        decision = self.policies.decide(caller.facts, action, facts, context)
        plan = MaskPlan()
        if decision.allowed:
            if "caseworker-assigned-read" in decision.policies or "caseworker-adjust-within-authority" in (
                decision.policies
            ):
                plan = MaskPlan(full=PURPOSE_NEEDS_FULL.get(purpose, frozenset()))
            elif "engineer-within-grant" in decision.policies:
                cats = frozenset(
                    f for g in held if g.purpose == purpose and resource.dataset in g.datasets for f in g.fields
                )
                plan = MaskPlan(categories=cats, line_items_are_amounts=True)
        return decision, plan

    def record(self, event: AuditEvent) -> int:
        """Append to the audit log, or Problem 503 (fail closed)."""
        try:
            return self.audit.append(event)
        except (AuditAppendError, AuditError) as exc:
            log.error("audit append failed; request refused", extra={"request_id": event.request_id})
            raise Problem(503, "the access could not be recorded; no data was returned") from exc

    def queue_break_glass(self, leaf: int, event: AuditEvent, justification: str) -> int:
        """Put a break-glass access on the review queue; returns the review id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                break_glass_reviews.insert().values(
                    leaf_index=leaf,
                    request_id=event.request_id,
                    principal_id=event.principal,
                    action=event.action,
                    resource=event.resource,
                    purpose=event.purpose or "",
                    justification=justification,
                    created_at=event.time,
                    state="pending",
                )
            )
            key = result.inserted_primary_key
            return int(key[0]) if key else 0


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# -- what routes use ------------------------------------------------------------------------


Fetch = Callable[[Connection, Target], dict[str, Any]]


@dataclass(slots=True)
class Access:
    """One authenticated request for one kind of resource; ``serve`` runs the Gate."""

    gate: Gate
    request: Request
    caller: Caller
    resource: Resource
    ref: str
    purpose: str
    justification: str | None

    @property
    def request_id(self) -> str:
        return str(getattr(self.request.state, "request_id", "-"))

    def _event(self, action: str, target_ref: str, decision: PolicyDecision, fields: list[str]) -> AuditEvent:
        return AuditEvent.now(
            principal=self.caller.id,
            action=f"{action}:{self.resource.value}",
            resource=target_ref,
            decision=Decision.ALLOW if decision.allowed else Decision.DENY,
            request_id=self.request_id,
            purpose=self.purpose,
            policy=decision.policy_text,
            fields=fields,
        )

    def _authorize(
        self,
        conn: Connection,
        action: str,
        amount_cents: int = 0,
        *,
        label: str | None = None,
        second_person: bool = True,
        manages_requester: bool = False,
    ) -> tuple[Target, PolicyDecision, MaskPlan]:
        gate = self.gate
        target = gate.locate(conn, self.resource, self.ref, self.caller)
        if target is None:
            gate.record(self._event(label or action, self.ref, PolicyDecision(False, ("not-found",)), []))
            raise Problem(404, "no such record")
        decision, plan = gate.decide(
            conn,
            self.caller,
            action,
            self.resource,
            target,
            self.purpose,
            break_glass=bool(self.justification),
            amount_cents=amount_cents,
            second_person=second_person,
            manages_requester=manages_requester,
        )
        if not decision.allowed:
            gate.record(self._event(label or action, target.ref, decision, []))
            raise Problem(403, "not authorized for this record and purpose", type_="urn:taxvault:problem:forbidden")
        return target, decision, plan

    def serve(self, fetch: Fetch, action: str = "read", label: str | None = None) -> dict[str, Any]:
        """authorize -> fetch -> mask -> audit -> the masked body (or a Problem).

        ``action`` is the Cedar action; ``label`` (default: the action) names it in the audit event.
        """
        label = label or action
        with self.gate.engine.connect() as conn:
            target, decision, plan = self._authorize(conn, action, label=label)
            body = fetch(conn, target)
        disclosure = Disclosure()
        masked = _mask(body, plan, disclosure)
        fields = sorted(
            {n + ":masked" if n in disclosure.masked else n for n in disclosure.disclosed if n not in _STRUCTURAL}
        )
        if isinstance(masked, dict):
            masked["masked"] = sorted(disclosure.masked)
            masked["withheld"] = sorted(disclosure.withheld)
        event = self._event(label, target.ref, decision, fields)
        leaf = self.gate.record(event)
        if _is_break_glass(decision) and self.justification:
            review = self.gate.queue_break_glass(leaf, event, self.justification)
            self.request.state.break_glass_review = review
        return masked  # type: ignore[no-any-return]

    def write(
        self,
        amount_cents: int,
        perform: Fetch,
        fields: list[str],
        action: str = "adjust",
        *,
        second_person: bool = True,
        manages_requester: bool = False,
    ) -> dict[str, Any]:
        """authorize (with the amount) -> audit -> perform in one transaction -> its result."""
        with self.gate.engine.connect() as conn:
            target, decision, _ = self._authorize(
                conn, action, amount_cents, second_person=second_person, manages_requester=manages_requester
            )
        self.gate.record(self._event(action, target.ref, decision, fields))
        with self.gate.engine.begin() as conn:
            return perform(conn, target)

    def permits(self, conn: Connection, target: Target, action: str, amount_cents: int = 0) -> bool:
        """Would the policies allow ``action`` on the target? A question, not an access: the
        route records it inside the access it serves (e.g. whether an adjustment is within
        the caller's authority)."""
        decision, _ = self.gate.decide(
            conn, self.caller, action, self.resource, target, self.purpose, amount_cents=amount_cents
        )
        return decision.allowed

    def serve_bytes(self, fetch: Callable[[Connection, Target], bytes | None], fields: list[str]) -> bytes:
        """authorize -> fetch a document -> audit -> its bytes (404 if there is none)."""
        with self.gate.engine.connect() as conn:
            target, decision, _ = self._authorize(conn, "read")
            body = fetch(conn, target)
        if body is None:
            raise Problem(404, "no such document")
        self.gate.record(self._event("read", target.ref, decision, fields))
        return body


def _is_break_glass(decision: PolicyDecision) -> bool:
    return "break-glass" in decision.policies and not any(
        p.startswith("caseworker-") or p.startswith("engineer-") for p in decision.policies
    )


def _mask(value: Any, plan: MaskPlan, out: Disclosure) -> Any:
    if isinstance(value, dict):
        flat = {k: v for k, v in value.items() if not isinstance(v, dict | list) or k == "boxes"}
        result = mask_record(flat, plan, out)
        for k, v in value.items():
            if k not in flat:
                result[k] = _mask(v, plan, out)
                if k not in _STRUCTURAL:
                    out.disclosed.add(k)
        return {k: result[k] for k in value}
    if isinstance(value, list):
        return [_mask(v, plan, out) for v in value]
    return value


# -- FastAPI dependencies ---------------------------------------------------------------------


class GateHolder:
    """The app's Gate, built on first use (keys and the audit writer only once a request needs them)."""

    def __init__(self, build: Callable[[], Gate]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self.built: Gate | None = None

    def get(self) -> Gate:
        gate = self.built
        if gate is None:
            with self._lock:
                if self.built is None:
                    self.built = self._build()
                gate = self.built
        return gate


def get_gate(request: Request) -> Gate:
    """The app's Gate."""
    holder: GateHolder = request.app.state.gate_holder
    return holder.get()


bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An OAuth2 bearer JWT from the configured issuer (embedded: `taxvault token issue`).",
)


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """Dependency: the authenticated caller (401/429 otherwise)."""
    authorization = None if credentials is None else f"Bearer {credentials.credentials}"
    caller = await get_gate(request).authenticate(authorization)
    request.state.principal = caller.id
    return caller


PurposeHeader = Annotated[
    str,
    Header(
        alias="Purpose-Of-Use",
        pattern=PURPOSE_PATTERN,
        description="Why the data is needed (e.g. collection, examination, underreporter, "
        "taxpayer_assistance, self_service, oversight_review, or a grant's purpose).",
    ),
]
JustificationHeader = Annotated[
    str | None,
    Header(
        alias="Break-Glass-Justification",
        min_length=20,
        max_length=1000,
        description="A written justification: asks for break-glass access (flagged and reviewed).",
    ),
]


async def _entity_ref(taxpayer_id: Annotated[str, Path(pattern=REF_PATTERN, description="Opaque taxpayer id")]) -> str:
    return taxpayer_id


async def _module_ref(module_id: Annotated[str, Path(pattern=REF_PATTERN, description="Opaque tax module id")]) -> str:
    return module_id


async def _no_ref() -> str:
    return ""


_LOCATORS: dict[str, Callable[..., Awaitable[str]]] = {
    "entity": _entity_ref,
    "module": _module_ref,
    "self": _no_ref,
    "audit": _no_ref,
}


def read(resource: Resource, *, located_by: str | None = None) -> Callable[..., Awaitable[Access]]:
    """Dependency factory: the route reads ``resource``; the Gate authorizes, masks and audits.

    ``located_by="body"``: the route names the record from its body (sets ``access.ref``).
    """
    locator = _no_ref if located_by == "body" else _LOCATORS[resource.locator]

    async def dependency(
        request: Request,
        caller: Annotated[Caller, Depends(authenticated)],
        purpose: PurposeHeader,
        ref: Annotated[str, Depends(locator)],
        justification: JustificationHeader = None,
    ) -> Access:
        return Access(get_gate(request), request, caller, resource, ref, purpose, justification)

    dependency.__name__ = f"gate_read_{resource.value}"
    return dependency


write = read
"""Writes declare their resource the same way; the route calls :meth:`Access.write`."""
