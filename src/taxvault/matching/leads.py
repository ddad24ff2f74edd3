"""Leads, not verdicts: what a match found, and the due process before anything adverse.

A match above the agreement's threshold that the program finds worth a look becomes a
lead in state ``new``. The law (5 USC 552a(p)) allows no adverse action on it until

1. a person verifies it independently (``verified``: never the system job, and how it
   was verified is written down),
2. the taxpayer is notified of the findings (``notified``), and
3. the taxpayer has had 30 days to contest (``contested`` records that she did).

So ``closed`` with the outcome ``adverse_action`` needs a notice at least 30 days old,
or a contest that was resolved (with a note saying how). ``no_action`` and
``not_a_match`` close a lead at any point. Every move is a row in the lead's history
(who, when, from, to, note); the store refuses a notice without a verifier and an
adverse closing without a notice.

People reach leads only through the door (:mod:`taxvault.matching.front`, for the API
and the CLI alike): a lead is located by the taxpayer it names, the policies decide (so
every forbid about that taxpayer applies: own or related account, restricted, employee
accounts), what it shows is masked like any taxpayer data, and each access is audited
against the taxpayer's opaque id, so it shows in her access report. A partner sees only
tokens and outcomes (:func:`partner_outcomes`). This module keeps the records and the rules.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from taxvault.errors import Conflict, NotFound
from taxvault.matching.agreements import Agreement, MatchingError, new_ref
from taxvault.matching.keys import AgreementKeyError, AgreementKeys, keys_for
from taxvault.matching.tables import LEAD_OUTCOMES, matching_agreements, matching_lead_events, matching_leads
from taxvault.store.tables import entities, principals

CONTEST_DAYS = 30
LEAD_PURPOSE = "matching_verification"
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"verified", "closed"}),
    "verified": frozenset({"notified", "closed"}),
    "notified": frozenset({"contested", "closed"}),
    "contested": frozenset({"closed"}),
    "closed": frozenset(),
}
_TIN_IN_TEXT = re.compile(r"(?<!\d)(\d{3}-?\d{2}-?\d{4}|\d{2}-\d{7})(?!\d)")  # any digits: a note must not carry one


class LeadError(MatchingError, Conflict):
    """A move the due-process rules do not allow."""

    status, kind = Conflict.status, Conflict.kind


class LeadNotFound(MatchingError, NotFound):
    """No lead with that reference."""

    status, kind = NotFound.status, NotFound.kind


@dataclass(frozen=True, slots=True)
class Finding:
    """What a program found about one matched person (becomes a lead)."""

    entity_id: int
    partner_token: str
    finding_key: str
    tax_year: int | None
    probability: float
    contributions: dict[str, float]
    agency_facts: dict[str, Any]  # the agency's own data (stays after destruction)
    evidence: dict[str, Any]  # what the partner's data says (sealed; destroyed with the key)


@dataclass(frozen=True, slots=True)
class Lead:
    """A lead as stored (no partner value: the evidence stays sealed until asked for)."""

    id: int
    ref: str
    agreement_ref: str
    agreement_id: int
    partner_id: str
    program: str
    entity_id: int
    entity_ref: str
    partner_token: str
    tax_year: int | None
    match_probability: float
    contributions: dict[str, float]
    agency_facts: dict[str, Any]
    sealed_evidence: bytes | None
    state: str
    outcome: str | None
    verified_by: str | None
    verified_at: dt.datetime | None
    notified_at: dt.datetime | None
    contested_at: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, r: RowMapping) -> Lead:
        return cls(
            id=int(r["id"]),
            ref=r["ref"],
            agreement_ref=r["agreement_ref"],
            agreement_id=int(r["agreement_id"]),
            partner_id=r["partner_id"],
            program=r["program"],
            entity_id=int(r["entity_id"]),
            entity_ref=r["entity_ref"],
            partner_token=r["partner_token"],
            tax_year=None if r["tax_year"] is None else int(r["tax_year"]),
            match_probability=float(r["match_probability"]),
            contributions=dict(r["contributions"]),
            agency_facts=dict(r["agency_facts"]),
            sealed_evidence=r["evidence"],
            state=r["state"],
            outcome=r["outcome"],
            verified_by=r["verified_by"],
            verified_at=_aware(r["verified_at"]),
            notified_at=_aware(r["notified_at"]),
            contested_at=_aware(r["contested_at"]),
            closed_at=_aware(r["closed_at"]),
            created_at=_aware(r["created_at"]) or dt.datetime.now(dt.UTC),
            updated_at=_aware(r["updated_at"]) or dt.datetime.now(dt.UTC),
        )

    def contest_deadline(self) -> dt.date | None:
        """The last day the taxpayer may contest before an adverse action (None before the notice)."""
        return None if self.notified_at is None else self.notified_at.date() + dt.timedelta(days=CONTEST_DAYS)

    def summary(self) -> dict[str, Any]:
        """What a lead list shows (no partner value, no TIN: opaque ids and the agency's facts)."""
        return {
            "lead_id": self.ref,
            "agreement_id": self.agreement_ref,
            "program": self.program,
            "taxpayer_id": self.entity_ref,
            "tax_year": self.tax_year,
            "match_probability": round(self.match_probability, 6),
            "state": self.state,
            "outcome": self.outcome,
            "agency_facts": self.agency_facts,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """One move in a lead's history."""

    from_state: str | None
    to_state: str
    outcome: str | None
    actor: str
    at: dt.datetime
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "from_state": self.from_state,
            "to_state": self.to_state,
            "outcome": self.outcome,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "note": self.note,
        }


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_L, _A, _E = matching_leads.c, matching_agreements.c, entities.c
_LEAD_COLUMNS = (
    *matching_leads.c,
    _A.ref.label("agreement_ref"),
    _A.partner_id,
    _E.ref.label("entity_ref"),
)
_LEAD_FROM = matching_leads.join(matching_agreements, _A.id == _L.agreement_id).join(entities, _E.id == _L.entity_id)


# -- creating leads (the run) ------------------------------------------------------------------


def insert_findings(
    conn: Connection,
    agreement: Agreement,
    keys: AgreementKeys,
    run_id: int,
    findings: Iterable[Finding],
    *,
    actor: str,
    note: str,
    now: dt.datetime | None = None,
) -> int:
    """New leads for findings not already leads of this agreement; returns how many were new."""
    now = now or dt.datetime.now(dt.UTC)
    existing = {
        (int(e), str(k))
        for e, k in conn.execute(sa.select(_L.entity_id, _L.finding_key).where(_L.agreement_id == agreement.id))
    }
    rows: list[dict[str, Any]] = []
    for f in findings:
        if (f.entity_id, f.finding_key) in existing:
            continue
        existing.add((f.entity_id, f.finding_key))
        ref = new_ref("l")
        evidence = json.dumps(f.evidence, separators=(",", ":"), sort_keys=True).encode()
        rows.append(
            {
                "ref": ref,
                "agreement_id": agreement.id,
                "run_id": run_id,
                "program": agreement.program,
                "entity_id": f.entity_id,
                "partner_token": f.partner_token,
                "finding_key": f.finding_key,
                "tax_year": f.tax_year,
                "match_probability": min(max(float(f.probability), 0.0), 1.0),
                "contributions": {k: round(float(v), 6) for k, v in f.contributions.items()},
                "agency_facts": f.agency_facts,
                "evidence": keys.seal(evidence, "lead:" + ref),
                "state": "new",
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return 0
    conn.execute(matching_leads.insert(), rows)
    ids = dict(conn.execute(sa.select(_L.ref, _L.id).where(_L.ref.in_([r["ref"] for r in rows]))).all())
    conn.execute(
        matching_lead_events.insert(),
        [
            {"lead_id": ids[r["ref"]], "from_state": None, "to_state": "new", "actor": actor, "at": now, "note": note}
            for r in rows
        ],
    )
    return len(rows)


# -- reading ------------------------------------------------------------------------------------


def get_lead(conn: Connection, ref: str) -> Lead:
    """The lead with ``ref`` (LeadNotFound otherwise)."""
    row = conn.execute(sa.select(*_LEAD_COLUMNS).select_from(_LEAD_FROM).where(_L.ref == ref)).mappings().first()
    if row is None:
        raise LeadNotFound(f"no matching lead {ref}")
    return Lead.from_row(row)


def history(conn: Connection, lead_id: int) -> list[LeadEvent]:
    """The lead's moves, oldest first."""
    ev = matching_lead_events.c
    rows = conn.execute(
        sa.select(ev.from_state, ev.to_state, ev.outcome, ev.actor, ev.at, ev.note)
        .where(ev.lead_id == lead_id)
        .order_by(ev.at, ev.id)
    )
    return [LeadEvent(r.from_state, r.to_state, r.outcome, r.actor, _aware(r.at) or r.at, r.note) for r in rows]


def open_evidence(conn: Connection, lead: Lead) -> dict[str, Any] | None:
    """The partner's evidence of a lead, opened (None once the agreement's data was destroyed)."""
    if lead.sealed_evidence is None:
        return None
    row = conn.execute(sa.select(matching_agreements).where(_A.id == lead.agreement_id)).mappings().one()
    try:
        keys = keys_for(Agreement.from_row(row))
    except AgreementKeyError:
        return None
    opened: dict[str, Any] = json.loads(keys.open(lead.sealed_evidence, "lead:" + lead.ref))
    return opened


def query_leads(
    conn: Connection,
    *,
    agreement_ref: str | None = None,
    state: str | None = None,
    program: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Lead, RowMapping]], bool]:
    """A page of leads with their taxpayer's facts (for the Gate), and whether more follow."""
    q = (
        sa.select(
            *_LEAD_COLUMNS, _E.is_restricted, _E.is_employee, _E.address_line, _E.city, _E.state.label("st"), _E.zip
        )
        .select_from(_LEAD_FROM)
        .order_by(_L.created_at, _L.id)
        .limit(limit + 1)
        .offset(offset)
    )
    if agreement_ref is not None:
        q = q.where(_A.ref == agreement_ref)
    if state is not None:
        q = q.where(_L.state == state)
    if program is not None:
        q = q.where(_L.program == program)
    rows = conn.execute(q).mappings().all()
    return [(Lead.from_row(r), r) for r in rows[:limit]], len(rows) > limit


def partner_outcomes(
    conn: Connection,
    *,
    partner_id: str | None,
    agreement_ref: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], bool]:
    """Tokens and outcomes only (what a partner may see of its own agreements' leads)."""
    q = (
        sa.select(_A.ref.label("agreement_id"), _L.partner_token, _L.program, _L.state, _L.outcome, _L.updated_at)
        .select_from(matching_leads.join(matching_agreements, _A.id == _L.agreement_id))
        .order_by(_L.id)
        .limit(limit + 1)
        .offset(offset)
    )
    if partner_id is not None:
        q = q.where(_A.partner_id == partner_id)
    if agreement_ref is not None:
        q = q.where(_A.ref == agreement_ref)
    rows = conn.execute(q).mappings().all()
    items = [
        {
            "agreement_id": r["agreement_id"],
            "partner_token": r["partner_token"],
            "program": r["program"],
            "state": r["state"],
            "outcome": r["outcome"],
            "updated_at": (_aware(r["updated_at"]) or r["updated_at"]).isoformat(),
        }
        for r in rows[:limit]
    ]
    return items, len(rows) > limit


# -- moving ------------------------------------------------------------------------------------


def _kind(conn: Connection, principal_id: str) -> str | None:
    row = conn.execute(sa.select(principals.c.kind).where(principals.c.id == principal_id)).first()
    return None if row is None else str(row.kind)


def check_move(
    lead: Lead, *, to: str, actor_kind: str | None, outcome: str | None, note: str | None, now: dt.datetime
) -> None:
    """Raise LeadError unless ``to`` is a move the due-process rules allow now."""
    if to not in TRANSITIONS:
        raise LeadError(f"unknown lead state {to!r} (states: {', '.join(TRANSITIONS)})")
    if to == "notified" and lead.state == "new":
        raise LeadError("no notice before a person has verified the lead")
    if to == "contested" and lead.state in ("new", "verified"):
        raise LeadError("a taxpayer contests the findings of a notice: notify her first")
    if to not in TRANSITIONS[lead.state]:
        raise LeadError(f"a {lead.state} lead cannot move to {to}")
    if note is not None and _TIN_IN_TEXT.search(note):
        raise LeadError("a note must not carry a TIN: refer to the taxpayer by the lead or taxpayer id")
    if note is not None and len(note) > 1000:
        raise LeadError("a note is at most 1000 characters")
    person = actor_kind == "employee"
    if actor_kind == "system" and to != "notified":
        raise LeadError("a system job may only send the notice of a verified lead; people verify, contest and close")
    if actor_kind not in ("employee", "system"):
        raise LeadError("leads are worked by agency employees")
    if to == "verified":
        if not person:
            raise LeadError("a match is verified by a person, not by the system job")
        if not note or len(note.strip()) < 10:
            raise LeadError("say how the match was verified (a note of at least 10 characters)")
    if to == "notified" and lead.verified_by is None:
        raise LeadError("no notice before a person has verified the lead")
    if to == "contested" and (not note or len(note.strip()) < 5):
        raise LeadError("say what the taxpayer contests (a note)")
    if to == "closed":
        if outcome not in LEAD_OUTCOMES:
            raise LeadError(f"closing a lead needs an outcome: {', '.join(LEAD_OUTCOMES)}")
        if outcome == "adverse_action":
            if lead.state == "contested":
                if not note or len(note.strip()) < 10:
                    raise LeadError("an adverse action after a contest needs a note saying how it was resolved")
            elif lead.state == "notified":
                deadline = lead.contest_deadline()
                assert deadline is not None
                if now.date() <= deadline:
                    raise LeadError(
                        f"the taxpayer may contest until {deadline.isoformat()}: no adverse action before then"
                    )
            else:
                raise LeadError("no adverse action before the taxpayer was notified and had 30 days to contest")
    elif outcome is not None:
        raise LeadError("an outcome is given only when closing a lead")


def move_lead(
    conn: Connection,
    ref: str,
    *,
    to: str,
    actor: str,
    outcome: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Lead:
    """Move a lead (the caller owns the transaction); LeadError if due process does not allow it."""
    now = now or dt.datetime.now(dt.UTC)
    lead = get_lead(conn, ref)
    check_move(lead, to=to, actor_kind=_kind(conn, actor), outcome=outcome, note=note, now=now)
    values: dict[str, Any] = {"state": to, "updated_at": now}
    if to == "verified":
        values.update(verified_by=actor, verified_at=now)
    elif to == "notified":
        values["notified_at"] = now
    elif to == "contested":
        values["contested_at"] = now
    elif to == "closed":
        values.update(outcome=outcome, closed_at=now)
    done = conn.execute(matching_leads.update().where(_L.id == lead.id, _L.state == lead.state).values(**values))
    if done.rowcount != 1:
        raise LeadError(f"lead {ref} changed meanwhile: read it again")
    conn.execute(
        matching_lead_events.insert().values(
            lead_id=lead.id, from_state=lead.state, to_state=to, outcome=outcome, actor=actor, at=now, note=note
        )
    )
    return get_lead(conn, ref)


# -- what a person is shown (the door masks it) -----------------------------------------------------


def lead_detail(conn: Connection, lead: Lead) -> dict[str, Any]:
    """A lead with its contributions, history and (while readable) the partner's evidence."""
    evidence = open_evidence(conn, lead)
    deadline = lead.contest_deadline()
    return {
        **lead.summary(),
        "contributions": lead.contributions,
        "partner_token": lead.partner_token,
        "verified_by": lead.verified_by,
        "contest_deadline": None if deadline is None else deadline.isoformat(),
        "evidence": evidence,
        "evidence_destroyed": lead.sealed_evidence is None or evidence is None,
        "history": [e.to_json() for e in history(conn, lead.id)],
    }
