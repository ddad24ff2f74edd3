"""Form 1040 tax: hand-checked cases at bracket boundaries, and the bulk path equals the single one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taxvault.model.records import FilingStatus as F
from taxvault.model.tax import (
    STATUS_CODE,
    STATUSES,
    UnsupportedTaxYear,
    compute_return,
    income_tax,
    income_tax_cents,
    standard_deduction,
)

# (status, taxable income in dollars, tax in dollars), worked by hand from the 2024
# brackets (Rev. Proc. 2023-34): under $100,000 at the Tax Table row midpoint.
HAND_CHECKED_2024 = [
    (F.SINGLE, 0, 0),
    (F.SINGLE, 4, 0),  # row 0-5
    (F.SINGLE, 5, 1),  # row 5-15, midpoint 10
    (F.SINGLE, 15, 2),  # row 15-25, midpoint 20
    (F.SINGLE, 30, 4),  # row 25-50, midpoint 37.50 -> 3.75
    (F.SINGLE, 2_999, 299),  # row 2,975-3,000, midpoint 2,987.50 -> 298.75
    (F.SINGLE, 3_000, 303),  # row 3,000-3,050, midpoint 3,025 -> 302.50
    (F.SINGLE, 11_599, 1_158),  # row 11,550-11,600: 1,157.50
    (F.SINGLE, 11_600, 1_163),  # 12% starts: 1,160 + 0.12 x 25
    (F.SINGLE, 47_150, 5_432),  # 22% starts: 5,426 + 0.22 x 25 = 5,431.50
    (F.SINGLE, 99_999, 17_048),  # last Tax Table row: 5,426 + 0.22 x 52,825 = 17,047.50
    (F.SINGLE, 100_000, 17_053),  # worksheet: 5,426 + 0.22 x 52,850
    (F.SINGLE, 100_525, 17_169),  # 24% starts: 17,168.50
    (F.SINGLE, 191_950, 39_111),  # 32% starts: 17,168.50 + 0.24 x 91,425 = 39,110.50
    (F.SINGLE, 609_350, 183_647),  # 37% starts: 55,678.50 + 0.35 x 365,625 = 183,647.25
    (F.SINGLE, 1_000_000, 328_188),  # 183,647.25 + 0.37 x 390,650 = 328,187.75
    (F.MARRIED_JOINT, 23_200, 2_323),  # 2,320 + 0.12 x 25
    (F.MARRIED_JOINT, 94_300, 10_858),  # 10,852 + 0.22 x 25 = 10,857.50
    (F.MARRIED_JOINT, 201_050, 34_337),  # 10,852 + 0.22 x 106,750
    (F.QUALIFYING_SURVIVING_SPOUSE, 201_050, 34_337),  # uses the joint brackets
    (F.HEAD_OF_HOUSEHOLD, 16_550, 1_658),  # 1,655 + 0.12 x 25
    (F.MARRIED_SEPARATE, 365_600, 98_335),  # 37% starts early for MFS: 55,678.50 + 0.35 x 121,875
]


@pytest.mark.parametrize(("status", "taxable", "tax"), HAND_CHECKED_2024)
def test_hand_checked_2024(status: F, taxable: int, tax: int) -> None:
    assert income_tax(taxable * 100, status, 2024) == tax * 100


def test_2025_bracket_start_single() -> None:
    # 2025 single: 12% starts at 11,925, inside the row 11,900-11,950 (midpoint 11,925):
    # 0.10 x 11,925 = 1,192.50; the next row's midpoint 11,975: 1,192.50 + 0.12 x 50 = 1,198.50
    assert income_tax(11_925_00, F.SINGLE, 2025) == 1_193_00
    assert income_tax(11_950_00, F.SINGLE, 2025) == 1_199_00


def test_unsupported_year() -> None:
    with pytest.raises(UnsupportedTaxYear):
        income_tax(100, F.SINGLE, 1999)


def test_standard_deduction_2024() -> None:
    assert standard_deduction(2024, F.SINGLE) == 14_600
    assert standard_deduction(2024, F.MARRIED_JOINT) == 29_200
    assert standard_deduction(2024, F.HEAD_OF_HOUSEHOLD) == 21_900
    assert standard_deduction(2024, F.MARRIED_SEPARATE) == 14_600
    assert standard_deduction(2024, F.SINGLE, aged_65=1) == 16_550
    assert standard_deduction(2024, F.MARRIED_JOINT, aged_65=2) == 32_300


def test_simple_wage_earner() -> None:
    lines = compute_return(F.SINGLE, 2024, wages=50_000_00, withholding=5_000_00)
    assert lines.taxable_income_cents == 35_400_00
    assert lines.tax_cents == 4_019_00  # row 35,400-35,450: 1,160 + 0.12 x 23,825
    assert lines.refund_cents == 981_00 and lines.balance_due_cents == 0


def test_self_employed_pays_se_tax_and_deducts_half() -> None:
    lines = compute_return(F.SINGLE, 2024, business_income=60_000_00)
    # SE tax: 60,000 x 0.9235 = 55,410 x 15.3% = 8,477.73 -> 8,478; half (4,239) off AGI.
    assert lines.agi_cents == 55_761_00
    assert lines.tax_cents == 4_709_00
    assert lines.total_tax_cents == (4_709 + 8_478) * 100
    assert lines.balance_due_cents == lines.total_tax_cents


def test_child_tax_credit_phase_out_and_refundable_part() -> None:
    rich = compute_return(F.MARRIED_JOINT, 2024, wages=410_000_00, children_under_17=2)
    assert rich.credits_cents == 3_500_00  # 4,000 less 50 x 10 (AGI 10,000 over 400,000)
    low = compute_return(F.HEAD_OF_HOUSEHOLD, 2024, wages=20_000_00, children_under_17=2)
    assert low.tax_cents == 0 and low.credits_cents == 0
    assert low.payments_cents == 2_625_00  # ACTC: 15% of (20,000 - 2,500), under 2 x 1,700
    assert low.refund_cents == 2_625_00


@given(
    st.lists(st.integers(0, 2_000_000_00), min_size=1, max_size=50),
    st.lists(st.sampled_from(STATUSES), min_size=50, max_size=50),
    st.sampled_from([2024, 2025]),
)
def test_bulk_equals_single(incomes: list[int], statuses: list[F], year: int) -> None:
    statuses = statuses[: len(incomes)]
    codes = np.array([STATUS_CODE[s] for s in statuses], dtype=np.int8)
    bulk = income_tax_cents(np.array(incomes, dtype=np.int64), codes, year)
    assert bulk.tolist() == [income_tax(x, s, year) for x, s in zip(incomes, statuses, strict=True)]


@given(st.integers(0, 3_000_000_00), st.sampled_from(STATUSES))
def test_tax_is_monotone_and_marginal_rate_at_most_37(x: int, status: F) -> None:
    step = 1_000_00
    lo, hi = income_tax(x, status, 2024), income_tax(x + step, status, 2024)
    assert 0 <= hi - lo <= step * 37 // 100 + 100 * 30  # 37% plus Tax Table row effects
    assert lo % 100 == 0  # whole dollars
