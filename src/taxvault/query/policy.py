"""A plan under policy: Cedar decides, this module turns the permit into a row scope and field rules.

The plan is decided through the door's policy engine as the asking principal and
purpose, once per dataset it touches (action ``query``; resource kind ``query`` for a
listing, ``query_aggregate`` for aggregates). Which permit allowed it says how the
answer is scoped:

- ``query-caseworker-assigned``: only the subjects (and case modules) of her open cases
  for this purpose, minus her own, related, restricted and employee accounts unless her
  unit handles them; the purpose's mask applies.
- ``query-analyst-aggregates``: aggregates only, no sensitive field anywhere, no min/max
  (they are single records' values), small cells suppressed (``MIN_CELL``), noise when
  the statistics module is present.
- ``query-engineer-within-grant``: only the datasets and field categories her grant names.
- ``query-taxpayer-own``: only her own records, sensitive fields masked.

Anything else (oversight, an engineer without a grant, an analyst listing records) is
denied. A field the answer would show masked cannot be filtered, grouped, sorted or
aggregated on: that would reveal it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Unit
from taxvault.access.masking import PURPOSE_NEEDS_FULL
from taxvault.access.policy import ContextFacts, PolicyDecision, ResourceFacts
from taxvault.access.principals import Caller
from taxvault.access.resources import Resource
from taxvault.errors import Denied
from taxvault.query.compile import UNSCOPED, Scope
from taxvault.query.plan import AggFn, Plan
from taxvault.query.vocab import FIELDS, TABLE_OF, EntitySet, FieldDef
from taxvault.store.tables import case_subjects, cases, entities, principal_relations, tax_modules

ACTION = "query"
MIN_CELL = 10
"""Analysts' minimum cell size: a group of fewer records is suppressed."""
MAX_ROWS = 1000

CASEWORKER, ANALYST, ENGINEER, TAXPAYER = (
    "query-caseworker-assigned",
    "query-analyst-aggregates",
    "query-engineer-within-grant",
    "query-taxpayer-own",
)
_PREFERENCE = (TAXPAYER, CASEWORKER, ENGINEER, ANALYST)
"""When several permits allow a plan, the narrowest scope applies."""


@dataclass(frozen=True, slots=True)
class Authorized:
    """A plan the policies allowed, and how its answer must be scoped and shown."""

    plan: Plan
    resource: Resource
    permit: str
    decision: PolicyDecision
    scope: Scope
    masked: frozenset[str]  # qualified fields shown masked (never filtered, grouped or sorted on)
    min_cell: int | None = None  # analysts: groups under this many records suppressed
    private: bool = False  # analysts: noise from the statistics module
    subject: str | None = None  # the taxpayer the answer is about, when it is one (her own records)

    @property
    def role(self) -> str:
        return self.permit.removeprefix("query-").split("-")[0]


def resource_of(plan: Plan) -> Resource:
    return Resource.QUERY_AGGREGATE if plan.is_aggregate else Resource.QUERY


def _open_case_purposes(conn: Connection, caller: Caller) -> frozenset[str]:
    if "caseworker" not in caller.roles:
        return frozenset()
    rows = conn.execute(
        sa.select(cases.c.purpose).where(cases.c.assigned_to == caller.id, cases.c.status == "open").distinct()
    )
    return frozenset(str(p) for (p,) in rows)


def _decide(unit: Unit, plan: Plan, now: dt.datetime) -> tuple[PolicyDecision, str, frozenset[str]]:
    """Cedar per dataset; the permit all datasets share (narrowest first) and the grant's categories."""
    door: Door = unit.door
    session = unit.session
    caller = session.caller
    resource = resource_of(plan)
    held = door.active_grants(unit.conn, caller, now)
    context = ContextFacts(
        purpose=session.purpose,
        relation="self" if caller.facts.kind == "taxpayer" and caller.entity_id is not None else "none",
        assigned_purposes=_open_case_purposes(unit.conn, caller),
        grants=frozenset((g.purpose, d) for g in held for d in g.datasets),
    )
    common: set[str] | None = None
    fired: list[str] = []
    for dataset in sorted({TABLE_OF[s] for s in plan.sets}):
        facts = ResourceFacts(plan.ref, resource.value, dataset, resource.taxpayer_data)
        decision = door.policies.decide(caller.facts, ACTION, facts, context)
        if not decision.allowed:
            return decision, "", frozenset()
        fired += decision.policies
        common = set(decision.policies) if common is None else common & set(decision.policies)
    permit = next((p for p in _PREFERENCE if common and p in common), "")
    if not permit:
        return PolicyDecision(False, ("no-common-permit",)), "", frozenset()
    categories = frozenset(
        c for g in held if g.purpose == session.purpose for c in g.fields
    )  # the datasets are each checked by Cedar above
    return PolicyDecision(True, tuple(dict.fromkeys(fired))), permit, categories


def _masked(permit: str, purpose: str, fields: Iterable[FieldDef]) -> frozenset[str]:
    full = PURPOSE_NEEDS_FULL.get(purpose, frozenset()) if permit == CASEWORKER else frozenset()
    return frozenset(f.qualified for f in fields if f.mask is not None and f.mask not in full)


def _refuse(unit: Unit, plan: Plan, decision: PolicyDecision, reason: str, message: str) -> Denied:
    unit.audit(ACTION, resource_of(plan), plan.ref, decision, plan.field_names(), reason=reason)
    return Denied(message, code="forbidden")


def _check_fields(unit: Unit, plan: Plan, permit: str, decision: PolicyDecision, categories: frozenset[str]) -> None:
    """Refuse a plan that would reveal what this permit does not disclose."""
    used = plan.field_defs()
    if permit == ANALYST:
        sensitive = sorted(f.qualified for f in used if f.sensitivity != "public")
        if sensitive:
            raise _refuse(unit, plan, decision, "sensitive-field", "analysts cannot use " + ", ".join(sensitive))
        refs = sorted(f for f in [*plan.group_by, *(x.field for x in plan.filters)] if FIELDS[f].name == "ref")
        if refs:
            raise _refuse(unit, plan, decision, "record-id", "analysts cannot group or filter by record ids")
        if any(a.fn in (AggFn.MIN, AggFn.MAX) for a in plan.aggregates):
            raise _refuse(unit, plan, decision, "single-record", "a minimum or maximum is one record's value")
    if permit == ENGINEER:
        outside = sorted(f.qualified for f in used if f.category is not None and f.category not in categories)
        if outside:
            raise _refuse(unit, plan, decision, "outside-grant", "your grant does not name " + ", ".join(outside))
    if permit == TAXPAYER and EntitySet.CASES in plan.sets:
        raise _refuse(unit, plan, decision, "cases", "cases are the agency's records, not the taxpayer's")
    masked = _masked(permit, unit.session.purpose, used)
    revealing = {f.field for f in plan.filters} | set(plan.group_by) | {o.by for o in plan.order_by}
    revealing |= {a.field for a in plan.aggregates if a.field is not None}
    bad = sorted(masked & revealing)
    if bad:
        message = "masked fields cannot be filtered, grouped, sorted or aggregated on: " + ", ".join(bad)
        raise _refuse(unit, plan, decision, "masked-field", message)


def _forbidden(caller: Caller, *, assigned: bool) -> sa.ColumnElement[bool]:
    """The accounts the forbids keep from her (forbid.cedar, as SQL over ``entities``).

    Her own, a declared relative's, one at her address; a restricted account unless she is
    in the special unit and assigned; an employee's account unless her unit handles them.
    """
    e = entities.c
    unit = caller.facts.unit
    pr = principal_relations.c
    excluded: list[sa.ColumnElement[bool]] = [e.id.in_(sa.select(pr.entity_id).where(pr.principal_id == caller.id))]
    if caller.entity_id is not None:
        excluded.append(e.id == caller.entity_id)
    if caller.address is not None:
        line, city, state, zip_code = caller.address
        excluded.append(
            sa.and_(
                sa.func.upper(e.address_line) == " ".join(line.upper().split()),
                sa.func.upper(e.city) == city.strip().upper(),
                e.state == state.strip().upper(),
                sa.func.substr(e.zip, 1, 5) == zip_code[:5],
            )
        )
    if not (unit == "special" and assigned):
        excluded.append(e.is_restricted.is_(True))
    if unit != "employee_accounts":
        excluded.append(e.is_employee.is_(True))
    return sa.or_(*excluded)


def engineer_scope(caller: Caller) -> Scope:
    """Every account of the granted datasets but those the forbids keep from her."""
    return Scope(entities=sa.select(entities.c.id).where(sa.not_(_forbidden(caller, assigned=False))))


def caseworker_scope(caller: Caller, purpose: str) -> Scope:
    """Her open cases' subjects for this purpose, less what the forbids keep from her."""
    e = entities.c
    cs, c = case_subjects.alias("qs_cs"), cases.alias("qs_c")
    mine = sa.and_(c.c.id == cs.c.case_id, c.c.assigned_to == caller.id, c.c.status == "open", c.c.purpose == purpose)
    ents = sa.select(cs.c.entity_id).select_from(cs.join(c, mine).join(entities, e.id == cs.c.entity_id))
    ents = ents.where(sa.not_(_forbidden(caller, assigned=True)))
    # A case that names a module covers that module only; one that names none covers them all.
    cs2, c2 = case_subjects.alias("qs_cs2"), cases.alias("qs_c2")
    mine2 = sa.and_(
        c2.c.id == cs2.c.case_id, c2.c.assigned_to == caller.id, c2.c.status == "open", c2.c.purpose == purpose
    )
    tm = tax_modules.alias("qs_tm")
    mods = (
        sa.select(tm.c.id)
        .select_from(
            tm.join(
                cs2,
                sa.and_(
                    cs2.c.entity_id == tm.c.entity_id, sa.or_(cs2.c.module_id.is_(None), cs2.c.module_id == tm.c.id)
                ),
            ).join(c2, mine2)
        )
        .where(tm.c.entity_id.in_(ents))
    )
    own = sa.select(cases.c.id).where(
        cases.c.assigned_to == caller.id, cases.c.status == "open", cases.c.purpose == purpose
    )
    return Scope(entities=ents, modules=mods, cases=own)


def _why_denied(caller: Caller, plan: Plan) -> str:
    """A denial in words the asker can act on (from her roles; the policies decided)."""
    roles = caller.roles
    if "oversight" in roles:
        return "not authorized: oversight reads the audit log, not taxpayers' data"
    if "analyst" in roles and not plan.is_aggregate:
        return "not authorized: analysts get aggregates only (how many, a total, an average), never records"
    if "caseworker" in roles:
        return "not authorized: you have no open case for this purpose"
    if "engineer" in roles:
        datasets = ", ".join(sorted({TABLE_OF[s] for s in plan.sets}))
        return f"not authorized: no active grant of yours for this purpose covers {datasets}"
    return "not authorized to ask this for this purpose"


def authorize(unit: Unit, plan: Plan) -> Authorized:
    """Decide the plan as the unit's principal and purpose; a denial is audited and raised."""
    now = unit.door.clock()
    decision, permit, categories = _decide(unit, plan, now)
    if not decision.allowed:
        unit.audit(ACTION, resource_of(plan), plan.ref, decision, plan.field_names())
        raise Denied(_why_denied(unit.session.caller, plan), code="forbidden")
    _check_fields(unit, plan, permit, decision, categories)
    caller = unit.session.caller
    masked = _masked(permit, unit.session.purpose, plan.field_defs())
    if permit == CASEWORKER:
        return Authorized(
            plan, resource_of(plan), permit, decision, caseworker_scope(caller, unit.session.purpose), masked
        )
    if permit == TAXPAYER:
        assert caller.entity_id is not None
        own = sa.select(entities.c.id).where(entities.c.id == caller.entity_id)
        ref = unit.conn.execute(sa.select(entities.c.ref).where(entities.c.id == caller.entity_id)).scalar()
        return Authorized(plan, resource_of(plan), permit, decision, Scope(entities=own), masked, subject=ref)
    if permit == ANALYST:
        return Authorized(plan, resource_of(plan), permit, decision, UNSCOPED, masked, min_cell=MIN_CELL, private=True)
    return Authorized(plan, resource_of(plan), permit, decision, engineer_scope(caller), masked)
