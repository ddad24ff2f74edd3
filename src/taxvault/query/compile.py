"""Compile a validated plan into one SQLAlchemy Core ``SELECT`` (SQLite and PostgreSQL alike).

Only the vocabulary's columns and relations are ever emitted; every value is a
bound parameter. The policy's row scope (which taxpayers' and modules' records
the asker may see) is injected here as ``IN (subquery)`` filters on every set
the plan touches, so no join can reach a record outside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from taxvault.query.plan import AggFn, Aggregate, Filter, Having, Op, Plan, fans_out, parents
from taxvault.query.vocab import FIELDS, TABLE_OF, EntitySet, FieldDef, relation
from taxvault.store.tables import case_subjects, metadata

DEFAULT_ROWS = 100
DEFAULT_GROUPS = 1000


@dataclass(frozen=True, slots=True)
class Scope:
    """Rows the asker may see, as subqueries of ids; ``None`` for no restriction.

    ``entities`` selects the ids of the taxpayers whose records may be read;
    ``modules`` (when narrower) the ids of their modules that may be read.
    """

    entities: sa.Select[Any] | None = None
    modules: sa.Select[Any] | None = None
    cases: sa.Select[Any] | None = None  # the cases that may be read (a caseworker: her own)


UNSCOPED = Scope()


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the answer: its name, the field it shows (if any) and the aggregate (if any)."""

    name: str
    field: FieldDef | None
    fn: AggFn | None = None


@dataclass(frozen=True, slots=True)
class Compiled:
    statement: sa.Select[Any]
    columns: list[Column] = field(default_factory=list)


def _table(s: EntitySet) -> sa.Table:
    return metadata.tables[TABLE_OF[s]]


class year_of(FunctionElement[int]):
    """The calendar year of a date, as an integer, in each dialect's own words."""

    type = sa.Integer()
    inherit_cache = True
    name = "year_of"


@compiles(year_of, "sqlite")
def _year_sqlite(element: year_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%Y', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(year_of)
def _year_default(element: year_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(YEAR FROM {compiler.process(element.clauses, **kw)}) AS INTEGER)"


def _col(fd: FieldDef) -> sa.ColumnElement[Any]:
    if fd.sensitivity == "secret":  # validation refuses them already; never compile one regardless
        raise ValueError(f"{fd.qualified} is secret")
    column = _table(fd.set).c[fd.column]
    if fd.year_of:
        return year_of(column)
    return column


def _value(fd: FieldDef, value: Any) -> Any:
    if fd.type == "date":
        return dt.date.fromisoformat(str(value))
    return value


def _condition(f: Filter) -> ColumnElement[bool]:
    fd = FIELDS[f.field]
    col = _col(fd)
    v = f.value
    if f.op == Op.IN:
        assert isinstance(v, list)
        return col.in_([_value(fd, x) for x in v])
    if f.op == Op.BETWEEN:
        assert isinstance(v, list)
        return col.between(_value(fd, v[0]), _value(fd, v[1]))
    if f.op == Op.CONTAINS:
        return sa.func.lower(col).contains(str(v).lower(), autoescape=True)
    x = _value(fd, v)
    if isinstance(x, bool):  # SQLAlchemy builds no < or > with True/False; a plan compares bools by = and !=
        return col == x if f.op == Op.EQ else col != x
    ops: dict[Op, ColumnElement[bool]] = {
        Op.EQ: col == x,
        Op.NE: col != x,
        Op.LT: col < x,
        Op.LE: col <= x,
        Op.GT: col > x,
        Op.GE: col >= x,
    }
    return ops[f.op]


def _having(expr: sa.ColumnElement[Any], h: Having) -> ColumnElement[bool]:
    """A group's aggregate against a threshold (whole numbers: counts, or cents)."""
    if h.op == Op.BETWEEN:
        assert isinstance(h.value, list)
        return expr.between(h.value[0], h.value[1])
    assert isinstance(h.value, int)
    ops: dict[Op, ColumnElement[bool]] = {
        Op.EQ: expr == h.value,
        Op.NE: expr != h.value,
        Op.LT: expr < h.value,
        Op.LE: expr <= h.value,
        Op.GT: expr > h.value,
        Op.GE: expr >= h.value,
    }
    return ops[h.op]


def _joined(plan: Plan) -> sa.FromClause:
    """The source joined to each other set along its declared relation (inner joins)."""
    sets = plan.sets
    parent = parents(sets)
    src: sa.FromClause = _table(sets[0])
    for s in sets[1:]:
        p = parent[s]
        rel = relation(p, s)
        assert rel is not None
        left, right = _table(rel.left), _table(rel.right)
        if rel.via is None:
            src = src.join(_table(s), left.c[rel.left_column] == right.c[rel.right_column])
            continue
        assert rel.via_left is not None and rel.via_right is not None
        link = case_subjects.alias(f"link_{p.value}_{s.value}")
        on_left = left.c[rel.left_column] == link.c[rel.via_left]
        on_right = link.c[rel.via_right] == right.c[rel.right_column]
        first, second = (on_left, on_right) if p == rel.left else (on_right, on_left)
        src = src.join(link, first).join(_table(s), second)
    return src


def _scope_conditions(plan: Plan, scope: Scope) -> list[ColumnElement[bool]]:
    """``IN (subquery)`` on the owner of every set the plan touches."""
    if scope.entities is None and scope.modules is None and scope.cases is None:
        return []
    ent = scope.entities
    out: list[ColumnElement[bool]] = []
    for s in plan.sets:
        t = _table(s)
        if s in (EntitySet.MODULES, EntitySet.RETURNS, EntitySet.NOTICES, EntitySet.TRANSACTIONS):
            module_col = t.c.id if s == EntitySet.MODULES else t.c.module_id
            if scope.modules is not None:
                out.append(module_col.in_(scope.modules))
            if ent is not None and s in (EntitySet.MODULES, EntitySet.RETURNS):
                out.append(t.c.entity_id.in_(ent))
            elif ent is not None:
                tm = metadata.tables["tax_modules"].alias(f"scope_tm_{s.value}")
                out.append(module_col.in_(sa.select(tm.c.id).where(tm.c.entity_id.in_(ent))))
        elif ent is None:
            continue
        elif s == EntitySet.TAXPAYERS:
            out.append(t.c.id.in_(ent))
        elif s == EntitySet.INFORMATION_RETURNS:
            out.append(t.c.payee_id.in_(ent))
        elif s == EntitySet.CASES:
            if scope.cases is not None:
                out.append(t.c.id.in_(scope.cases))
            cs = case_subjects.alias("scope_cs")
            out.append(t.c.id.in_(sa.select(cs.c.case_id).where(cs.c.entity_id.in_(ent))))
    return out


def owner_ref(plan: Plan) -> sa.ColumnElement[Any] | None:
    """The opaque ref of the taxpayer who owns each record of the source set (None for cases: many)."""
    s = plan.source
    t = _table(s)
    ents = metadata.tables["entities"].alias("owner_e")
    if s == EntitySet.TAXPAYERS:
        return t.c.ref
    owner: sa.ColumnElement[Any]
    if s in (EntitySet.MODULES, EntitySet.RETURNS):
        owner = t.c.entity_id
    elif s == EntitySet.INFORMATION_RETURNS:
        owner = t.c.payee_id
    elif s in (EntitySet.NOTICES, EntitySet.TRANSACTIONS):
        tm = metadata.tables["tax_modules"].alias("owner_tm")
        owner = sa.select(tm.c.entity_id).where(tm.c.id == t.c.module_id).scalar_subquery()
    else:
        return None
    return sa.select(ents.c.ref).where(ents.c.id == owner).scalar_subquery()


def _fans_out(plan: Plan) -> bool:
    parent = parents(plan.sets)
    return any(fans_out(parent[s], s) for s in plan.sets[1:])


def _aggregate(plan: Plan, a: Aggregate, fanned: bool) -> sa.ColumnElement[Any]:
    if a.field is None:
        if fanned:  # each record of the source counted once, however many joined records it has
            return sa.func.count(sa.distinct(_table(plan.source).c.id))
        return sa.func.count()
    col = _col(FIELDS[a.field])
    fns = {
        AggFn.COUNT: sa.func.count(col),
        AggFn.COUNT_DISTINCT: sa.func.count(sa.distinct(col)),
        AggFn.SUM: sa.func.sum(col),
        AggFn.AVG: sa.func.avg(col),
        AggFn.MIN: sa.func.min(col),
        AggFn.MAX: sa.func.max(col),
    }
    return fns[a.fn]


def compile_plan(
    plan: Plan,
    scope: Scope = UNSCOPED,
    *,
    max_rows: int | None = None,
    with_count: bool = False,
    with_owner: bool = False,
) -> Compiled:
    """One ``SELECT`` for the plan under ``scope``; ``max_rows`` caps the plan's limit (the policy's cap).

    ``with_count`` adds a last column ``n``, each group's true number of source records (what
    small-cell suppression decides on; it never leaves the service). ``with_owner`` adds to a
    listing a last column ``owner``, the ref of the taxpayer each row is about (for her audit trail).
    """
    where = [_condition(f) for f in plan.filters] + _scope_conditions(plan, scope)
    columns: list[Column] = []
    if plan.is_aggregate:
        fanned = _fans_out(plan)
        groups = [_col(FIELDS[n]) for n in plan.group_by]
        aggs = {a.label: _aggregate(plan, a, fanned) for a in plan.aggregates}
        selected = [g.label(f"g{i}") for i, g in enumerate(groups)]
        selected += [e.label(f"a{i}") for i, e in enumerate(aggs.values())]
        if with_count:
            selected.append(_aggregate(plan, Aggregate(fn=AggFn.COUNT), fanned).label("n"))
        columns = [Column(n, FIELDS[n]) for n in plan.group_by]
        columns += [Column(a.label, FIELDS[a.field] if a.field else None, a.fn) for a in plan.aggregates]
        stmt = sa.select(*selected).select_from(_joined(plan)).where(*where)
        if groups:
            stmt = stmt.group_by(*groups)
        for h in plan.having:
            stmt = stmt.having(_having(aggs[h.by], h))
        order: list[sa.ColumnElement[Any]] = []
        for o in plan.order_by:
            expr = aggs[o.by] if o.by in aggs else _col(FIELDS[o.by])
            order.append(expr.desc() if o.descending else expr.asc())
        stmt = stmt.order_by(*order, *groups)  # grouped fields break ties: the same plan, the same answer
        limit = plan.limit or DEFAULT_GROUPS
    else:
        cols = [_col(FIELDS[n]) for n in plan.select]
        columns = [Column(n, FIELDS[n]) for n in plan.select]
        shown = [c.label(f"c{i}") for i, c in enumerate(cols)]
        owner = owner_ref(plan) if with_owner else None
        if owner is not None:
            shown.append(owner.label("owner"))
        stmt = sa.select(*shown).select_from(_joined(plan)).where(*where)
        if _fans_out(plan) and not any(FIELDS[n].set != plan.source for n in plan.select):
            stmt = stmt.distinct()
        order = []
        for o in plan.order_by:
            expr = _col(FIELDS[o.by])
            order.append(expr.desc() if o.descending else expr.asc())
        # ties broken by every selected column, so one plan always gives one answer
        stmt = stmt.order_by(*order, *cols)
        limit = plan.limit or DEFAULT_ROWS
    if max_rows is not None:
        limit = min(limit, max_rows)
    return Compiled(stmt.limit(limit), columns)
