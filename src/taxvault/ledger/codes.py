"""Transaction codes the ledger understands, after IRS Document 6209.

Why a table in code and not in the database: the posting rules, the balance and
the accruals all branch on what a code *means* (a debit, a credit, a freeze), and
that meaning is law-and-procedure, versioned with the code that relies on it,
not data an operator edits.

Source: IRS Document 6209, *IRS Processing Codes and Information*, section 8A
(Master File transaction codes), 2024 edition (Rev. 01-2024), as summarised in
``docs/irs-facts.md`` section 3 from taxproreport.com,
igotmyrefund.com and section6166.com, with IRM 21.6.7 (976) and IRM 21.4.6 (898).
The edition number itself was not read from the PDF; a later edition may renumber
nothing here but should be checked when this table grows.

Which code reverses which: the facts file pins 421/420, 571/570, 807/806; the
others (291 abating 150/290, 301 abating 150/300, 611/610, 651/650, 671/670,
767/766) follow Document 6209 section 8A from memory and were not confirmed
against the document here (UNCERTAIN until someone reads the PDF).

Sign convention (tables.transactions): assessments and other debits are
positive, credits and payments negative; indicator codes (freezes, markers)
carry zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Sign(StrEnum):
    """Which way a code moves the module balance."""

    DEBIT = "debit"  # amount >= 0 (raises what is owed)
    CREDIT = "credit"  # amount <= 0 (lowers what is owed)
    ZERO = "zero"  # indicator only: amount must be 0


class Kind(StrEnum):
    """What a code is, for the accruals: which debits are tax, which credits count when."""

    TAX = "tax"  # an assessment (or abatement) of tax
    WITHHOLDING = "withholding"  # credits deemed paid on the due date (IRC 6513(b))
    PAYMENT = "payment"  # money received, effective when received
    REFUND = "refund"  # overpayment leaving the module
    INDICATOR = "indicator"  # no money: freezes, markers


class UnknownTransactionCode(KeyError):
    """A TC the ledger does not handle: it never posts (it goes unpostable)."""


@dataclass(frozen=True, slots=True)
class TransactionCode:
    """One transaction code: number, meaning, sign, kind, and what it reverses."""

    tc: int
    meaning: str
    sign: Sign
    kind: Kind
    reverses: frozenset[int] = field(default_factory=frozenset)
    zero_ok: bool = False  # may a debit/credit code carry 0 (e.g. a TC 150 with no tax)?

    @property
    def is_reversal(self) -> bool:
        return bool(self.reverses)


def _c(
    tc: int,
    meaning: str,
    sign: Sign,
    kind: Kind,
    reverses: tuple[int, ...] = (),
    zero_ok: bool = False,
) -> TransactionCode:
    return TransactionCode(tc, meaning, sign, kind, frozenset(reverses), zero_ok)


D, C, Z = Sign.DEBIT, Sign.CREDIT, Sign.ZERO

_TABLE: tuple[TransactionCode, ...] = (
    _c(150, "return filed and tax assessed", D, Kind.TAX, zero_ok=True),
    _c(290, "additional tax assessment", D, Kind.TAX, zero_ok=True),
    _c(291, "abatement of prior tax assessment", C, Kind.TAX, reverses=(150, 290)),
    _c(300, "additional tax or deficiency assessed by Examination or Collection", D, Kind.TAX, zero_ok=True),
    _c(301, "abatement of tax by Examination", C, Kind.TAX, reverses=(150, 300)),
    _c(420, "examination indicator (audit opened, -L freeze)", Z, Kind.INDICATOR),
    _c(421, "reverses TC 420 (examination closed)", Z, Kind.INDICATOR, reverses=(420,)),
    _c(430, "estimated tax payment", C, Kind.PAYMENT),
    _c(570, "additional liability pending / credit hold (freezes refunds and notices)", Z, Kind.INDICATOR),
    _c(571, "resolves TC 570 (releases the hold)", Z, Kind.INDICATOR, reverses=(570,)),
    _c(610, "remittance with return", C, Kind.PAYMENT),
    _c(611, "remittance with return dishonored (reverses TC 610)", D, Kind.PAYMENT, reverses=(610,)),
    _c(650, "federal tax deposit (BMF)", C, Kind.PAYMENT),
    _c(651, "federal tax deposit reversed (reverses TC 650)", D, Kind.PAYMENT, reverses=(650,)),
    _c(670, "subsequent payment", C, Kind.PAYMENT),
    _c(671, "subsequent payment dishonored (reverses TC 670)", D, Kind.PAYMENT, reverses=(670,)),
    _c(706, "overpayment credit applied in from another module", C, Kind.PAYMENT),
    _c(766, "generated refundable credit allowance", C, Kind.WITHHOLDING),
    _c(767, "reduction of refundable credit (reverses TC 766)", D, Kind.WITHHOLDING, reverses=(766,)),
    _c(806, "credit for withheld taxes and excess FICA", C, Kind.WITHHOLDING),
    _c(807, "reversal of withholding credit (reverses TC 806)", D, Kind.WITHHOLDING, reverses=(806,)),
    _c(826, "overpayment transferred out (offset to another module)", D, Kind.REFUND),
    _c(846, "refund of overpayment", D, Kind.REFUND),
    _c(898, "refund applied to non-IRS debt (Treasury Offset Program)", D, Kind.REFUND),
    _c(971, "miscellaneous transaction (meaning set by its action code)", Z, Kind.INDICATOR),
    _c(976, "duplicate or amended return posted where a TC 150 exists (-A freeze)", Z, Kind.INDICATOR),
)

CODES: Mapping[int, TransactionCode] = {c.tc: c for c in _TABLE}
"""Every code the ledger handles, by number."""

REFUND_CODES: frozenset[int] = frozenset(c.tc for c in _TABLE if c.kind is Kind.REFUND)
"""Codes that send an overpayment out of the module; frozen by an open TC 570."""

HOLD_TC = 570
ORIGINAL_RETURN_TC = 150
DUPLICATE_RETURN_TC = 976


def code(tc: int) -> TransactionCode:
    """The code ``tc``, or :class:`UnknownTransactionCode`."""
    try:
        return CODES[tc]
    except KeyError:
        raise UnknownTransactionCode(tc) from None


def sign_ok(tc: TransactionCode, amount_cents: int) -> bool:
    """Does ``amount_cents`` carry the sign the code requires?"""
    if tc.sign is Sign.ZERO:
        return amount_cents == 0
    if amount_cents == 0:
        return tc.zero_ok
    return amount_cents > 0 if tc.sign is Sign.DEBIT else amount_cents < 0
