"""Penalties and interest against a deliberately naive day-by-day calculation written here.

The naive side walks every calendar day with ``Decimal`` and counts 6651 months
by stepping the calendar; it shares no code with the engine beyond the rate and
minimum-penalty *tables* (the facts, not the arithmetic).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import fields
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxvault.ledger.accruals import (
    MINIMUM_FTF_CENTS,
    UNDERPAYMENT_RATES,
    Payoff,
    RateNotPublished,
    Terms,
    accrue,
    add_months,
    return_due_date,
    underpayment_rate,
)
from taxvault.ledger.posting import Posted

DAY = dt.timedelta(days=1)


def naive_rate(day: dt.date) -> Decimal:
    pct = [r.percent for r in UNDERPAYMENT_RATES if r.start <= day][-1]
    return Decimal(pct) / 100


def naive_month_start(due: dt.date, k: int) -> dt.date:
    """First day of 6651 month k+1: the day after the due date's day-of-month, k months on."""
    month = due.month + k
    year = due.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, due.day) + DAY  # tests use day-15 due dates only


def cents(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def naive_payoff(
    tax_at_due: int, later: list[tuple[dt.date, int]], due: dt.date, filed: dt.date | None, on: dt.date
) -> Payoff:
    """Day by day: interest compounded daily, credits at the end of their day, then months for 6651."""
    with localcontext() as ctx:
        ctx.prec = 40
        tax = Decimal(tax_at_due)
        interest = Decimal(0)
        day = due
        while day < on:
            day += DAY
            if tax > 0 or interest > 0:
                year_len = 366 if calendar.isleap(day.year) else 365
                interest += (tax + interest) * naive_rate(day) / year_len
            for when, amount in later:
                if when == day:
                    tax += amount
                    if tax < 0 and interest > 0:
                        interest = Decimal(cents(interest))
                        paid = min(-tax, interest)
                        interest -= paid
                        tax += paid
        base = max(0, tax_at_due)
        ftp_parts: list[Decimal] = []
        k = 0
        while naive_month_start(due, k) <= on:
            start = naive_month_start(due, k)
            owed = tax_at_due + sum(a for w, a in later if w <= start)
            ftp_parts.append(Decimal(max(0, min(base, owed))) * Decimal("0.005"))
            k += 1
        ftp = min(sum(ftp_parts, Decimal(0)), Decimal(base) / 4)
        until = filed if filed is not None and filed <= on else on
        ftf = Decimal(0)
        for k in range(5):
            if until > due and naive_month_start(due, k) <= until and k < len(ftp_parts):
                ftf += Decimal(base) * Decimal("0.05") - ftp_parts[k]
        ftf_c = cents(ftf)
        if base > 0 and (until - due).days > 60:
            ftf_c = max(ftf_c, min(MINIMUM_FTF_CENTS[due.year], base))
        ftp_c = cents(ftp)
        final_tax = int(tax)
        credit = max(0, -final_tax)
        take = min(credit, ftf_c)
        ftf_c -= take
        ftp_c -= min(credit - take, ftp_c)
        i_c = cents(interest) if interest > 0 else 0
        t = max(0, final_tax)
        return Payoff(t, ftf_c, ftp_c, i_c, t + ftf_c + ftp_c + i_c)


def module(
    tax: int, withheld: int, payments: list[tuple[dt.date, int]], due: dt.date = dt.date(2024, 4, 15)
) -> list[Posted]:
    """A 1040 module: return processed on the due date (TC 150 + 806), then payments (TC 670)."""
    posted = [Posted(1, 150, tax, due), Posted(2, 806, -withheld, due)]
    posted += [Posted(3 + i, 670, -a, d) for i, (d, a) in enumerate(payments)]
    return posted


DUE_2024 = dt.date(2024, 4, 15)  # tax period 202312: interest crosses leap 2024 and the 2025 rate change
DUE_2023 = dt.date(2023, 4, 15)  # tax period 202212: crosses the 2023 Q4 rise to 8%


def test_due_dates() -> None:
    assert return_due_date(30, 202312) == DUE_2024
    assert return_due_date(30, 202212) == DUE_2023
    assert return_due_date(1, 202503) == dt.date(2025, 4, 30)
    assert return_due_date(67, 202412) == dt.date(2025, 5, 15)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)


def test_rates_table_is_dated_and_bounded() -> None:
    assert underpayment_rate(dt.date(2023, 10, 1)).percent == 8
    assert underpayment_rate(dt.date(2023, 9, 30)).percent == 7
    assert underpayment_rate(dt.date(2025, 1, 1)).percent == 7
    with pytest.raises(RateNotPublished):
        underpayment_rate(dt.date(2026, 7, 1))
    with pytest.raises(RateNotPublished):
        accrue(module(100_000, 0, []), Terms(DUE_2024, DUE_2024), dt.date(2026, 7, 1))


def test_on_time_return_unpaid_three_months() -> None:
    due = dt.date(2025, 4, 15)
    posted = [Posted(1, 150, 1_000_000, dt.date(2025, 4, 20))]
    p = accrue(posted, Terms(due, due), dt.date(2025, 7, 15))
    assert (p.tax, p.penalty_ftf, p.penalty_ftp) == (1_000_000, 0, 15_000)  # 3 months or part x 0.5%
    expected = Decimal(1_000_000) * ((1 + Decimal("0.07") / 365) ** 91 - 1)
    assert p.interest == cents(expected)
    assert p.total == p.tax + p.penalty_ftf + p.penalty_ftp + p.interest


def test_late_filing_reduced_by_failure_to_pay_and_minimum() -> None:
    due = dt.date(2025, 4, 15)
    big = accrue([Posted(1, 150, 1_000_000, dt.date(2025, 8, 1))], Terms(due, dt.date(2025, 8, 1)), dt.date(2025, 8, 1))
    assert big.penalty_ftp == 4 * 5_000
    assert big.penalty_ftf == 4 * (50_000 - 5_000)  # 6651(c)(1): 4.5% + 0.5%
    small = accrue(
        [Posted(1, 150, 30_000, dt.date(2025, 7, 15))], Terms(due, dt.date(2025, 7, 15)), dt.date(2025, 7, 15)
    )
    assert small.penalty_ftf == 30_000  # > 60 days late: lesser of the minimum and 100% of the tax
    capped = accrue(
        [Posted(1, 150, 1_000_000, dt.date(2026, 3, 1))], Terms(due, dt.date(2026, 3, 1)), dt.date(2026, 3, 1)
    )
    assert capped.penalty_ftf == 5 * 50_000 - 5 * 5_000  # at most five months


def test_paid_in_full_stops_everything_and_excess_pays_interest() -> None:
    pay_day = dt.date(2024, 9, 30)
    posted = module(500_000, 200_000, [(pay_day, 300_000)])
    p1 = accrue(posted, Terms(DUE_2024, DUE_2024), dt.date(2026, 1, 1))
    assert p1.tax == 0 and p1.interest > 0 and p1.penalty_ftp == 6 * 1_500
    posted.append(Posted(99, 670, -(p1.interest + p1.penalty_ftp), dt.date(2026, 1, 1)))
    p2 = accrue(posted, Terms(DUE_2024, DUE_2024), dt.date(2026, 1, 1))
    assert p2.total == 0


def test_interest_is_zero_without_balance_even_past_the_rate_table() -> None:
    p = accrue(module(100_000, 100_000, []), Terms(DUE_2024, DUE_2024), dt.date(2030, 1, 1))
    assert p == Payoff(0, 0, 0, 0, 0)


def test_payoff_results_are_int_cents() -> None:
    p = accrue(module(987_654, 12_345, [(dt.date(2024, 12, 31), 5_555)]), Terms(DUE_2024, None), dt.date(2026, 6, 30))
    for f in fields(p):
        assert type(getattr(p, f.name)) is int, f.name


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dt.date, int, int, list[tuple[dt.date, int]], dt.date | None, dt.date]:
    due = draw(st.sampled_from([DUE_2023, DUE_2024, dt.date(2025, 4, 15)]))
    tax = draw(st.integers(0, 5 * 10**7))
    withheld = draw(st.integers(0, 5 * 10**7))
    horizon = (dt.date(2026, 6, 30) - due).days
    on = due + dt.timedelta(days=draw(st.integers(0, horizon)))
    pays = draw(st.lists(st.tuples(st.integers(1, horizon), st.integers(1, 2 * 10**7)), max_size=4))
    payments = [(due + dt.timedelta(days=d), a) for d, a in pays]
    filed = draw(st.one_of(st.none(), st.integers(0, horizon).map(lambda d: due + dt.timedelta(days=d))))
    return due, tax, withheld, payments, filed, on


@given(scenarios())
@settings(max_examples=200, deadline=None)
def test_engine_matches_naive_day_by_day(
    s: tuple[dt.date, int, int, list[tuple[dt.date, int]], dt.date | None, dt.date],
) -> None:
    due, tax, withheld, payments, filed, on = s
    posted = module(tax, withheld, payments, due)
    later: dict[dt.date, int] = {}
    for d, a in payments:
        if d <= on:
            later[d] = later.get(d, 0) - a
    expected = naive_payoff(tax - withheld, sorted(later.items()), due, filed, on)
    assert accrue(posted, Terms(due, filed), on) == expected
