"""Penalties and interest as of any date, and the payoff amount.

Why computed and never posted here: accruals change every day, so storing them
would make every balance stale by tomorrow. What is owed on a date is derived
from the posted transactions and the module's due and filing dates; posting an
assessed penalty (TC 166/276) or interest (TC 196) is a later step.

Law and sources
---------------
* IRC 6651(a)(1) failure to file: 5% of the net tax for each month or part of a
  month the return is late, at most 25% (five months).
* IRC 6651(a)(2) failure to pay: 0.5% for each month or part of a month, at most
  25%, on the tax shown less what was paid on or before the start of the month
  (IRC 6651(b)(2)).
* IRC 6651(c)(1): in a month both apply, the failure-to-file amount is reduced by
  the failure-to-pay amount (4.5% + 0.5%).
* IRC 6651(a) flush language: a return more than 60 days late pays at least the
  lesser of a dollar amount (inflation-indexed by the year the return is
  required to be filed) or 100% of the net tax. Amounts: :data:`MINIMUM_FTF_CENTS`.
* IRC 6621(a)(2) underpayment rate (federal short-term rate + 3 points, set
  each calendar quarter) compounded daily (IRC 6622(a)), over 365 or 366 days
  (Rev. Proc. 95-17). Rates: :data:`UNDERPAYMENT_RATES`.
* The "month" of 6651 ends on the day of the month matching the due date
  (26 CFR 301.6651-1(b)(2)). Net tax excludes payments and credits made on or
  before the due date (IRC 6651(b)(1)); withholding and refundable credits count
  as paid on the due date (IRC 6513(b)).

Model (simplifications, stated so they are not mistaken for law)
----------------------------------------------------------------
* Tax assessments (TC 150/290/300 and their abatements) and withholding-type
  credits are effective on the due date; payments and refunds on their posted
  date (a payment before the due date counts on the due date).
* Interest runs on the unpaid tax from the due date; a day ``D`` accrues on the
  balance outstanding at its start, and a credit dated ``D`` applies at its end
  (interest to the date of payment). A credit exceeding the tax pays accrued
  interest. Interest on penalties (IRC 6601(e)(2)) and overpayment interest are
  not computed yet; nor is the IRC 6651(d) 1% rate after a levy notice, nor the
  IRC 7503 weekend/holiday shift of the due date, nor extensions.
* Penalties are computed on the tax as assessed (including later TC 290/300);
  IRC 6651(a)(3) for additional assessments is not separated yet.

Rounding (the only points where fractions of a cent are dropped)
----------------------------------------------------------------
* Accrued interest is rounded half up to the cent when a credit is applied
  against it and at the payoff date; between those points it is exact
  (``Decimal``, 50 significant digits).
* Each penalty is computed exactly (rational) over all its months and rounded
  half up to the cent once.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.errors import Invalid
from taxvault.ledger.codes import CODES, ORIGINAL_RETURN_TC, Kind
from taxvault.ledger.posting import ModuleNotFound, Posted, load_posted
from taxvault.store.tables import returns, tax_modules, transactions


class AccrualError(Exception):
    """Base of the accrual errors."""


class RateNotPublished(AccrualError):
    """Interest is asked for a day whose quarterly rate is not in the table."""


def accrual_invalid(exc: AccrualError) -> Invalid:
    """The error a caller sees: why accruals cannot be computed, and the fix when there is one."""
    hint = None
    if isinstance(exc, RateNotPublished):
        _, until = published_rates()
        hint = (
            f"the underpayment rate table ends on {until.isoformat()}: add the quarters the IRS has published "
            f"since to the CSV named by {RATES_FILE_ENV} (quarter_start,percent,source)"
        )
    return Invalid(f"cannot compute accruals for that date: {type(exc).__name__}", code="accruals", hint=hint)


class MinimumPenaltyUnknown(AccrualError):
    """The 60-day minimum failure-to-file amount for that filing year is not in the table."""


class UnsupportedMFT(AccrualError):
    """No due-date rule for this master file tax code."""


@dataclass(frozen=True, slots=True)
class Rate:
    """One published quarterly underpayment rate (percent per year), from ``start``."""

    start: dt.date
    percent: int
    source: str
    uncertain: bool = False


def _q(year: int, quarter: int) -> dt.date:
    return dt.date(year, 3 * quarter - 2, 1)


# Non-corporate underpayment rates, IRC 6621(a)(2). Sources as in docs/irs-facts.md
# section 5; "UNCERTAIN" ones could not be confirmed from an IRS release here.
UNDERPAYMENT_RATES: tuple[Rate, ...] = (
    # 2023 Q1-Q3 7%: from memory and IR-2023-154 announcing an *increase* to 8% for
    # Q4; the Q1-Q3 releases themselves were not seen. UNCERTAIN.
    Rate(_q(2023, 1), 7, "IR-2022-209 (not seen); IR-2023-154 implies 7% before Q4", uncertain=True),
    Rate(_q(2023, 4), 8, "IR-2023-154"),
    Rate(_q(2024, 1), 8, "IRS quarterly releases, 2024 (8% all quarters)"),
    Rate(_q(2025, 1), 7, "Rev. Rul. 2024-25 and later quarterly rulings (7% all of 2025)"),
    Rate(_q(2026, 1), 7, "Rev. Rul. 2025-22"),
    # 2026 Q2 6%: one secondary source only (legalclarity.org, "IRS Underpayment
    # Interest Rate: How It's Set and Adjusted"); the IRS release was not found. UNCERTAIN.
    Rate(_q(2026, 2), 6, "legalclarity.org (secondary)", uncertain=True),
)
RATES_KNOWN_UNTIL = dt.date(2026, 6, 30)
"""Last day :data:`UNDERPAYMENT_RATES` covers; later quarters raise :class:`RateNotPublished`."""

# Minimum failure-to-file addition for a return more than 60 days late, by the
# year the return is required to be filed (IRC 6651(a) flush language, indexed by
# IRC 6651(j)). UNCERTAIN: taken from secondary sources (docs/irs-facts.md section 5;
# ourtaxpartner.com and inquisitrs.com give $485 for returns due in 2024 and $510
# for 2025; stanleyfoodsinc.com gives $525 without a year, docs/irs-facts.md assigns it
# to 2026). The Rev. Procs. (2023-34, 2024-40, 2025-32) were not read; sources
# differ by a year on which filing year each amount applies to.
MINIMUM_FTF_CENTS: dict[int, int] = {
    2020: 43_500,
    2021: 43_500,
    2022: 43_500,
    2023: 45_000,
    2024: 48_500,
    2025: 51_000,
    2026: 52_500,
}


RATES_FILE_ENV = "TAXVAULT_UNDERPAYMENT_RATES"
"""A CSV the agency keeps (``quarter_start,percent,source`` per line) with the quarters
published after this release: rates are data the agency maintains as the IRS
publishes them each quarter, not code. Each line must start the quarter right after
the previous one, so the table never has a gap."""


class RateFileError(AccrualError):
    """The agency's rate file is malformed (one clear line says where)."""


@functools.cache
def _agency_rates(path: str, mtime_ns: int) -> tuple[Rate, ...]:
    del mtime_ns  # part of the cache key only: an edited file is read again
    found: list[Rate] = []
    expected = _next_quarter(UNDERPAYMENT_RATES[-1].start)
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#") or row[0] == "quarter_start":
                continue
            try:
                start = dt.date.fromisoformat(row[0].strip())
                percent = int(row[1])
                source = row[2].strip()
            except (ValueError, IndexError):
                raise RateFileError(f"{path}:{n}: expected quarter_start,percent,source") from None
            if start <= UNDERPAYMENT_RATES[-1].start:
                continue  # a quarter the release already has: the release's value stands
            if start != expected or not 0 <= percent <= 30 or not source:
                raise RateFileError(f"{path}:{n}: expected the quarter starting {expected.isoformat()}, 0-30 percent")
            found.append(Rate(start, percent, source))
            expected = _next_quarter(start)
    return tuple(found)


def _next_quarter(start: dt.date) -> dt.date:
    return add_months(start, 3)


def published_rates() -> tuple[tuple[Rate, ...], dt.date]:
    """The rate table (the release's plus the agency file's quarters) and the last day it covers."""
    path = os.environ.get(RATES_FILE_ENV)
    if not path:
        return UNDERPAYMENT_RATES, RATES_KNOWN_UNTIL
    try:
        extra = _agency_rates(path, os.stat(path).st_mtime_ns)
    except OSError:
        raise RateFileError(f"{RATES_FILE_ENV} names a file that cannot be read") from None
    if not extra:
        return UNDERPAYMENT_RATES, RATES_KNOWN_UNTIL
    return UNDERPAYMENT_RATES + extra, _next_quarter(extra[-1].start) - dt.timedelta(days=1)


def underpayment_rate(day: dt.date) -> Rate:
    """The rate in force on ``day``."""
    rates, until = published_rates()
    if day < rates[0].start or day > until:
        raise RateNotPublished(day.isoformat())
    current = rates[0]
    for r in rates:
        if r.start <= day:
            current = r
    return current


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` later, clamped to the month's last day."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (nxt - dt.timedelta(days=1)).day))


def return_due_date(mft: int, tax_period: int) -> dt.date:
    """Statutory due date of the return for a module (no extension, no IRC 7503 shift).

    MFT 30/05 (1040, 1041) and 02 (1120, tax years after 2015): 15th day of the
    4th month after the period (IRC 6072(a)); MFT 67 (990): 15th day of the 5th
    month (IRC 6072(e)); MFT 01 (941): last day of the month after the quarter.
    """
    end = dt.date(tax_period // 100, tax_period % 100, 1)
    if mft in (30, 5, 2):
        return add_months(end, 4).replace(day=15)
    if mft == 67:
        return add_months(end, 5).replace(day=15)
    if mft == 1:
        return add_months(end, 2) - dt.timedelta(days=1)
    raise UnsupportedMFT(mft)


@dataclass(frozen=True, slots=True)
class Terms:
    """What the accruals need beyond the transactions: when the return was due and filed."""

    due_date: dt.date
    filed_date: dt.date | None


@dataclass(frozen=True, slots=True)
class Payoff:
    """What settles the module on a date, in integer cents."""

    tax: int
    penalty_ftf: int
    penalty_ftp: int
    interest: int
    total: int


def _round(x: Decimal | Fraction) -> int:
    if isinstance(x, Fraction):
        x = Decimal(x.numerator) / Decimal(x.denominator)
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def effective_date(p: Posted, due: dt.date) -> dt.date:
    """When a transaction counts for the accruals (see the module docstring)."""
    kind = CODES[p.tc].kind if p.tc in CODES else Kind.PAYMENT
    if kind in (Kind.TAX, Kind.WITHHOLDING):
        return due
    return max(due, p.posted_date)


def _events(posted: Iterable[Posted], due: dt.date, on: dt.date) -> dict[dt.date, int]:
    out: dict[dt.date, int] = {}
    for p in posted:
        if p.posted_date <= on and p.amount_cents:
            d = effective_date(p, due)
            out[d] = out.get(d, 0) + p.amount_cents
    return out


def _boundaries(start: dt.date, end: dt.date) -> list[dt.date]:
    """Days in (start, end] where a new rate or a new year begins (their eve closes a segment)."""
    rates, until = published_rates()
    cuts = {r.start for r in rates} | {dt.date(y, 1, 1) for y in range(start.year, end.year + 2)}
    cuts.add(until + dt.timedelta(days=1))  # so a day past the table is looked up, and refused
    return sorted(c - dt.timedelta(days=1) for c in cuts if start < c - dt.timedelta(days=1) < end)


def _grow(tax: int, interest: Decimal, start: dt.date, end: dt.date) -> Decimal:
    """Interest after compounding daily over the days (start, end] on ``tax`` + ``interest``."""
    if (tax <= 0 and interest <= 0) or end <= start:
        return interest
    cur = start
    for stop in [*_boundaries(start, end), end]:
        first = cur + dt.timedelta(days=1)
        rate = underpayment_rate(first)
        year_days = 366 if (dt.date(first.year, 12, 31) - dt.date(first.year, 1, 1)).days == 365 else 365
        factor = 1 + Decimal(rate.percent) / 100 / year_days
        interest = (tax + interest) * factor ** (stop - cur).days - tax
        cur = stop
    return interest


def accrue(posted: Sequence[Posted], terms: Terms, on: dt.date) -> Payoff:
    """The payoff of a module holding ``posted`` as of ``on`` (transactions posted after ``on`` ignored)."""
    due = terms.due_date
    events = _events(posted, due, on)
    with localcontext() as ctx:
        ctx.prec = 50
        tax = sum(a for d, a in events.items() if d <= due)
        base0 = max(0, tax)
        interest = Decimal(0)
        cur = due
        month_starts = []
        k = 0
        while (s := add_months(due, k) + dt.timedelta(days=1)) <= on:
            month_starts.append(s)
            k += 1
        balances_at_start: list[int] = []
        pending = sorted(d for d in events if due < d <= on)
        marks = sorted(set(pending) | set(month_starts) | {on})
        for mark in marks:
            if mark <= cur:
                continue
            interest = _grow(tax, interest, cur, mark)
            cur = mark
            amount = events.get(mark, 0)
            if amount:
                tax += amount
                if tax < 0 and interest > 0:
                    interest = Decimal(_round(interest))
                    paid = min(-tax, int(interest))
                    interest -= paid
                    tax += paid
            if mark in month_starts:
                balances_at_start.append(max(0, min(base0, tax)))
        interest_cents = _round(interest) if interest > 0 else 0

    ftp_months = [Fraction(b * 5, 1000) for b in balances_at_start]
    ftp = min(sum(ftp_months, Fraction(0)), Fraction(base0 * 25, 100))
    filed = terms.filed_date if terms.filed_date is not None and terms.filed_date <= on else None
    late_until = filed if filed is not None else on
    n_ftf = min(5, sum(1 for s in month_starts if s <= late_until)) if late_until > due else 0
    ftf_exact = sum((Fraction(base0 * 5, 100) - ftp_months[i] for i in range(n_ftf)), Fraction(0))
    ftf = _round(ftf_exact)
    if base0 > 0 and late_until > due + dt.timedelta(days=60):
        try:
            floor = MINIMUM_FTF_CENTS[due.year]
        except KeyError:
            raise MinimumPenaltyUnknown(due.year) from None
        ftf = max(ftf, min(floor, base0))
    ftp_cents = _round(ftp)

    credit = max(0, -tax)
    tax_due = max(0, tax)
    applied = min(credit, ftf)
    ftf -= applied
    credit -= applied
    ftp_cents -= min(credit, ftp_cents)
    return Payoff(tax_due, ftf, ftp_cents, interest_cents, tax_due + ftf + ftp_cents + interest_cents)


def module_terms(conn: Connection, module_id: int) -> Terms:
    """Due date from the module's MFT and period; filed date from its return, else its TC 150."""
    mod = conn.execute(
        sa.select(tax_modules.c.mft, tax_modules.c.tax_period).where(tax_modules.c.id == module_id)
    ).one_or_none()
    if mod is None:
        raise ModuleNotFound(module_id)
    filed = conn.execute(
        sa.select(sa.func.min(returns.c.filed_date)).where(returns.c.module_id == module_id)
    ).scalar_one()
    if filed is None:
        filed = conn.execute(
            sa.select(sa.func.min(transactions.c.posted_date)).where(
                transactions.c.module_id == module_id, transactions.c.tc == ORIGINAL_RETURN_TC
            )
        ).scalar_one()
    return Terms(return_due_date(int(mod.mft), int(mod.tax_period)), filed)


def payoff(
    source: Connection | Sequence[Posted],
    module: int | Terms,
    on: dt.date,
) -> Payoff:
    """Payoff as of ``on``: from the store (``conn``, module id) or from transactions and :class:`Terms`."""
    if isinstance(source, Connection):
        if not isinstance(module, int):
            raise TypeError("with a connection, name the module by id")
        return accrue(load_posted(source, module), module_terms(source, module), on)
    if not isinstance(module, Terms):
        raise TypeError("with transactions, give the module's Terms")
    return accrue(source, module, on)
