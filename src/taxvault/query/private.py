"""Analysts' answers: differentially private counts, bounded sums and their ratio (averages).

An analyst's aggregate plan is answered by :func:`taxvault.stats.release.release`, the
one path every private answer takes (budget charged on the unit's connection, with the
answer's audit event; refused when spent). Here the plan becomes what release needs:

- **privacy unit**: the taxpayer who owns each record of the source set; each
  contributes at most ``CONTRIBUTIONS[source]`` records (a window over the owner, in SQL);
- **groups**: only fields with a public list of values (state, form, filing status,
  notice type, ...; tax years from the plan's filter or the years since 2015), so the
  groups shown never come from the data; every group under ``k`` records is suppressed;
- **sums**: each record's value clamped to :data:`SUM_BOUNDS` (the answer says so);
  an average is the noisy sum over the noisy count (two releases);
- **having** (keep the groups over a threshold) is applied to the released, noisy values:
  post-processing, so it costs no budget and reveals nothing the noisy answer does not.

Plans outside this (min/max, distinct counts, one-to-many joins, groups without a
public list) are refused for analysts with the reason; they are never answered exactly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from taxvault.access.door import Unit
from taxvault.errors import Invalid
from taxvault.query.compile import _col, _condition, _fans_out, _joined, _table
from taxvault.query.plan import AggFn, Having, Op, Plan
from taxvault.query.vocab import FIELDS, EntitySet, FieldDef
from taxvault.stats.release import GroupTruth, Spec, release
from taxvault.stats.shapes import FIRST_YEAR, clamp
from taxvault.store.tables import tax_modules

EPSILON_PER_RELEASE = 0.5
"""Default epsilon each count or sum spends (``TAXVAULT_ASK_EPSILON`` sets another, 0.001 to 10)."""


def epsilon_per_release() -> float:
    """The epsilon one release spends: ``TAXVAULT_ASK_EPSILON`` or the default (Invalid when out of range)."""
    raw = os.environ.get("TAXVAULT_ASK_EPSILON", "").strip()
    if not raw:
        return EPSILON_PER_RELEASE
    try:
        value = float(raw)
    except ValueError:
        raise Invalid("TAXVAULT_ASK_EPSILON must be a number") from None
    if not 0.001 <= value <= 10:
        raise Invalid("TAXVAULT_ASK_EPSILON must be between 0.001 and 10")
    return value


SUM_BOUNDS: dict[str, tuple[int, int]] = {"money": (0, 50_000_000), "int": (0, 20)}
"""Per-record clamp of a summed value: money $0 to $500,000.00; counts (dependents) 0 to 20."""
SIGNED_MONEY = frozenset({"transactions.amount"})
SIGNED_BOUNDS = (-50_000_000, 50_000_000)
CONTRIBUTIONS: dict[EntitySet, int] = {
    EntitySet.TAXPAYERS: 1,
    EntitySet.RETURNS: 1,  # per tax year (times the years the plan covers)
    EntitySet.INFORMATION_RETURNS: 4,  # per tax year
    EntitySet.MODULES: 2,
    EntitySet.NOTICES: 4,
    EntitySet.TRANSACTIONS: 20,
    EntitySet.CASES: 2,
}
MAX_GROUPS = 2000


@dataclass(frozen=True, slots=True)
class PrivateResult:
    rows: list[dict[str, Any]]
    suppressed: int
    noise: dict[str, Any]


def _years(plan: Plan, fd: FieldDef, today: dt.date) -> tuple[int, ...]:
    for f in plan.filters:
        if f.field == fd.qualified:
            if f.op == Op.EQ and isinstance(f.value, int):
                return (f.value,)
            if f.op == Op.IN and isinstance(f.value, list):
                return tuple(sorted({int(v) for v in f.value}))
            if f.op == Op.BETWEEN and isinstance(f.value, list):
                lo, hi = int(f.value[0]), int(f.value[1])
                return tuple(range(max(lo, FIRST_YEAR), min(hi, today.year) + 1))
    return tuple(range(FIRST_YEAR, today.year + 1))


def domain(plan: Plan, fd: FieldDef, today: dt.date) -> tuple[Any, ...]:
    """The public list of values a grouped field can take (Invalid when it has none)."""
    if fd.name == "tax_year" or fd.year_of:  # a year of a date: the years since 2015 unless the plan says
        return _years(plan, fd, today)
    if fd.type == "bool":
        return (False, True)
    if fd.values:
        if fd.type == "int":
            return tuple(int(v) for v in fd.values)
        return fd.values
    raise Invalid(f"analysts can group only by fields with a public list of values, not {fd.qualified}")


def check(plan: Plan) -> None:
    """Refuse, before reading anything, what cannot be answered privately."""
    for a in plan.aggregates:
        if a.fn not in (AggFn.COUNT, AggFn.SUM, AggFn.AVG) or (a.fn == AggFn.COUNT and a.field is not None):
            raise Invalid(f"analysts can ask counts of records, sums and averages; not {a.label}")
    if _fans_out(plan):
        raise Invalid("analysts' questions join only to one record per record (ask about the many side)")


def _owner(plan: Plan) -> sa.ColumnElement[Any]:
    s = plan.source
    t = _table(s)
    if s == EntitySet.TAXPAYERS:
        return t.c.id
    if s in (EntitySet.MODULES, EntitySet.RETURNS):
        return t.c.entity_id
    if s == EntitySet.INFORMATION_RETURNS:
        return t.c.payee_id
    if s in (EntitySet.NOTICES, EntitySet.TRANSACTIONS):
        owner = sa.select(tax_modules.c.entity_id).where(tax_modules.c.id == t.c.module_id).scalar_subquery()
        return owner
    return t.c.id  # cases: the case is the unit (its subjects are many)


def _contributions(plan: Plan, today: dt.date) -> int:
    per = CONTRIBUTIONS[plan.source]
    if plan.source in (EntitySet.RETURNS, EntitySet.INFORMATION_RETURNS):
        years = _years(plan, FIELDS[f"{plan.source.value}.tax_year"], today)
        per *= max(len(years), 1)
    return min(per, 100)


def _truths(
    unit: Unit, plan: Plan, value: FieldDef | None, bounds: tuple[int, int] | None, m: int, today: dt.date
) -> list[GroupTruth]:
    groups = [FIELDS[n] for n in plan.group_by]
    v: sa.ColumnElement[Any] = sa.literal(0)
    if value is not None and bounds is not None:
        v = clamp(_col(value), *bounds)
    src = _table(plan.source)
    where = [_condition(f) for f in plan.filters]
    if plan.source == EntitySet.TAXPAYERS:  # one row per taxpayer already: no window needed
        cols = [_col(g) for g in groups]
        stmt = (
            sa.select(*cols, sa.func.count().label("n"), sa.func.coalesce(sa.func.sum(v), 0).label("total"))
            .select_from(_joined(plan))
            .where(*where)
            .group_by(*cols)
        )
    else:
        inner = (
            sa.select(
                *(_col(g).label(f"g{i}") for i, g in enumerate(groups)),
                v.label("v"),
                sa.func.row_number().over(partition_by=_owner(plan), order_by=src.c.id).label("rn"),
            )
            .select_from(_joined(plan))
            .where(*where)
            .subquery("bounded")
        )
        keys = [inner.c[f"g{i}"] for i in range(len(groups))]
        stmt = (
            sa.select(*keys, sa.func.count().label("n"), sa.func.coalesce(sa.func.sum(inner.c.v), 0).label("total"))
            .where(inner.c.rn <= m)
            .group_by(*keys)
        )
    found = {tuple(row[: len(groups)]): (int(row.n), int(row.total)) for row in unit.conn.execute(stmt)}
    domains = [domain(plan, g, today) for g in groups]
    out = []
    for key in itertools.product(*domains):
        n, total = found.get(tuple(key), (0, 0))
        out.append(GroupTruth(tuple(key), n, total))
    if len(out) > MAX_GROUPS:
        raise Invalid(f"too many groups for a private answer (at most {MAX_GROUPS})")
    return out


def _passes(value: int, h: Having) -> bool:
    if h.op == Op.BETWEEN:
        assert isinstance(h.value, list)
        return h.value[0] <= value <= h.value[1]
    assert isinstance(h.value, int)
    return {
        Op.EQ: value == h.value,
        Op.NE: value != h.value,
        Op.LT: value < h.value,
        Op.LE: value <= h.value,
        Op.GT: value > h.value,
        Op.GE: value >= h.value,
    }[h.op]


def answer(unit: Unit, plan: Plan, *, k: int, today: dt.date | None = None) -> PrivateResult:
    """Release the plan's aggregates with noise, charging the analyst's budget on the unit's connection."""
    check(plan)
    today = today or unit.door.clock().date()
    m = _contributions(plan, today)
    for n in plan.group_by:
        domain(plan, FIELDS[n], today)  # refuse before charging anything
    session = unit.session
    releases: dict[str, dict[Any, int | None]] = {}
    epsilon = epsilon_per_release()
    meta: dict[str, Any] = {"epsilon_per_release": epsilon, "max_contributions": m, "releases": {}}
    counts: dict[Any, int | None] | None = None
    budget_left: dict[str, float] | None = None

    def run(measure: str, value: FieldDef | None) -> dict[Any, int | None]:
        nonlocal budget_left
        bounds = None
        if value is not None:
            bounds = SIGNED_BOUNDS if value.qualified in SIGNED_MONEY else SUM_BOUNDS[value.type]
        truths = _truths(unit, plan, value, bounds, m, today)
        spec = Spec(measure="count" if measure == "count" else "sum", epsilon=epsilon,
                    bounds=bounds, max_contributions=m, k=k)  # fmt: skip
        shape = f"{plan.plan_hash()}:{measure}:{value.qualified if value else ''}"
        rel = release(unit.conn, session.principal, truths, spec, request_id=session.request_id, shape=shape[:64])
        name = measure if value is None else f"{measure}_{value.name}"
        meta["releases"][name] = {"scale": rel.scale, "ci95": rel.ci95, "bounds": list(bounds) if bounds else None}
        budget_left = rel.budget.as_dict()
        return {g.key: g.value for g in rel.groups}

    for a in plan.aggregates:
        fd = FIELDS[a.field] if a.field else None
        if a.fn == AggFn.COUNT:
            counts = counts or run("count", None)
            releases[a.label] = counts
        elif a.fn == AggFn.SUM:
            assert fd is not None
            releases[a.label] = run("sum", fd)
        else:
            assert fd is not None
            counts = counts or run("count", None)
            sums = run("sum", fd)
            releases[a.label] = {
                key: (None if s is None or not counts.get(key) else round(s / max(counts[key] or 1, 1)))
                for key, s in sums.items()
            }
    meta["budget"] = budget_left
    keys = list(next(iter(releases.values())).keys()) if releases else []
    rows: list[dict[str, Any]] = []
    suppressed = 0
    for key in keys:
        values = {label: rel[key] for label, rel in releases.items()}
        if any(v is None for v in values.values()):
            suppressed += 1
            continue
        row: dict[str, Any] = dict(zip(plan.group_by, key, strict=True))
        row.update(values)
        rows.append(row)
    if plan.having:  # post-processing of released values: it spends no more budget and reads no row
        rows = [row for row in rows if all(_passes(row[h.by], h) for h in plan.having)]
        meta["having"] = "applied to the noisy values: a group near the threshold may fall on either side"
    if plan.order_by:
        for o in reversed(plan.order_by):
            rows.sort(key=lambda r: (r[o.by] is None, r[o.by]), reverse=o.descending)
    if plan.limit is not None:
        rows = rows[: plan.limit]
    return PrivateResult(rows, suppressed, meta)
