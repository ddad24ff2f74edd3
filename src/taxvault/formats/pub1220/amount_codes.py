"""Which Pub 1220 amount code is which box of which form.

Why this table exists: a B record carries 18 anonymous "Payment Amount" fields
(codes 1-9, A-H, J); only the payer's A record (Type of Return, positions 26-27,
and Amount Codes, 28-45) says what they mean. The canonical model stores amounts
by form box, so ingest needs (type of return, payment year, amount code) -> box.

Sources: IRS Publication 1220 (Rev. 9-2024, for tax year 2024), Part C, Payer "A"
Record, "Type of Return" and "Amount Codes" tables, cross-checked against the
box captions of the forms themselves (Forms 1099-NEC/-MISC/-INT/-DIV/-R/-G,
2024 revisions) and against moov-io/irs ``pkg/config`` (TY2020-era MISC codes).
The tables were transcribed from those sources and not machine-checked against
the PDF; the 1099-R code ``A`` (no form box) is the least certain entry.

1099-MISC changed meaning in tax year 2020, when nonemployee compensation moved
to the new 1099-NEC: before that code 7 was box 7, nonemployee compensation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: The 18 amount codes in the order of the B record's Payment Amount fields
#: (Amount 1 at 55-66, ... Amount J at 259-270) and of the C/K control totals.
AMOUNT_CODES = "123456789ABCDEFGHJ"

#: Pub 1220 Type of Return codes (A record 26-27, left-justified) of the forms the
#: canonical model keeps, plus 1099-B (the form whose losses may be negative).
FORM_BY_TYPE_OF_RETURN: Mapping[str, str] = MappingProxyType(
    {
        "NE": "1099-NEC",
        "A": "1099-MISC",
        "6": "1099-INT",
        "1": "1099-DIV",
        "9": "1099-R",
        "F": "1099-G",
        "B": "1099-B",
        "D": "1099-OID",
        "Q": "1099-Q",
    }
)
TYPE_OF_RETURN_BY_FORM: Mapping[str, str] = MappingProxyType({v: k for k, v in FORM_BY_TYPE_OF_RETURN.items()})

#: Forms whose payment amounts Pub 1220 lets be negative ("except those items that
#: reflect a loss on Form 1099-B, 1099-OID or 1099-Q").
NEGATIVE_AMOUNT_TYPES = frozenset({"B", "D", "Q"})

#: Forms whose B record keeps state and local tax withheld at 723-734 / 735-746 and
#: the combined federal/state code at 747-748 (the forms this module maps).
STATE_FIELDS_TYPES = frozenset({"NE", "A", "6", "1", "9", "F"})

#: Year 1099-MISC stopped carrying nonemployee compensation (code 7).
MISC_NEC_SPLIT_YEAR = 2020


@dataclass(frozen=True)
class Box:
    """One form box an amount code stands for."""

    code: str
    box: str
    name: str


def _table(*rows: tuple[str, str, str]) -> Mapping[str, Box]:
    return MappingProxyType({code: Box(code, box, name) for code, box, name in rows})


NEC = _table(
    ("1", "1", "nonemployee_compensation"),
    ("4", "4", "federal_income_tax_withheld"),
)

MISC = _table(
    ("1", "1", "rents"),
    ("2", "2", "royalties"),
    ("3", "3", "other_income"),
    ("4", "4", "federal_income_tax_withheld"),
    ("5", "5", "fishing_boat_proceeds"),
    ("6", "6", "medical_and_health_care_payments"),
    ("8", "8", "substitute_payments_in_lieu_of_dividends_or_interest"),
    ("A", "9", "crop_insurance_proceeds"),
    ("B", "14", "excess_golden_parachute_payments"),
    ("C", "10", "gross_proceeds_paid_to_an_attorney"),
    ("D", "12", "section_409a_deferrals"),
    ("E", "15", "nonqualified_deferred_compensation"),
    ("F", "11", "fish_purchased_for_resale"),
)

MISC_BEFORE_2020 = _table(
    ("1", "1", "rents"),
    ("2", "2", "royalties"),
    ("3", "3", "other_income"),
    ("4", "4", "federal_income_tax_withheld"),
    ("5", "5", "fishing_boat_proceeds"),
    ("6", "6", "medical_and_health_care_payments"),
    ("7", "7", "nonemployee_compensation"),
    ("8", "8", "substitute_payments_in_lieu_of_dividends_or_interest"),
    ("A", "10", "crop_insurance_proceeds"),
    ("B", "13", "excess_golden_parachute_payments"),
    ("C", "14", "gross_proceeds_paid_to_an_attorney"),
    ("D", "15a", "section_409a_deferrals"),
    ("E", "15b", "section_409a_income"),
)

INT = _table(
    ("1", "1", "interest_income"),
    ("2", "2", "early_withdrawal_penalty"),
    ("3", "3", "interest_on_us_savings_bonds_and_treasury_obligations"),
    ("4", "4", "federal_income_tax_withheld"),
    ("5", "5", "investment_expenses"),
    ("6", "6", "foreign_tax_paid"),
    ("8", "8", "tax_exempt_interest"),
    ("9", "9", "specified_private_activity_bond_interest"),
    ("A", "10", "market_discount"),
    ("B", "11", "bond_premium"),
    ("D", "13", "bond_premium_on_tax_exempt_bond"),
    ("E", "12", "bond_premium_on_treasury_obligations"),
)

DIV = _table(
    ("1", "1a", "total_ordinary_dividends"),
    ("2", "1b", "qualified_dividends"),
    ("3", "2a", "total_capital_gain_distributions"),
    ("4", "4", "federal_income_tax_withheld"),
    ("5", "5", "section_199a_dividends"),
    ("6", "6", "investment_expenses"),
    ("7", "7", "foreign_tax_paid"),
    ("8", "9", "cash_liquidation_distributions"),
    ("9", "10", "noncash_liquidation_distributions"),
    ("A", "12", "exempt_interest_dividends"),
    ("B", "13", "specified_private_activity_bond_interest_dividends"),
    ("C", "2b", "unrecaptured_section_1250_gain"),
    ("D", "2c", "section_1202_gain"),
    ("E", "2d", "collectibles_28_percent_gain"),
    ("F", "3", "nondividend_distributions"),
    ("G", "2e", "section_897_ordinary_dividends"),
    ("H", "2f", "section_897_capital_gain"),
)

R = _table(
    ("1", "1", "gross_distribution"),
    ("2", "2a", "taxable_amount"),
    ("3", "3", "capital_gain"),
    ("4", "4", "federal_income_tax_withheld"),
    ("5", "5", "employee_contributions_designated_roth_or_insurance_premiums"),
    ("6", "6", "net_unrealized_appreciation_in_employer_securities"),
    ("8", "8", "other"),
    ("9", "9b", "total_employee_contributions"),
    ("A", "", "traditional_ira_sep_simple_distribution_or_roth_conversion"),
    ("B", "10", "amount_allocable_to_irr_within_5_years"),
)

G = _table(
    ("1", "1", "unemployment_compensation"),
    ("2", "2", "state_or_local_income_tax_refunds_credits_or_offsets"),
    ("4", "4", "federal_income_tax_withheld"),
    ("5", "5", "rtaa_payments"),
    ("6", "6", "taxable_grants"),
    ("7", "7", "agriculture_payments"),
    ("9", "9", "market_gain"),
)

_EMPTY: Mapping[str, Box] = MappingProxyType({})


def box_table(type_of_return: str, payment_year: int | None) -> Mapping[str, Box]:
    """Amount code -> box for a payer's type of return and payment year (empty if unmapped)."""
    kind = type_of_return.strip()
    if kind == "A":
        if payment_year is not None and payment_year < MISC_NEC_SPLIT_YEAR:
            return MISC_BEFORE_2020
        return MISC
    return {"NE": NEC, "6": INT, "1": DIV, "9": R, "F": G}.get(kind, _EMPTY)


def code_for_box(form: str, name_or_box: str, payment_year: int | None = None) -> str:
    """Amount code of a box, given the form (``"1099-INT"``) and a box number or name.

    For writers (the synthetic generator thinks in boxes): ``code_for_box("1099-DIV", "1a")``
    and ``code_for_box("1099-DIV", "total_ordinary_dividends")`` both give ``"1"``.
    """
    kind = TYPE_OF_RETURN_BY_FORM.get(form)
    if kind is None:
        raise ValueError(f"no amount-code table for form {form!r}")
    for entry in box_table(kind, payment_year).values():
        if name_or_box in (entry.box, entry.name):
            return entry.code
    raise ValueError(f"form {form} has no box {name_or_box!r}")
