"""Read a Publication 1220 (FIRE) file into columns, with per-record and control-total problems.

Edition: Publication 1220 Rev. 9-2024 (tax year 2024); positions in :mod:`.layout`.

How: the file is framed into a zero-copy ``(records, 750)`` numpy view; the
record-type column is checked against the grammar ``T (A B* C K*)+ F`` with one
regex; the few T/A/C/K/F records are decoded in Python; the B records, which
may number in the millions, are decoded column by column with numpy in chunks.
Only fields that are not plain digits (signs, overpunch, junk) take a slow
per-field path.

Tolerated quirks of real writers (tests/conformance/pub1220/others/README.md):
NUL bytes as blanks; no line ends, or CR/LF after each record; the older A
layout (16 amount codes in 28-43); blank H/J amounts of the older B/C layout;
K records naming the state by postal abbreviation instead of its numeric code.
"""

from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from taxvault.formats.fixedwidth import (
    U8,
    FormatError,
    RecordProblem,
    bad_digit_rows,
    check_order,
    digit_block,
    frame_records,
    refuse_inconsistent,
    signed_amount,
    sparse_digit_block,
    text,
    unsigned,
)
from taxvault.formats.pub1220 import layout as L
from taxvault.formats.pub1220.amount_codes import AMOUNT_CODES, STATE_FIELDS_TYPES
from taxvault.formats.pub1220.controls import check_controls
from taxvault.formats.pub1220.model import (
    ControlTotals,
    EndOfTransmission,
    Payee,
    PayeeColumns,
    Payer,
    Pub1220File,
    Transmitter,
)

FORMAT = "Pub 1220"
_CHUNK = 1 << 16
_GRAMMAR = re.compile(r"T(?:AB*CK*)+F")
_NAMES = {
    "T": "T (transmitter)",
    "A": "A (payer)",
    "B": "B (payee)",
    "C": "C (end of payer)",
    "K": "K (state totals)",
    "F": "F (end of transmission)",
}
_MACHINE = {
    "start": {"T": "t"},
    "t": {"A": "a"},
    "a": {"B": "a", "C": "c"},
    "c": {"K": "c", "A": "a", "F": "end"},
    "end": {},
}


def read_pub1220(data: bytes, *, strict: bool = False) -> Pub1220File:
    """Parse a whole Pub 1220 file.

    Raises :class:`FormatError` when the bytes are not a Pub 1220 file (empty,
    truncated, wrong record length, first record not T, records out of order).
    Bad B-record fields are returned in ``record_problems``; control totals that
    disagree with the records in ``control_problems``. With ``strict=True`` an
    error-level control problem raises :class:`ControlTotalsError` instead.
    """
    data = bytes(data)
    if not data:
        raise FormatError(f"{FORMAT}: empty file")
    if data[:1] != b"T":
        raise FormatError(f"{FORMAT}: first record is not a T (transmitter) record")
    mat = frame_records(data, L.RECORD_LENGTH, FORMAT)
    kinds = mat[:, 0].tobytes().decode("latin-1")
    check_order(kinds, _GRAMMAR, _MACHINE, {"end"}, _NAMES, FORMAT)

    types = mat[:, 0]
    a_rows = np.flatnonzero(types == ord("A"))
    c_rows = np.flatnonzero(types == ord("C"))
    k_rows = np.flatnonzero(types == ord("K"))
    b_rows = np.flatnonzero(types == ord("B"))

    transmitter = _transmitter(bytes(mat[0]))
    end = _end_of_transmission(bytes(mat[-1]), len(kinds))

    # payer index of every B: number of A records before it, minus one
    b_payer = np.searchsorted(a_rows, b_rows) - 1
    k_payer = np.searchsorted(a_rows, k_rows) - 1
    starts = np.searchsorted(b_payer, np.arange(len(a_rows)), side="left")
    stops = np.searchsorted(b_payer, np.arange(len(a_rows)), side="right")

    payers: list[Payer] = []
    for p, a_row in enumerate(a_rows):
        c_total = _totals(bytes(mat[c_rows[p]]), int(c_rows[p]) + 1)
        k_totals = tuple(_totals(bytes(mat[r]), int(r) + 1) for r in k_rows[k_payer == p])
        payers.append(_payer(bytes(mat[a_row]), int(a_row) + 1, int(starts[p]), int(stops[p]), c_total, k_totals))

    state_types = np.array([p.type_of_return in STATE_FIELDS_TYPES for p in payers], dtype=bool)
    payees, problems = _payees(mat, b_rows, b_payer, state_types)

    controls = check_controls(transmitter, tuple(payers), payees, end, sequence_numbers(mat), tuple(problems))
    result = Pub1220File(
        transmitter=transmitter,
        payers=tuple(payers),
        payees=payees,
        end_of_transmission=end,
        record_count=len(kinds),
        record_problems=tuple(problems),
        control_problems=tuple(controls),
    )
    if strict and not result.consistent:
        refuse_inconsistent(FORMAT, controls)
    return result


def sequence_numbers(mat: U8) -> npt.NDArray[np.int64]:
    """Record sequence numbers (500-507) of every record; -1 where not numeric."""
    values, ok, _ = digit_block(mat, L.SEQUENCE.start, L.SEQUENCE.width, 1)
    return np.where(ok[:, 0], values[:, 0], -1)


def _flag(raw: bytes, yes: bytes = b"1") -> bool:
    return raw.strip(b" \x00") == yes


def _year(record: bytes) -> int | None:
    raw = L.PAYMENT_YEAR.take(record)
    return int(raw) if raw.isdigit() else None


def _count(raw: bytes) -> int | None:
    """A count field; blank means 'not stated' (None), junk too (checked as a problem later)."""
    if not raw.strip(b" \x00"):
        return None
    return unsigned(raw)


def _transmitter(rec: bytes) -> Transmitter:
    t = L.T
    return Transmitter(
        record_number=1,
        payment_year=_year(rec),
        prior_year_data=_flag(t.prior_year_data.take(rec), b"P"),
        tin=text(t.tin.take(rec)),
        tcc=text(t.tcc.take(rec)),
        test_file=_flag(t.test_file.take(rec), b"T"),
        foreign_entity=_flag(t.foreign_entity.take(rec)),
        name=text(t.name.take(rec)),
        name2=text(t.name2.take(rec)),
        company_name=text(t.company_name.take(rec)),
        company_name2=text(t.company_name2.take(rec)),
        company_address=text(t.company_address.take(rec)),
        company_city=text(t.company_city.take(rec)),
        company_state=text(t.company_state.take(rec)),
        company_zip=text(t.company_zip.take(rec)),
        total_payees=_count(t.total_payees.take(rec)),
        contact_name=text(t.contact_name.take(rec)),
        contact_phone=text(t.contact_phone.take(rec)),
        contact_email=text(t.contact_email.take(rec)),
        vendor_indicator=text(t.vendor_indicator.take(rec)),
    )


def _payer(rec: bytes, number: int, start: int, stop: int, c: ControlTotals, ks: tuple[ControlTotals, ...]) -> Payer:
    a = L.A
    codes = text(a.amount_codes.take(rec)).replace(" ", "")
    return Payer(
        record_number=number,
        payment_year=_year(rec),
        combined_fed_state=_flag(a.combined_fed_state.take(rec)),
        tin=text(a.tin.take(rec)),
        name_control=text(a.name_control.take(rec)),
        last_filing=_flag(a.last_filing.take(rec)),
        type_of_return=text(a.type_of_return.take(rec)).strip(),
        amount_codes=codes,
        foreign_entity=_flag(a.foreign_entity.take(rec)),
        name=text(a.name.take(rec)),
        name2=text(a.name2.take(rec)),
        transfer_agent=_flag(a.transfer_agent.take(rec)),
        address=text(a.address.take(rec)),
        city=text(a.city.take(rec)),
        state=text(a.state.take(rec)),
        zip=text(a.zip.take(rec)),
        phone=text(a.phone.take(rec)),
        payee_start=start,
        payee_stop=stop,
        end_of_payer=c,
        state_totals=ks,
    )


def _totals(rec: bytes, number: int) -> ControlTotals:
    kind = chr(rec[0])
    totals = {code: signed_amount(L.C.total(code).take(rec)) for code in AMOUNT_CODES}
    if kind == "K":
        return ControlTotals(
            record_number=number,
            record_type=kind,
            payee_count=_count(L.C.payee_count.take(rec)),
            totals=MappingProxyType(totals),
            state_tax=signed_amount(L.K.state_tax.take(rec)),
            local_tax=signed_amount(L.K.local_tax.take(rec)),
            fed_state_code=text(L.K.fed_state_code.take(rec)).strip(),
        )
    return ControlTotals(
        record_number=number,
        record_type=kind,
        payee_count=_count(L.C.payee_count.take(rec)),
        totals=MappingProxyType(totals),
    )


def _end_of_transmission(rec: bytes, number: int) -> EndOfTransmission:
    return EndOfTransmission(
        record_number=number,
        payer_count=_count(L.F.payer_count.take(rec)),
        total_payees=_count(L.F.total_payees.take(rec)),
    )


def _payees(
    mat: U8,
    b_rows: npt.NDArray[np.intp],
    b_payer: npt.NDArray[np.intp],
    state_types: npt.NDArray[np.bool_],
) -> tuple[PayeeColumns, list[RecordProblem]]:
    """Decode all B records column-wise, chunk by chunk, collecting per-record problems."""
    b = L.B
    n = len(b_rows)
    amounts = np.zeros((n, len(AMOUNT_CODES)), dtype=np.int64)
    years = np.full(n, -1, dtype=np.int64)
    state_tax = np.zeros(n, dtype=np.int64)
    local_tax = np.zeros(n, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    legacy_all = np.zeros(n, dtype=bool)
    problems: list[RecordProblem] = []

    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        first, last = int(b_rows[lo]), int(b_rows[hi - 1])
        # A zero-copy view of the chunk's span of the file; the few A/C/K records
        # inside it are decoded too and dropped by ``sel`` (cheaper than copying
        # the B records out from between them).
        view = mat[first : last + 1]
        sel: npt.NDArray[np.intp] | slice = (
            slice(None) if last - first == hi - lo - 1 else (b_rows[lo:hi] - first).astype(np.intp)
        )
        row_of = b_rows[lo:hi]

        def raw(r: int, row_of: npt.NDArray[np.intp] = row_of) -> bytes:
            return bytes(mat[int(row_of[r])])

        yv, yok, _ = digit_block(view, L.PAYMENT_YEAR.start, 4, 1)
        years[lo:hi] = np.where(yok[sel, 0], yv[sel, 0], -1)

        legacy = _legacy_rows(view)[sel]
        legacy_all[lo:hi] = legacy
        values, ok, blank = sparse_digit_block(view, b.amounts_start, b.amount_width, len(AMOUNT_CODES))
        values, ok, blank = values[sel], ok[sel], blank[sel]
        if legacy.any():
            ok[legacy, 16:] = True
            values[legacy, 16:] = 0
        for r, k in zip(*np.nonzero(~ok & ~blank), strict=True):
            code = AMOUNT_CODES[k]
            record = raw(int(r))
            parsed = signed_amount(bytes(b.amount(code).take(record)))
            if parsed is None:
                valid[lo + r] = False
                problems.append(
                    _problem(record, row_of[r], f"payment_amount_{code}", "not a number (digits, optionally signed)")
                )
            else:
                values[r, k] = parsed
        amounts[lo:hi] = values

        bad_tin = np.zeros(len(view), dtype=bool)
        bad_tin[bad_digit_rows(view, b.tin.start, b.tin.end)] = True
        for r in np.flatnonzero(bad_tin[sel]).tolist():
            valid[lo + r] = False
            problems.append(_problem(raw(r), row_of[r], "payee_tin", "TIN is not 9 digits"))

        has_state = state_types[b_payer[lo:hi]]
        tax, tok, tblank = digit_block(view, b.state_tax.start, b.state_tax.width, 2)
        tax, tok, tblank = tax[sel], tok[sel], tblank[sel]
        for r, k in zip(*np.nonzero(~tok & ~tblank & has_state[:, None]), strict=True):
            pos = b.state_tax if k == 0 else b.local_tax
            record = raw(int(r))
            parsed = signed_amount(pos.take(record))
            if parsed is None:
                valid[lo + r] = False
                field = "state_income_tax_withheld" if k == 0 else "local_income_tax_withheld"
                problems.append(_problem(record, row_of[r], field, "not a number"))
            else:
                tax[r, k] = parsed
        tax[~has_state] = 0
        state_tax[lo:hi] = tax[:, 0]
        local_tax[lo:hi] = tax[:, 1]

    problems.sort(key=lambda p: (p.record_number, p.field))
    columns = PayeeColumns(
        file_records=mat,
        file_rows=b_rows.astype(np.intp),
        record_number=(b_rows + 1).astype(np.int64),
        payer_index=b_payer.astype(np.int64),
        payment_year=years,
        amounts=amounts,
        state_tax=state_tax,
        local_tax=local_tax,
        legacy=legacy_all,
        valid=valid,
    )
    return columns, problems


def _legacy_rows(rows: U8) -> npt.NDArray[np.bool_]:
    """Rows in the pre-2020 B layout: 247-270 hold neither amounts H/J (digits) nor blanks,
    i.e. the foreign-country indicator and the start of the first name line."""
    span = rows[:, L.B.legacy_marker.start - 1 : L.B.legacy_marker.end]
    if not ((span - np.uint8(ord("0"))) > 9).any():
        return np.zeros(len(rows), dtype=bool)
    digits = ((span >= ord("0")) & (span <= ord("9"))).all(axis=1)
    blank = ((span == 0x20) | (span == 0)).all(axis=1)
    signed = (span[:, 0] == ord("-")) | (span[:, 12] == ord("-"))
    return np.asarray(~digits & ~blank & ~signed)


def _problem(record: bytes, row_index: np.intp, field: str, reason: str) -> RecordProblem:
    return RecordProblem(record_number=int(row_index) + 1, record_type="B", field=field, reason=reason, raw=record)


def read_payee_record(record: bytes, type_of_return: str = "") -> Payee:
    """Decode one stand-alone 750-byte B record (e.g. a quarantined one, or a test fixture).

    Raises :class:`FormatError` if it is not a 750-byte B record; a malformed
    field makes ``valid`` False rather than raising.
    """
    record = bytes(record)
    if len(record) != L.RECORD_LENGTH or record[:1] != b"B":
        raise FormatError(f"{FORMAT}: not a {L.RECORD_LENGTH}-byte B record")
    mat = np.frombuffer(record, dtype=np.uint8).reshape(1, L.RECORD_LENGTH)
    state = np.array([type_of_return.strip() in STATE_FIELDS_TYPES or not type_of_return], dtype=bool)
    cols, _ = _payees(mat, np.array([0], dtype=np.intp), np.array([0], dtype=np.intp), state)
    return cols.row(0)
