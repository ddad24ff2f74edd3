"""The typed query plan: the only thing a question ever becomes.

A translator (the offline parser or a language model) proposes a :class:`Plan`;
it is validated here against the vocabulary (``query/vocab.py``), described in
plain English to the person asking, authorised by the door, compiled with
SQLAlchemy Core and run. The plan language can only *read*: there is no
insert, update, delete, DDL, raw SQL nor free-form expression in it, so a
prompt injected into a name or a notice cannot turn into a write.

Validation normalises the plan: every field becomes its qualified name
(``returns.wages``), sets a field needs are joined, values are typed (money in
integer cents, dates ISO 8601). The normalised plan's canonical JSON is what
is hashed, shown and stored, so the client runs exactly the plan it saw.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from taxvault.query.vocab import BY_NAME, FIELDS, SET_NOUN, EntitySet, FieldDef, join_path, relation

MAX_LIMIT = 1000
MAX_IN_VALUES = 200


class Op(StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    BETWEEN = "between"
    CONTAINS = "contains"


class AggFn(StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"


_SCHEMA_FIELDS = sorted(q for q, f in FIELDS.items() if f.sensitivity != "secret")

FieldName = Annotated[
    str,
    Field(
        description="A field of the vocabulary, qualified as set.field (e.g. returns.wages, taxpayers.state).",
        json_schema_extra={"enum": _SCHEMA_FIELDS},
    ),
]
Scalar = bool | int | str


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(_Frozen):
    """``field op value``; a plan's filters all hold (AND). Money in integer cents, dates ISO 8601."""

    field: FieldName
    op: Op
    value: Scalar | list[Scalar] = Field(
        description="One value; a list for 'in' (one or more) and 'between' (exactly two: low, high, inclusive)."
    )


class Aggregate(_Frozen):
    """An aggregate over the matching records; ``count`` without a field counts the records."""

    fn: AggFn
    field: FieldName | None = None

    @property
    def label(self) -> str:
        """The output column's name: ``count``, ``sum_wages``, ``count_distinct_ref``."""
        if self.field is None:
            return self.fn.value
        return f"{self.fn.value}_{self.field.rsplit('.', 1)[-1]}"


class Having(_Frozen):
    """A threshold on a group's aggregate (a having clause): keep only the groups whose aggregate passes it.

    ``by`` is an aggregate's label (``count``, ``avg_agi``); the value is in that aggregate's unit
    (a number of records, or integer cents for money).
    """

    by: str = Field(description="An aggregate's label (count, sum_wages, avg_agi).")
    op: Op
    value: StrictInt | list[StrictInt] = Field(
        description="A whole number (money in cents); two for 'between' (low, high)."
    )


class Order(_Frozen):
    by: str = Field(description="A selected or grouped field (set.field), or an aggregate's label (count, sum_wages).")
    descending: bool = False


class Plan(_Frozen):
    """A read-only question over the canonical model.

    Either a listing (``select`` some fields of the matching records) or an
    aggregate (``aggregates``, optionally ``group_by``), never both.
    """

    version: Literal[1] = 1
    source: EntitySet = Field(description="The set of records the question is about.")
    join: list[EntitySet] = Field(default_factory=list, description="Other sets joined along known relations.")
    select: list[FieldName] = Field(default_factory=list, description="Fields to list (a listing plan).")
    filters: list[Filter] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list, description="Aggregates (an aggregate plan).")
    group_by: list[FieldName] = Field(default_factory=list)
    having: list[Having] = Field(
        default_factory=list, description="Thresholds on the groups' aggregates (all hold): which groups to keep."
    )
    order_by: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)

    @model_validator(mode="after")
    def _normalise(self) -> Plan:
        normal = _normalised(self)
        for name in type(self).model_fields:  # frozen: validation alone may set the normal form
            object.__setattr__(self, name, getattr(normal, name))
        return self

    # --- what the plan is -------------------------------------------------------------------------

    @property
    def is_aggregate(self) -> bool:
        return bool(self.aggregates)

    @property
    def sets(self) -> list[EntitySet]:
        """The source, then the joined sets."""
        return [self.source, *self.join]

    def field_defs(self) -> list[FieldDef]:
        """Every field the plan names (selected, filtered, aggregated, grouped, sorted), each once, in order."""
        names: list[str] = [*self.select, *(f.field for f in self.filters)]
        names += [a.field for a in self.aggregates if a.field is not None]
        names += [*self.group_by, *(o.by for o in self.order_by if o.by in FIELDS)]
        return [FIELDS[n] for n in dict.fromkeys(names)]

    def field_names(self) -> list[str]:
        return [f.qualified for f in self.field_defs()]

    def output_columns(self) -> list[str]:
        """The names of the answer's columns, in order."""
        if self.is_aggregate:
            return [*self.group_by, *(a.label for a in self.aggregates)]
        return list(self.select)

    # --- identity -----------------------------------------------------------------------------------

    def canonical_json(self) -> str:
        """Sorted keys, no spaces: the bytes the hash is taken over.

        An empty ``having`` is left out, so the plans written before it existed keep their hash.
        """
        data = self.model_dump(mode="json")
        if not data["having"]:
            del data["having"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def plan_hash(self) -> str:
        """sha256 (hex) of the canonical JSON."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def ref(self) -> str:
        """The opaque reference audit events carry: ``q`` + the hash's first 16 hex digits."""
        return "q" + self.plan_hash()[:16]

    def describe(self) -> str:
        """The plan in plain English, shown to the person asking before it runs."""
        return _describe(self)


# --- normalisation ---------------------------------------------------------------------------------


def _resolve(name: str, sets: list[EntitySet]) -> FieldDef:
    """A field name to its definition; an unqualified name prefers the plan's own sets, in order."""
    if "." in name:
        fd = FIELDS.get(name)
        if fd is None:
            raise ValueError(f"unknown field {name!r}")
        return fd
    candidates = BY_NAME.get(name, ())
    if not candidates:
        raise ValueError(f"unknown field {name!r}")
    for s in sets:
        for fd in candidates:
            if fd.set == s:
                return fd
    if len(candidates) == 1:
        return candidates[0]
    options = " or ".join(fd.qualified for fd in candidates)
    raise ValueError(f"field {name!r} is ambiguous: say {options}")


def _check_not_secret(fd: FieldDef) -> None:
    if fd.sensitivity == "secret":
        raise ValueError(f"{fd.qualified} is secret: it can never be selected, filtered, grouped or sorted on")


def _typed(fd: FieldDef, value: Scalar) -> Scalar:
    """One value checked and coerced to the field's type."""
    if fd.type == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"{fd.qualified} takes true or false")
    if fd.type in ("int", "money"):
        if isinstance(value, bool):
            raise ValueError(f"{fd.qualified} takes a whole number")
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise ValueError(f"{fd.qualified} takes a whole number (money in cents)") from None
        return value
    if fd.type == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(f"{fd.qualified} takes a date as YYYY-MM-DD") from None
    if isinstance(value, bool):
        raise ValueError(f"{fd.qualified} takes text")
    return str(value)


def _typed_filter(fd: FieldDef, f: Filter) -> Scalar | list[Scalar]:
    if f.op == Op.CONTAINS and fd.type != "text":
        raise ValueError(f"'contains' needs a text field, not {fd.qualified}")
    if fd.type == "bool" and f.op not in (Op.EQ, Op.NE):
        raise ValueError(f"{fd.qualified} can only be compared with = or !=")
    if f.op in (Op.IN, Op.BETWEEN):
        if not isinstance(f.value, list):
            raise ValueError(f"'{f.op.value}' takes a list of values")
        values = [_typed(fd, v) for v in f.value]
        if f.op == Op.BETWEEN:
            if len(values) != 2:
                raise ValueError("'between' takes exactly two values: low and high")
            if values[0] > values[1]:  # type: ignore[operator]
                raise ValueError("'between' takes the low value first")
        elif not 1 <= len(values) <= MAX_IN_VALUES:
            raise ValueError(f"'in' takes 1 to {MAX_IN_VALUES} values")
        return values
    if isinstance(f.value, list):
        raise ValueError(f"'{f.op.value}' takes one value, not a list")
    return _typed(fd, f.value)


def parents(sets: list[EntitySet]) -> dict[EntitySet, EntitySet]:
    """Each joined set -> the earlier set it is joined to (the first one a relation links it with)."""
    result: dict[EntitySet, EntitySet] = {}
    for i, s in enumerate(sets[1:], start=1):
        result[s] = next(p for p in sets[:i] if relation(p, s) is not None)
    return result


def fans_out(parent: EntitySet, child: EntitySet) -> bool:
    """Whether joining ``child`` to ``parent`` can repeat a parent's record (a one-to-many join)."""
    rel = relation(parent, child)
    assert rel is not None
    return rel.via is not None or rel.left == child


def _check_fan_out(sets: list[EntitySet]) -> None:
    """Refuse two one-to-many branches: their cross product would inflate every count and sum."""
    parent = parents(sets)
    fanned = [s for s in sets[1:] if fans_out(parent[s], s)]

    def ancestors(s: EntitySet) -> set[EntitySet]:
        out = set()
        while s in parent:
            s = parent[s]
            out.add(s)
        return out

    for a, b in itertools.pairwise(fanned):
        if a not in ancestors(b):
            raise ValueError(f"{a.value} and {b.value} are both many per record: ask about one of them at a time")


def _normalised(plan: Plan) -> Plan:
    sets: list[EntitySet] = [plan.source]

    def add(target: EntitySet) -> None:
        for s in join_path(sets[0], target)[1:]:  # the shortest known path, intermediates included
            if s not in sets:
                sets.append(s)

    def use(name: str) -> FieldDef:
        fd = _resolve(name, sets)
        _check_not_secret(fd)
        add(fd.set)
        return fd

    for s in plan.join:
        add(s)
    if plan.aggregates and plan.select:
        raise ValueError("a plan either lists fields (select) or aggregates them, not both")
    if not plan.aggregates and not plan.select:
        raise ValueError("a plan needs fields to select or aggregates to compute")
    if plan.group_by and not plan.aggregates:
        raise ValueError("group_by needs aggregates")
    select = [use(n).qualified for n in plan.select]
    filters = []
    for f in plan.filters:
        fd = use(f.field)
        filters.append(Filter.model_construct(field=fd.qualified, op=f.op, value=_typed_filter(fd, f)))
    aggregates = []
    for a in plan.aggregates:
        if a.field is None:
            if a.fn != AggFn.COUNT:
                raise ValueError(f"{a.fn.value} needs a field")
            aggregates.append(a)
            continue
        fd = use(a.field)
        if a.fn in (AggFn.SUM, AggFn.AVG) and fd.type not in ("int", "money"):
            raise ValueError(f"{a.fn.value} needs a number or money field, not {fd.qualified}")
        if a.fn in (AggFn.MIN, AggFn.MAX) and fd.type not in ("int", "money", "date"):
            raise ValueError(f"{a.fn.value} needs a number, money or date field, not {fd.qualified}")
        aggregates.append(Aggregate.model_construct(fn=a.fn, field=fd.qualified))
    labels = [a.label for a in aggregates]
    if len(set(labels)) != len(labels):
        raise ValueError("the same aggregate is asked twice")
    group_by = list(dict.fromkeys(use(n).qualified for n in plan.group_by))
    having = [_typed_having(h, aggregates) for h in plan.having]
    if having and not group_by:
        raise ValueError("having keeps some groups: it needs group_by")
    order_by = []
    for o in plan.order_by:
        if o.by in labels:
            order_by.append(o)
            continue
        fd = use(o.by)
        if aggregates and fd.qualified not in group_by:
            raise ValueError(f"an aggregate plan sorts by a grouped field or an aggregate, not {fd.qualified}")
        order_by.append(Order.model_construct(by=fd.qualified, descending=o.descending))
    _check_fan_out(sets)
    return Plan.model_construct(
        version=1,
        source=sets[0],
        join=sets[1:],
        select=select,
        filters=filters,
        aggregates=aggregates,
        group_by=group_by,
        having=having,
        order_by=order_by,
        limit=plan.limit,
    )


def _typed_having(h: Having, aggregates: list[Aggregate]) -> Having:
    """A group threshold checked against the plan's aggregates: a known label, whole numbers, a sane op."""
    agg = next((a for a in aggregates if a.label == h.by), None)
    if agg is None:
        raise ValueError(f"having names an aggregate of the plan (one of its labels), not {h.by!r}")
    if agg.fn in (AggFn.MIN, AggFn.MAX) and agg.field is not None and FIELDS[agg.field].type == "date":
        raise ValueError("having compares numbers and amounts, not dates")
    if h.op in (Op.IN, Op.CONTAINS):
        raise ValueError(f"having compares with =, !=, <, <=, >, >= or between, not {h.op.value!r}")
    if h.op == Op.BETWEEN:
        if not isinstance(h.value, list) or len(h.value) != 2 or h.value[0] > h.value[1]:
            raise ValueError("'between' takes exactly two values: low and high")
    elif isinstance(h.value, list):
        raise ValueError(f"'{h.op.value}' takes one value, not a list")
    return h


# --- description -----------------------------------------------------------------------------------

_OP_WORDS = {
    Op.EQ: "is",
    Op.NE: "is not",
    Op.LT: "is under",
    Op.LE: "is at most",
    Op.GT: "is over",
    Op.GE: "is at least",
    Op.IN: "is one of",
    Op.CONTAINS: "contains",
}
_DATE_OP_WORDS = {Op.LT: "is before", Op.LE: "is on or before", Op.GT: "is after", Op.GE: "is on or after"}
_AGG_WORDS = {
    AggFn.COUNT: "number",
    AggFn.COUNT_DISTINCT: "number of distinct",
    AggFn.SUM: "total",
    AggFn.AVG: "average",
    AggFn.MIN: "lowest",
    AggFn.MAX: "highest",
}


def money_text(cents: int) -> str:
    """Integer cents as ``$1,234.56`` (``-$5.00`` when negative)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def _value_text(fd: FieldDef, value: Any) -> str:
    if fd.type == "money" and isinstance(value, int):
        return money_text(value)
    if fd.type == "bool":
        return "yes" if value else "no"
    if fd.type == "text":
        return json.dumps(str(value), ensure_ascii=False)
    return str(value)


def _field_text(plan: Plan, qualified: str) -> str:
    fd = FIELDS[qualified]
    if not any(o.label == fd.label and o.set != fd.set and o.set in plan.sets for o in FIELDS.values()):
        return fd.label
    return f"{fd.label} ({SET_NOUN[fd.set][0]})"


def _filter_text(plan: Plan, f: Filter) -> str:
    fd = FIELDS[f.field]
    name = _field_text(plan, f.field)
    if f.op == Op.BETWEEN and isinstance(f.value, list):
        lo, hi = (_value_text(fd, v) for v in f.value)
        return f"{name} is between {lo} and {hi}"
    if f.op == Op.IN and isinstance(f.value, list):
        return f"{name} is one of " + ", ".join(_value_text(fd, v) for v in f.value)
    words = _DATE_OP_WORDS.get(f.op) if fd.type == "date" else None
    return f"{name} {words or _OP_WORDS[f.op]} {_value_text(fd, f.value)}"


_KIND_NOUNS = {"individual": "individual taxpayers", "business": "businesses", "exempt_org": "exempt organisations"}


def _kind_filter(plan: Plan) -> Filter | None:
    """The ``taxpayers.kind = X`` filter of a plan about taxpayers, which then names its records."""
    if plan.source != EntitySet.TAXPAYERS:
        return None
    return next((f for f in plan.filters if f.field == "taxpayers.kind" and f.op == Op.EQ), None)


def _source_noun(plan: Plan, *, first: bool = False) -> str:
    """What the plan counts or lists: "individual taxpayers", "businesses", or taxpayers of every kind
    (said in full the ``first`` time: the set holds every entity, while "taxpayers" in a question means people)."""
    kind = _kind_filter(plan)
    if kind is not None:
        return _KIND_NOUNS.get(str(kind.value), SET_NOUN[plan.source][1])
    every = plan.source == EntitySet.TAXPAYERS and not any(f.field == "taxpayers.kind" for f in plan.filters)
    if every and first:
        return "taxpayers of every kind (individuals, businesses, exempt organisations)"
    return SET_NOUN[plan.source][1]


def _aggregate_text(plan: Plan, a: Aggregate) -> str:
    noun = _source_noun(plan)
    if a.field is None:
        return f"number of {noun}"
    return f"{_AGG_WORDS[a.fn]} {_field_text(plan, a.field)}"


def _having_text(plan: Plan, h: Having) -> str:
    agg = next(a for a in plan.aggregates if a.label == h.by)
    money = agg.fn != AggFn.COUNT and agg.field is not None and FIELDS[agg.field].type == "money"

    def value(v: int) -> str:
        return money_text(v) if money else f"{v:,}"

    if h.op == Op.BETWEEN and isinstance(h.value, list):
        return f"{_aggregate_text(plan, agg)} is between {value(h.value[0])} and {value(h.value[1])}"
    assert isinstance(h.value, int)
    return f"{_aggregate_text(plan, agg)} {_OP_WORDS[h.op]} {value(h.value)}"


def _describe(plan: Plan) -> str:
    noun = _source_noun(plan, first=True)
    joined = ""
    if plan.join:
        joined = " (with their " + ", ".join(SET_NOUN[s][1] for s in plan.join) + ")"
    if plan.is_aggregate:
        if [a.label for a in plan.aggregates] == ["count"]:
            text = f"Count {noun}{joined}"
        else:
            what = ", ".join(_aggregate_text(plan, a) for a in plan.aggregates)
            text = f"Compute the {what} of {noun}{joined}"
    else:
        text = "List " + ", ".join(_field_text(plan, n) for n in plan.select) + f" of {noun}{joined}"
    kind = _kind_filter(plan)
    filters = [f for f in plan.filters if f is not kind]  # the noun says it: "individual taxpayers"
    if filters:
        text += " where " + " and ".join(_filter_text(plan, f) for f in filters)
    if plan.group_by:
        text += ", for each " + " and ".join(_field_text(plan, n) for n in plan.group_by)
    if plan.having:
        text += ", keeping only the groups where " + " and ".join(_having_text(plan, h) for h in plan.having)
    if plan.order_by:
        parts = []
        for o in plan.order_by:
            agg = next((a for a in plan.aggregates if a.label == o.by), None)
            name = _aggregate_text(plan, agg) if agg is not None else _field_text(plan, o.by)
            parts.append(f"{name}, {'highest' if o.descending else 'lowest'} first")
        text += "; sorted by " + "; then ".join(parts)
    if plan.limit is not None:
        text += f"; at most {plan.limit} " + ("groups" if plan.group_by else "rows")
    return text + "."
