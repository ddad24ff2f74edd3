"""Form 1040 tax computation, vectorized over numpy arrays of integer cents.

One implementation serves one return (arrays of length one) and millions (the
synthetic population, the under-reporter recomputation), so they cannot drift.

Sources:
- Brackets and standard deductions for 2024: Rev. Proc. 2023-34 sections 3.01 and
  3.15; 2025: Rev. Proc. 2024-40 as amended by the One Big Beautiful Bill Act
  (P.L. 119-21, July 2025). See docs/irs-facts.md section 6.
- Additional standard deduction for age 65 or older (2024): $1,550 married,
  $1,950 unmarried (Rev. Proc. 2023-34 section 3.15(3)); 2025: $1,600 / $2,000.
- Tax Table rule (2024 Form 1040 instructions, "Tax Table"): taxable income under
  $100,000 is taxed at the midpoint of its $50 row ($25 rows under $3,000; rows
  $5-$15 and $15-$25 at the bottom), rounded to whole dollars; at $100,000 or more
  the Tax Computation Worksheet applies the brackets exactly.
- Child tax credit (IRC 24 as amended by TCJA and P.L. 119-21 section 70101): $2,000 per
  qualifying child under 17 in 2024, $2,200 from 2025, reduced by $50 per $1,000 (or
  part) of modified AGI over $400,000 (joint) or $200,000; refundable part (ACTC) up
  to $1,700 per child (2024 and 2025), 15% of earned income over $2,500.
- Self-employment tax (IRC 1401, 1402): 92.35% of net earnings; 12.4% up to the
  social security wage base ($168,600 in 2024, $176,100 in 2025) less W-2 social
  security wages, 2.9% on all; nothing under $400; half is deductible from income.

Amounts on a 1040 are whole dollars: every line this module returns is a whole
number of dollars, expressed in cents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from taxvault.model.records import FilingStatus, ReturnLines

I64 = NDArray[np.int64]

STATUSES: tuple[FilingStatus, ...] = (
    FilingStatus.SINGLE,
    FilingStatus.MARRIED_JOINT,
    FilingStatus.MARRIED_SEPARATE,
    FilingStatus.HEAD_OF_HOUSEHOLD,
    FilingStatus.QUALIFYING_SURVIVING_SPOUSE,
)
"""Filing statuses by integer code (the code is the index), for columnar work."""

STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}

RATES_PERCENT = (10, 12, 22, 24, 32, 35, 37)

# Taxable income (whole dollars) where each rate starts, per status. QSS uses MFJ's.
_BRACKET_STARTS: dict[int, dict[FilingStatus, tuple[int, ...]]] = {
    2024: {
        FilingStatus.SINGLE: (0, 11_600, 47_150, 100_525, 191_950, 243_725, 609_350),
        FilingStatus.MARRIED_JOINT: (0, 23_200, 94_300, 201_050, 383_900, 487_450, 731_200),
        FilingStatus.MARRIED_SEPARATE: (0, 11_600, 47_150, 100_525, 191_950, 243_725, 365_600),
        FilingStatus.HEAD_OF_HOUSEHOLD: (0, 16_550, 63_100, 100_500, 191_950, 243_700, 609_350),
    },
    2025: {
        FilingStatus.SINGLE: (0, 11_925, 48_475, 103_350, 197_300, 250_525, 626_350),
        FilingStatus.MARRIED_JOINT: (0, 23_850, 96_950, 206_700, 394_600, 501_050, 751_600),
        FilingStatus.MARRIED_SEPARATE: (0, 11_925, 48_475, 103_350, 197_300, 250_525, 375_800),
        FilingStatus.HEAD_OF_HOUSEHOLD: (0, 17_000, 64_850, 103_350, 197_300, 250_500, 626_350),
    },
}
_STANDARD_DEDUCTION: dict[int, dict[FilingStatus, int]] = {
    2024: {
        FilingStatus.SINGLE: 14_600,
        FilingStatus.MARRIED_JOINT: 29_200,
        FilingStatus.MARRIED_SEPARATE: 14_600,
        FilingStatus.HEAD_OF_HOUSEHOLD: 21_900,
    },
    2025: {
        FilingStatus.SINGLE: 15_750,
        FilingStatus.MARRIED_JOINT: 31_500,
        FilingStatus.MARRIED_SEPARATE: 15_750,
        FilingStatus.HEAD_OF_HOUSEHOLD: 23_625,
    },
}
_ADDITIONAL_65: dict[int, tuple[int, int]] = {
    2024: (1_550, 1_950),
    2025: (1_600, 2_000),
}  # married, unmarried
_SS_WAGE_BASE = {2024: 168_600, 2025: 176_100}
_ACTC_PER_CHILD = {2024: 1_700, 2025: 1_700}
_CTC_PER_CHILD = {2024: 2_000, 2025: 2_200}  # P.L. 119-21 section 70101: $2,200 from 2025

SUPPORTED_YEARS = tuple(sorted(_BRACKET_STARTS))


class UnsupportedTaxYear(ValueError):
    """No brackets are on file for the requested tax year."""


def _table_status(status: FilingStatus) -> FilingStatus:
    return FilingStatus.MARRIED_JOINT if status is FilingStatus.QUALIFYING_SURVIVING_SPOUSE else status


def _check_year(year: int) -> None:
    if year not in _BRACKET_STARTS:
        raise UnsupportedTaxYear(f"no tax tables for {year}; supported: {SUPPORTED_YEARS}")


def bracket_starts(year: int, status: FilingStatus) -> tuple[int, ...]:
    """Whole-dollar taxable income where each rate of :data:`RATES_PERCENT` starts."""
    _check_year(year)
    return _BRACKET_STARTS[year][_table_status(status)]


def standard_deduction(year: int, status: FilingStatus, aged_65: int = 0) -> int:
    """Standard deduction in whole dollars, with ``aged_65`` people aged 65 or older."""
    _check_year(year)
    married = status in (
        FilingStatus.MARRIED_JOINT,
        FilingStatus.MARRIED_SEPARATE,
        FilingStatus.QUALIFYING_SURVIVING_SPOUSE,
    )
    extra = _ADDITIONAL_65[year][0 if married else 1]
    return _STANDARD_DEDUCTION[year][_table_status(status)] + aged_65 * extra


def _round_dollars(x_cents_pct: I64) -> I64:
    """Round an amount held in (cents x percent) to whole dollars, half up, in cents."""
    return ((x_cents_pct + 5_000) // 10_000) * 100


def _bracket_sum(taxable_cents: I64, status_codes: NDArray[np.int8], year: int) -> I64:
    """Exact bracket tax in units of cents x percent (so no rounding happens yet)."""
    total = np.zeros(taxable_cents.shape, dtype=np.int64)
    for code, status in enumerate(STATUSES):
        mask = status_codes == code
        if not mask.any():
            continue
        starts = [s * 100 for s in bracket_starts(year, status)]
        x = taxable_cents[mask]
        acc = np.zeros(x.shape, dtype=np.int64)
        for i, rate in enumerate(RATES_PERCENT):
            lo = starts[i]
            hi = starts[i + 1] if i + 1 < len(starts) else None
            portion = np.clip(x - lo, 0, None if hi is None else hi - lo)
            acc += portion * rate
        total[mask] = acc
    return total


def _tax_table_midpoint(taxable_cents: I64) -> I64:
    """The Tax Table row midpoint (cents) for incomes under $100,000; else the income."""
    dollars = taxable_cents // 100
    mid = np.where(
        dollars < 3_000,
        (dollars // 25) * 2_500 + 1_250,
        (dollars // 50) * 5_000 + 2_500,
    )
    mid = np.where(dollars < 25, np.where(dollars < 15, 1_000, 2_000), mid)
    mid = np.where(dollars < 5, 0, mid)
    return np.where(dollars < 100_000, mid, taxable_cents).astype(np.int64)


def income_tax_cents(taxable_cents: I64, status_codes: NDArray[np.int8], year: int) -> I64:
    """Regular income tax (Form 1040 line 16) in whole dollars, as cents."""
    taxable_cents = np.maximum(np.asarray(taxable_cents, dtype=np.int64), 0)
    return _round_dollars(_bracket_sum(_tax_table_midpoint(taxable_cents), status_codes, year))


def income_tax(taxable_cents: int, status: FilingStatus, year: int) -> int:
    """Regular income tax for one return, in cents (whole dollars)."""
    codes = np.array([STATUS_CODE[status]], dtype=np.int8)
    return int(income_tax_cents(np.array([taxable_cents], dtype=np.int64), codes, year)[0])


@dataclass(frozen=True, slots=True)
class ReturnInputs:
    """Columns of what a 1040 reports (cents) and who is on it, one element per return."""

    status_codes: NDArray[np.int8]
    wages: I64
    interest: I64
    dividends: I64
    business_income: I64
    retirement_income: I64
    withholding: I64
    estimated_payments: I64
    children_under_17: NDArray[np.int16]
    aged_65: NDArray[np.int8]
    ss_wages: I64


def _whole(cents: I64) -> I64:
    """Round cents to whole dollars, half up (1040 lines are whole dollars)."""
    return ((cents + 50) // 100) * 100


def compute_returns(inp: ReturnInputs, year: int) -> dict[str, I64]:
    """Compute the 1040 lines for every element; keys are :class:`ReturnLines` fields."""
    _check_year(year)
    wages, interest, dividends = _whole(inp.wages), _whole(inp.interest), _whole(inp.dividends)
    business, retirement = _whole(inp.business_income), _whole(inp.retirement_income)
    total_income = wages + interest + dividends + business + retirement

    # Self-employment tax (Schedule SE), half deductible above the line.
    se_base = (np.maximum(business, 0) * 9235) // 10000
    ss_room = np.maximum(_SS_WAGE_BASE[year] * 100 - _whole(inp.ss_wages), 0)  # Schedule SE 8a: whole dollars
    se_tax = (np.minimum(se_base, ss_room) * 124 + se_base * 29 + 500) // 1000
    se_tax = np.where(se_base < 40_000, 0, _whole(se_tax))
    agi = total_income - _whole(se_tax // 2)

    deduction = np.zeros_like(agi)
    for code, status in enumerate(STATUSES):
        for aged in (0, 1, 2):
            mask = (inp.status_codes == code) & (inp.aged_65 == aged)
            deduction[mask] = standard_deduction(year, status, aged) * 100
    taxable = np.maximum(agi - deduction, 0)
    tax = income_tax_cents(taxable, inp.status_codes, year)

    # Child tax credit with its phase-out, the non-refundable part limited to the tax.
    joint = (inp.status_codes == STATUS_CODE[FilingStatus.MARRIED_JOINT]) | (
        inp.status_codes == STATUS_CODE[FilingStatus.QUALIFYING_SURVIVING_SPOUSE]
    )
    threshold = np.where(joint, 400_000_00, 200_000_00)
    over = np.maximum(agi - threshold, 0)
    reduction = ((over + 100_000 - 1) // 100_000) * 5_000
    ctc = np.maximum(inp.children_under_17.astype(np.int64) * _CTC_PER_CHILD[year] * 100 - reduction, 0)
    credits = np.minimum(ctc, tax)
    earned = wages + np.maximum(business, 0)
    actc = np.minimum(
        np.minimum(ctc - credits, inp.children_under_17.astype(np.int64) * _ACTC_PER_CHILD[year] * 100),
        _whole((np.maximum(earned - 2_500_00, 0) * 15) // 100),
    )
    total_tax = tax - credits + se_tax
    payments = _whole(inp.estimated_payments) + actc
    withholding = _whole(inp.withholding)
    net = withholding + payments - total_tax
    return {
        "wages_cents": wages,
        "interest_cents": interest,
        "dividends_cents": dividends,
        "business_income_cents": business,
        "retirement_income_cents": retirement,
        "total_income_cents": total_income,
        "agi_cents": agi,
        "deduction_cents": deduction,
        "taxable_income_cents": taxable,
        "tax_cents": tax,
        "credits_cents": credits,
        "total_tax_cents": total_tax,
        "withholding_cents": withholding,
        "payments_cents": payments,
        "refund_cents": np.maximum(net, 0),
        "balance_due_cents": np.maximum(-net, 0),
    }


def compute_return(
    status: FilingStatus,
    year: int,
    *,
    wages: int = 0,
    interest: int = 0,
    dividends: int = 0,
    business_income: int = 0,
    retirement_income: int = 0,
    withholding: int = 0,
    estimated_payments: int = 0,
    children_under_17: int = 0,
    aged_65: int = 0,
    ss_wages: int | None = None,
) -> ReturnLines:
    """Compute one return (amounts in cents); the same code as the bulk path."""

    def col(v: int) -> I64:
        return np.array([v], dtype=np.int64)

    out = compute_returns(
        ReturnInputs(
            status_codes=np.array([STATUS_CODE[status]], dtype=np.int8),
            wages=col(wages),
            interest=col(interest),
            dividends=col(dividends),
            business_income=col(business_income),
            retirement_income=col(retirement_income),
            withholding=col(withholding),
            estimated_payments=col(estimated_payments),
            children_under_17=np.array([children_under_17], dtype=np.int16),
            aged_65=np.array([aged_65], dtype=np.int8),
            ss_wages=col(wages if ss_wages is None else ss_wages),
        ),
        year,
    )
    return ReturnLines(**{k: int(v[0]) for k, v in out.items()})
