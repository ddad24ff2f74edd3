"""Automated Underreporter (AUR): returns that left out income payers reported (CP2000).

The Automated Underreporter program matches what payers reported on information
returns (W-2, 1099) with what the taxpayer's Form 1040 shows; where the payers
report more, it proposes the additional tax in a CP2000. A CP2000 is a proposal,
not a bill: if the taxpayer does not resolve it, a statutory notice of deficiency
(CP3219A) follows (IRS Tax Topic 652; IRM 4.19.3). This module finds the
discrepancies and recomputes the tax; :mod:`taxvault.jobs.cycle` turns them
into notices.

How a return is matched
-----------------------
* Only original returns: Form 1040 rows on MFT 30 modules, the first filed per
  module (an amended or duplicate return is not the one the proposal starts from).
* The payee of an information return is matched by its resolved entity
  (``information_returns.payee_id``) and tax year. On a joint return (filing
  status MFJ) the information returns of both spouses (``returns.entity_id`` and
  ``returns.spouse_id``) count; on any other return only the filer's own.
  Information returns whose payee TIN was never resolved to an entity
  (``payee_id`` NULL) cannot be matched here.
* Forms and boxes, per income category (the lines :mod:`taxvault.model.tax`
  can recompute):

  ============================  ========  ===========================  ===========================
  category                      form      amount                       line on the return
  ============================  ========  ===========================  ===========================
  wages                         W-2       box 1 (``income_cents``)     wages
  nonemployee_compensation      1099-NEC  box 1 (``income_cents``)     business income (Sch. C)
  interest                      1099-INT  box 1 (``income_cents``)     taxable interest
  dividends                     1099-DIV  box 1a (``boxes``)           ordinary dividends
  retirement                    1099-R    box 2a taxable amount,       taxable pensions and
                                          else box 1 when 2a is        IRA distributions
                                          absent                       (``retirement_income``)
  ============================  ========  ===========================  ===========================

  ``income_cents`` is box 1 for W-2, 1099-NEC and 1099-INT as both the
  generator and ingest store them; 1099-DIV and 1099-R read the box from the
  ``boxes`` JSON, since their first box is not the taxable amount. A 1099-R
  without box 2a ("taxable amount not determined") is taken at its gross
  distribution, which the taxpayer may show to be less in the response.
* Forms the model cannot recompute are skipped: 1099-MISC (rents, royalties,
  other income), 1099-G (unemployment, state refunds), 1099-B (sales of
  securities), 1099-K, W-2G, 1098 (deductions), SSA-1099. So are the other boxes
  of the forms above (qualified dividends, capital-gain distributions, tax-exempt
  interest, withholding).
* Per category, the difference is the payers' total less the line on the
  return. Lines on a 1040 are whole dollars while payers report cents, so a
  difference under one dollar (:data:`ROUNDING_CENTS`) is the return's rounding,
  not income left out. Over-reporting in one category does not offset
  under-reporting in another (the omitted total is the sum of the positive
  differences), as a taxpayer does not cure an omitted 1099 by overstating wages.
* 1099-NEC is compared with the return's net business income: the model has no
  Schedule C gross-receipts line, which is what the real program compares it
  with. A filer with business expenses would look like an under-reporter here;
  the generator's filers have none.

How the tax is recomputed
-------------------------
With :func:`taxvault.model.tax.compute_returns` (the same code that computed the
filed returns), from the return's filing status and lines plus the omitted
amounts:

* the standard deduction as filed: the number of people aged 65 or older is read
  back from the return's deduction line (standard deduction plus the additional
  amount per person), because AUR does not re-examine the deduction;
* qualifying children: dependents on the return (``return_dependents``) under 17
  at the close of the tax year, i.e. born on or after 1 January of the year 16
  years earlier (IRC 24(c)(1); a child attains an age on the anniversary of her
  birth, Rev. Rul. 2003-72). The store does not keep the number of children the
  filer claimed (Schedule 8812), so this is derived, not read; a dependent
  without a birth date is not counted;
* social security wages for the self-employment tax room: the wages line (plus
  omitted wages), the model's own convention (:func:`compute_return`), in place
  of the filer's Schedule SE line 8a, which the store does not keep.

A return is only proposed on when the model reproduces it as filed: with nothing
added, the recomputation must give the filed AGI, taxable income and total tax
exactly. A return the model cannot reproduce (an itemized deduction, income or
credits the model lacks, inconsistent lines) is left for a person: an automated
proposal computed from a model that cannot explain the filed return would be
wrong by an unknown amount. :func:`match_returns` exposes which returns those are.

Tolerance
---------
The IRS does not publish its AUR tolerances (the public IRM 4.19.3 describes
the matching but not the dollar thresholds), so :data:`DEFAULT_TOLERANCE_CENTS`
is this project's choice: income left out must exceed $100, and the recomputed tax must
exceed the filed tax.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from taxvault.model.records import MFT, FilingStatus
from taxvault.model.tax import (
    STATUS_CODE,
    STATUSES,
    SUPPORTED_YEARS,
    ReturnInputs,
    UnsupportedTaxYear,
    compute_returns,
    standard_deduction,
)
from taxvault.store.tables import entities, information_returns, return_dependents, returns, tax_modules

I64 = NDArray[np.int64]

_log = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = ("wages", "nonemployee_compensation", "interest", "dividends", "retirement")
"""Income categories the model can recompute, in column order of the core's arrays."""

FORMS: tuple[str, ...] = ("W-2", "1099-NEC", "1099-INT", "1099-DIV", "1099-R")
"""The information return form of each category (same order as :data:`CATEGORIES`)."""

_RETURN_LINES: tuple[str, ...] = (
    "wages_cents",
    "business_income_cents",
    "interest_cents",
    "dividends_cents",
    "retirement_income_cents",
)

DEFAULT_TOLERANCE_CENTS: int = 100_00
"""Income left out must exceed $100 to be proposed on (a project choice: IRS tolerances are not public)."""

ROUNDING_CENTS = 100
"""A category difference under $1 is the 1040's whole-dollar rounding, not omitted income."""

ORIGINAL_RETURN_FORM = "1040"
_BATCH_MODULES = 5_000  # module ids per IN list (well under SQLite's parameter limit)
_BATCH_MODULES_PG = 50_000  # module ids per PostgreSQL array parameter
_RANGE_MODULES = 250_000  # module id range per pass when no module ids are given (bounded memory)


class UnderreporterError(Exception):
    """Base of the under-reporter errors."""


class InvalidTolerance(UnderreporterError, ValueError):
    """The tolerance is negative."""


class ShapeMismatch(UnderreporterError, ValueError):
    """The core's arrays do not line up (one row per return, one column per category)."""


@dataclass(frozen=True, slots=True)
class UnreportedLine:
    """One income category a payer reported beyond the return."""

    category: str
    form: str
    payer_name: str
    reported_by_payers_cents: int
    reported_on_return_cents: int

    @property
    def difference_cents(self) -> int:
        """Income the return left out in this category."""
        return self.reported_by_payers_cents - self.reported_on_return_cents


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A return that left out income beyond the tolerance, and the tax proposed on it."""

    module_id: int
    return_id: int
    entity_id: int
    tax_year: int
    items: tuple[UnreportedLine, ...]
    omitted_cents: int
    reported_tax_cents: int
    recomputed_tax_cents: int
    proposed_increase_cents: int


# --- pure core: numpy arrays in, proposals out (no database) -----------------


@dataclass(frozen=True, slots=True)
class FiledColumns:
    """What the filed returns show, one element (row) per return, amounts in cents.

    ``reported`` has one column per :data:`CATEGORIES` entry (the return's
    lines). ``deduction``, ``agi`` and ``taxable_income`` are the filed lines
    used to read back the standard deduction and check the model reproduces the
    return; ``total_tax`` is the tax as filed.
    """

    status_codes: NDArray[np.int8]
    reported: I64
    children_under_17: NDArray[np.int16]
    deduction: I64
    agi: I64
    taxable_income: I64
    total_tax: I64

    def __len__(self) -> int:
        return len(self.status_codes)


@dataclass(frozen=True, slots=True)
class Proposals:
    """The core's verdict per return (same order as the input)."""

    omitted: I64
    """(n, categories): income left out per category (0 where none or under $1)."""
    omitted_total: I64
    recomputed_tax: I64
    """Total tax with the omitted income added (only meaningful where ``reproducible``)."""
    proposed_increase: I64
    reproducible: NDArray[np.bool_]
    """The model gives the filed AGI, taxable income and total tax with nothing added."""
    flagged: NDArray[np.bool_]
    """Reproducible, omitted total over the tolerance and a positive increase."""


def aged_65_from_deduction(status_codes: NDArray[np.int8], deduction: I64, year: int) -> NDArray[np.int8]:
    """People aged 65 or older implied by a filed standard deduction; -1 where it is not one.

    The filed deduction is the standard deduction for the status plus the
    additional amount per person aged 65 or older (at most two); anything else
    (an itemized deduction) gives -1.
    """
    aged = np.full(len(status_codes), -1, dtype=np.int8)
    for code, status in enumerate(STATUSES):
        for n in (0, 1, 2):
            aged[(status_codes == code) & (deduction == standard_deduction(year, status, n) * 100)] = n
    return aged


def children_born_on_or_after(year: int) -> dt.date:
    """The earliest birth date of a child under 17 at the close of ``year`` (IRC 24(c); Rev. Rul. 2003-72)."""
    return dt.date(year - 16, 1, 1)


def _inputs(filed: FiledColumns, lines: I64, aged: NDArray[np.int8]) -> ReturnInputs:
    n = len(filed)
    zeros = np.zeros(n, dtype=np.int64)
    wages = lines[:, 0]
    return ReturnInputs(
        status_codes=filed.status_codes,
        wages=wages,
        interest=lines[:, 2],
        dividends=lines[:, 3],
        business_income=lines[:, 1],
        retirement_income=lines[:, 4],
        withholding=zeros,  # payments do not change the total tax
        estimated_payments=zeros,
        children_under_17=filed.children_under_17,
        aged_65=np.maximum(aged, 0).astype(np.int8),
        ss_wages=wages,
    )


def propose(filed: FiledColumns, from_payers: I64, year: int, tolerance_cents: int) -> Proposals:
    """Compare payers' totals with the filed lines and recompute the tax of every return.

    ``from_payers`` has the same shape as ``filed.reported``: per return and
    category, the total the payers reported (cents). All returns are of ``year``.
    """
    if tolerance_cents < 0:
        raise InvalidTolerance("the tolerance must be zero or more cents")
    reported = np.asarray(filed.reported, dtype=np.int64)
    payers = np.asarray(from_payers, dtype=np.int64)
    if payers.shape != reported.shape or reported.shape[1:] != (len(CATEGORIES),):
        raise ShapeMismatch("payer totals and return lines must both be (returns, categories)")
    difference = payers - reported
    omitted = np.where(difference >= ROUNDING_CENTS, difference, 0)
    omitted_total = omitted.sum(axis=1)
    aged = aged_65_from_deduction(filed.status_codes, filed.deduction, year)
    as_filed = compute_returns(_inputs(filed, reported, aged), year)
    reproducible = (
        (aged >= 0)
        & (as_filed["agi_cents"] == filed.agi)
        & (as_filed["taxable_income_cents"] == filed.taxable_income)
        & (as_filed["total_tax_cents"] == filed.total_tax)
    )
    recomputed = compute_returns(_inputs(filed, reported + omitted, aged), year)["total_tax_cents"]
    increase = recomputed - filed.total_tax
    flagged = reproducible & (omitted_total > tolerance_cents) & (increase > 0)
    return Proposals(
        omitted=omitted,
        omitted_total=omitted_total,
        recomputed_tax=recomputed,
        proposed_increase=np.maximum(increase, 0),
        reproducible=reproducible,
        flagged=flagged,
    )


# --- SQL layer: aggregates per return, category and payer -------------------


@dataclass(frozen=True, slots=True)
class MatchedReturns:
    """Original returns with their payers' totals, as the SQL layer feeds the core.

    ``top_payer_id`` is, per return and category, the payer entity with the
    largest amount (0 when none or unknown).
    """

    return_id: I64
    module_id: I64
    entity_id: I64
    tax_year: I64
    filed: FiledColumns
    from_payers: I64
    top_payer_id: I64

    def __len__(self) -> int:
        return len(self.return_id)


def _years(tax_years: Sequence[int] | None) -> list[int]:
    if tax_years is None:
        return list(SUPPORTED_YEARS)
    years = sorted({int(y) for y in tax_years})
    for y in years:
        if y not in SUPPORTED_YEARS:
            raise UnsupportedTaxYear(f"no tax tables for {y}; supported: {SUPPORTED_YEARS}")
    return years


def _module_filters(conn: Connection, module_ids: Sequence[int] | None) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions on ``returns.module_id``, one per batch, so memory and IN lists stay bounded."""
    col = returns.c.module_id
    if module_ids is not None:
        wanted = sorted({int(m) for m in module_ids})
        if conn.dialect.name == "postgresql":
            # One array parameter (= ANY) rather than thousands of IN parameters: PostgreSQL
            # binds and plans it in a fraction of the time, so batches can be larger.
            for i in range(0, len(wanted), _BATCH_MODULES_PG):
                batch = wanted[i : i + _BATCH_MODULES_PG]
                yield col == sa.any_(sa.literal(batch, postgresql.ARRAY(sa.BigInteger)))
            return
        for i in range(0, len(wanted), _BATCH_MODULES):
            yield col.in_(wanted[i : i + _BATCH_MODULES])
        return
    lo, hi = conn.execute(sa.select(sa.func.min(col), sa.func.max(col))).one()
    if lo is None:
        return
    for start in range(int(lo), int(hi) + 1, _RANGE_MODULES):
        yield col.between(start, start + _RANGE_MODULES - 1)


def _amount() -> sa.ColumnElement[int]:
    """The taxable amount of an information return for its category (see the module docstring)."""
    ir = information_returns

    def box(key: str) -> sa.ColumnElement[int]:
        return sa.cast(ir.c.boxes[key].as_string(), sa.BigInteger)

    return sa.case(
        (ir.c.form == "1099-DIV", sa.func.coalesce(box("1a"), 0)),
        (ir.c.form == "1099-R", sa.func.coalesce(box("2a"), ir.c.income_cents)),
        else_=ir.c.income_cents,
    )


def _columns(rows: Sequence[Any], width: int) -> I64:
    """Integer result rows as an (n, width) array, without a Python object per cell."""
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows) * width)
    return flat.reshape(len(rows), width)


def _load_batch(conn: Connection, years: list[int], batch: sa.ColumnElement[bool]) -> MatchedReturns | None:
    r, m = returns, tax_modules
    where = (m.c.mft == int(MFT.FORM_1040)) & (r.c.form == ORIGINAL_RETURN_FORM) & r.c.tax_year.in_(years) & batch
    lines = [r.c[name] for name in _RETURN_LINES]
    filed_rows = conn.execute(
        sa.select(
            r.c.id,
            r.c.module_id,
            r.c.entity_id,
            r.c.tax_year,
            *lines,
            r.c.deduction_cents,
            r.c.agi_cents,
            r.c.taxable_income_cents,
            r.c.total_tax_cents,
            sa.case({s.value: STATUS_CODE[s] for s in FilingStatus}, value=r.c.filing_status, else_=-1),
        )
        .join(m, m.c.id == r.c.module_id)
        .where(where)
        .order_by(r.c.module_id, r.c.filed_date, r.c.id)
    ).all()
    if not filed_rows:
        return None
    num = _columns(filed_rows, 4 + len(lines) + 5)
    statuses = num[:, -1].astype(np.int8)
    first = np.ones(len(num), dtype=bool)
    first[1:] = num[1:, 1] != num[:-1, 1]  # the first filed 1040 of each module is the original
    num, statuses = num[first], statuses[first]
    order = np.argsort(num[:, 0], kind="stable")  # by return id, for searchsorted
    num, statuses = num[order], statuses[order]
    return_id = num[:, 0]
    n = len(return_id)

    # Qualifying children: dependents under 17 at the close of the return's tax year.
    cutoff = sa.case(
        *[(r.c.tax_year == y, sa.literal(children_born_on_or_after(y), sa.Date)) for y in years],
    )
    kids = np.zeros(n, dtype=np.int16)
    kid_rows = conn.execute(
        sa.select(return_dependents.c.return_id, sa.cast(sa.func.count(), sa.BigInteger))
        .select_from(return_dependents)
        .join(r, r.c.id == return_dependents.c.return_id)
        .join(m, m.c.id == r.c.module_id)
        .join(entities, entities.c.id == return_dependents.c.entity_id)
        .where(where & (entities.c.birth_date >= cutoff))
        .group_by(return_dependents.c.return_id)
    ).all()
    if kid_rows:
        k = _columns(kid_rows, 2)
        pos = np.searchsorted(return_id, k[:, 0])
        ok = (pos < n) & (return_id[np.minimum(pos, n - 1)] == k[:, 0])
        kids[pos[ok]] = k[ok, 1]

    # Payers' totals per return, form and payer: the filer, and the spouse on a joint return.
    ir = information_returns
    filers = sa.union_all(
        sa.select(r.c.id.label("return_id"), r.c.entity_id.label("payee_id"), r.c.tax_year)
        .join(m, m.c.id == r.c.module_id)
        .where(where),
        sa.select(r.c.id, r.c.spouse_id, r.c.tax_year)
        .join(m, m.c.id == r.c.module_id)
        .where(where & r.c.spouse_id.is_not(None) & (r.c.filing_status == FilingStatus.MARRIED_JOINT.value)),
    ).subquery("filers")
    form_code = sa.case(*[(ir.c.form == f, i) for i, f in enumerate(FORMS)])
    payer = sa.func.coalesce(ir.c.payer_id, 0)
    ir_rows = conn.execute(
        sa.select(filers.c.return_id, form_code, payer, sa.cast(sa.func.sum(_amount()), sa.BigInteger))
        .select_from(filers)
        .join(ir, (ir.c.payee_id == filers.c.payee_id) & (ir.c.tax_year == filers.c.tax_year))
        .where(ir.c.form.in_(FORMS))
        .group_by(filers.c.return_id, form_code, payer)
    ).all()
    from_payers = np.zeros((n, len(CATEGORIES)), dtype=np.int64)
    top_payer = np.zeros((n, len(CATEGORIES)), dtype=np.int64)
    if ir_rows:
        g = _columns(ir_rows, 4)
        pos = np.searchsorted(return_id, g[:, 0])
        ok = (pos < n) & (return_id[np.minimum(pos, n - 1)] == g[:, 0])  # duplicates dropped above
        g, pos = g[ok], pos[ok]
        cell = pos * len(CATEGORIES) + g[:, 1]
        np.add.at(from_payers.reshape(-1), cell, g[:, 3])
        best = np.lexsort((-g[:, 3], cell))  # per cell, largest amount first
        lead = np.ones(len(best), dtype=bool)
        lead[1:] = cell[best][1:] != cell[best][:-1]
        top_payer.reshape(-1)[cell[best][lead]] = g[best][lead, 2]

    k0 = 4
    k1 = k0 + len(lines)
    filed = FiledColumns(
        status_codes=statuses,
        reported=np.ascontiguousarray(num[:, k0:k1]),
        children_under_17=kids,
        deduction=num[:, k1],
        agi=num[:, k1 + 1],
        taxable_income=num[:, k1 + 2],
        total_tax=num[:, k1 + 3],
    )
    return MatchedReturns(
        return_id=return_id,
        module_id=num[:, 1],
        entity_id=num[:, 2],
        tax_year=num[:, 3],
        filed=filed,
        from_payers=from_payers,
        top_payer_id=top_payer,
    )


def match_returns(
    conn: Connection,
    *,
    tax_years: Sequence[int] | None = None,
    module_ids: Sequence[int] | None = None,
) -> Iterator[MatchedReturns]:
    """Original returns and their payers' totals, in batches of modules (for the core and for checks)."""
    years = _years(tax_years)
    if not years:
        return
    for batch in _module_filters(conn, module_ids):
        matched = _load_batch(conn, years, batch)
        if matched is not None:
            yield matched


def _subset(filed: FiledColumns, mask: NDArray[np.bool_]) -> FiledColumns:
    return FiledColumns(
        status_codes=filed.status_codes[mask],
        reported=filed.reported[mask],
        children_under_17=filed.children_under_17[mask],
        deduction=filed.deduction[mask],
        agi=filed.agi[mask],
        taxable_income=filed.taxable_income[mask],
        total_tax=filed.total_tax[mask],
    )


def propose_matched(matched: MatchedReturns, tolerance_cents: int) -> Proposals:
    """Run the core over a batch that may hold several tax years (the model computes one year at a time)."""
    n = len(matched)
    width = len(CATEGORIES)
    out = Proposals(
        omitted=np.zeros((n, width), dtype=np.int64),
        omitted_total=np.zeros(n, dtype=np.int64),
        recomputed_tax=np.zeros(n, dtype=np.int64),
        proposed_increase=np.zeros(n, dtype=np.int64),
        reproducible=np.zeros(n, dtype=bool),
        flagged=np.zeros(n, dtype=bool),
    )
    for year in np.unique(matched.tax_year).tolist():
        mask = matched.tax_year == year
        p = propose(_subset(matched.filed, mask), matched.from_payers[mask], int(year), tolerance_cents)
        out.omitted[mask] = p.omitted
        out.omitted_total[mask] = p.omitted_total
        out.recomputed_tax[mask] = p.recomputed_tax
        out.proposed_increase[mask] = p.proposed_increase
        out.reproducible[mask] = p.reproducible
        out.flagged[mask] = p.flagged
    return out


def _payer_names(conn: Connection, ids: set[int]) -> dict[int, str]:
    """Display names of payer entities (business name, else an individual's first and last name)."""
    e = entities
    names: dict[int, str] = {}
    wanted = sorted(ids)
    for i in range(0, len(wanted), _BATCH_MODULES):
        for pid, business, first, last in conn.execute(
            sa.select(e.c.id, e.c.business_name, e.c.first_name, e.c.last_name).where(
                e.c.id.in_(wanted[i : i + _BATCH_MODULES])
            )
        ):
            person = " ".join(p for p in (first, last) if p)
            names[int(pid)] = (business or person or "").strip()
    return names


def find_discrepancies(
    conn: Connection,
    *,
    tax_years: Sequence[int] | None = None,
    module_ids: Sequence[int] | None = None,
    tolerance_cents: int = DEFAULT_TOLERANCE_CENTS,
) -> list[Discrepancy]:
    """Original 1040 returns that left out more than ``tolerance_cents`` of reported income.

    Only returns the model reproduces as filed are proposed on (see the module
    docstring); the count of the others is logged. ``tax_years`` defaults to
    every year the model has tables for (an explicit unsupported year raises
    :class:`UnsupportedTaxYear`); ``module_ids`` restricts the match to those
    modules. Results are ordered by module id.
    """
    if tolerance_cents < 0:
        raise InvalidTolerance("the tolerance must be zero or more cents")
    found: list[Discrepancy] = []
    checked = unreproducible = 0
    for matched in match_returns(conn, tax_years=tax_years, module_ids=module_ids):
        p = propose_matched(matched, tolerance_cents)
        checked += len(matched)
        unreproducible += int((~p.reproducible).sum())
        rows = np.flatnonzero(p.flagged)
        if not len(rows):
            continue
        names = _payer_names(conn, {int(v) for v in matched.top_payer_id[rows].ravel().tolist() if v})
        for i in rows.tolist():
            items = tuple(
                UnreportedLine(
                    category=CATEGORIES[c],
                    form=FORMS[c],
                    payer_name=names.get(int(matched.top_payer_id[i, c]), ""),
                    reported_by_payers_cents=int(matched.from_payers[i, c]),
                    reported_on_return_cents=int(matched.filed.reported[i, c]),
                )
                for c in np.flatnonzero(p.omitted[i]).tolist()
            )
            found.append(
                Discrepancy(
                    module_id=int(matched.module_id[i]),
                    return_id=int(matched.return_id[i]),
                    entity_id=int(matched.entity_id[i]),
                    tax_year=int(matched.tax_year[i]),
                    items=items,
                    omitted_cents=int(p.omitted_total[i]),
                    reported_tax_cents=int(matched.filed.total_tax[i]),
                    recomputed_tax_cents=int(p.recomputed_tax[i]),
                    proposed_increase_cents=int(p.proposed_increase[i]),
                )
            )
    found.sort(key=lambda d: d.module_id)
    _log.info(
        "underreporter: %d original returns matched, %d discrepancies, %d not reproducible by the model",
        checked,
        len(found),
        unreproducible,
    )
    return found
