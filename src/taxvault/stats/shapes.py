"""The fixed shapes an analyst may ask for: a count, or a bounded sum, of returns or
information returns, by state, year, form or filing status, optionally filtered.

Each shape compiles to one SQLAlchemy Core statement (SQLite and PostgreSQL alike) that
bounds each taxpayer's contribution (at most ``max_contributions`` records, by a window
over the taxpayer) and clamps each record's value to the bounds, then groups. Its groups
are drawn from public lists (states, the years asked, the forms), never from the data.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import Connection

from taxvault.errors import Invalid
from taxvault.stats.mechanisms import Mechanism
from taxvault.stats.release import DEFAULT_K, GroupTruth, Key, Measure, Spec
from taxvault.store.tables import entities, information_returns, returns

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
)
STATES: tuple[str, ...] = tuple(_STATE_CODES.split())
FILING_STATUSES = ("S", "MFJ", "MFS", "HOH", "QSS")
RETURN_FORMS = ("1040",)
INFORMATION_FORMS = ("W-2", "1099-NEC", "1099-INT", "1099-DIV", "1099-MISC", "1099-R", "1099-G", "1099-B")
FIRST_YEAR = 2015

Dataset = Literal["returns", "information_returns"]
GroupBy = Literal["state", "year", "form", "filing_status"]

SUM_FIELDS: dict[str, tuple[str, ...]] = {
    "returns": (
        "wages_cents", "interest_cents", "dividends_cents", "business_income_cents", "retirement_income_cents",
        "total_income_cents", "agi_cents", "deduction_cents", "taxable_income_cents", "tax_cents", "credits_cents",
        "total_tax_cents", "withholding_cents", "payments_cents", "refund_cents", "balance_due_cents",
    ),
    "information_returns": ("income_cents", "withholding_cents"),
}  # fmt: skip
"""Money fields a sum may add up (integer cents); nothing that names or locates anyone."""


class Shape(BaseModel):
    """One differentially private aggregate, as asked (CLI options or the ``/v1/stats`` body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: Measure = Field(description="count records, or sum a money field")
    dataset: Dataset = "returns"
    field: str | None = Field(default=None, description="the money field a sum adds (cents), e.g. wages_cents")
    by: tuple[GroupBy, ...] = Field(default=(), max_length=2, description="group by up to two of state/year/form")
    year: int | None = Field(default=None, ge=FIRST_YEAR, le=2100)
    form: str | None = Field(default=None, max_length=10)
    state: str | None = Field(default=None, min_length=2, max_length=2)
    bounds_cents: tuple[int, int] | None = Field(default=None, description="per-record clamp of the summed value")
    epsilon: float = Field(default=0.5, ge=0.001, le=10)
    mechanism: Mechanism = "laplace"
    delta: float = Field(default=0.0, ge=0, lt=1e-3)
    k: int = Field(default=DEFAULT_K, ge=DEFAULT_K, le=10_000, description="minimum cell size (at least the default)")
    max_contributions: int | None = Field(default=None, ge=1, le=100, description="records per taxpayer (or: shape's)")

    @field_validator("by")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("group by each dimension once")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Shape:
        if self.measure == "sum":
            if self.field not in SUM_FIELDS[self.dataset]:
                raise ValueError(f"a sum of {self.dataset} adds one of: {', '.join(SUM_FIELDS[self.dataset])}")
            if self.bounds_cents is None:
                raise ValueError("a sum needs bounds_cents: the least and greatest value one record may add")
        elif self.field is not None or self.bounds_cents is not None:
            raise ValueError("a count takes no field and no bounds")
        if self.dataset == "information_returns" and "filing_status" in self.by:
            raise ValueError("information returns have no filing status")
        if self.state is not None and self.state not in STATES:
            raise ValueError("unknown state code")
        if self.form is not None and self.form not in self.forms():
            raise ValueError(f"{self.dataset} forms are: {', '.join(self.forms())}")
        return self

    def forms(self) -> tuple[str, ...]:
        return RETURN_FORMS if self.dataset == "returns" else INFORMATION_FORMS

    def years(self, today: dt.date | None = None) -> tuple[int, ...]:
        if self.year is not None:
            return (self.year,)
        last = (today or dt.date.today()).year
        return tuple(range(FIRST_YEAR, last + 1))

    def contributions(self, today: dt.date | None = None) -> int:
        """Records one taxpayer may add: one return a year; a few information returns a year per form."""
        if self.max_contributions is not None:
            return self.max_contributions
        years = len(self.years(today))
        per_year = 1 if self.dataset == "returns" else (2 if self.form is not None else 4)
        return min(100, per_year * years)

    def spec(self, today: dt.date | None = None) -> Spec:
        return Spec(
            measure=self.measure,
            epsilon=self.epsilon,
            mechanism=self.mechanism,
            delta=self.delta,
            bounds=self.bounds_cents,
            max_contributions=self.contributions(today),
            k=self.k,
        )

    def description(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def clamp(value: sa.ColumnElement[Any], lo: int, hi: int) -> sa.ColumnElement[Any]:
    """``value`` clamped to ``[lo, hi]`` in SQL (a bounded sum adds clamped values only)."""
    return sa.case((value < lo, sa.literal(lo)), (value > hi, sa.literal(hi)), else_=value)


def _domain(shape: Shape, dim: str, today: dt.date | None) -> tuple[str | int, ...]:
    if dim == "state":
        return (shape.state,) if shape.state else STATES
    if dim == "year":
        return shape.years(today)
    if dim == "form":
        return (shape.form,) if shape.form else shape.forms()
    return FILING_STATUSES


def statement(shape: Shape, today: dt.date | None = None) -> sa.Select[Any]:
    """The true aggregates per group, contributions bounded and values clamped."""
    e = entities.alias("tp")
    if shape.dataset == "returns":
        r = returns
        unit, record_id = r.c.entity_id, r.c.id
        src = r.join(e, e.c.id == r.c.entity_id)
        cols = {"state": e.c.state, "year": r.c.tax_year, "form": r.c.form, "filing_status": r.c.filing_status}
    else:
        r = information_returns
        unit, record_id = r.c.payee_id, r.c.id
        src = r.join(e, e.c.id == r.c.payee_id)
        cols = {"state": e.c.state, "year": r.c.tax_year, "form": r.c.form}
    conds: list[sa.ColumnElement[bool]] = [cols["year"].in_(shape.years(today))]
    if shape.form is not None:
        conds.append(cols["form"] == shape.form)
    if shape.state is not None:
        conds.append(cols["state"] == shape.state)
    value: sa.ColumnElement[Any] = sa.literal(0)
    if shape.measure == "sum":
        assert shape.field is not None and shape.bounds_cents is not None
        value = clamp(r.c[shape.field], *shape.bounds_cents)
    m = shape.contributions(today)
    inner = (
        sa.select(
            *(cols[d].label(d) for d in shape.by),
            value.label("v"),
            sa.func.row_number().over(partition_by=unit, order_by=record_id).label("rn"),
        )
        .select_from(src)
        .where(*conds)
        .subquery("bounded")
    )
    keys = [inner.c[d] for d in shape.by]
    return (
        sa.select(*keys, sa.func.count().label("n"), sa.func.coalesce(sa.func.sum(inner.c.v), 0).label("total"))
        .where(inner.c.rn <= m)
        .group_by(*keys)
    )


def truths(conn: Connection, shape: Shape, today: dt.date | None = None) -> list[GroupTruth]:
    """True aggregates for every group of the shape's public domain (0 where none)."""
    found: dict[Key, tuple[int, int]] = {}
    for row in conn.execute(statement(shape, today)):
        key = tuple(row[: len(shape.by)])
        found[key] = (int(row.n), int(row.total))
    domains = [_domain(shape, d, today) for d in shape.by]
    out: list[GroupTruth] = []
    for key in itertools.product(*domains):
        n, total = found.get(tuple(key), (0, 0))
        out.append(GroupTruth(tuple(key), n, total))
    if len(out) > 5000:
        raise Invalid("too many groups")
    return out
