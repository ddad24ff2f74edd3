"""Matching agreements: the written authority every comparison with a partner's data needs.

The Computer Matching and Privacy Protection Act (5 USC 552a(o)) lets an agency
match its records with another agency's only under a written agreement that says
why (purpose, legal authority), with what (the data elements on each side), for how
long (at most 18 months, one renewal of at most 12 months, asked for within the last
three months) and when what the match produced is destroyed. This module keeps
agreements as records and enforces those rules; the store enforces them again with
CHECK constraints, and the Cedar policies decide who may draft, approve and run.

An agreement moves ``draft -> approved -> revoked | destroyed``; whether an approved
agreement is *active* depends on the day (``status``): ``pending`` before its start,
``active`` from its start to its end (inclusive), ``expired`` after. Only an active
agreement lets the matching job import, run or link anything.

Who may act is decided by the door (:mod:`taxvault.access.door`) for the API, the CLI
and the matching job alike (:mod:`taxvault.matching.front`, :mod:`taxvault.jobs.matching`);
this module only keeps the records and the law's rules. Its errors are the door's error
tree (:mod:`taxvault.errors`), so every edge maps them the same way.
"""

from __future__ import annotations

import calendar
import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from taxvault.errors import Conflict, Denied, Invalid, NotFound, TaxvaultError
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.tables import matching_agreements
from taxvault.store.tables import principals

MAX_MONTHS = 18
RENEWAL_MONTHS = 12
RENEWAL_WINDOW_MONTHS = 3
DEFAULT_THRESHOLD = 0.9
CLEAR_FIELDS = "clear_fields"
"""The agency element by which an ad-hoc linkage agreement allows `match link --clear`."""
APPROVER_ROLES = frozenset({"grant_approver", "manager"})


class MatchingError(TaxvaultError):
    """Base of the matching domain's errors: messages are one clear line, never a TIN.

    Each concrete error is also one of the error tree's kinds (Conflict, Invalid,
    NotFound, Denied...), so the API and the CLI map it without knowing matching.
    """


class AgreementError(MatchingError, Conflict):
    """A move the agreement's state or the law does not allow now (approve twice, renew late...)."""

    status, kind = Conflict.status, Conflict.kind


class AgreementTermsError(Invalid, AgreementError):
    """Terms the law or the program refuse (bad dates, fields, threshold, partner): the input is wrong."""

    status, kind = Invalid.status, Invalid.kind


class AgreementNotFound(MatchingError, NotFound):
    """No agreement with that reference."""

    status, kind = NotFound.status, NotFound.kind


class AgreementNotActive(MatchingError, Conflict):
    """The agreement is not approved and in force today: nothing may be imported, run or linked."""

    status, kind = Conflict.status, Conflict.kind


class MatchingDenied(MatchingError, Denied):
    """The policies do not let this principal do this (the attempt is audited)."""

    status, kind = Denied.status, Denied.kind


# -- what an agreement may name -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProgramFields:
    """The data elements a program needs (required) or may use (optional) beyond person fields."""

    agency_required: frozenset[str]
    partner_required: frozenset[str]
    description: str
    agency_optional: frozenset[str] = frozenset()


AGENCY_ELEMENTS: Mapping[str, str] = {
    "refunds_846": "refunds issued (TC 846): amount and date, by tax module",
    "w2_wages": "W-2 wages by payee, employer EIN and tax year",
    "return_wages": "wages reported on Form 1040 by tax year",
    CLEAR_FIELDS: "the person fields may be compared in the clear (no keyed encoding), e.g. both files are the "
    "agency's own; ad-hoc linkage only",
}
"""Agency-side data elements beyond the person fields, by name."""

PARTNER_ELEMENTS: Mapping[str, str] = {
    "death_date": "date of death",
    "wage_cents": "wages paid in the quarter (integer cents)",
    "quarter": "calendar quarter, YYYYQn",
    "employer_ein": "employer EIN (kept as a keyed token only)",
}
"""Partner-side data elements beyond the person fields, by name."""

PROGRAMS: Mapping[str, ProgramFields] = {
    "death_refunds": ProgramFields(
        frozenset({"refunds_846"}),
        frozenset({"death_date"}),
        "refunds issued (TC 846) after a date of death in the partner's death records",
    ),
    "state_wages": ProgramFields(
        frozenset({"w2_wages", "return_wages"}),
        frozenset({"wage_cents", "quarter", "employer_ein"}),
        "wages in a state's wage records that are missing from W-2s and returns",
    ),
    "linkage_only": ProgramFields(
        frozenset(),
        frozenset(),
        "ad-hoc linkage of files under the agreement (pairs only, no leads)",
        agency_optional=frozenset({CLEAR_FIELDS}),
    ),
}
"""The built-in programs and the extra data elements each needs."""


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months (clamped to the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def latest_end(starts_on: dt.date) -> dt.date:
    """The last day an agreement starting ``starts_on`` may run (18 months, end inclusive)."""
    return add_months(starts_on, MAX_MONTHS) - dt.timedelta(days=1)


# -- the record ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Agreement:
    """A matching agreement as stored."""

    id: int
    ref: str
    partner_id: str
    program: str
    purpose: str
    legal_authority: str
    agency_fields: tuple[str, ...]
    partner_fields: tuple[str, ...]
    threshold: float
    starts_on: dt.date
    ends_on: dt.date
    original_ends_on: dt.date
    renewals: int
    destroy_on: dt.date
    state: str
    created_by: str
    created_at: dt.datetime
    approver_id: str | None
    approved_at: dt.datetime | None
    renewed_by: str | None
    revoked_by: str | None
    destroyed_by: str | None
    destroyed_at: dt.datetime | None
    destroyed_rows: int | None

    @classmethod
    def from_row(cls, row: RowMapping) -> Agreement:
        return cls(
            id=int(row["id"]),
            ref=row["ref"],
            partner_id=row["partner_id"],
            program=row["program"],
            purpose=row["purpose"],
            legal_authority=row["legal_authority"],
            agency_fields=tuple(row["agency_fields"]),
            partner_fields=tuple(row["partner_fields"]),
            threshold=float(row["threshold"]),
            starts_on=row["starts_on"],
            ends_on=row["ends_on"],
            original_ends_on=row["original_ends_on"],
            renewals=int(row["renewals"]),
            destroy_on=row["destroy_on"],
            state=row["state"],
            created_by=row["created_by"],
            created_at=_aware(row["created_at"]),
            approver_id=row["approver_id"],
            approved_at=None if row["approved_at"] is None else _aware(row["approved_at"]),
            renewed_by=row["renewed_by"],
            revoked_by=row["revoked_by"],
            destroyed_by=row["destroyed_by"],
            destroyed_at=None if row["destroyed_at"] is None else _aware(row["destroyed_at"]),
            destroyed_rows=None if row["destroyed_rows"] is None else int(row["destroyed_rows"]),
        )

    def status(self, today: dt.date) -> str:
        """``draft``, ``pending``, ``active``, ``expired``, ``revoked`` or ``destroyed`` on ``today``."""
        if self.state != "approved":
            return self.state
        if today < self.starts_on:
            return "pending"
        if today > self.ends_on:
            return "expired"
        return "active"

    @property
    def link_fields(self) -> tuple[str, ...]:
        """The person fields compared (named on both sides), in canonical order."""
        both = set(self.agency_fields) & set(self.partner_fields)
        return tuple(f for f in PERSON_FIELDS if f in both)

    @property
    def partner_extra_fields(self) -> tuple[str, ...]:
        """The partner's program fields (death date, wages...), in the agreement's order."""
        return tuple(f for f in self.partner_fields if f not in PERSON_FIELDS)

    @property
    def allows_clear(self) -> bool:
        """Whether files may be linked in the clear under it (it names the ``clear_fields`` element)."""
        return CLEAR_FIELDS in self.agency_fields

    @property
    def agency_extra_fields(self) -> tuple[str, ...]:
        """The agency's program data elements (refunds, W-2 wages...)."""
        return tuple(f for f in self.agency_fields if f not in PERSON_FIELDS)

    def require_active(self, today: dt.date) -> None:
        """Raise :class:`AgreementNotActive` unless the agreement is approved and in force on ``today``."""
        status = self.status(today)
        if status != "active":
            raise AgreementNotActive(
                f"agreement {self.ref} is {status} on {today.isoformat()}: "
                "only an approved agreement between its start and end allows a match"
            )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def new_ref(prefix: str) -> str:
    """An opaque, unguessable reference (``prefix`` + 24 hex digits)."""
    return prefix + secrets.token_hex(12)


# -- validation --------------------------------------------------------------------------------


def _fields(side: str, names: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    allowed_set = set(allowed)
    for raw in names:
        name = raw.strip()
        if name not in allowed_set:
            raise AgreementTermsError(
                f"{side} field {name!r} is not a data element this program may use (allowed: "
                + ", ".join(sorted(allowed_set))
                + ")"
            )
        if name in seen:
            raise AgreementTermsError(f"{side} field {name!r} is named twice")
        seen.append(name)
    if not seen:
        raise AgreementTermsError(f"the agreement names no {side} fields")
    return tuple(seen)


def validate_terms(
    *,
    program: str,
    purpose: str,
    legal_authority: str,
    agency_fields: Sequence[str],
    partner_fields: Sequence[str],
    starts_on: dt.date,
    ends_on: dt.date,
    destroy_on: dt.date,
    threshold: float,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check an agreement's terms; returns the (agency, partner) fields in order. Raises AgreementTermsError."""
    spec = PROGRAMS.get(program)
    if spec is None:
        raise AgreementTermsError(f"unknown program {program!r} (known: {', '.join(sorted(PROGRAMS))})")
    if len(purpose.strip()) < 10:
        raise AgreementTermsError("the purpose must say why the match is done (at least 10 characters)")
    if len(legal_authority.strip()) < 3:
        raise AgreementTermsError("the legal authority for the match is required")
    agency = _fields("agency", agency_fields, (*PERSON_FIELDS, *spec.agency_required, *spec.agency_optional))
    partner = _fields("partner", partner_fields, (*PERSON_FIELDS, *spec.partner_required))
    for side, named, required in (
        ("agency", agency, spec.agency_required),
        ("partner", partner, spec.partner_required),
    ):
        missing = sorted(required - set(named))
        if missing:
            raise AgreementTermsError(f"program {program} needs the {side} fields {', '.join(missing)}")
    people = set(PERSON_FIELDS)
    one_sided = sorted((set(agency) ^ set(partner)) & people)
    if one_sided:
        raise AgreementTermsError(
            "person fields are compared, so each is named on both sides or on neither: " + ", ".join(one_sided)
        )
    if not set(agency) & people:
        raise AgreementTermsError("the agreement names no person field to link on")
    if ends_on <= starts_on:
        raise AgreementTermsError("the agreement must end after it starts")
    if ends_on > latest_end(starts_on):
        raise AgreementTermsError(
            f"an agreement runs at most {MAX_MONTHS} months: it must end by {latest_end(starts_on).isoformat()}"
        )
    if destroy_on < ends_on:
        raise AgreementTermsError("the destruction date cannot be before the agreement's end")
    if not 0.0 < threshold < 1.0:
        raise AgreementTermsError("the match threshold is a probability strictly between 0 and 1")
    return agency, partner


def _principal(conn: Connection, principal_id: str) -> RowMapping | None:
    p = principals.c
    return conn.execute(sa.select(p.id, p.kind, p.roles, p.active).where(p.id == principal_id)).mappings().first()


def _require_approver(conn: Connection, approver: str, created_by: str, what: str) -> None:
    if approver == created_by:
        raise AgreementError(f"{what} needs a second person: the drafter cannot {what.split()[0]} her own agreement")
    row = _principal(conn, approver)
    if row is None or not row["active"] or row["kind"] != "employee":
        raise AgreementError(f"{what}: {approver} is not an active employee")
    if not APPROVER_ROLES & set(str(row["roles"]).split()):
        raise AgreementError(f"{what}: {approver} holds neither the grant_approver nor the manager role")


# -- service functions (the caller owns the transaction) --------------------------------------------


def draft_agreement(
    conn: Connection,
    *,
    partner_id: str,
    program: str,
    purpose: str,
    legal_authority: str,
    agency_fields: Sequence[str],
    partner_fields: Sequence[str],
    starts_on: dt.date,
    ends_on: dt.date,
    destroy_on: dt.date,
    created_by: str,
    threshold: float = DEFAULT_THRESHOLD,
    ref: str | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """Record a draft agreement (nothing may be matched under it until a second person approves it)."""
    agency, partner = validate_terms(
        program=program,
        purpose=purpose,
        legal_authority=legal_authority,
        agency_fields=agency_fields,
        partner_fields=partner_fields,
        starts_on=starts_on,
        ends_on=ends_on,
        destroy_on=destroy_on,
        threshold=threshold,
    )
    row = _principal(conn, partner_id)
    if row is None or row["kind"] != "partner" or not row["active"]:
        raise AgreementTermsError(f"{partner_id} is not an active partner principal")
    creator = _principal(conn, created_by)
    if creator is None or not creator["active"]:
        raise AgreementTermsError(f"{created_by} is not an active principal")
    ref = ref or new_ref("a")
    conn.execute(
        matching_agreements.insert().values(
            ref=ref,
            partner_id=partner_id,
            program=program,
            purpose=purpose.strip(),
            legal_authority=legal_authority.strip(),
            agency_fields=list(agency),
            partner_fields=list(partner),
            threshold=threshold,
            starts_on=starts_on,
            ends_on=ends_on,
            original_ends_on=ends_on,
            renewals=0,
            destroy_on=destroy_on,
            state="draft",
            created_by=created_by,
            created_at=now or dt.datetime.now(dt.UTC),
        )
    )
    return get_agreement(conn, ref)


def get_agreement(conn: Connection, ref: str, *, for_update: bool = False) -> Agreement:
    """The agreement with ``ref`` (AgreementNotFound otherwise)."""
    q = sa.select(matching_agreements).where(matching_agreements.c.ref == ref)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise AgreementNotFound(f"no matching agreement {ref}")
    return Agreement.from_row(row)


def list_agreements(
    conn: Connection, *, partner_id: str | None = None, state: str | None = None, limit: int = 100, offset: int = 0
) -> list[Agreement]:
    """Agreements, newest first (a partner's own only when ``partner_id`` is given)."""
    a = matching_agreements.c
    q = sa.select(matching_agreements).order_by(a.created_at.desc(), a.id.desc()).limit(limit).offset(offset)
    if partner_id is not None:
        q = q.where(a.partner_id == partner_id)
    if state is not None:
        q = q.where(a.state == state)
    return [Agreement.from_row(r) for r in conn.execute(q).mappings()]


def approve_agreement(conn: Connection, ref: str, *, approver: str, now: dt.datetime | None = None) -> Agreement:
    """A second person approves a draft (never the drafter; an approver or a manager)."""
    now = now or dt.datetime.now(dt.UTC)
    agreement = get_agreement(conn, ref, for_update=True)
    if agreement.state != "draft":
        raise AgreementError(f"agreement {ref} is {agreement.state}: only a draft can be approved")
    _require_approver(conn, approver, agreement.created_by, "approve an agreement")
    if now.date() > agreement.ends_on:
        raise AgreementError(f"agreement {ref} ended on {agreement.ends_on.isoformat()}: draft a new one")
    conn.execute(
        matching_agreements.update()
        .where(matching_agreements.c.id == agreement.id, matching_agreements.c.state == "draft")
        .values(state="approved", approver_id=approver, approved_at=now)
    )
    return get_agreement(conn, ref)


def renew_agreement(
    conn: Connection,
    ref: str,
    *,
    until: dt.date,
    approver: str,
    destroy_on: dt.date | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """The one renewal the law allows: at most 12 more months, asked for in the last 3 months, by a second person."""
    now = now or dt.datetime.now(dt.UTC)
    today = today or now.date()
    agreement = get_agreement(conn, ref, for_update=True)
    if agreement.status(today) != "active":
        raise AgreementError(f"agreement {ref} is {agreement.status(today)}: only an active agreement can be renewed")
    if agreement.renewals >= 1:
        raise AgreementError(f"agreement {ref} was already renewed once: draft a new agreement")
    window = add_months(agreement.ends_on, -RENEWAL_WINDOW_MONTHS)
    if today < window:
        raise AgreementError(
            f"a renewal is asked for within {RENEWAL_WINDOW_MONTHS} months of the end: from {window.isoformat()}"
        )
    if until <= agreement.ends_on:
        raise AgreementError("a renewal must extend the agreement's end")
    limit = add_months(agreement.ends_on, RENEWAL_MONTHS)
    if until > limit:
        raise AgreementError(f"a renewal adds at most {RENEWAL_MONTHS} months: the latest end is {limit.isoformat()}")
    new_destroy = destroy_on or agreement.destroy_on
    if new_destroy < until:
        raise AgreementError("the destruction date cannot be before the renewed end: give a new destruction date")
    _require_approver(conn, approver, agreement.created_by, "renew an agreement")
    conn.execute(
        matching_agreements.update()
        .where(matching_agreements.c.id == agreement.id)
        .values(ends_on=until, destroy_on=new_destroy, renewals=1, renewed_by=approver, renewed_at=now)
    )
    return get_agreement(conn, ref)


def revoke_agreement(conn: Connection, ref: str, *, actor: str, now: dt.datetime | None = None) -> Agreement:
    """Stop an agreement: nothing more is imported, run or linked under it (its data waits for its destruction date)."""
    agreement = get_agreement(conn, ref, for_update=True)
    if agreement.state not in ("draft", "approved"):
        raise AgreementError(f"agreement {ref} is {agreement.state}: it cannot be revoked")
    conn.execute(
        matching_agreements.update()
        .where(matching_agreements.c.id == agreement.id)
        .values(state="revoked", revoked_by=actor, revoked_at=now or dt.datetime.now(dt.UTC))
    )
    return get_agreement(conn, ref)
