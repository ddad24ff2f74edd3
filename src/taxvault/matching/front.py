"""Matching's front door for people: agreements, leads and outcomes, through the door.

The API routes (:mod:`taxvault.matching.router`) and the CLI (:mod:`taxvault.matching.cli`)
call these with the door and the caller's :class:`~taxvault.access.door.Session`, so a
person meets the same policies, the same masking and leaves the same audit trail
whichever way she comes. Each call is one unit of work: the decision, the read or
write and the audit events share one transaction (a write's events are appended
before its COMMIT).

A lead names a taxpayer: it is located by her opaque id, so every rule about her
applies (own or related account, restricted and employee accounts), what it shows
(the agency's facts and the partner's evidence) passes through the door's masking
with the decision's plan, and each access is audited against her id, so it shows in
her access report. A page of leads decides and audits each lead on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from taxvault.access.door import Decided, Door, Session, Target, Unit
from taxvault.access.masking import Disclosure, MaskPlan, mask_body
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.errors import TaxvaultError
from taxvault.matching import leads as lead_service
from taxvault.matching.agreements import (
    Agreement,
    AgreementNotFound,
    MatchingDenied,
    approve_agreement,
    draft_agreement,
    get_agreement,
    list_agreements,
    new_ref,
    renew_agreement,
    revoke_agreement,
)
from taxvault.matching.leads import Lead, LeadNotFound
from taxvault.matching.schemas import agreement_json
from taxvault.store.tables import case_subjects, cases

AGREEMENTS = "matching-agreements"
"""The target of decisions about agreements as a whole (a list, the job's sweep)."""
LEADS = "matching-leads"
"""The target of the decision to list leads at all (each lead is then decided on its own)."""
AGREEMENT_FIELDS = ("agreement", "partner_id", "program", "purpose", "legal_authority", "fields", "dates", "state")
_STRUCTURAL = frozenset({"items", "limit", "offset", "next_offset", "agency_facts", "evidence", "refunds", "employers"})
_NOT_MASKED = ("contributions", "history")  # field names -> Bayes factors; who moved the lead when: no taxpayer value


# -- deciding -----------------------------------------------------------------------------------------


def authorize(
    unit: Unit,
    action: str,
    resource: Resource,
    target: Target,
    *,
    what: str = "",
    label: str | None = None,
    second_person: bool = True,
) -> Decided:
    """Decide on the unit's connection; a denial is audited and raised as :class:`MatchingDenied`.

    The message names the principal and the action, never the policy that refused (it
    could tell that a taxpayer is restricted or an employee).
    """
    decided = unit.door.decide(
        unit.conn, unit.session, action, resource, target, second_person=second_person, lock=unit.write
    )
    if not decided.decision.allowed:
        unit.audit(label or action, resource, target.ref, decided.decision, subject=target.subject)
        verb = action.replace("_", " ")
        raise MatchingDenied(f"{unit.session.principal} may not {verb}{' ' + what if what else ''}", code="forbidden")
    return decided


def _not_found(unit: Unit, action: str, resource: Resource, ref: str) -> None:
    unit.audit(action, resource, ref or "none", PolicyDecision(False, ("not-found",)))


def _agreement(unit: Unit, ref: str, action: str, *, for_update: bool = False) -> Agreement:
    try:
        return get_agreement(unit.conn, ref, for_update=for_update)
    except AgreementNotFound:
        _not_found(unit, action, Resource.MATCHING_AGREEMENT, ref)
        raise


# -- agreements ---------------------------------------------------------------------------------------


def agreements_page(
    door: Door, session: Session, *, state: str | None, limit: int, offset: int, today: dt.date
) -> dict[str, Any]:
    """Agreements, newest first (a partner: its own only)."""
    with door.unit(session) as unit:
        target = Target(AGREEMENTS)
        decided = authorize(unit, "read", Resource.MATCHING_AGREEMENT, target, what="agreements")
        partner = session.principal if session.caller.facts.kind == "partner" else None
        found = list_agreements(unit.conn, partner_id=partner, state=state, limit=limit + 1, offset=offset)
        shown = found[:limit]
        fields = (*AGREEMENT_FIELDS, f"items={len(shown)}")
        unit.audit("read", Resource.MATCHING_AGREEMENT, target.ref, decided.decision, fields)
    return {
        "items": [agreement_json(a, today) for a in shown],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(found) > limit else None,
    }


def show_agreement(door: Door, session: Session, ref: str, *, today: dt.date) -> dict[str, Any]:
    """One agreement (a partner's own only: others as if they did not exist)."""
    with door.unit(session) as unit:
        decided = authorize(unit, "read", Resource.MATCHING_AGREEMENT, Target(ref), what="agreements")
        agreement = _agreement(unit, ref, "read")
        if session.caller.facts.kind == "partner" and agreement.partner_id != session.principal:
            unit.audit("read", Resource.MATCHING_AGREEMENT, ref, PolicyDecision(False, ("not-own-agreement",)))
            raise AgreementNotFound(f"no matching agreement {ref}")
        unit.audit("read", Resource.MATCHING_AGREEMENT, ref, decided.decision, AGREEMENT_FIELDS)
    return agreement_json(agreement, today)


@dataclass(frozen=True, slots=True)
class Terms:
    """A draft agreement's terms, as the API body or the CLI options give them."""

    partner_id: str
    program: str
    purpose: str
    legal_authority: str
    agency_fields: list[str]
    partner_fields: list[str]
    starts_on: dt.date
    ends_on: dt.date
    destroy_on: dt.date
    threshold: float


def draft(door: Door, session: Session, terms: Terms, *, today: dt.date) -> dict[str, Any]:
    """Record a draft agreement (decided, written and audited in one transaction)."""
    with door.unit(session, write=True) as unit:
        ref = new_ref("a")
        decided = authorize(unit, "draft_agreement", Resource.MATCHING_AGREEMENT, Target(ref))
        # draft_agreement checks the terms (CMPPA fields, dates, threshold) before it writes anything
        created = draft_agreement(unit.conn, **dataclasses.asdict(terms), created_by=session.principal, ref=ref)
        unit.audit("draft_agreement", Resource.MATCHING_AGREEMENT, ref, decided.decision, AGREEMENT_FIELDS)
    return agreement_json(created, today)


Perform = Callable[[Connection, str], Agreement]


def _second_person(
    door: Door, session: Session, ref: str, label: str, action: str, perform: Perform, today: dt.date
) -> dict[str, Any]:
    """Decide (the drafter is not a second person), perform and audit, in one transaction."""
    with door.unit(session, write=True) as unit:
        agreement = _agreement(unit, ref, label, for_update=True)
        decided = authorize(
            unit,
            action,
            Resource.MATCHING_AGREEMENT,
            Target(ref),
            label=label,
            second_person=session.principal != agreement.created_by,
        )
        try:
            done = perform(unit.conn, session.principal)
        except TaxvaultError as exc:
            unit.audit(label, Resource.MATCHING_AGREEMENT, ref, decided.decision, reason=f"refused:{exc.kind}")
            raise
        unit.audit(label, Resource.MATCHING_AGREEMENT, ref, decided.decision, ("state",))
    return agreement_json(done, today)


def approve(door: Door, session: Session, ref: str, *, today: dt.date) -> dict[str, Any]:
    """A second person (grant_approver or manager, never the drafter) approves a draft."""
    return _second_person(
        door,
        session,
        ref,
        "approve_agreement",
        "approve_agreement",
        lambda conn, who: approve_agreement(conn, ref, approver=who),
        today,
    )


def renew(
    door: Door, session: Session, ref: str, *, until: dt.date, destroy_on: dt.date | None, today: dt.date
) -> dict[str, Any]:
    """The one renewal the law allows, by a second person."""
    return _second_person(
        door,
        session,
        ref,
        "renew_agreement",
        "approve_agreement",
        lambda conn, who: renew_agreement(conn, ref, until=until, destroy_on=destroy_on, approver=who, today=today),
        today,
    )


def revoke(door: Door, session: Session, ref: str, *, today: dt.date) -> dict[str, Any]:
    """Stop an agreement (whoever may draft one may stop one)."""
    return _second_person(
        door,
        session,
        ref,
        "revoke_agreement",
        "draft_agreement",
        lambda conn, who: revoke_agreement(conn, ref, actor=who),
        today,
    )


# -- leads ----------------------------------------------------------------------------------------------


def mask_lead(body: dict[str, Any], plan: MaskPlan, out: Disclosure) -> dict[str, Any]:
    """A lead's body as the plan discloses it: the agency's facts and the partner's evidence masked
    like any taxpayer data (TINs to their last four, birth dates to the year, ...)."""
    kept = {k: body[k] for k in _NOT_MASKED if k in body}
    rest = {k: v for k, v in body.items() if k not in kept}
    masked: dict[str, Any] = mask_body(rest, plan, out, structural=_STRUCTURAL)
    masked.update(kept)
    return {k: masked[k] for k in body}


def _fields(out: Disclosure, extra: Iterable[str] = ()) -> list[str]:
    return sorted({*out.audit_fields(_STRUCTURAL), *extra})


def _assigned(conn: Connection, session: Session, entity_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """Purposes of the caller's open cases per taxpayer (one query for a page)."""
    ids = sorted(set(entity_ids))
    if "caseworker" not in session.caller.roles or not ids:
        return {i: frozenset() for i in ids}
    found: dict[int, set[str]] = {i: set() for i in ids}
    q = (
        sa.select(case_subjects.c.entity_id, cases.c.purpose)
        .select_from(cases.join(case_subjects, case_subjects.c.case_id == cases.c.id))
        .where(cases.c.assigned_to == session.principal, cases.c.status == "open", case_subjects.c.entity_id.in_(ids))
    )
    for eid, purpose in conn.execute(q):
        found[int(eid)].add(str(purpose))
    return {i: frozenset(p) for i, p in found.items()}


def _target(lead: Lead, facts: RowMapping, assigned: frozenset[str]) -> Target:
    return Target(
        lead.entity_ref,
        lead.entity_id,
        None,
        bool(facts["is_restricted"]),
        bool(facts["is_employee"]),
        (facts["address_line"], facts["city"], facts["st"], facts["zip"]),
        assigned,
        lead.entity_ref,
    )


def leads_page(
    door: Door,
    session: Session,
    *,
    agreement_ref: str | None = None,
    state: str | None = None,
    program: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of the leads this caller may see: each decided against its taxpayer, masked and audited."""
    with door.unit(session) as unit:
        decided = authorize(unit, "read", Resource.MATCHING_LEAD, Target(LEADS), what="matching leads")
        page, more = lead_service.query_leads(
            unit.conn, agreement_ref=agreement_ref, state=state, program=program, limit=limit, offset=offset
        )
        assigned = _assigned(unit.conn, session, (lead.entity_id for lead, _ in page))
        items: list[dict[str, Any]] = []
        masked: set[str] = set()
        withheld: set[str] = set()
        for lead, facts in page:
            target = _target(lead, facts, assigned.get(lead.entity_id, frozenset()))
            one = door.decide(unit.conn, session, "read", Resource.MATCHING_LEAD, target)
            if not one.decision.allowed:
                continue  # not shown, so not disclosed: the list says only what it shows
            out = Disclosure()
            items.append(mask_lead(lead.summary(), one.plan, out))
            masked |= out.masked
            withheld |= out.withheld
            unit.audit(
                "read", Resource.MATCHING_LEAD, lead.entity_ref, one.decision, _fields(out), subject=lead.entity_ref
            )
        unit.audit("list", Resource.MATCHING_LEAD, LEADS, decided.decision, (f"items={len(items)}",))
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
        "masked": sorted(masked),
        "withheld": sorted(withheld),
    }


def _lead(unit: Unit, ref: str, action: str) -> tuple[Lead, Target]:
    try:
        lead = lead_service.get_lead(unit.conn, ref)
    except LeadNotFound:
        _not_found(unit, action, Resource.MATCHING_LEAD, ref)
        raise
    return lead, unit.locate(Resource.MATCHING_LEAD, lead.entity_ref, label=action)


def _detail(conn: Connection, lead: Lead, plan: MaskPlan) -> tuple[dict[str, Any], Disclosure]:
    out = Disclosure()
    body = mask_lead(lead_service.lead_detail(conn, lead), plan, out)
    body["masked"], body["withheld"] = sorted(out.masked), sorted(out.withheld)
    return body, out


def show_lead(door: Door, session: Session, ref: str) -> dict[str, Any]:
    """One lead in full (why it matched, the evidence, its history), masked for the caller's purpose."""
    with door.unit(session) as unit:
        lead, target = _lead(unit, ref, "read")
        decided = authorize(unit, "read", Resource.MATCHING_LEAD, target, what="this lead")
        body, out = _detail(unit.conn, lead, decided.plan)
        unit.audit("read", Resource.MATCHING_LEAD, target.ref, decided.decision, _fields(out, _NOT_MASKED))
    return body


def move_lead(
    door: Door,
    session: Session,
    ref: str,
    *,
    to: str,
    outcome: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Move a lead: decided, checked against due process, written and audited in one transaction."""
    with door.unit(session, write=True) as unit:
        lead, target = _lead(unit, ref, "move_lead")
        decided = authorize(unit, "move_lead", Resource.MATCHING_LEAD, target, what="this lead")
        try:
            moved = lead_service.move_lead(
                unit.conn, lead.ref, to=to, actor=session.principal, outcome=outcome, note=note, now=now
            )
        except TaxvaultError as exc:
            unit.audit("move_lead", Resource.MATCHING_LEAD, target.ref, decided.decision, reason=f"refused:{exc.kind}")
            raise
        body, out = _detail(unit.conn, moved, decided.plan)
        moves = ["state", f"to={to}", *(["outcome"] if outcome else []), *(["note"] if note else [])]
        unit.audit("move_lead", Resource.MATCHING_LEAD, target.ref, decided.decision, _fields(out, moves))
    return body


def outcomes_page(
    door: Door,
    session: Session,
    *,
    agreement_ref: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Tokens and outcomes: a partner's own agreements only; oversight sees all."""
    with door.unit(session) as unit:
        target = Target(session.principal)
        decided = authorize(unit, "read", Resource.MATCHING_OUTCOMES, target, what="matching outcomes")
        kind = session.caller.facts.kind
        if kind not in ("partner", "oversight"):  # pragma: no cover - the policies deny first
            unit.audit("read", Resource.MATCHING_OUTCOMES, target.ref, PolicyDecision(False, ("not-a-partner",)))
            raise MatchingDenied(f"{session.principal} may not read matching outcomes")
        items, more = lead_service.partner_outcomes(
            unit.conn,
            partner_id=session.principal if kind == "partner" else None,
            agreement_ref=agreement_ref,
            limit=limit,
            offset=offset,
        )
        fields = ("partner_token", "state", "outcome", f"items={len(items)}")
        unit.audit("read", Resource.MATCHING_OUTCOMES, target.ref, decided.decision, fields)
    return {"items": items, "limit": limit, "offset": offset, "next_offset": offset + limit if more else None}
