"""The record-at-a-time validation loop for the EBCDIC extracts.

Why a loop here (and not columns): extract records carry nested tables
(transactions, dependents, subjects) decoded by the copybook reader into
dicts, so each record is checked as a whole; a check raises :class:`Reject`
with the field and reason, and the record goes to the quarantine with its raw
bytes. Rows are appended only after every check of the record has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from taxvault.formats.fixedwidth import FormatError
from taxvault.ingest.extracts import Extract, decode_records
from taxvault.ingest.plan import Plan, Quarantined


class Reject(Exception):
    """A record failed a check: the field and the reason (never the value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def validate_records(
    extract: Extract,
    plan: Plan,
    record_type: str,
    check: Callable[[int, Mapping[str, Any]], None],
    name: str,
) -> None:
    """Run ``check`` on every data record; quarantine rejects; verify the trailer hash total."""
    total = Decimal(0)
    verifiable = True
    for number, raw, values in decode_records(extract):
        plan.read += 1
        if values is None:
            verifiable = False
            plan.quarantine.append(Quarantined(number, record_type, "record", "record cannot be decoded", raw))
            continue
        amount = extract.kind.amount(values)
        if extract.kind.amount_path:
            if isinstance(amount, Decimal):
                total += amount
            else:
                verifiable = False
        try:
            check(number, values)
        except Reject as r:
            plan.quarantine.append(Quarantined(number, record_type, r.field, r.reason, raw))
        else:
            plan.loaded += 1
    if extract.kind.amount_path and verifiable and total != extract.stated_amount_total:
        raise FormatError(f"{name}: trailer amount hash total disagrees with the records (records altered?)")


def text(values: Mapping[str, Any], key: str, field: str, *, required: bool = False, max_len: int = 0) -> str:
    """A text field, trimmed; Reject when required and blank, or not text."""
    value = values.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Reject(field, "not text")
    if required and not value:
        raise Reject(field, "required and blank")
    if max_len and len(value) > max_len:
        raise Reject(field, f"longer than {max_len} characters")
    if any(not c.isprintable() for c in value):
        raise Reject(field, "holds unprintable characters")
    return value


def integer(values: Mapping[str, Any], key: str, field: str) -> int:
    value = values.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Reject(field, "not a number")
    return value
