"""Grants that expire: engineers' and contractors' time-boxed access to taxpayer data.

Why: a contractor's deployment ends, and her access and copies must end with it. A grant
names one holder (role ``engineer``), the datasets, the field categories and the one
purpose it covers, and a time box. The door reads the holder's active, in-time grants on
every request (:meth:`taxvault.access.door.Door.active_grants`), so a grant that expired
or was revoked stops disclosing on the very next request; nothing is cached.

Lifecycle (every step decided by Cedar, ``policies/grants.cedar``, written and audited
in one unit of work through the door):

- **request** (``requested``): by the holder herself, or by a grant approver or manager
  for her; at most :data:`MAX_DAYS` (120) days, a reason.
- **approve** (``active``): a second person holding ``grant_approver``, never the holder
  nor the requester. The time box is fixed at approval: if its requested start has
  passed, it starts at the approval and keeps its length, so no approval ever covers
  more than 120 days ahead of the approver's decision. The grant's data key is created
  (:mod:`taxvault.oversight.shred`): what is exported under it is sealed with it.
- **renew** (once): by a grant approver, never the holder nor the requester, while the
  grant is active and in time; the new end is at most 120 days after the renewal (and
  after the current end). So one renewal, and each approval covers at most 120 days
  ahead: a grant lives at most 240 days from its first approval.
- **revoke** (``revoked``): any time, by an approver, a manager, oversight, or the holder.
- **expire** (``expired``): the grants job (``sys-grants``, ``taxvault grants expire``,
  and in ``serve``'s schedule) marks grants past their end.
- **shred**: once a grant has ended (expired or revoked) its key is destroyed, its exports
  marked shredded, and a signed destruction certificate is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Session, Target, Unit
from taxvault.access.masking import GRANT_CATEGORY
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.access.system_principals import GRANTS as GRANTS_JOB
from taxvault.errors import Conflict, Invalid, NotFound
from taxvault.oversight import shred
from taxvault.oversight.custody_tables import exports
from taxvault.store.tables import grants, principals

MAX_DAYS = 120
JOB_PURPOSE = "grant_expiry"
GRANT_DATASETS = frozenset(
    r.dataset
    for r in Resource
    if r.taxpayer_data and r not in (Resource.INGEST_FILE, Resource.POPULATION, Resource.OVERSIGHT_SCAN)
)
"""Datasets a grant may name: those of the resources that disclose a taxpayer's data."""
GRANT_FIELDS = frozenset({*GRANT_CATEGORY.values(), "line_items", "tin"})
"""Field categories a grant may name (see :data:`taxvault.access.masking.GRANT_CATEGORY`); ``tin`` is the
full TIN in an export (reads through the door show a TIN only under ``tin_last4``, as its last four)."""
_PURPOSE = re.compile(r"^[a-z][a-z_]{1,39}$", re.ASCII)
_REF = re.compile(r"^g[0-9a-f]{8,31}$")
_G = grants.c
_FIELDS = ("grants", "state")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def key_handle(ref: str) -> shred.KeyHandle:
    """The grant's data key (everything exported under it is sealed with it)."""
    return shred.KeyHandle("grants", f"grant-{ref}")


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant as stored."""

    id: int
    ref: str
    holder: str
    requested_by: str | None
    datasets: tuple[str, ...]
    fields: tuple[str, ...]
    purpose: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str
    approver_id: str | None
    renewals: int
    reason: str | None
    approved_at: dt.datetime | None
    renewed_by: str | None
    revoked_by: str | None
    ended_reason: str | None
    shredded_at: dt.datetime | None
    created_at: dt.datetime

    def in_force(self, now: dt.datetime) -> bool:
        """Active and inside its time box (what the door requires)."""
        return self.state == "active" and self.starts_at <= now < self.ends_at

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "id": self.ref,
            "holder": self.holder,
            "requested_by": self.requested_by,
            "datasets": list(self.datasets),
            "fields": list(self.fields),
            "purpose": self.purpose,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "state": self.state,
            "in_force": self.in_force(now),
            "approver": self.approver_id,
            "renewals": self.renewals,
            "reason": self.reason,
            "renewed_by": self.renewed_by,
            "revoked_by": self.revoked_by,
            "ended_reason": self.ended_reason,
            "shredded": self.shredded_at is not None,
        }


def _grant(row: Any) -> Grant:
    return Grant(
        int(row.id),
        str(row.ref),
        str(row.principal_id),
        row.requested_by,
        tuple(row.datasets),
        tuple(row.fields),
        str(row.purpose),
        _aware(row.starts_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
        _aware(row.ends_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
        str(row.state),
        row.approver_id,
        int(row.renewals),
        row.reason,
        _aware(row.approved_at),
        row.renewed_by,
        row.revoked_by,
        row.ended_reason,
        _aware(row.shredded_at),
        _aware(row.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
    )


def get_grant(conn: Connection, ref: str, *, for_update: bool = False) -> Grant:
    """The grant ``ref`` (NotFound otherwise)."""
    if not _REF.fullmatch(ref):
        raise NotFound("no such grant")
    stmt = sa.select(grants).where(_G.ref == ref)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("no such grant")
    return _grant(row)


# -- checks ------------------------------------------------------------------------------------------


def check_terms(datasets: Sequence[str], fields: Sequence[str], purpose: str, days: int, reason: str) -> None:
    """Invalid unless the terms are a grant's: known datasets and categories, a purpose, 1-120 days, a reason."""
    unknown = sorted(set(datasets) - GRANT_DATASETS)
    if not datasets or unknown:
        raise Invalid(f"datasets must be among {', '.join(sorted(GRANT_DATASETS))}", code="grant-datasets")
    bad = sorted(set(fields) - GRANT_FIELDS)
    if not fields or bad:
        raise Invalid(f"fields must be categories among {', '.join(sorted(GRANT_FIELDS))}", code="grant-fields")
    if not _PURPOSE.fullmatch(purpose):
        raise Invalid("a grant's purpose is lower-case letters and underscores", code="purpose-of-use")
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"a grant lasts 1 to {MAX_DAYS} days", code="grant-days")
    if not 10 <= len(reason.strip()) <= 500:
        raise Invalid("a grant needs a reason of 10 to 500 characters", code="grant-reason")


def _holder_ok(conn: Connection, holder: str) -> None:
    row = conn.execute(
        sa.select(principals.c.kind, principals.c.roles, principals.c.active).where(principals.c.id == holder)
    ).first()
    if row is None or not row.active:
        raise Invalid("the holder must be an active principal", code="grant-holder")
    if row.kind not in ("employee", "contractor") or "engineer" not in str(row.roles).split():
        raise Invalid("grants are for engineers and contractors (role engineer)", code="grant-holder")


def _refuse(unit: Unit, action: str, ref: str, decision: PolicyDecision, exc: Exception) -> None:
    kind = getattr(exc, "kind", "error")
    unit.audit(action, Resource.GRANT, ref, decision, reason=f"refused:{kind}")


# -- lifecycle ----------------------------------------------------------------------------------------


def request_grant(
    door: Door,
    session: Session,
    *,
    holder: str | None,
    datasets: Sequence[str],
    fields: Sequence[str],
    purpose: str,
    days: int,
    reason: str,
    starts_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record a grant request (nothing is disclosed under it until a second person approves)."""
    now = _now(now)
    holder = holder or session.principal
    start = _aware(starts_at) or now
    ref = "g" + secrets.token_hex(10)
    with door.unit(session, write=True) as unit:
        decided = unit.authorize(
            Resource.GRANT, Target(ref), "request_grant", second_person=holder != session.principal
        )
        try:
            check_terms(datasets, fields, purpose, days, reason)
            _holder_ok(unit.conn, holder)
        except (Invalid, Conflict) as exc:
            _refuse(unit, "request_grant", ref, decided.decision, exc)
            raise
        unit.conn.execute(
            grants.insert().values(
                ref=ref,
                principal_id=holder,
                requested_by=session.principal,
                datasets=sorted(set(datasets)),
                fields=sorted(set(fields)),
                purpose=purpose,
                starts_at=start,
                ends_at=start + dt.timedelta(days=days),
                approver_id=None,
                renewals=0,
                state="requested",
                reason=reason.strip(),
                created_at=now,
            )
        )
        unit.audit("request_grant", Resource.GRANT, ref, decided.decision, [*_FIELDS, f"days={days}"])
        created = get_grant(unit.conn, ref)
    return created.to_json(now)


def _second_person(session: Session, grant: Grant) -> bool:
    return session.principal not in (grant.holder, grant.requested_by)


def approve_grant(door: Door, session: Session, ref: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A second person (grant_approver, neither holder nor requester) approves a requested grant."""
    now = _now(now)
    with door.unit(session, write=True) as unit:
        grant = _locate(unit, ref, "approve_grant")
        decided = unit.authorize(
            Resource.GRANT, Target(ref), "approve_grant", second_person=_second_person(session, grant)
        )
        if grant.state != "requested":
            exc = Conflict(f"grant {ref} is {grant.state}, not requested")
            _refuse(unit, "approve_grant", ref, decided.decision, exc)
            raise exc
        length = grant.ends_at - grant.starts_at
        starts = max(grant.starts_at, now)
        unit.conn.execute(
            grants.update()
            .where(_G.id == grant.id)
            .values(state="active", approver_id=session.principal, approved_at=now, starts_at=starts,
                    ends_at=starts + length)
        )  # fmt: skip
        shred.create_key(key_handle(ref))  # before the commit: an approved grant always has its key
        unit.audit("approve_grant", Resource.GRANT, ref, decided.decision, [*_FIELDS, "key"])
        done = get_grant(unit.conn, ref)
    return done.to_json(now)


def renew_grant(door: Door, session: Session, ref: str, *, days: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """Renew an active grant once: its new end at most 120 days after the renewal."""
    now = _now(now)
    with door.unit(session, write=True) as unit:
        grant = _locate(unit, ref, "renew_grant")
        decided = unit.authorize(
            Resource.GRANT, Target(ref), "renew_grant", second_person=_second_person(session, grant)
        )
        ends = now + dt.timedelta(days=days)
        problem: Exception | None = None
        if not grant.in_force(now):
            problem = Conflict(f"grant {ref} is not in force: only an active grant can be renewed")
        elif grant.renewals >= 1:
            problem = Conflict(f"grant {ref} was renewed already: a grant is renewed once")
        elif not 1 <= days <= MAX_DAYS:
            problem = Invalid(f"a renewal lasts 1 to {MAX_DAYS} days from now", code="grant-days")
        elif ends <= grant.ends_at:
            problem = Invalid("a renewal must end after the grant's current end", code="grant-days")
        if problem is not None:
            _refuse(unit, "renew_grant", ref, decided.decision, problem)
            raise problem
        unit.conn.execute(
            grants.update()
            .where(_G.id == grant.id)
            .values(ends_at=ends, renewals=grant.renewals + 1, renewed_by=session.principal, renewed_at=now)
        )
        unit.audit("renew_grant", Resource.GRANT, ref, decided.decision, [*_FIELDS, f"days={days}"])
        done = get_grant(unit.conn, ref)
    return done.to_json(now)


def revoke_grant(
    door: Door, session: Session, ref: str, *, reason: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Revoke a grant now (denied on the holder's next request); its key is shredded right after."""
    now = _now(now)
    if not 5 <= len(reason.strip()) <= 200:
        raise Invalid("a revocation needs a reason of 5 to 200 characters", code="grant-reason")
    with door.unit(session, write=True) as unit:
        grant = _locate(unit, ref, "revoke_grant")
        decided = unit.authorize(
            Resource.GRANT, Target(ref), "revoke_grant", second_person=session.principal != grant.holder
        )
        if grant.state not in ("requested", "active"):
            exc = Conflict(f"grant {ref} is {grant.state} already")
            _refuse(unit, "revoke_grant", ref, decided.decision, exc)
            raise exc
        unit.conn.execute(
            grants.update()
            .where(_G.id == grant.id)
            .values(state="revoked", revoked_by=session.principal, revoked_at=now, ended_reason=reason.strip())
        )
        unit.audit("revoke_grant", Resource.GRANT, ref, decided.decision, _FIELDS)
    shred_grant(door, job_session(door, request_id=session.request_id), ref, now=now)
    with door.engine.connect() as conn:
        return get_grant(conn, ref).to_json(now)


def _locate(unit: Unit, ref: str, action: str) -> Grant:
    try:
        return get_grant(unit.conn, ref, for_update=True)
    except NotFound:
        unit.audit(
            action, Resource.GRANT, ref if _REF.fullmatch(ref) else "none", PolicyDecision(False, ("not-found",))
        )
        raise


def list_grants(
    door: Door,
    session: Session,
    *,
    state: str | None = None,
    holder: str | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Grants the caller may see: an engineer her own (held or requested), approvers, managers, oversight all."""
    now = _now(now)
    with door.unit(session) as unit:
        decided = unit.authorize(Resource.GRANT, Target("grants"), "read")
        stmt = sa.select(grants).order_by(_G.created_at.desc(), _G.id.desc()).limit(500)
        roles = session.caller.roles
        if not ({"grant_approver", "manager"} & roles or session.caller.facts.kind == "oversight"):
            stmt = stmt.where(sa.or_(_G.principal_id == session.principal, _G.requested_by == session.principal))
        if state:
            stmt = stmt.where(_G.state == state)
        if holder:
            stmt = stmt.where(_G.principal_id == holder)
        found = [_grant(r) for r in unit.conn.execute(stmt)]
        unit.audit("read", Resource.GRANT, "grants", decided.decision, [*_FIELDS, f"items={len(found)}"])
    return [g.to_json(now) for g in found]


def certificates(door: Door, session: Session, ref: str) -> list[dict[str, Any]]:
    """The grant's destruction certificates, each checked (signature, and its event in the audit log)."""
    with door.unit(session) as unit:
        grant = _locate(unit, ref, "read")
        decided = unit.authorize(Resource.GRANT, Target(ref), "read")
        oversees = {"grant_approver", "manager"} & session.caller.roles or session.caller.facts.kind == "oversight"
        if not oversees and session.principal not in (grant.holder, grant.requested_by):
            unit.audit("read", Resource.GRANT, ref, PolicyDecision(False, ("not-own-grant",)))
            raise NotFound("no such grant")
        found = shred.certificates_for(unit.conn, f"grant:{ref}")
        unit.audit("read", Resource.GRANT, ref, decided.decision, ["destruction_certificates", f"items={len(found)}"])
    out: list[dict[str, Any]] = []
    for cert in found:
        leaf = shred.find_certificate_leaf(door.audit, cert)
        verified = leaf is not None and shred.verify_certificate(cert, log=door.audit, leaf=leaf)
        out.append(cert.to_json() | {"audit_leaf": leaf, "verified": verified})
    return out


# -- the grants job: expiry and shredding ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShredOutcome:
    """What ending one grant destroyed."""

    grant_ref: str
    exports: int
    certificate: shred.DestructionCertificate | None


def expire_due(door: Door, session: Session, *, now: dt.datetime | None = None) -> list[ShredOutcome]:
    """Mark every active grant past its end expired, then shred every ended grant not yet shredded."""
    now = _now(now)
    with door.unit(session, write=True) as unit:
        due = [
            str(r)
            for (r,) in unit.conn.execute(
                sa.select(_G.ref).where(_G.state == "active", _G.ends_at <= now).order_by(_G.ends_at)
            )
        ]
        for ref in due:
            decided = door.decide(unit.conn, session, "expire_grant", Resource.GRANT, Target(ref))
            if not decided.decision.allowed:
                unit.audit("expire_grant", Resource.GRANT, ref, decided.decision)
                continue
            unit.conn.execute(
                grants.update().where(_G.ref == ref).values(state="expired", ended_reason="time box ended")
            )
            unit.audit("expire_grant", Resource.GRANT, ref, decided.decision, _FIELDS)
    with door.engine.connect() as conn:
        ended = [
            str(r)
            for (r,) in conn.execute(
                sa.select(_G.ref).where(_G.state.in_(("expired", "revoked")), _G.shredded_at.is_(None)).order_by(_G.id)
            )
        ]
        leftovers = [
            str(r)
            for (r,) in conn.execute(sa.select(_G.ref).where(_G.shredded_at.is_not(None)))
            if shred.has_key(key_handle(str(r)))
        ]
    return [shred_grant(door, session, ref, now=now) for ref in [*ended, *leftovers]]


def shred_grant(door: Door, session: Session, ref: str, *, now: dt.datetime | None = None) -> ShredOutcome:
    """Destroy an ended grant's key, mark its exports shredded, and certify the destruction.

    The decision, the rows and the audit event commit first; the key goes only after
    that (a failed append destroys nothing); the signed certificate is then stored and
    audited in a second unit. A crash between the two leaves a key of a shredded grant,
    which :func:`expire_due` sweeps (and certifies) on its next run.
    """
    now = _now(now)
    with door.unit(session, write=True) as unit:
        grant = _locate(unit, ref, "shred_grant")
        decided = unit.authorize(Resource.GRANT, Target(ref), "shred_grant")
        if grant.state not in ("expired", "revoked"):
            exc = Conflict(f"grant {ref} is {grant.state}: only an ended grant is shredded")
            _refuse(unit, "shred_grant", ref, decided.decision, exc)
            raise exc
        n = unit.conn.execute(
            exports.update()
            .where(exports.c.grant_id == grant.id, exports.c.state != "shredded")
            .values(state="shredded")
        ).rowcount
        if grant.shredded_at is None:
            unit.conn.execute(grants.update().where(_G.id == grant.id).values(shredded_at=now))
        unit.audit("shred_grant", Resource.GRANT, ref, decided.decision, ["key", "exports", f"exports={n}"])
    destroyed = shred.destroy_key(key_handle(ref), now=now)
    if destroyed is None:
        return ShredOutcome(ref, n, None)
    cert = shred.sign_certificate(destroyed, what=f"grant:{ref}", by=session.principal, details={"exports": n})
    with door.unit(session, write=True) as unit:
        decided = unit.authorize(Resource.GRANT, Target(ref), "shred_grant")
        shred.record_certificate(unit, Resource.GRANT, ref, decided.decision, cert)
    return ShredOutcome(ref, n, cert)


def job_session(door: Door, *, request_id: str | None = None) -> Session:
    """The grants job's session (``sys-grants``), its principal created if the store predates it (as ``init`` does)."""
    from taxvault.access.system_principals import ensure_system_principals

    with door.engine.begin() as conn:
        ensure_system_principals(conn)
    return door.system_session(GRANTS_JOB, JOB_PURPOSE, request_id=request_id)


def run_expiry(door: Door, *, now: dt.datetime | None = None) -> int:
    """One scheduled pass of the grants job (``serve``'s oversight schedule): how many grants it ended or swept."""
    return len(expire_due(door, job_session(door), now=now))
