"""What the detectors know besides the events: people, taxpayers, cases, grants.

Loaded per batch, as Arrow tables, only for the principals and taxpayers the batch
names (chunked ``IN`` look-ups on indexed columns), so a scan's memory does not grow
with the store. Names and addresses are compared as normalised keys inside the
scan and never leave it (alerts carry refs and principal ids only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.tables import break_glass_reviews
from taxvault.store.tables import (
    case_subjects,
    cases,
    entities,
    grants,
    principal_relations,
    principals,
    returns,
    tax_modules,
)

_CHUNK = 900  # under SQLite's default bound-parameter limit

STAFF_KINDS = ("employee", "contractor")


@dataclass(frozen=True, slots=True)
class Facts:
    """The batch's facts as Arrow tables (registered in DuckDB under these names)."""

    staff: pa.Table  # pid, kind, roles, unit, manager, own_eid
    people: pa.Table  # eid, ref, last_name, address_line, zip, spouse_eid, is_employee, is_restricted, household_id
    module_owner: pa.Table  # mref, eid
    related: pa.Table  # pid, eid, relation  (declared relations, and spouses either side)
    exes: pa.Table  # pid, eid  (former spouses: a joint return in the past, not the spouse now)
    cases: pa.Table  # pid, eid, purpose, opened, closed, status
    grants: pa.Table  # pid, purpose, datasets (JSON text), starts, ends

    def tables(self) -> dict[str, pa.Table]:
        return {
            "staff": self.staff,
            "people": self.people,
            "module_owner": self.module_owner,
            "related": self.related,
            "exes": self.exes,
            "cases": self.cases,
            "grants": self.grants,
        }


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _rows(conn: Connection, stmt_for: Any, values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks(values):
        out.extend(conn.execute(stmt_for(list(chunk))).all())
    return out


def _table(rows: list[Any], schema: pa.Schema) -> pa.Table:
    cols = {f.name: pa.array([r[i] for r in rows], f.type) for i, f in enumerate(schema)}
    return pa.table(cols, schema=schema)


_STAFF = pa.schema(
    [
        ("pid", pa.string()),
        ("kind", pa.string()),
        ("roles", pa.string()),
        ("unit", pa.string()),
        ("manager", pa.string()),
        ("own_eid", pa.int64()),
    ]
)
_PEOPLE = pa.schema(
    [
        ("eid", pa.int64()),
        ("ref", pa.string()),
        ("last_name", pa.string()),
        ("address_line", pa.string()),
        ("zip", pa.string()),
        ("spouse_eid", pa.int64()),
        ("is_employee", pa.bool_()),
        ("is_restricted", pa.bool_()),
        ("household_id", pa.int64()),
    ]
)
_MODULES = pa.schema([("mref", pa.string()), ("eid", pa.int64())])
_RELATED = pa.schema([("pid", pa.string()), ("eid", pa.int64()), ("relation", pa.string())])
_EXES = pa.schema([("pid", pa.string()), ("eid", pa.int64())])
_CASES = pa.schema(
    [
        ("pid", pa.string()),
        ("eid", pa.int64()),
        ("purpose", pa.string()),
        ("opened", pa.date32()),
        ("closed", pa.date32()),
        ("status", pa.string()),
    ]
)
_GRANTS = pa.schema(
    [
        ("pid", pa.string()),
        ("purpose", pa.string()),
        ("datasets", pa.string()),
        ("starts", pa.timestamp("us", tz="UTC")),
        ("ends", pa.timestamp("us", tz="UTC")),
    ]
)
_E = entities.c
_PEOPLE_COLS = (
    _E.id,
    _E.ref,
    _E.last_name,
    _E.address_line,
    _E.zip,
    _E.spouse_id,
    _E.is_employee,
    _E.is_restricted,
    _E.household_id,
)


def load_staff(conn: Connection) -> pa.Table:
    """Every staff principal (employees and contractors): a few thousand rows."""
    p = principals.c
    rows = list(
        conn.execute(
            sa.select(p.id, p.kind, p.roles, p.unit, p.manager_id, p.entity_id).where(p.kind.in_(STAFF_KINDS))
        ).all()
    )
    return _table(rows, _STAFF)


def load_facts(conn: Connection, staff: pa.Table, principals_seen: Sequence[str], refs: Sequence[str]) -> Facts:
    """Facts for the staff ``principals_seen`` and the taxpayer/module ``refs`` of a batch."""
    seen = set(principals_seen)
    staff_rows = staff.filter(pa.compute.is_in(staff.column("pid"), pa.array(sorted(seen), pa.string())))
    pids = staff_rows.column("pid").to_pylist()
    own = [e for e in staff_rows.column("own_eid").to_pylist() if e is not None]

    # Modules named by ref (version-1 events carry no subject): their owners.
    mod_rows = _rows(
        conn,
        lambda chunk: sa.select(tax_modules.c.ref, tax_modules.c.entity_id).where(tax_modules.c.ref.in_(chunk)),
        [r for r in refs if r.startswith("m")],
    )
    module_owner = _table(mod_rows, _MODULES)

    # Declared relations, and the store's own spouse links either side.
    rel_rows = _rows(
        conn,
        lambda chunk: sa.select(
            principal_relations.c.principal_id, principal_relations.c.entity_id, principal_relations.c.relation
        ).where(principal_relations.c.principal_id.in_(chunk)),
        pids,
    )
    # Former spouses: someone on a joint return with her (either side) who is not her spouse now.
    r = returns.c
    ex_rows = _rows(
        conn,
        lambda chunk: sa.select(r.entity_id, r.spouse_id).where(
            sa.or_(r.entity_id.in_(chunk), r.spouse_id.in_(chunk)), r.spouse_id.is_not(None)
        ),
        own,
    )
    own_people = _rows(conn, lambda chunk: sa.select(*_PEOPLE_COLS).where(_E.id.in_(chunk)), own)
    spouse_now = {int(row[0]): row[5] for row in own_people}
    pid_of_eid: dict[int, list[str]] = {}
    for pid, eid in zip(pids, staff_rows.column("own_eid").to_pylist(), strict=True):
        if eid is not None:
            pid_of_eid.setdefault(int(eid), []).append(pid)
    exes: set[tuple[str, int]] = set()
    for a, b in ex_rows:
        for me, other in ((int(a), int(b)), (int(b), int(a))):
            if me in pid_of_eid and other != me and spouse_now.get(me) != other:
                for pid in pid_of_eid[me]:
                    exes.add((pid, other))
    for eid, sp in spouse_now.items():
        if sp is not None:
            for pid in pid_of_eid.get(eid, []):
                rel_rows.append((pid, int(sp), "spouse"))
    spouse_of = _rows(conn, lambda chunk: sa.select(_E.spouse_id, _E.id).where(_E.spouse_id.in_(chunk)), own)
    for eid, other in spouse_of:
        for pid in pid_of_eid.get(int(eid), []):
            rel_rows.append((pid, int(other), "spouse"))

    # People: the batch's taxpayers, the readers' own entities, their former spouses.
    entity_refs = sorted({r for r in refs if not r.startswith("m")})
    people_rows = _rows(conn, lambda chunk: sa.select(*_PEOPLE_COLS).where(_E.ref.in_(chunk)), entity_refs)
    have = {int(row[0]) for row in people_rows}
    extra_ids = sorted(
        ({int(e) for _, e in mod_rows} | {int(row[0]) for row in own_people} | {e for _, e in exes}) - have
    )
    people_rows.extend(_rows(conn, lambda chunk: sa.select(*_PEOPLE_COLS).where(_E.id.in_(chunk)), extra_ids))
    people = _table(people_rows, _PEOPLE)

    # Cases of the readers on the batch's taxpayers (any status: the rules need the dates).
    subject_ids = sorted({int(e) for e in people.column("eid").to_pylist()})
    c, cs = cases.c, case_subjects.c
    case_rows = _rows(
        conn,
        lambda chunk: (
            sa.select(c.assigned_to, cs.entity_id, c.purpose, c.opened_at, c.closed_at, c.status)
            .select_from(cases.join(case_subjects, cs.case_id == c.id))
            .where(cs.entity_id.in_(chunk), c.assigned_to.is_not(None))
        ),
        subject_ids,
    )
    case_rows = [row for row in case_rows if row[0] in seen]

    g = grants.c
    # A grant covered reads only once approved, and a revoked one only until its revocation;
    # a request never approved covered nothing (reads under it are probes).
    grant_rows = [
        (pid, purpose, _json_text(datasets), starts, ends if revoked is None else min(ends, revoked))
        for pid, purpose, datasets, starts, ends, revoked in _rows(
            conn,
            lambda chunk: sa.select(g.principal_id, g.purpose, g.datasets, g.starts_at, g.ends_at, g.revoked_at).where(
                g.principal_id.in_(chunk), g.approver_id.is_not(None), g.state != "requested"
            ),
            pids,
        )
    ]
    return Facts(
        staff=staff,
        people=people,
        module_owner=module_owner,
        related=_table([(p, int(e), str(k)) for p, e, k in rel_rows], _RELATED),
        exes=_table(sorted(exes), _EXES),
        cases=_table(case_rows, _CASES),
        grants=_table(grant_rows, _GRANTS),
    )


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return ",".join(str(v) for v in value or [])


def pending_break_glass(conn: Connection, older_than: Any) -> list[Any]:
    """Break-glass reviews still pending that were queued before ``older_than``."""
    b = break_glass_reviews.c
    return list(
        conn.execute(
            sa.select(b.id, b.leaf_index, b.principal_id, b.resource, b.created_at)
            .where(b.state == "pending", b.created_at < older_than)
            .order_by(b.id)
        ).all()
    )
