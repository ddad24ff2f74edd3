"""Asking: question -> plan (proposed, stored, described) -> run through the door -> answer.

``propose`` turns a question (through a translator) or a given plan into a stored
proposal the asker sees in words; ``run`` runs a stored proposal by its id, so what
runs is exactly the plan that was shown. ``run`` is one unit of the door as the
asking principal and purpose: the plan is decided by the policies, scoped, compiled,
executed, masked, small cells suppressed (analysts), and audited with the plan's
ref (``q`` + hash) and the shape of the answer, whatever the outcome.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from taxvault.access.door import Decided, Door, Session, Target, Unit
from taxvault.access.masking import MASKS, MaskPlan
from taxvault.errors import Invalid, NotFound
from taxvault.query import private
from taxvault.query.compile import Column, compile_plan
from taxvault.query.plan import AggFn, Plan
from taxvault.query.policy import ACTION, MAX_ROWS, Authorized, authorize, resource_of
from taxvault.query.tables import query_plans

PROPOSAL_TTL = dt.timedelta(hours=1)


class Unsupported(Protocol):
    """What a translator returns for a question it cannot express (never a guess)."""

    @property
    def message(self) -> str: ...

    @property
    def nearest(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class CannotExpress:
    """A question no translator could turn into a plan, and the nearest forms it supports."""

    message: str
    nearest: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Proposal:
    """A plan proposed to one principal for one purpose, stored under ``id``."""

    id: str
    plan: Plan
    translator: str
    expires_at: dt.datetime

    @property
    def description(self) -> str:
        return self.plan.describe()

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.id,
            "plan_ref": self.plan.ref,
            "plan_hash": self.plan.plan_hash(),
            "description": self.description,
            "plan": self.plan.model_dump(mode="json"),
            "translator": self.translator,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(slots=True)
class Answer:
    """What a plan returned under policy, and its shape."""

    plan_id: str
    plan: Plan
    role: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)
    suppressed: int = 0
    min_cell: int | None = None
    noise: dict[str, Any] | None = None
    leaf_index: int | None = None
    subjects: list[str] = field(default_factory=list)  # taxpayers whose records a listing showed (audit only)

    def shape(self) -> list[str]:
        """The answer's shape for the audit event (counts and flags, never values)."""
        out = [f"answer:rows={len(self.rows)}", f"answer:columns={len(self.columns)}"]
        if self.min_cell is not None:
            out.append(f"answer:suppressed={self.suppressed}")
        if self.noise is not None:
            out.append("answer:noised")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "plan_ref": self.plan.ref,
            "plan_hash": self.plan.plan_hash(),
            "description": self.plan.describe(),
            "role": self.role,
            "columns": self.columns,
            "rows": self.rows,
            "masked": self.masked,
            "suppressed": self.suppressed,
            "min_cell": self.min_cell,
            "noise": self.noise,
        }


# --- translating ---------------------------------------------------------------------------------


TRANSLATORS = ("offline", "llm")


def chosen_translator(name: str = "auto") -> str:
    """``auto``: the language model when ``TAXVAULT_LLM_URL`` is set, else the offline parser."""
    if name == "auto":
        return "llm" if os.environ.get("TAXVAULT_LLM_URL", "").strip() else "offline"
    if name not in TRANSLATORS:
        raise Invalid(f"unknown translator {name!r}: offline, llm or auto")
    if name == "llm" and not os.environ.get("TAXVAULT_LLM_URL", "").strip():  # asked for, not there: the asker's error
        raise Invalid("no language model is configured (TAXVAULT_LLM_URL): ask with the offline translator")
    return name


def translate(question: str, *, today: dt.date, translator: str = "offline") -> Plan | Unsupported:
    """The plan ``translator`` proposes for ``question`` (``query/translate/offline.py`` or ``llm.py``)."""
    try:
        module = importlib.import_module(f"taxvault.query.translate.{translator}")
    except ImportError:
        return CannotExpress("no translator is installed: give the plan as JSON (--plan FILE)")
    result: Plan | Unsupported = module.translate(question, today=today)
    return result


def parse_plan(data: str | dict[str, Any]) -> Plan:
    """A plan from JSON text or a dict; :class:`Invalid` with the reasons when it is not one."""
    try:
        return Plan.model_validate_json(data) if isinstance(data, str) else Plan.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()[:5])
        raise Invalid(f"not a valid plan: {reasons}", code="invalid-plan") from None


def propose(
    door: Door,
    session: Session,
    *,
    question: str | None = None,
    plan: Plan | None = None,
    today: dt.date | None = None,
    translator: str = "auto",
) -> Proposal | Unsupported:
    """Translate (or take) a plan and store it for ``session``'s principal and purpose."""
    used = "given"
    if plan is None:
        if not question or not question.strip():
            raise Invalid("ask a question or give a plan")
        used = chosen_translator(translator)
        found = translate(question, today=today or door.clock().date(), translator=used)
        if not isinstance(found, Plan):
            return found
        plan = found
    now = door.clock()
    proposal = Proposal("p" + secrets.token_hex(12), plan, used, now + PROPOSAL_TTL)
    with door.engine.begin() as conn:
        conn.execute(
            query_plans.insert().values(
                id=proposal.id,
                principal_id=session.principal,
                purpose=session.purpose,
                plan_hash=plan.plan_hash(),
                plan=plan.canonical_json(),
                translator=used,
                created_at=now,
                expires_at=proposal.expires_at,
            )
        )
    return proposal


def _load(conn: Connection, session: Session, plan_id: str, now: dt.datetime) -> Plan:
    row = conn.execute(sa.select(query_plans).where(query_plans.c.id == plan_id)).first()
    if row is None or row.principal_id != session.principal or row.purpose != session.purpose:
        raise NotFound("no such plan proposed to you for this purpose")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    if expires <= now:
        raise Invalid("the plan has expired: ask again", code="plan-expired")
    plan = Plan.model_validate_json(row.plan)
    if plan.plan_hash() != row.plan_hash or plan.canonical_json() != row.plan:
        raise Invalid("the stored plan does not match its hash", code="plan-altered")
    return plan


# --- running -------------------------------------------------------------------------------------


def _number(value: Any, column: Column) -> Any:
    if isinstance(value, Decimal | float):
        if column.fn == AggFn.AVG and column.field is not None and column.field.type == "money":
            return round(value)  # cents (round() of a Decimal or float is an int)
        return round(float(value), 2) if value != int(value) else int(value)
    return value


def _cell(value: Any, column: Column, auth: Authorized) -> Any:
    fd = column.field
    if value is None:
        return None
    if column.fn is None and fd is not None and fd.qualified in auth.masked and fd.mask is not None:
        return MASKS[fd.mask](value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return _number(value, column)


def execute(unit: Unit, plan: Plan, auth: Authorized, plan_id: str) -> Answer:
    """Compile under the authorised scope, run on the unit's connection, mask, suppress."""
    if auth.private and auth.min_cell is not None:
        found = private.answer(unit, plan, k=auth.min_cell)
        return Answer(
            plan_id,
            plan,
            auth.role,
            plan.output_columns(),
            found.rows,
            [],
            found.suppressed,
            auth.min_cell,
            found.noise,
        )
    listing = not plan.is_aggregate
    compiled = compile_plan(
        plan, auth.scope, max_rows=MAX_ROWS, with_count=auth.min_cell is not None, with_owner=listing
    )
    result = unit.conn.execute(compiled.statement).all()
    width = len(compiled.columns)
    answer = Answer(plan_id, plan, auth.role, [c.name for c in compiled.columns], min_cell=auth.min_cell)
    answer.masked = sorted({c.name for c in compiled.columns if c.fn is None and c.name in auth.masked})
    seen: set[tuple[Any, ...]] = set()
    for row in result:
        values = list(row)
        if listing and len(values) > width:  # the hidden owner column: whose record this row shows
            owner = values.pop()
            if owner is not None:
                answer.subjects.append(str(owner))
            key = tuple(values)
            if key in seen:  # the same visible row for two owners: shown once, both recorded
                continue
            seen.add(key)
        if auth.min_cell is not None:
            n = int(values.pop())
            if n < auth.min_cell:
                answer.suppressed += 1
                continue
        answer.rows.append({c.name: _cell(v, c, auth) for c, v in zip(compiled.columns, values, strict=True)})
    return answer


def run(door: Door, session: Session, plan_id: str) -> Answer:
    """Run the stored plan ``plan_id`` as ``session`` (one unit of the door; audited whatever happens)."""
    try:
        with door.engine.connect() as conn:
            plan = _load(conn, session, plan_id, door.clock())
    except (NotFound, Invalid) as exc:  # someone else's, expired or altered: refused, and recorded
        door.refuse(
            session.principal, f"{ACTION}:plan", f"plan-{exc.kind}", request_id=session.request_id,
            purpose=session.purpose, resource=plan_id,
        )  # fmt: skip
        raise
    # A write unit when the answer spends or records much: an analyst's aggregate charges her privacy
    # budget (the charge commits with the answer's audit event or not at all), and a listing records
    # one event per taxpayer shown (appended in the unit's transaction: one commit, not one each).
    write = "analyst" in session.caller.roles or not plan.is_aggregate
    with door.unit(session, write=write) as unit:
        auth = authorize(unit, plan)
        target = Target(plan.ref, subject=auth.subject)
        decided = Decided(auth.decision, MaskPlan())
        with unit.failures_recorded(ACTION, resource_of(plan), target, decided, "run-failed"):
            answer = execute(unit, plan, auth, plan_id)
        fields = [n + ":masked" if n in auth.masked else n for n in plan.field_names()]
        unit.audit(ACTION, resource_of(plan), plan.ref, auth.decision, [*fields, *answer.shape()], subject=auth.subject)
        # A listing shows records of particular taxpayers: one event per taxpayer, so her access
        # report and the browsing detectors see the query like any other look at her record.
        for subject in dict.fromkeys(answer.subjects):
            if subject != auth.subject:
                unit.audit(ACTION, resource_of(plan), plan.ref, auth.decision, fields, subject=subject)
    answer.leaf_index = unit.leaves[-1] if unit.leaves else None
    return answer


def ask(
    door: Door, session: Session, *, question: str | None = None, plan: Plan | None = None, today: dt.date | None = None
) -> tuple[Proposal, Answer] | Unsupported:
    """Propose and run at once (the confirmation, if any, is the caller's)."""
    proposal = propose(door, session, question=question, plan=plan, today=today)
    if not isinstance(proposal, Proposal):
        return proposal
    return proposal, run(door, session, proposal.id)
