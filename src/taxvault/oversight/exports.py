"""Exports under a grant: sealed with the grant's key, two people above a bulk threshold, canaries inside.

Why: a bulk copy of taxpayers' data is the largest disclosure an engineer can make, and
the one that outlives her access. So an export

- is decided exactly as her reads are (Cedar ``export`` on the dataset's own resource:
  inside an active grant for the session's purpose and that dataset), with only the
  columns whose field categories the grant names (``tin`` in full needs the category
  ``tin``; ``tin_last4`` gives the last four);
- over :func:`two_person_threshold` records (``TAXVAULT_EXPORT_TWO_PERSON_OVER``, default
  1000) waits for a second person, a manager who is not the requester (``approve_export``);
- is sealed with the grant's data key (:mod:`taxvault.oversight.shred`), so when the grant
  ends and its key is destroyed, every copy becomes unreadable wherever it went;
- carries :data:`CANARIES` synthetic taxpayers planted for this export and recipient
  (:mod:`taxvault.oversight.canaries`): a leaked file names itself.

The export file is JSON sealed as a ``TVX1`` blob: opening it (``open_export``) needs the
grant's key and, through the door, the grant still in force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Session, Target, Unit
from taxvault.access.masking import GRANT_CATEGORY
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.config import get_settings
from taxvault.errors import Conflict, Denied, Invalid, NotFound, TaxvaultError
from taxvault.files import private_dir
from taxvault.oversight import canaries, shred
from taxvault.oversight.custody_tables import exports
from taxvault.oversight.grants import Grant, get_grant, key_handle
from taxvault.store.tables import entities
from taxvault.store.tins import aad, tin_vault

THRESHOLD_ENV = "TAXVAULT_EXPORT_TWO_PERSON_OVER"
DEFAULT_THRESHOLD = 1000
MAX_RECORDS = 1_000_000
CANARIES = 3
_E = entities.c
EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "entities": (
        "kind", "tin_type", "tin", "first_name", "middle_name", "last_name", "business_name",
        "address_line", "city", "state", "zip", "birth_date",
    ),
}  # fmt: skip
"""What each exportable dataset may carry (besides its opaque ``ref``, always exported)."""
_NO_CATEGORY = frozenset({"kind", "tin_type"})  # not about the person: no category needed
_DATASET_RESOURCE = {"entities": Resource.ENTITY}


def two_person_threshold() -> int:
    """Exports of more records than this need a second approver (``TAXVAULT_EXPORT_TWO_PERSON_OVER``)."""
    raw = os.environ.get(THRESHOLD_ENV, "")
    try:
        return max(0, int(raw)) if raw.strip() else DEFAULT_THRESHOLD
    except ValueError:
        return DEFAULT_THRESHOLD


def export_dir() -> Path:
    """Where sealed export files are written (``<var_dir>/exports``, mode 0700)."""
    return private_dir(get_settings().var_dir / "exports")


def export_path(ref: str) -> Path:
    return export_dir() / f"{ref}.tvx"


def _context(ref: str) -> str:
    return f"export:{ref}"


def _category(field: str) -> str | None:
    return "tin_last4" if field == "tin" else GRANT_CATEGORY.get(field)


def check_fields(grant: Grant, dataset: str, fields: list[str]) -> list[str]:
    """The columns to export (Invalid if one is unknown or outside the grant's field categories)."""
    allowed = EXPORT_COLUMNS.get(dataset)
    if allowed is None:
        raise Invalid(f"exportable datasets: {', '.join(sorted(EXPORT_COLUMNS))}", code="export-dataset")
    if dataset not in grant.datasets:
        raise Denied(f"grant {grant.ref} does not cover the dataset {dataset}", code="forbidden")
    unknown = sorted(set(fields) - set(allowed))
    if not fields or unknown:
        raise Invalid(f"fields of {dataset} that may be exported: {', '.join(allowed)}", code="export-fields")
    outside = [
        f
        for f in fields
        if f not in _NO_CATEGORY
        and not (f == "tin" and ({"tin", "tin_last4"} & set(grant.fields)))
        and _category(f) not in grant.fields
    ]
    if outside:
        raise Denied(f"grant {grant.ref} does not name the fields {', '.join(sorted(outside))}", code="forbidden")
    return [f for f in allowed if f in fields]


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One export as stored."""

    id: int
    ref: str
    grant_id: int
    requested_by: str
    dataset: str
    fields: tuple[str, ...]
    purpose: str
    records: int
    canaries: int
    state: str
    approver_id: str | None
    file_sha256: str | None

    def to_json(self, grant_ref: str) -> dict[str, Any]:
        return {
            "id": self.ref,
            "grant": grant_ref,
            "requested_by": self.requested_by,
            "dataset": self.dataset,
            "fields": list(self.fields),
            "purpose": self.purpose,
            "records": self.records,
            "state": self.state,
            "approver": self.approver_id,
            "needs_second_approver": self.state == "pending",
            "file_sha256": self.file_sha256,
        }


def _export(conn: Connection, ref: str) -> ExportRow:
    row = conn.execute(sa.select(exports).where(exports.c.ref == ref)).first()
    if row is None:
        raise NotFound("no such export")
    return ExportRow(
        int(row.id), str(row.ref), int(row.grant_id), str(row.requested_by), str(row.dataset), tuple(row.fields),
        str(row.purpose), int(row.records), int(row.canaries), str(row.state), row.approver_id, row.file_sha256,
    )  # fmt: skip


def _grant_ref(conn: Connection, grant_id: int) -> str:
    from taxvault.store.tables import grants

    return str(conn.execute(sa.select(grants.c.ref).where(grants.c.id == grant_id)).scalar_one())


def _selection(dataset: str, records: int, state: str | None) -> sa.Select[Any]:
    stmt = sa.select(_E.ref, _E.tin_enc, *(c for c in entities.c if c.name in EXPORT_COLUMNS[dataset]))
    stmt = stmt.where(_E.is_restricted.is_(False), _E.is_employee.is_(False))  # never in a bulk export
    if state:
        stmt = stmt.where(_E.state == state)
    return stmt.order_by(_E.id).limit(records)


def _count(conn: Connection, dataset: str, records: int, state: str | None) -> int:
    sub = _selection(dataset, records, state).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())


def _rows(conn: Connection, ex: ExportRow, tin_full: bool, state: str | None) -> list[dict[str, Any]]:
    found = conn.execute(_selection(ex.dataset, ex.records, state)).all()
    tins: list[str] = []
    if "tin" in ex.fields and found:
        tins = tin_vault(conn).decrypt_many(
            conn, [r.tin_enc for r in found], [aad("entities", "tin", r.ref) for r in found]
        )
    out: list[dict[str, Any]] = []
    for i, r in enumerate(found):
        m = r._mapping
        row: dict[str, Any] = {"ref": r.ref}
        for f in ex.fields:
            if f == "tin":
                row[f] = tins[i] if tin_full else "*****" + tins[i][-4:]
            else:
                row[f] = m[f]
        out.append(row)
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _produce(unit: Unit, ex: ExportRow, grant: Grant, state: str | None, now: dt.datetime) -> tuple[bytes, str]:
    """Select the rows, plant the canaries, seal with the grant's key, write the file; (blob, sha256)."""
    tin_full = "tin" in grant.fields
    rows = _rows(unit.conn, ex, tin_full, state)
    planted = canaries.make_canaries(unit.conn, CANARIES)
    canaries.plant(unit.conn, ex.id, ex.requested_by, planted, now)
    for c in planted:
        fake = c.row()
        row: dict[str, Any] = {"ref": c.ref}
        for f in ex.fields:
            value = fake.get(f)
            row[f] = ("*****" + c.tin[-4:]) if f == "tin" and not tin_full else value
        rows.insert(secrets.randbelow(len(rows) + 1), row)
    body = {
        "export": ex.ref,
        "dataset": ex.dataset,
        "fields": ["ref", *ex.fields],
        "made_at": now.isoformat(),
        "rows": [{k: _plain(v) for k, v in r.items()} for r in rows],
    }
    handle = key_handle(grant.ref)
    if not shred.has_key(handle):
        raise Conflict(f"grant {grant.ref} has no key (it was shredded)")
    blob = shred.encrypt_blob(handle, json.dumps(body, sort_keys=True).encode(), _context(ex.ref))
    path = export_path(ex.ref)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
    digest = hashlib.sha256(blob).hexdigest()
    unit.conn.execute(
        exports.update()
        .where(exports.c.id == ex.id)
        .values(state="produced", produced_at=now, file_sha256=digest, canaries=len(planted))
    )
    return blob, digest


def _grant_for(unit: Unit, session: Session, grant_ref: str, now: dt.datetime) -> Grant:
    grant = get_grant(unit.conn, grant_ref)
    if grant.holder != session.principal:
        unit.audit("export", Resource.EXPORT, grant_ref, PolicyDecision(False, ("not-own-grant",)))
        raise Denied("an export is made only by the grant's holder", code="forbidden")
    return grant


def request_export(
    door: Door,
    session: Session,
    *,
    grant_ref: str,
    dataset: str,
    fields: list[str],
    records: int,
    state: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Export up to ``records`` rows of ``dataset`` under the caller's grant (pending above the threshold)."""
    now = now or dt.datetime.now(dt.UTC)
    if not 1 <= records <= MAX_RECORDS:
        raise Invalid(f"an export holds 1 to {MAX_RECORDS} records", code="export-records")
    if state is not None and not (len(state) == 2 and state.isalpha() and state.isupper()):
        raise Invalid("state is a two-letter code", code="export-state")
    ref = canaries.opaque_ref("x")  # named in a canary's alert
    resource = _DATASET_RESOURCE.get(dataset)
    with door.unit(session, write=True) as unit:
        grant = _grant_for(unit, session, grant_ref, now)
        if resource is None:
            raise Invalid(f"exportable datasets: {', '.join(sorted(EXPORT_COLUMNS))}", code="export-dataset")
        decided = unit.authorize(resource, Target(ref), "export")  # Denied (audited) outside an in-force grant
        if session.purpose != grant.purpose:
            unit.audit("export", resource, ref, decided.decision, reason="refused:purpose-not-grant")
            raise Invalid(f"the purpose of use must be the grant's ({grant.purpose})", code="purpose-of-use")
        try:
            columns = check_fields(grant, dataset, fields)
        except (Invalid, Denied) as exc:
            unit.audit("export", resource, ref, decided.decision, reason=f"refused:{exc.kind}")
            raise
        n = _count(unit.conn, dataset, records, state)
        pending = n > two_person_threshold()
        unit.conn.execute(
            exports.insert().values(
                ref=ref,
                grant_id=grant.id,
                requested_by=session.principal,
                dataset=dataset,
                fields=[*columns, *([f"state={state}"] if state else [])],
                purpose=grant.purpose,
                records=n,
                state="pending",
                created_at=now,
            )
        )
        ex = _export(unit.conn, ref)
        counts = [f"records={n}", f"grant={grant.ref}", f"export={ref}"]
        if pending:
            unit.audit("request_export", resource, ref, decided.decision, [*columns, *counts, "awaiting=second_person"])
        else:
            ex = ExportRow(**{**_asdict(ex), "fields": tuple(columns)})
            _blob, _digest = _produce(unit, ex, grant, state, now)
            unit.audit("export", resource, ref, decided.decision, [*columns, *counts, f"canaries={CANARIES}"])
        done = _export(unit.conn, ref)
    return done.to_json(grant.ref) | {"file": str(export_path(ref)) if done.state == "produced" else None}


def _asdict(ex: ExportRow) -> dict[str, Any]:
    return {name: getattr(ex, name) for name in ExportRow.__dataclass_fields__}


def approve_export(door: Door, session: Session, ref: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The second person (a manager, not the requester) approves a pending export; it is produced now."""
    now = now or dt.datetime.now(dt.UTC)
    with door.unit(session, write=True) as unit:
        try:
            ex = _export(unit.conn, ref)
        except NotFound:
            unit.audit("approve_export", Resource.EXPORT, "none", PolicyDecision(False, ("not-found",)))
            raise
        decided = unit.authorize(
            Resource.EXPORT, Target(ref), "approve_export", second_person=session.principal != ex.requested_by
        )
        grant = get_grant(unit.conn, _grant_ref(unit.conn, ex.grant_id))
        problem: TaxvaultError | None = None
        if ex.state != "pending":
            problem = Conflict(f"export {ref} is {ex.state}, not pending")
        elif not grant.in_force(now):
            problem = Conflict(f"grant {grant.ref} is no longer in force: the export cannot be made")
        if problem is not None:
            unit.audit("approve_export", Resource.EXPORT, ref, decided.decision, reason=f"refused:{problem.kind}")
            raise problem
        state = next((f.split("=", 1)[1] for f in ex.fields if f.startswith("state=")), None)
        columns = tuple(f for f in ex.fields if not f.startswith("state="))
        unit.conn.execute(
            exports.update().where(exports.c.id == ex.id).values(approver_id=session.principal, decided_at=now)
        )
        _produce(unit, ExportRow(**{**_asdict(ex), "fields": columns}), grant, state, now)
        unit.audit(
            "approve_export",
            Resource.EXPORT,
            ref,
            decided.decision,
            [*columns, f"records={ex.records}", f"grant={grant.ref}", f"canaries={CANARIES}"],
        )
        done = _export(unit.conn, ref)
    return done.to_json(grant.ref) | {"file": str(export_path(ref))}


def open_export(door: Door, session: Session, ref: str, blob: bytes) -> dict[str, Any]:
    """Decrypt an export: its grant's holder, while the grant is in force and its key exists."""
    with door.unit(session) as unit:
        try:
            ex = _export(unit.conn, ref)
        except NotFound:
            unit.audit("open_export", Resource.EXPORT, "none", PolicyDecision(False, ("not-found",)))
            raise
        resource = _DATASET_RESOURCE[ex.dataset]
        grant = get_grant(unit.conn, _grant_ref(unit.conn, ex.grant_id))
        if grant.holder != session.principal:
            unit.audit("open_export", resource, ref, PolicyDecision(False, ("not-own-grant",)))
            raise Denied("only the grant's holder opens its exports", code="forbidden")
        decided = unit.authorize(resource, Target(ref), "open_export")
        with unit.failures_recorded("open_export", resource, Target(ref), decided, "open-failed"):
            body: dict[str, Any] = json.loads(shred.decrypt_blob(key_handle(grant.ref), blob, _context(ref)))
        unit.audit("open_export", resource, ref, decided.decision, [*body["fields"], f"rows={len(body['rows'])}"])
    return body


def list_exports(door: Door, session: Session, *, state: str | None = None) -> list[dict[str, Any]]:
    """Exports the caller may see: her own, or all for managers and oversight."""
    with door.unit(session) as unit:
        decided = unit.authorize(Resource.EXPORT, Target("exports"), "read")
        stmt = sa.select(exports.c.ref).order_by(exports.c.created_at.desc(), exports.c.id.desc()).limit(500)
        if not ({"manager", "grant_approver"} & session.caller.roles or session.caller.facts.kind == "oversight"):
            stmt = stmt.where(exports.c.requested_by == session.principal)
        if state:
            stmt = stmt.where(exports.c.state == state)
        found = [_export(unit.conn, str(r)) for (r,) in unit.conn.execute(stmt)]
        items = [ex.to_json(_grant_ref(unit.conn, ex.grant_id)) for ex in found]
        unit.audit("read", Resource.EXPORT, "exports", decided.decision, ["exports", f"items={len(items)}"])
    return items


def sealed_file(door: Door, session: Session, ref: str) -> bytes:
    """The sealed file of a produced export, for its requester (it opens only with the grant's key)."""
    with door.unit(session) as unit:
        try:
            ex = _export(unit.conn, ref)
        except NotFound:
            unit.audit("read", Resource.EXPORT, "none", PolicyDecision(False, ("not-found",)))
            raise
        decided = unit.authorize(Resource.EXPORT, Target(ref), "read")
        if ex.requested_by != session.principal:
            unit.audit("read", Resource.EXPORT, ref, PolicyDecision(False, ("not-own-export",)))
            raise NotFound("no such export")
        path = export_path(ref)
        if ex.state != "produced" or not path.exists():
            unit.audit("read", Resource.EXPORT, ref, decided.decision, reason=f"refused:{ex.state}")
            raise Conflict(f"export {ref} is {ex.state}: there is no file to give")
        blob = path.read_bytes()
        unit.audit("read", Resource.EXPORT, ref, decided.decision, ["file:sealed"])
    return blob
