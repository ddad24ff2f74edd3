"""Identifiers and amounts take ASCII digits only.

``\\d`` in a Python or pydantic (Rust) pattern also matches full-width, Arabic-Indic
and every other Unicode decimal digit; ``int()`` then happily converts them. A TIN
or amount written in such digits must be refused, not silently normalised.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from taxvault.model.values import TIN, InvalidMoney, InvalidTIN, Money, TinType
from taxvault.records.schemas import LookupRequest

ASCII = "0123456789"
_unicode_digit = st.characters(categories=["Nd"]).filter(lambda c: c not in ASCII)
_ascii_digit = st.sampled_from(ASCII)


@st.composite
def nine_digits_some_unicode(draw: st.DrawFn) -> str:
    """Nine decimal digits, at least one of them not ASCII."""
    digits = draw(st.lists(st.one_of(_ascii_digit, _unicode_digit), min_size=9, max_size=9))
    at = draw(st.integers(0, 8))
    digits[at] = draw(_unicode_digit)
    return "".join(digits)


@pytest.mark.parametrize("text", ["９００１２３４５６", "٩٠٠١٢٣٤٥٦", "۹۰۰۱۲۳۴۵۶", "९००१२३४५६"])
def test_lookup_refuses_known_non_ascii_digits(text: str) -> None:
    assert text.isdigit()  # what a \d pattern sees
    with pytest.raises(ValidationError):
        LookupRequest(tin=text)


@given(nine_digits_some_unicode())
def test_lookup_tin_pattern_is_ascii_only(text: str) -> None:
    with pytest.raises(ValidationError):
        LookupRequest(tin=text)


@given(st.lists(_ascii_digit, min_size=9, max_size=9).map("".join))
def test_lookup_takes_nine_ascii_digits(text: str) -> None:
    assert LookupRequest(tin=text).tin == text


@given(nine_digits_some_unicode(), st.sampled_from([TinType.SSN, TinType.EIN, None]))
def test_tin_parse_refuses_unicode_digits(text: str, kind: TinType | None) -> None:
    for candidate in (text, f"{text[:3]}-{text[3:5]}-{text[5:]}", f"{text[:2]}-{text[2:]}"):
        with pytest.raises(InvalidTIN):
            TIN.parse(candidate, kind)


@given(st.text(st.one_of(_ascii_digit, _unicode_digit), min_size=1, max_size=8).filter(lambda s: not s.isascii()))
def test_money_parse_refuses_unicode_digits(text: str) -> None:
    for candidate in (text, f"{text}.50", f"$1,{text[:3].rjust(3, '0')}"):
        if candidate.isascii():
            continue
        with pytest.raises(InvalidMoney):
            Money.parse(candidate)


def test_money_parse_still_reads_ascii() -> None:
    assert Money.parse("-$1,234.5").cents == -123_450
