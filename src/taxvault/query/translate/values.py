"""Literal values in questions: numbers, money, years and relative dates.

Why a module of its own: these are the words a user types with the most
variation ("$10,000", "10k", "ten thousand dollars", "$1.5 million", "last
year") and the place where a wrong guess would silently change an answer.
Every reader here either returns an exact value or ``None``; none of them
rounds, truncates or guesses. Money is returned as integer cents.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_SMALL = {
    "zero": 0,
    "no": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "twenty-five": 25,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "a hundred": 100,
    "one hundred": 100,
}
"""Number words a question plausibly spells out (top five, ten thousand dollars)."""

_SCALE = {
    "k": 1_000,
    "thousand": 1_000,
    "grand": 1_000,
    "m": 1_000_000,
    "mm": 1_000_000,
    "mil": 1_000_000,
    "million": 1_000_000,
    "b": 1_000_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
}

NUMBER_RE = re.compile(r"^\$?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(k|m|mm|b|bn)?$")
"""A numeric token as the tokenizer keeps it: optional $, digits with or without
thousands separators, optional decimals, optional k/m/b suffix glued on."""


def word_number(word: str) -> int | None:
    """The value of a spelled-out number word, or None."""
    return _SMALL.get(word)


def scale_of(word: str) -> int | None:
    """The multiplier of a scale word (thousand, million, k), or None."""
    return _SCALE.get(word)


@dataclass(frozen=True)
class Numeral:
    """A number read from one token: its exact value in hundredths, and how it was written."""

    hundredths: int
    dollar_sign: bool
    has_decimals: bool
    scaled: bool
    spelled: bool = False  # "one", "ten": a count unless "dollars" follows

    @property
    def looks_like_money(self) -> bool:
        """Written as money: "$500", "10k", "ten thousand dollars" (not a bare "one" or "3")."""
        return self.dollar_sign or self.scaled

    @property
    def is_integer(self) -> bool:
        return self.hundredths % 100 == 0

    @property
    def integer(self) -> int:
        return self.hundredths // 100


def read_numeral(token: str) -> Numeral | None:
    """Read one numeric token ("$10,000", "10k", "2.5m", "1500.50") exactly, or None.

    Values are kept in hundredths so "$10.25" and "2.5m" stay exact; a token with
    more than two decimals that does not become whole cents is refused.
    """
    m = NUMBER_RE.match(token)
    if not m:
        return None
    whole, frac, suffix = m.group(1), m.group(2) or "", m.group(3)
    digits = int(whole.replace(",", ""))
    scale = _SCALE[suffix] if suffix else 1
    # value = (digits + frac/10^len) * scale, in hundredths
    num = (digits * 10 ** len(frac) + (int(frac) if frac else 0)) * scale * 100
    den = 10 ** len(frac)
    if num % den:
        return None
    return Numeral(num // den, token.startswith("$"), bool(frac), suffix is not None)


def is_year(value: int) -> bool:
    """A plausible calendar year (birth years included)."""
    return 1900 <= value <= 2100


@dataclass(frozen=True)
class YearRange:
    """An inclusive range of calendar years (a single year is first == last)."""

    first: int
    last: int

    def years(self) -> list[int]:
        return list(range(self.first, self.last + 1))


RELATIVE_YEARS = {
    ("this", "year"): 0,
    ("current", "year"): 0,
    ("last", "year"): -1,
    ("past", "year"): None,  # ambiguous: the calendar year or the last 12 months
    ("previous", "year"): -1,
    ("prior", "year"): -1,
    ("the", "year", "before", "last"): -2,
    ("two", "years", "ago"): -2,
    ("a", "year", "ago"): None,
    ("next", "year"): None,  # the data holds nothing in the future
}
"""Relative year phrases and their offset from ``today``'s year; None means refuse."""


def relative_year(words: tuple[str, ...], today: dt.date) -> int | None:
    """The calendar year a relative phrase names, or None if it is not one we read exactly."""
    offset = RELATIVE_YEARS.get(words)
    if offset is None:
        return None
    return today.year + offset
