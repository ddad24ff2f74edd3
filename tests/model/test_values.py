"""Value types validate themselves; errors name the rule, never the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taxvault.model.values import (
    DLN,
    TIN,
    InvalidDLN,
    InvalidMoney,
    InvalidNameControl,
    InvalidTaxPeriod,
    InvalidTIN,
    Money,
    NameControl,
    TaxPeriod,
    TinType,
    is_synthetic_tin,
)

ITIN_GROUPS = [*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)]


@given(st.integers(900, 999), st.integers(1, 49), st.integers(1, 9999))
def test_synthetic_ssn_range_is_valid_and_synthetic(area: int, group: int, serial: int) -> None:
    tin = TIN(f"{area:03d}{group:02d}{serial:04d}", TinType.SSN)
    assert tin.is_synthetic
    assert tin.formatted() == f"{area:03d}-{group:02d}-{serial:04d}"


@given(st.integers(1, 899).filter(lambda a: a != 666), st.integers(1, 99), st.integers(1, 9999))
def test_issuable_ssn_is_valid_but_not_synthetic(area: int, group: int, serial: int) -> None:
    tin = TIN(f"{area:03d}{group:02d}{serial:04d}", TinType.SSN)
    assert not tin.is_synthetic


@given(st.integers(900, 999), st.sampled_from(ITIN_GROUPS), st.integers(1, 9999))
def test_itin_range(area: int, group: int, serial: int) -> None:
    digits = f"{area:03d}{group:02d}{serial:04d}"
    assert TIN(digits, TinType.ITIN).tin_type is TinType.ITIN
    assert not TIN(digits, TinType.ITIN).is_synthetic
    with pytest.raises(InvalidTIN):  # a 9XX number with an ITIN group is never an SSN
        TIN(digits, TinType.SSN)
    assert TIN.parse(f"{digits[:3]}-{digits[3:5]}-{digits[5:]}").tin_type is TinType.ITIN


@given(st.integers(900, 999), st.integers(1, 49), st.integers(1, 9999))
def test_synthetic_ssn_group_is_not_an_itin(area: int, group: int, serial: int) -> None:
    with pytest.raises(InvalidTIN):
        TIN(f"{area:03d}{group:02d}{serial:04d}", TinType.ITIN)


@pytest.mark.parametrize(
    ("digits", "tin_type"),
    [
        ("000123456", TinType.SSN),  # area 000
        ("666123456", TinType.SSN),  # area 666
        ("123004567", TinType.SSN),  # group 00
        ("123450000", TinType.SSN),  # serial 0000
        ("900501234", TinType.SSN),  # 9XX with an ITIN group is not an SSN
        ("12345678", TinType.SSN),  # eight digits
        ("1234567890", TinType.SSN),  # ten digits
        ("12345678a", TinType.SSN),
        ("１２３４５６７８９", TinType.SSN),  # full-width digits are not ASCII digits
        ("070000001", TinType.EIN),  # prefix 07 never assigned
        ("000000000", TinType.EIN),  # serial all zeros
    ],
)
def test_invalid_tins_are_refused(digits: str, tin_type: TinType) -> None:
    with pytest.raises(InvalidTIN) as info:
        TIN(digits, tin_type)
    assert digits not in str(info.value)


@given(st.text(alphabet="0123456789-", min_size=0, max_size=12))
def test_tin_errors_never_echo_the_value(text: str) -> None:
    message = ""
    try:
        TIN.parse(text, TinType.SSN)
    except InvalidTIN as exc:  # hypothesis explores valid and invalid inputs alike
        message = str(exc)
    digits = text.replace("-", "")
    if len(digits) >= 4:
        assert digits not in message


@given(st.integers(0, 9_999_998))
def test_synthetic_ein(serial: int) -> None:
    tin = TIN(f"00{serial + 1:07d}", TinType.EIN)
    assert tin.is_synthetic
    assert tin.formatted().startswith("00-")


def test_tin_str_and_repr_mask_all_but_last_four() -> None:
    tin = TIN.parse("901-23-4567")
    assert str(tin) == "XXX-XX-4567"
    assert "901" not in repr(tin) and "4567" in repr(tin)
    assert f"{tin}" == "XXX-XX-4567"
    assert TIN.parse("00-1234567").masked() == "XX-XXX4567"


def test_parse_needs_a_type_for_bare_digits() -> None:
    with pytest.raises(InvalidTIN, match="ambiguous"):
        TIN.parse("901234567")
    assert TIN.parse("901234567", "SSN").digits == "901234567"
    assert TIN.parse("001234567", TinType.EIN).tin_type is TinType.EIN


def test_is_synthetic_tin_helper() -> None:
    assert is_synthetic_tin("901234567", "SSN")
    assert not is_synthetic_tin("123456789", "SSN")
    assert not is_synthetic_tin("junk", "SSN")
    assert is_synthetic_tin("001234567", "EIN")
    assert not is_synthetic_tin("101234567", "EIN")


@pytest.mark.parametrize(
    ("last_name", "expected"),
    [
        ("Smith", "SMIT"),
        ("O'Neil", "ONEI"),
        ("De La Rosa", "DELA"),
        ("Smith-Jones", "SMIT"),
        ("Ng-Lu", "NG-L"),
        ("Ng", "NG"),
        ("McCarthy", "MCCA"),
        ("St. John", "STJO"),
        ("-Lee", "LEE"),
        ("van der Berg", "VAND"),
    ],
)
def test_individual_name_control(last_name: str, expected: str) -> None:
    assert NameControl.for_individual(last_name).value == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sumac Field Plow Inc.", "SUMA"),
        ("11th Street Inc.", "11TH"),
        ("P & P Company", "P&PC"),
        ("Y-Z Drive Co", "Y-ZD"),
        ("OAK! Tre", "OAKT"),
        ("The Willow Co.", "WILL"),  # "The" followed by more than one word is dropped
        ("The Hawthorn", "THEH"),  # ... but kept when one word follows
        ("ELM", "ELM"),
    ],
)
def test_business_name_control(name: str, expected: str) -> None:
    assert NameControl.for_business(name).value == expected


@pytest.mark.parametrize("bad", ["", "-ABC", "ABCDE", "ab", "A B", "A.B"])
def test_invalid_name_controls(bad: str) -> None:
    with pytest.raises(InvalidNameControl):
        NameControl(bad)


def test_name_control_needs_letters() -> None:
    with pytest.raises(InvalidNameControl):
        NameControl.for_individual("'''")
    assert NameControl("NG").padded() == "NG  "


@given(st.text(max_size=30))
def test_name_control_of_any_text_is_valid_or_refused(text: str) -> None:
    try:
        nc = NameControl.for_individual(text)
    except InvalidNameControl:
        return
    assert 1 <= len(nc.value) <= 4 and not nc.value.startswith("-")


@given(st.integers(1900, 2199), st.integers(1, 12))
def test_tax_period_round_trip(year: int, month: int) -> None:
    period = TaxPeriod(year, month)
    assert TaxPeriod.parse(str(period)) == period
    assert TaxPeriod.parse(period.as_int()) == period


@pytest.mark.parametrize("bad", ["202413", "202400", "18991", "189912", "abcdef", "2024-12", "20241", 220001])
def test_invalid_tax_periods(bad: str | int) -> None:
    with pytest.raises(InvalidTaxPeriod):
        TaxPeriod.parse(bad)


@given(st.integers(-(10**15), 10**15))
def test_money_text_round_trip(cents: int) -> None:
    m = Money(cents)
    assert Money.parse(str(m)) == m
    assert (m + Money(1)) - Money(1) == m
    negated = -m
    assert -negated == m


@pytest.mark.parametrize("bad", [1.5, 0.1, True, "12"])
def test_money_refuses_non_integers(bad: object) -> None:
    with pytest.raises(InvalidMoney):
        Money(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "cents"), [("12", 1200), ("12.5", 1250), ("-$1,234.56", -123456), ("0.07", 7), ("$0", 0)]
)
def test_money_parse(text: str, cents: int) -> None:
    assert Money.parse(text).cents == cents


@pytest.mark.parametrize("bad", ["1.234", "1,23", "abc", "", "1e5", "--1"])
def test_money_parse_refuses(bad: str) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(bad)


@given(
    st.integers(0, 99), st.integers(0, 9), st.integers(0, 99), st.integers(1, 366),
    st.integers(0, 999), st.integers(0, 99), st.integers(0, 9),
)  # fmt: skip
def test_dln_build_and_parts(flc: int, tc: int, doc: int, julian: int, block: int, serial: int, year: int) -> None:
    dln = DLN.build(flc, tc, doc, julian, block, serial, year)
    assert len(dln.value) == 14
    assert dln.julian_date == julian
    assert dln.file_location_code == f"{flc:02d}"
    assert DLN(dln.value) == dln


@pytest.mark.parametrize(
    "bad", ["1234567890123", "123456789012345", "2921100012345a", "29211000123451", "29211367123451"]
)
def test_invalid_dln(bad: str) -> None:
    with pytest.raises(InvalidDLN):
        DLN(bad)
