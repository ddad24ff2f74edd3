"""Masking: what each field looks like for a given role and purpose.

TINs and bank numbers show their last four, birth dates their year, unless the
purpose needs the full value; the response has the same shape either way (the
field is still there, as a string). Engineers see only the field categories
their grant names; the rest is withheld (null).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from taxvault.store.tins import SealedTin

Record = dict[str, Any]


def last_four(value: Any) -> str | None:
    """``*****6789``: the last four characters, the rest starred."""
    if value is None:
        return None
    text = str(value)
    return "*" * max(len(text) - 4, 0) + text[-4:]


def year_only(value: Any) -> str | None:
    """A date as its year."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        return f"{value.year:04d}"
    return str(value)[:4]


def full_text(value: Any) -> str | None:
    """A value as text (dates in ISO 8601); a sealed TIN decrypted (the only place one is)."""
    if value is None:
        return None
    if isinstance(value, SealedTin):
        return value.reveal()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


MASKS: dict[str, Callable[[Any], str | None]] = {
    "tin": last_four,
    "payer_tin": last_four,
    "payee_tin": last_four,
    "bank_account": last_four,
    "bank_routing": last_four,
    "birth_date": year_only,
}
"""Sensitive fields and their masked form."""

SENSITIVE_MARK = "x-taxvault-sensitive"
SENSITIVE: dict[str, Any] = {SENSITIVE_MARK: True}
"""``Field(json_schema_extra=SENSITIVE)`` marks a response field the door masks (a key of :data:`MASKS`).

A test walks every response model of the API and holds the marks and :data:`MASKS` to each other,
so a new sensitive field cannot reach a response unmasked and unmarked."""

PURPOSE_NEEDS_FULL: dict[str, frozenset[str]] = {
    "examination": frozenset({"tin", "payer_tin", "payee_tin", "birth_date", "bank_account", "bank_routing"}),
    "collection": frozenset({"tin", "bank_account", "bank_routing"}),
    "underreporter": frozenset({"tin", "payer_tin", "payee_tin"}),
    "taxpayer_assistance": frozenset(),
}
"""Fields a purpose needs in full (only for a caseworker acting on an assigned case)."""

GRANT_CATEGORY: dict[str, str] = {
    "first_name": "name",
    "middle_name": "name",
    "last_name": "name",
    "business_name": "name",
    "name_control": "name",
    "address_line": "address",
    "city": "address",
    "state": "address",
    "zip": "address",
    "tin": "tin_last4",
    "birth_date": "birth_date",
    "death_date": "birth_date",
    "bank_account": "bank",
    "bank_routing": "bank",
    "payer_tin": "payer_tin",
    "payee_tin": "payee_tin",
    "filing_status": "filing_status",
    "income_cents": "amounts",
    "withholding_cents": "amounts",
    "boxes": "amounts",
}
"""Field -> the category an engineer's grant must name for it to be disclosed."""

RETURN_LINE_ITEMS = (
    "wages_cents", "interest_cents", "dividends_cents", "business_income_cents", "retirement_income_cents",
    "total_income_cents", "agi_cents", "deduction_cents", "taxable_income_cents", "tax_cents",
    "credits_cents", "total_tax_cents", "withholding_cents", "payments_cents", "refund_cents",
    "balance_due_cents",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MaskPlan:
    """How to disclose one response: which fields in full, which categories at all."""

    full: frozenset[str] = frozenset()
    categories: frozenset[str] | None = None  # None: every category; else only these (engineers)
    line_items_are_amounts: bool = False

    def category(self, name: str) -> str | None:
        if self.line_items_are_amounts and name in RETURN_LINE_ITEMS:
            return "line_items"
        return GRANT_CATEGORY.get(name)


@dataclass(slots=True)
class Disclosure:
    """The field names a response disclosed, masked and withheld (names only, never values)."""

    disclosed: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    withheld: set[str] = field(default_factory=set)

    def audit_fields(self, structural: frozenset[str] = frozenset()) -> list[str]:
        """Field names for the audit event: masked ones marked ``name:masked``; structure left out."""
        return sorted({n + ":masked" if n in self.masked else n for n in self.disclosed if n not in structural})


def mask_record(record: Record, plan: MaskPlan, out: Disclosure, skip: Iterable[str] = ()) -> Record:
    """Mask one record in place-shape (a new dict with the same keys)."""
    result: Record = {}
    skipped = set(skip)
    for name, value in record.items():
        if name in skipped:
            result[name] = value
            continue
        if plan.categories is not None:
            cat = plan.category(name)
            if cat is not None and cat not in plan.categories and not (cat == "tin_last4" and "tin" in plan.categories):
                result[name] = None
                if value is not None:
                    out.withheld.add(name)
                continue
        mask = MASKS.get(name)
        if mask is not None:
            if name in plan.full:
                value = full_text(value)
            else:
                value = mask(value)
                if value is not None:
                    out.masked.add(name)
        elif isinstance(value, dt.date):
            value = value.isoformat()
        result[name] = value
        if value is not None:
            out.disclosed.add(name)
    return result


def mask_body(value: Any, plan: MaskPlan, out: Disclosure, *, structural: frozenset[str] = frozenset()) -> Any:
    """Mask a whole response body (nested dicts and lists), recording what it disclosed."""
    if isinstance(value, dict):
        flat = {k: v for k, v in value.items() if not isinstance(v, dict | list) or k == "boxes"}
        result = mask_record(flat, plan, out)
        for k, v in value.items():
            if k not in flat:
                result[k] = mask_body(v, plan, out, structural=structural)
                if k not in structural:
                    out.disclosed.add(k)
        return {k: result[k] for k in value}
    if isinstance(value, list):
        return [mask_body(v, plan, out, structural=structural) for v in value]
    return value
