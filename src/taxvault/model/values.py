"""Value types that validate themselves: TIN, name control, tax period, money, DLN.

Each type refuses an invalid value at construction with :class:`InvalidValue` (or a
subclass), so a value that exists is a valid one. Error messages name the rule that
failed, never the value: a TIN must not reach a log line or an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class InvalidValue(ValueError):
    """A value does not satisfy the rules of its type."""


class InvalidTIN(InvalidValue):
    """A taxpayer identification number is malformed or never issuable."""


class TinType(StrEnum):
    """The kinds of taxpayer identification number."""

    SSN = "SSN"
    ITIN = "ITIN"
    EIN = "EIN"


# ITINs are 9XX-XX-XXXX with these group (middle two digit) ranges (IRS ITIN rules,
# https://www.irs.gov/individuals/individual-taxpayer-identification-number).
_ITIN_GROUPS = frozenset([*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)])

# EIN prefixes the IRS assigns (irs.gov "How EINs are assigned and valid EIN prefixes").
# Prefix 00 is never assigned, which is why synthetic EINs use it.
_EIN_PREFIXES = frozenset(set(range(1, 100)) - {0, 7, 8, 9, 17, 18, 19, 28, 29, 49, 69, 70, 78, 79, 89, 96, 97})

SYNTHETIC_SSN_AREAS = range(900, 1000)
"""Synthetic SSNs: area 900-999 with group 01-49, issued neither as SSN nor as ITIN."""
SYNTHETIC_SSN_GROUPS = range(1, 50)
SYNTHETIC_EIN_PREFIX = 0
"""Synthetic EINs: prefix 00, which the IRS never assigns."""

# ASCII digits only: ``\d`` would also accept full-width and Arabic-Indic digits.
_SSN_FORMAT = re.compile(r"^([0-9]{3})-?([0-9]{2})-?([0-9]{4})$")
_EIN_FORMAT = re.compile(r"^([0-9]{2})-?([0-9]{7})$")


@dataclass(frozen=True, slots=True)
class TIN:
    """A taxpayer identification number (SSN, ITIN or EIN), nine digits.

    ``str()`` and ``repr()`` show only the last four digits, so a TIN that slips
    into a log line or an f-string does not disclose itself; ``digits`` and
    :meth:`formatted` give the full value on purpose.
    """

    digits: str
    tin_type: TinType

    def __post_init__(self) -> None:
        if len(self.digits) != 9 or not self.digits.isascii() or not self.digits.isdigit():
            raise InvalidTIN(f"{self.tin_type} must be exactly nine digits")
        if self.tin_type is TinType.EIN:
            prefix = int(self.digits[:2])
            if prefix != SYNTHETIC_EIN_PREFIX and prefix not in _EIN_PREFIXES:
                raise InvalidTIN("EIN prefix is not one the IRS assigns")
            if self.digits[2:] == "0000000":
                raise InvalidTIN("EIN serial part cannot be all zeros")
            return
        area, group, serial = int(self.digits[:3]), int(self.digits[3:5]), int(self.digits[5:])
        if area == 0 or area == 666:
            raise InvalidTIN("SSN area 000 and 666 are never issued")
        if group == 0:
            raise InvalidTIN("group number 00 is never issued")
        if serial == 0:
            raise InvalidTIN("serial number 0000 is never issued")
        if self.tin_type is TinType.ITIN:
            if area < 900 or group not in _ITIN_GROUPS:
                raise InvalidTIN("ITIN must be 9XX with a group in the ITIN ranges")
        elif area >= 900 and group not in SYNTHETIC_SSN_GROUPS:
            raise InvalidTIN("SSN in area 900-999 must have group 01-49 (synthetic range)")

    @classmethod
    def parse(cls, text: str, tin_type: TinType | str | None = None) -> TIN:
        """Parse ``123-45-6789``, ``12-3456789`` or nine bare digits.

        Hyphenation tells the type when ``tin_type`` is not given; bare digits are
        ambiguous between SSN and EIN and then need ``tin_type``.
        """
        text = text.strip()
        kind = TinType(tin_type) if tin_type is not None else None
        ssn = _SSN_FORMAT.match(text)
        ein = _EIN_FORMAT.match(text)
        if kind is None:
            if ssn and "-" in text:
                kind = _ssn_or_itin("".join(ssn.groups()))
            elif ein and "-" in text:
                kind = TinType.EIN
            else:
                raise InvalidTIN("nine bare digits are ambiguous: give the TIN type")
        if kind is TinType.EIN and ein:
            return cls("".join(ein.groups()), kind)
        if kind is not TinType.EIN and ssn:
            return cls("".join(ssn.groups()), kind)
        raise InvalidTIN(f"not a well-formed {kind}")

    @property
    def is_synthetic(self) -> bool:
        """True for the ranges this project generates: SSN 9XX-01..49, EIN 00-."""
        if self.tin_type is TinType.EIN:
            return int(self.digits[:2]) == SYNTHETIC_EIN_PREFIX
        if self.tin_type is TinType.ITIN:
            return False
        return int(self.digits[:3]) >= 900 and int(self.digits[3:5]) in SYNTHETIC_SSN_GROUPS

    @property
    def last4(self) -> str:
        """The last four digits, the form notices and masked views show."""
        return self.digits[5:]

    def formatted(self) -> str:
        """The full number with its usual hyphens (discloses the TIN)."""
        if self.tin_type is TinType.EIN:
            return f"{self.digits[:2]}-{self.digits[2:]}"
        return f"{self.digits[:3]}-{self.digits[3:5]}-{self.digits[5:]}"

    def masked(self) -> str:
        """The number with all but the last four digits hidden."""
        if self.tin_type is TinType.EIN:
            return f"XX-XXX{self.digits[5:]}"
        return f"XXX-XX-{self.digits[5:]}"

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"TIN({self.tin_type}, {self.masked()})"


def _ssn_or_itin(digits: str) -> TinType:
    if int(digits[:3]) >= 900 and int(digits[3:5]) in _ITIN_GROUPS:
        return TinType.ITIN
    return TinType.SSN


def is_synthetic_tin(digits: str, tin_type: TinType | str) -> bool:
    """True when ``digits`` is a valid TIN of ``tin_type`` inside the synthetic ranges."""
    try:
        return TIN(digits, TinType(tin_type)).is_synthetic
    except InvalidValue:
        return False


class InvalidNameControl(InvalidValue):
    """A name control is malformed, or no name control can be derived from a name."""


_INDIVIDUAL_KEEP = re.compile(r"[^A-Z-]")
_BUSINESS_KEEP = re.compile(r"[^A-Z0-9&-]")
_NAME_CONTROL_FORMAT = re.compile(r"^[A-Z0-9&][A-Z0-9&-]{0,3}$")


@dataclass(frozen=True, slots=True)
class NameControl:
    """The IRS name control: up to four characters matched against the TIN.

    Rules (IRS Publication 1220, Part A "Name Control"; Document 7071-A examples):
    individuals use the first four letters of the last name (hyphen allowed, other
    punctuation and blanks dropped: ``O'Neil`` -> ``ONEI``, ``De La Rosa`` ->
    ``DELA``); businesses use the first four significant characters of the name,
    keeping digits, ``&`` and ``-`` and dropping a leading ``The`` unless only one
    word follows it (``The Willow Co.`` -> ``WILL``, ``The Hawthorn`` -> ``THEH``).
    A name control never starts with a hyphen and is blank-padded to four on files.
    """

    value: str

    def __post_init__(self) -> None:
        if not _NAME_CONTROL_FORMAT.match(self.value):
            raise InvalidNameControl("name control must be 1-4 of A-Z, 0-9, '&', '-', not starting with '-'")

    @classmethod
    def for_individual(cls, last_name: str) -> NameControl:
        """Name control of an individual from the last name."""
        cleaned = _INDIVIDUAL_KEEP.sub("", last_name.upper()).lstrip("-")
        if not cleaned:
            raise InvalidNameControl("last name has no letters to form a name control")
        return cls(cleaned[:4])

    @classmethod
    def for_business(cls, name: str) -> NameControl:
        """Name control of a business or exempt organisation from its name."""
        words = name.upper().split()
        if len(words) > 2 and words[0] == "THE":
            words = words[1:]
        cleaned = _BUSINESS_KEEP.sub("", "".join(words)).lstrip("-")
        if not cleaned:
            raise InvalidNameControl("business name has no characters to form a name control")
        return cls(cleaned[:4])

    def padded(self) -> str:
        """Four characters, blank-padded, as fixed-width files carry it."""
        return self.value.ljust(4)

    def __str__(self) -> str:
        return self.value


class InvalidTaxPeriod(InvalidValue):
    """A tax period is not a valid YYYYMM."""


@dataclass(frozen=True, slots=True, order=True)
class TaxPeriod:
    """The period a tax module covers, ``YYYYMM`` of the month it ends (e.g. 202412)."""

    year: int
    month: int

    MIN_YEAR: ClassVar[int] = 1900
    MAX_YEAR: ClassVar[int] = 2199

    def __post_init__(self) -> None:
        if not (self.MIN_YEAR <= self.year <= self.MAX_YEAR):
            raise InvalidTaxPeriod(f"tax period year must be {self.MIN_YEAR}-{self.MAX_YEAR}")
        if not (1 <= self.month <= 12):
            raise InvalidTaxPeriod("tax period month must be 01-12")

    @classmethod
    def parse(cls, text: str | int) -> TaxPeriod:
        """Parse ``YYYYMM`` (a six-digit string or integer)."""
        s = str(text).strip()
        if len(s) != 6 or not s.isascii() or not s.isdigit():
            raise InvalidTaxPeriod("tax period must be six digits YYYYMM")
        return cls(int(s[:4]), int(s[4:]))

    def __str__(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    def as_int(self) -> int:
        """The period as the integer YYYYMM, the form the store keeps."""
        return self.year * 100 + self.month


class InvalidMoney(InvalidValue):
    """An amount is not a whole number of cents."""


_MONEY_TEXT = re.compile(r"^(-)?\$?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]{1,2}))?$")


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of US dollars held as integer cents; floats are refused.

    Money never goes through binary floating point: a float cannot hold most
    decimal cents exactly, and a ledger that drifts by a cent is wrong.
    """

    cents: int

    def __post_init__(self) -> None:
        if isinstance(self.cents, bool) or not isinstance(self.cents, int):
            raise InvalidMoney("money is a whole number of cents (int), never a float")

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse ``1234.56``, ``-$1,234.5`` or ``12``: dollars with up to two decimals."""
        m = _MONEY_TEXT.match(text.strip())
        if not m:
            raise InvalidMoney("amount must be dollars with at most two decimals")
        sign, whole, frac = m.groups()
        cents = int(whole.replace(",", "")) * 100 + int((frac or "0").ljust(2, "0"))
        return cls(-cents if sign else cents)

    @classmethod
    def dollars(cls, whole_dollars: int) -> Money:
        """An amount of whole dollars."""
        return cls(whole_dollars * 100)

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        return Money(self.cents - other.cents)

    def __neg__(self) -> Money:
        return Money(-self.cents)

    def __str__(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, frac = divmod(abs(self.cents), 100)
        return f"{sign}${whole:,}.{frac:02d}"


class InvalidDLN(InvalidValue):
    """A document locator number is malformed."""


@dataclass(frozen=True, slots=True)
class DLN:
    """Document Locator Number: the 14 digits stamped on every document the IRS posts.

    Layout (IRM 3.10.3 / Document 6209 section 4): file location code (2), tax
    class (1), document code (2), Julian date of receipt (3, 001-366), block (3),
    serial (2), list year digit (1).
    """

    value: str

    def __post_init__(self) -> None:
        v = self.value
        if len(v) != 14 or not v.isascii() or not v.isdigit():
            raise InvalidDLN("DLN must be exactly 14 digits")
        if not 1 <= int(v[5:8]) <= 366:
            raise InvalidDLN("DLN Julian date (digits 6-8) must be 001-366")

    @classmethod
    def build(
        cls, flc: int, tax_class: int, doc_code: int, julian: int, block: int, serial: int, year_digit: int
    ) -> DLN:
        """Assemble a DLN from its parts."""
        return cls(f"{flc:02d}{tax_class:01d}{doc_code:02d}{julian:03d}{block:03d}{serial:02d}{year_digit:01d}")

    @property
    def file_location_code(self) -> str:
        return self.value[:2]

    @property
    def tax_class(self) -> str:
        return self.value[2]

    @property
    def document_code(self) -> str:
        return self.value[3:5]

    @property
    def julian_date(self) -> int:
        return int(self.value[5:8])

    def __str__(self) -> str:
        v = self.value
        return f"{v[:2]}-{v[2]}{v[3:5]}-{v[5:8]}-{v[8:11]}{v[11:13]}-{v[13]}"
