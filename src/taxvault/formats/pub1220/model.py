"""What a Pub 1220 file reads into.

Why columnar payees: a file may hold two million B records; one Python object per
payee costs more than the parse itself. Payees are therefore numpy columns
(:class:`PayeeColumns`), with :meth:`PayeeColumns.row` / :meth:`PayeeColumns.rows`
for code that wants one dataclass per payee (tests, small files) and
:meth:`PayeeColumns.to_arrow` for bulk loads. Everything else (one T, a few A/C/K,
one F) is a plain frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from taxvault.formats.fixedwidth import ControlProblem, RecordProblem, text_column
from taxvault.formats.pub1220.amount_codes import AMOUNT_CODES, FORM_BY_TYPE_OF_RETURN, box_table
from taxvault.formats.pub1220.layout import B, Pos

BytesCol = npt.NDArray[np.bytes_]


@dataclass(frozen=True)
class Transmitter:
    """T record: who sent the file."""

    record_number: int
    payment_year: int | None
    prior_year_data: bool
    tin: str = field(repr=False)
    tcc: str
    test_file: bool
    foreign_entity: bool
    name: str
    name2: str
    company_name: str
    company_name2: str
    company_address: str
    company_city: str
    company_state: str
    company_zip: str
    total_payees: int | None
    contact_name: str
    contact_phone: str
    contact_email: str
    vendor_indicator: str


@dataclass(frozen=True)
class ControlTotals:
    """C record (or K record) totals: payee count and one total per amount code."""

    record_number: int
    record_type: str
    payee_count: int | None
    totals: Mapping[str, int | None]
    state_tax: int | None = None
    local_tax: int | None = None
    fed_state_code: str = ""


@dataclass(frozen=True)
class Payer:
    """A record, with where its payees sit in :class:`PayeeColumns` and its closing C/K records."""

    record_number: int
    payment_year: int | None
    combined_fed_state: bool
    tin: str = field(repr=False)
    name_control: str
    last_filing: bool
    type_of_return: str
    amount_codes: str
    foreign_entity: bool
    name: str
    name2: str
    transfer_agent: bool
    address: str
    city: str
    state: str
    zip: str
    phone: str
    payee_start: int
    payee_stop: int
    end_of_payer: ControlTotals
    state_totals: tuple[ControlTotals, ...]

    @property
    def form(self) -> str | None:
        """Form name (``"1099-NEC"``) for the type of return, or None when unmapped."""
        return FORM_BY_TYPE_OF_RETURN.get(self.type_of_return)

    @property
    def payee_count(self) -> int:
        return self.payee_stop - self.payee_start


@dataclass(frozen=True)
class EndOfTransmission:
    """F record: counts of payers and payees in the whole file."""

    record_number: int
    payer_count: int | None
    total_payees: int | None


@dataclass(frozen=True)
class Payee:
    """One B record as Python values (built on demand from the columns)."""

    record_number: int
    payer_index: int
    payment_year: int | None
    corrected: str
    name_control: str
    tin_type: str
    tin: str = field(repr=False)
    account_number: str = field(repr=False)
    office_code: str
    amounts: Mapping[str, int]
    foreign_country: bool
    name: str
    name2: str
    address: str
    city: str
    state: str
    zip: str
    state_tax: int
    local_tax: int
    fed_state_code: str
    valid: bool


def _s(value: bytes) -> str:
    return value.decode("latin-1").rstrip()


def _text_property(name: str, pos: Pos, legacy: Pos | None = None) -> cached_property[BytesCol]:
    """A text column decoded from the B records on first use (most loads need a few)."""

    def column(self: PayeeColumns) -> BytesCol:
        col = self.text(pos)
        if legacy is not None and self.legacy.any():
            col = np.where(self.legacy, self.text(legacy), col)
        return col

    column.__name__ = name
    column.__doc__ = f"B {pos.start}-{pos.end} ({name}) as fixed-width bytes, NULs as blanks."
    prop = cached_property(column)
    return prop


@dataclass(frozen=True, eq=False)
class PayeeColumns:
    """All B records of a file as columns; row ``i`` is the ``i``-th B record of the file.

    ``file_records`` is the zero-copy ``(records, 750)`` view of the whole file
    and ``file_rows`` the row of each B record in it; ``records`` (the B records
    alone) is built from them on first use only, since copying a big file's B
    records out from between its A/C records costs as much as parsing them.
    Text columns (``tin``, ``name``, ...) are numpy fixed-width bytes cut from
    the file on first access, so a load that needs only TINs and amounts pays
    for nothing else. ``amounts`` is int64 cents with one
    column per amount code in :data:`AMOUNT_CODES` order; ``legacy`` marks rows in
    the pre-2020 layout; ``valid`` is False for rows with a record problem.
    """

    file_records: npt.NDArray[np.uint8]
    file_rows: npt.NDArray[np.intp]
    record_number: npt.NDArray[np.int64]
    payer_index: npt.NDArray[np.int64]
    payment_year: npt.NDArray[np.int64]
    amounts: npt.NDArray[np.int64]
    state_tax: npt.NDArray[np.int64]
    local_tax: npt.NDArray[np.int64]
    legacy: npt.NDArray[np.bool_]
    valid: npt.NDArray[np.bool_]

    corrected = _text_property("corrected", B.corrected)
    name_control = _text_property("name_control", B.name_control)
    tin_type = _text_property("tin_type", B.tin_type)
    tin = _text_property("tin", B.tin)
    account_number = _text_property("account_number", B.account_number)
    office_code = _text_property("office_code", B.office_code)
    foreign_country = _text_property("foreign_country", B.foreign_country, B.legacy_foreign_country)
    name = _text_property("name", B.name, B.legacy_name)
    name2 = _text_property("name2", B.name2, B.legacy_name2)
    address = _text_property("address", B.address)
    city = _text_property("city", B.city)
    state = _text_property("state", B.state)
    zip = _text_property("zip", B.zip)
    fed_state_code = _text_property("fed_state_code", B.fed_state_code)

    def __len__(self) -> int:
        return int(self.record_number.shape[0])

    @cached_property
    def _span(self) -> tuple[int, int] | None:
        """``(first, stop)`` rows of the file when the B records are contiguous, else None."""
        rows = self.file_rows
        n = len(rows)
        if n == 0:
            return (0, 0)
        first, last = int(rows[0]), int(rows[-1])
        return (first, last + 1) if last - first == n - 1 else None

    @cached_property
    def records(self) -> npt.NDArray[np.uint8]:
        """The raw 750-byte B records, ``(n, 750)`` (a view when contiguous in the file)."""
        span = self._span
        if span is not None:
            return self.file_records[span[0] : span[1]]
        return self.file_records[self.file_rows]

    def record(self, i: int) -> bytes:
        """B record ``i`` as bytes."""
        return bytes(self.file_records[int(self.file_rows[i])])

    def text(self, pos: Pos) -> BytesCol:
        """Field ``pos`` of every B record as fixed-width bytes, NULs as blanks."""
        span = self._span
        if span is not None:
            return text_column(self.file_records[span[0] : span[1]], pos.start, pos.end)
        block = self.file_records[self.file_rows, pos.start - 1 : pos.end]
        return text_column(block, 1, pos.width)

    def row(self, i: int) -> Payee:
        """Payee ``i`` as Python values."""
        year = int(self.payment_year[i])
        return Payee(
            record_number=int(self.record_number[i]),
            payer_index=int(self.payer_index[i]),
            payment_year=year if year >= 0 else None,
            corrected=_s(self.corrected[i]),
            name_control=_s(self.name_control[i]),
            tin_type=_s(self.tin_type[i]),
            tin=_s(self.tin[i]),
            account_number=_s(self.account_number[i]),
            office_code=_s(self.office_code[i]),
            amounts=MappingProxyType({code: int(self.amounts[i, k]) for k, code in enumerate(AMOUNT_CODES)}),
            foreign_country=self.foreign_country[i].strip() == b"1",
            name=_s(self.name[i]),
            name2=_s(self.name2[i]),
            address=_s(self.address[i]),
            city=_s(self.city[i]),
            state=_s(self.state[i]),
            zip=_s(self.zip[i]),
            state_tax=int(self.state_tax[i]),
            local_tax=int(self.local_tax[i]),
            fed_state_code=_s(self.fed_state_code[i]),
            valid=bool(self.valid[i]),
        )

    def rows(self) -> Iterator[Payee]:
        for i in range(len(self)):
            yield self.row(i)

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` with trimmed string columns and one int64 column per amount code."""
        import pyarrow as pa
        import pyarrow.compute as pc

        def strings(col: BytesCol) -> Any:
            return pc.utf8_rtrim(pa.array(col, type=pa.binary()).cast(pa.string()), characters=" ")

        columns: dict[str, Any] = {
            "record_number": pa.array(self.record_number),
            "payer_index": pa.array(self.payer_index),
            "payment_year": pa.array(self.payment_year),
        }
        for name in (
            "corrected",
            "name_control",
            "tin_type",
            "tin",
            "account_number",
            "office_code",
            "foreign_country",
            "name",
            "name2",
            "address",
            "city",
            "state",
            "zip",
            "fed_state_code",
        ):
            columns[name] = strings(getattr(self, name))
        for k, code in enumerate(AMOUNT_CODES):
            columns[f"amount_{code}"] = pa.array(self.amounts[:, k])
        columns["state_tax"] = pa.array(self.state_tax)
        columns["local_tax"] = pa.array(self.local_tax)
        columns["valid"] = pa.array(self.valid)
        return pa.table(columns)


@dataclass(frozen=True, eq=False)
class Pub1220File:
    """A whole Pub 1220 file: records, per-record problems, and control-total problems."""

    transmitter: Transmitter
    payers: tuple[Payer, ...]
    payees: PayeeColumns
    end_of_transmission: EndOfTransmission
    record_count: int
    record_problems: tuple[RecordProblem, ...]
    control_problems: tuple[ControlProblem, ...]

    @property
    def consistent(self) -> bool:
        """True when no mandatory control total disagrees with the records (warnings allowed)."""
        return not any(p.severity == "error" for p in self.control_problems)

    def amounts_by_box(self, i: int) -> dict[str, int]:
        """Payee ``i``'s amounts keyed by box name, for the codes its payer declares.

        The A record's type of return and amount codes decide which Payment
        Amount field is which box (:func:`amount_codes.box_table`); codes the
        form does not define are keyed ``"amount_code_X"`` so nothing is lost.
        """
        payer = self.payers[int(self.payees.payer_index[i])]
        table = box_table(payer.type_of_return, payer.payment_year)
        out: dict[str, int] = {}
        for code in payer.amount_codes:
            if code not in AMOUNT_CODES:
                continue
            value = int(self.payees.amounts[i, AMOUNT_CODES.index(code)])
            entry = table.get(code)
            out[entry.name if entry else f"amount_code_{code}"] = value
        return out
