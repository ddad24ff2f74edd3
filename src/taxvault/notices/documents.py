"""What a notice says: the document a notice PDF is rendered from, validated.

A :class:`NoticeDocument` is the complete, already-computed content of one
notice (who, which account, which amounts, which deadline). Rendering does no
arithmetic and no look-ups, so the same document always renders to the same
bytes, and a document that exists has passed every check here: the cycle that
builds thousands of them learns about a bad one when it builds it, not when a
taxpayer reads it.

Why validate at all, when the ledger computed the amounts: a notice is a legal
document sent to a person. A total that does not add up, a deadline before the
notice date or a collection-due-process deadline shorter than the 30 days
IRC 6330(a)(3)(B) gives would be a defective notice, and a TIN pasted into a
printed field (say, used as the notice number) would disclose it. Those are
refused with :class:`NoticeError`, whose messages name the rule and the field,
never the TIN.

The TIN is printed only masked (:func:`mask_tin`), as IRS notices show it:
``XXX-XX-1234`` for an SSN or ITIN, ``XX-XXX1234`` for an EIN.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from taxvault.model.values import TIN, InvalidTIN, TinType


class NoticeError(ValueError):
    """A notice document is incomplete or inconsistent; the message never contains the TIN."""


class NoticeType(StrEnum):
    """The notices the agency sends, in the order collection escalates, plus CP2000.

    CP14 (first balance-due notice) -> CP501 (reminder) -> CP503 (second
    reminder) -> CP504 (notice of intent to levy, IRC 6331(d)) -> LT11 (ACS) or
    Letter 1058 (field): final notice of intent to levy with collection due
    process rights (IRC 6330). CP2000 is the Automated Underreporter proposal.
    """

    CP14 = "CP14"
    CP501 = "CP501"
    CP503 = "CP503"
    CP504 = "CP504"
    LT11 = "LT11"
    L1058 = "L1058"
    CP2000 = "CP2000"


BALANCE_DUE_TYPES = frozenset(
    {NoticeType.CP14, NoticeType.CP501, NoticeType.CP503, NoticeType.CP504, NoticeType.LT11, NoticeType.L1058}
)
"""Notices that bill an assessed balance (everything but the CP2000 proposal)."""

CDP_TYPES = frozenset({NoticeType.LT11, NoticeType.L1058})
"""Final notices of intent to levy, which carry the right to a CDP hearing (IRC 6330)."""

CDP_REQUEST_DAYS = 30
"""IRC 6330(a)(3)(B): a CDP hearing may be requested within 30 days of the notice."""

MAX_CENTS = 10**15 - 1
"""Largest amount a notice prints ($9,999,999,999,999.99): beyond it is a data error, not a tax bill."""

MAX_ADDRESS_LINES = 5


def cdp_deadline(notice_date: dt.date) -> dt.date:
    """The last day of the 30-day period to request a CDP hearing for a letter dated ``notice_date``.

    26 CFR 301.6330-1(c)(2) Q&A-C3: the period starts the day after the notice
    date, so the 30th day is ``notice_date + 30 days``. A final notice's
    ``respond_by`` may be later (IRC 7503 moves a deadline falling on a weekend
    or holiday to the next business day) but never earlier.
    """
    return notice_date + dt.timedelta(days=CDP_REQUEST_DAYS)


@dataclass(frozen=True, slots=True)
class UnreportedItem:
    """One CP2000 line: income a payer reported to us and what the return showed for it."""

    payer_name: str
    form: str
    reported_by_payer_cents: int
    reported_on_return_cents: int

    def __post_init__(self) -> None:
        _check_text("payer_name", self.payer_name, 80)
        _check_text("form", self.form, 16)
        _check_cents("reported_by_payer_cents", self.reported_by_payer_cents)
        _check_cents("reported_on_return_cents", self.reported_on_return_cents, signed=True)  # a loss is < 0

    @property
    def difference_cents(self) -> int:
        """What the payer reported beyond the return (negative when the return showed more)."""
        return self.reported_by_payer_cents - self.reported_on_return_cents


@dataclass(frozen=True, slots=True)
class NoticeDocument:
    """The complete content of one notice; construction validates it (see the module docstring).

    ``tin`` is the full nine digits, kept only so the notice can print it
    masked; it is left out of ``repr()`` so a document in a log line or a
    traceback does not disclose it.
    """

    notice_type: NoticeType
    notice_number: str
    notice_date: dt.date
    respond_by: dt.date
    taxpayer_name: str
    address_lines: tuple[str, ...]
    tin: str = field(repr=False)
    tin_type: str
    form: str
    tax_period: int
    tax_cents: int
    penalty_ftf_cents: int
    penalty_ftp_cents: int
    interest_cents: int
    amount_due_cents: int
    unreported: tuple[UnreportedItem, ...] = ()
    proposed_tax_increase_cents: int = 0

    def __post_init__(self) -> None:
        try:
            kind = NoticeType(self.notice_type)
        except ValueError:
            raise NoticeError("notice_type is not a known notice type") from None
        mask_tin(self.tin, self.tin_type)  # validates the TIN and its type
        _check_text("notice_number", self.notice_number, 40)
        _check_text("taxpayer_name", self.taxpayer_name, 120)
        _check_text("form", self.form, 16)
        if not isinstance(self.address_lines, tuple) or not 1 <= len(self.address_lines) <= MAX_ADDRESS_LINES:
            raise NoticeError(f"address_lines must be a tuple of 1 to {MAX_ADDRESS_LINES} lines")
        for i, line in enumerate(self.address_lines):
            _check_text(f"address_lines[{i}]", line, 80)
        _check_date("notice_date", self.notice_date)
        _check_date("respond_by", self.respond_by)
        if self.respond_by <= self.notice_date:
            raise NoticeError("respond_by must be after notice_date")
        if kind in CDP_TYPES and self.respond_by < cdp_deadline(self.notice_date):
            raise NoticeError(
                f"respond_by of a final notice of intent to levy must give the {CDP_REQUEST_DAYS} days "
                "IRC 6330 allows to request a CDP hearing"
            )
        tax_period_end(self.tax_period)  # validates YYYYMM
        parts = {
            "tax_cents": self.tax_cents,
            "penalty_ftf_cents": self.penalty_ftf_cents,
            "penalty_ftp_cents": self.penalty_ftp_cents,
            "interest_cents": self.interest_cents,
        }
        for name, cents in parts.items():
            _check_cents(name, cents)
        _check_cents("amount_due_cents", self.amount_due_cents)
        if sum(parts.values()) != self.amount_due_cents:
            raise NoticeError("amount_due_cents must equal tax + failure-to-file + failure-to-pay + interest")
        _check_cents("proposed_tax_increase_cents", self.proposed_tax_increase_cents)
        if not isinstance(self.unreported, tuple) or not all(isinstance(i, UnreportedItem) for i in self.unreported):
            raise NoticeError("unreported must be a tuple of UnreportedItem")
        if kind is NoticeType.CP2000:
            if not self.unreported:
                raise NoticeError("a CP2000 must list the unreported items it proposes changes for")
        else:
            if self.unreported or self.proposed_tax_increase_cents:
                raise NoticeError("only a CP2000 carries unreported items and a proposed tax increase")
            if self.amount_due_cents == 0:
                raise NoticeError("a balance-due notice must have an amount due")
        self._check_no_tin_printed()

    def _check_no_tin_printed(self) -> None:
        """Refuse a document whose printed free text contains the full TIN, however it is punctuated.

        Only separators a written TIN uses (blank, hyphen, dot, slash) are
        removed before looking; letters are kept, so an opaque id such as
        ``n9a1b2...`` is not mistaken for a TIN whose digits it happens to hold.
        """
        printed = [
            ("notice_number", self.notice_number),
            ("taxpayer_name", self.taxpayer_name),
            ("form", self.form),
            *((f"address_lines[{i}]", line) for i, line in enumerate(self.address_lines)),
            *((f"unreported[{i}].payer_name", item.payer_name) for i, item in enumerate(self.unreported)),
            *((f"unreported[{i}].form", item.form) for i, item in enumerate(self.unreported)),
        ]
        for name, text in printed:
            if self.tin in _TIN_SEPARATORS.sub("", text):
                raise NoticeError(f"{name} contains the taxpayer's TIN, which a notice prints only masked")

    @property
    def masked_tin(self) -> str:
        """The TIN as the notice prints it."""
        return mask_tin(self.tin, self.tin_type)


_TIN_SEPARATORS = re.compile(r"[\s\-./]")


def mask_tin(tin: str, tin_type: str) -> str:
    """The TIN as IRS notices print it: ``XXX-XX-1234`` (SSN, ITIN) or ``XX-XXX1234`` (EIN).

    Raises :class:`NoticeError` (naming the rule, never the value) when ``tin``
    is not a valid nine-digit TIN of ``tin_type``.
    """
    try:
        kind = TinType(tin_type)
    except ValueError:
        raise NoticeError("tin_type must be SSN, ITIN or EIN") from None
    if not isinstance(tin, str):
        raise NoticeError("tin must be a string of nine digits")
    try:
        return TIN(tin, kind).masked()
    except InvalidTIN as exc:  # the model's messages name the rule, not the value
        raise NoticeError(f"tin: {exc}") from None


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(day: dt.date) -> str:
    """``July 16, 2025``; English month names whatever the process locale (``%B`` is locale-dependent)."""
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def tax_period_end(tax_period: int) -> dt.date:
    """The last day of a YYYYMM tax period (a period is named by the month it ends)."""
    if type(tax_period) is not int:
        raise NoticeError("tax_period must be an integer YYYYMM")
    year, month = divmod(tax_period, 100)
    if not 1900 <= year <= 2999 or not 1 <= month <= 12:
        raise NoticeError("tax_period must be YYYYMM with a month 01-12")
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def format_tax_period(tax_period: int) -> str:
    """``December 31, 2024`` for 202412, as notices print the period ending date."""
    return format_date(tax_period_end(tax_period))


def format_money(cents: int) -> str:
    """``$1,234.56`` from integer cents (negative as ``-$1,234.56``); no float on the way."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


# Characters the PDF core fonts (WinAnsiEncoding) print: printable ASCII and Latin-1 0xA0-0xFF.
_PRINTABLE = frozenset(chr(c) for c in [*range(0x20, 0x7F), *range(0xA0, 0x100)])
_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def printable(text: str) -> str:
    """``text`` reduced to what a core PDF font can show.

    Names and addresses come from records that may hold any Unicode; the core
    fonts (no font files to ship) cover Latin-1 only. Accents outside Latin-1
    are folded (``Ł`` has no decomposition and becomes ``?``, ``ő`` becomes
    ``o``), typographic quotes and dashes become ASCII, control characters a
    space, so a notice is always renderable and never silently drops a name.
    """
    if all(c in _PRINTABLE for c in text):
        return text
    out = []
    for c in text.translate(_FOLD):
        if c in _PRINTABLE:
            out.append(c)
        elif unicodedata.category(c).startswith("C") or c.isspace():
            out.append(" ")
        else:
            kept = [d for d in unicodedata.normalize("NFKD", c) if d in _PRINTABLE]
            out.append("".join(kept) or "?")
    return "".join(out)


def _check_text(name: str, value: object, max_len: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise NoticeError(f"{name} must be a non-empty string")
    if len(value) > max_len:
        raise NoticeError(f"{name} is longer than {max_len} characters")


def _check_cents(name: str, value: object, *, signed: bool = False) -> None:
    if type(value) is not int:  # bool is an int subclass and float is never money
        raise NoticeError(f"{name} must be an integer number of cents")
    if not (-MAX_CENTS if signed else 0) <= value <= MAX_CENTS:
        raise NoticeError(f"{name} must be between {-MAX_CENTS if signed else 0} and {MAX_CENTS} cents")


def _check_date(name: str, value: object) -> None:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise NoticeError(f"{name} must be a date (not a datetime)")
