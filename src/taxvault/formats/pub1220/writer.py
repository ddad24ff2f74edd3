"""Write a Publication 1220 (FIRE) file from plain Python values.

Edition: Publication 1220 Rev. 9-2024 (tax year 2024); positions in :mod:`.layout`.

Written for the synthetic generator: TINs are 9-digit strings, amounts are int
cents keyed by amount code (use :func:`.amount_codes.code_for_box` to go from a
box), names and addresses are strings. The writer computes everything derived:
the A record's amount codes, C totals per payer, K totals per state (when the
payer joins the Combined Federal/State Filing Program), the F counts, the T
payee count and the sequence numbers.

Values that do not fit follow the publication: text is truncated to its field
(and folded to ASCII); an amount that overflows its field, a negative amount on
a form that does not allow one, or a malformed TIN raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from taxvault.formats.fixedwidth import (
    RecordBuilder,
    alpha,
    digits_field,
    number,
    signed_number,
    to_ascii,
)
from taxvault.formats.pub1220 import layout as L
from taxvault.formats.pub1220.amount_codes import (
    AMOUNT_CODES,
    NEGATIVE_AMOUNT_TYPES,
    STATE_FIELDS_TYPES,
    TYPE_OF_RETURN_BY_FORM,
)
from taxvault.formats.pub1220.controls import normalise_state_code


@dataclass(frozen=True)
class PayeeInput:
    """One payee (B record). ``amounts`` maps amount code (``"1"``..``"J"``) to cents."""

    tin: str
    name: str
    amounts: Mapping[str, int]
    tin_type: str = "2"  # 1 = EIN, 2 = SSN/ITIN/ATIN, blank = unknown
    name_control: str = ""
    name2: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    account_number: str = ""
    office_code: str = ""
    corrected: str = ""  # "G" or "C" for corrections
    foreign_country: bool = False
    state_tax: int = 0
    local_tax: int = 0
    fed_state_code: str = ""  # Combined Federal/State code ("06") or postal abbreviation ("CA")


@dataclass(frozen=True)
class PayerInput:
    """One payer (A record) and its payees. ``form`` is e.g. ``"1099-NEC"``, or give ``type_of_return``."""

    tin: str
    name: str
    payees: Sequence[PayeeInput]
    form: str = ""
    type_of_return: str = ""
    amount_codes: str = ""  # default: every code any payee uses, in publication order
    name_control: str = ""
    name2: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    phone: str = ""
    combined_fed_state: bool = False
    last_filing: bool = False
    transfer_agent: bool = False
    foreign_entity: bool = False


@dataclass(frozen=True)
class TransmitterInput:
    """The T record."""

    tin: str
    tcc: str
    name: str
    company_name: str = ""
    company_address: str = ""
    company_city: str = ""
    company_state: str = ""
    company_zip: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    test_file: bool = False
    prior_year_data: bool = False
    foreign_entity: bool = False
    vendor_indicator: str = "I"  # I = in-house software, V = vendor


def write_pub1220(
    transmitter: TransmitterInput,
    payers: Sequence[PayerInput],
    *,
    payment_year: int,
    legacy_layout: bool = False,
    line_end: bytes = b"",
) -> bytes:
    """Serialise a whole file (T, then A B... C K... per payer, then F).

    ``legacy_layout`` writes the pre-2021 16-amount-code layout (codes H and J
    left blank). ``line_end`` (``b""`` or ``b"\\r\\n"``) is appended to every record.
    """
    if line_end not in (b"", b"\r\n", b"\n"):
        raise ValueError("line_end must be empty, LF or CR LF")
    if not payers:
        raise ValueError("a Pub 1220 file needs at least one payer")
    codes_allowed = L.LEGACY_AMOUNT_CODES if legacy_layout else AMOUNT_CODES
    year = number(payment_year, 4, "payment_year")
    out: list[bytes] = [b""]  # T is built last, once the payee count is known
    total_payees = 0
    for payer in payers:
        kind = _type_of_return(payer)
        codes = payer.amount_codes or "".join(c for c in AMOUNT_CODES if any(p.amounts.get(c, 0) for p in payer.payees))
        if not codes:
            codes = "1"
        for code in codes:
            if code not in codes_allowed:
                raise ValueError(f"amount code {code!r} not in this layout")
        out.append(_a_record(payer, kind, codes, year, len(out) + 1))
        sums = [0] * len(AMOUNT_CODES)
        by_state: dict[str, list[int]] = {}
        for payee in payer.payees:
            _check_amounts(payee, kind, codes_allowed)
            out.append(_b_record(payee, kind, year, len(out) + 1, codes_allowed))
            for code, value in payee.amounts.items():
                sums[AMOUNT_CODES.index(code)] += value
            if payer.combined_fed_state and payee.fed_state_code:
                state = by_state.setdefault(normalise_state_code(payee.fed_state_code), [0] * 21)
                state[0] += 1
                for code, value in payee.amounts.items():
                    state[1 + AMOUNT_CODES.index(code)] += value
                state[19] += payee.state_tax
                state[20] += payee.local_tax
        out.append(_totals_record(b"C", len(payer.payees), sums, len(out) + 1, codes_allowed))
        for code, st in sorted(by_state.items()):
            k_rec = _totals_record(
                b"K",
                st[0],
                st[1:19],
                len(out) + 1,
                codes_allowed,
                state_code=code,
                state_tax=st[19],
                local_tax=st[20],
            )
            out.append(k_rec)
        total_payees += len(payer.payees)
    out.append(_f_record(len(payers), total_payees, len(out) + 1))
    out[0] = _t_record(transmitter, year, total_payees)
    return line_end.join(out) + line_end


def _type_of_return(payer: PayerInput) -> str:
    if payer.type_of_return:
        return payer.type_of_return.strip()
    kind = TYPE_OF_RETURN_BY_FORM.get(payer.form)
    if kind is None:
        raise ValueError(f"unknown form {payer.form!r}; give type_of_return instead")
    return kind


def _check_amounts(payee: PayeeInput, kind: str, allowed: str) -> None:
    for code, value in payee.amounts.items():
        if code not in allowed:
            raise ValueError(f"amount code {code!r} not in this layout")
        if value < 0 and kind not in NEGATIVE_AMOUNT_TYPES:
            raise ValueError(f"amount code {code}: Pub 1220 allows negative amounts only on 1099-B, -OID, -Q")


def _seq(rec: RecordBuilder, seq: int) -> None:
    rec.put(L.SEQUENCE.start, L.SEQUENCE.end, number(seq, 8, "sequence_number"))


def _flag(rec: RecordBuilder, pos: L.Pos, on: bool, value: bytes = b"1") -> None:
    if on:
        rec.put(pos.start, pos.end, value)


def _t_record(t: TransmitterInput, year: bytes, total_payees: int) -> bytes:
    p = L.T
    rec = RecordBuilder(L.RECORD_LENGTH, b"T")
    rec.put(L.PAYMENT_YEAR.start, L.PAYMENT_YEAR.end, year)
    _flag(rec, p.prior_year_data, t.prior_year_data, b"P")
    rec.put(p.tin.start, p.tin.end, digits_field(t.tin, 9, "transmitter_tin", allow_blank=False))
    rec.put(p.tcc.start, p.tcc.end, alpha(t.tcc, 5, "tcc"))
    _flag(rec, p.test_file, t.test_file, b"T")
    _flag(rec, p.foreign_entity, t.foreign_entity)
    for pos, value, name in (
        (p.name, t.name, "transmitter_name"),
        (p.company_name, t.company_name or t.name, "company_name"),
        (p.company_address, t.company_address, "company_address"),
        (p.company_city, t.company_city, "city"),
        (p.company_state, t.company_state, "state"),
        (p.company_zip, t.company_zip, "zip"),
        (p.contact_name, t.contact_name, "contact_name"),
        (p.contact_phone, t.contact_phone, "contact_phone"),
        (p.contact_email, t.contact_email, "contact_email"),
        (p.vendor_indicator, t.vendor_indicator, "vendor"),
    ):
        rec.put(pos.start, pos.end, alpha(value, pos.width, name))
    rec.put(p.total_payees.start, p.total_payees.end, number(total_payees, 8, "total_payees"))
    _seq(rec, 1)
    return rec.bytes()


def _a_record(payer: PayerInput, kind: str, codes: str, year: bytes, seq: int) -> bytes:
    p = L.A
    rec = RecordBuilder(L.RECORD_LENGTH, b"A")
    rec.put(L.PAYMENT_YEAR.start, L.PAYMENT_YEAR.end, year)
    _flag(rec, p.combined_fed_state, payer.combined_fed_state)
    rec.put(p.tin.start, p.tin.end, digits_field(payer.tin, 9, "payer_tin", allow_blank=False))
    rec.put(p.name_control.start, p.name_control.end, alpha(payer.name_control, 4, "payer_name_control"))
    _flag(rec, p.last_filing, payer.last_filing)
    rec.put(p.type_of_return.start, p.type_of_return.end, alpha(kind, 2, "type_of_return"))
    rec.put(p.amount_codes.start, p.amount_codes.end, alpha(codes, 18, "amount_codes"))
    _flag(rec, p.foreign_entity, payer.foreign_entity)
    for pos, value, name in (
        (p.name, payer.name, "payer_name"),
        (p.name2, payer.name2, "payer_name2"),
        (p.address, payer.address, "payer_address"),
        (p.city, payer.city, "payer_city"),
        (p.state, payer.state, "payer_state"),
        (p.zip, payer.zip, "payer_zip"),
        (p.phone, payer.phone, "phone"),
    ):
        rec.put(pos.start, pos.end, alpha(value, pos.width, name))
    rec.put(p.transfer_agent.start, p.transfer_agent.end, b"1" if payer.transfer_agent else b"0")
    _seq(rec, seq)
    return rec.bytes()


def _txt(value: str, width: int, field_name: str) -> str:
    """Text field as str (the B record is assembled as one string, for speed)."""
    if not (value.isascii() and value.isprintable()):
        value = to_ascii(value, field_name)
    return value[:width].ljust(width)


def _b_record(payee: PayeeInput, kind: str, year: bytes, seq: int, allowed: str) -> bytes:
    """One B record, assembled left to right (positions in :class:`.layout.B`).

    Built as a single string join rather than field-by-field placement because
    the generator writes millions of these.
    """
    if not payee.name.strip():
        raise ValueError("payee_name: the first payee name line is required")
    if payee.tin_type not in ("1", "2", ""):
        raise ValueError("tin_type must be '1' (EIN), '2' (SSN/ITIN/ATIN) or ''")
    tin = payee.tin
    if tin and not (len(tin) == 9 and tin.isdigit() and tin.isascii()):
        raise ValueError("payee_tin: expected 9 digits")
    amounts = ["000000000000"] * len(allowed)
    for code, value in payee.amounts.items():
        if value:
            amounts[AMOUNT_CODES.index(code)] = signed_number(value, 12, f"payment_amount_{code}").decode()
    foreign = "1" if payee.foreign_country else " "
    name1 = _txt(payee.name.strip(), 40, "payee_name")
    name2 = _txt(payee.name2, 40, "payee_name2")
    # pre-2020 layout: 16 amounts, then foreign indicator and names from 247
    names = " " * 16 + foreign + name1 + name2 if allowed == AMOUNT_CODES else foreign + name1 + name2 + " " * 40
    if kind in STATE_FIELDS_TYPES:
        code = normalise_state_code(payee.fed_state_code) if payee.fed_state_code else ""
        tail = (
            number(payee.state_tax, 12, "state_income_tax_withheld").decode()
            + number(payee.local_tax, 12, "local_income_tax_withheld").decode()
            + _txt(code, 2, "combined_federal_state_code")
        )
    elif payee.state_tax or payee.local_tax or payee.fed_state_code:
        raise ValueError(f"type of return {kind!r}: state fields are mapped only for NEC/MISC/INT/DIV/R/G")
    else:
        tail = " " * 26
    record = "".join(
        (
            "B",
            year.decode(),
            _txt(payee.corrected, 1, "corrected"),
            _txt(payee.name_control, 4, "payee_name_control"),
            _txt(payee.tin_type, 1, "tin_type"),
            tin.ljust(9),
            _txt(payee.account_number, 20, "account_number"),
            _txt(payee.office_code, 4, "office_code"),
            " " * 10,
            *amounts,
            names,
            _txt(payee.address, 40, "payee_address"),
            " " * 40,
            _txt(payee.city, 40, "payee_city"),
            _txt(payee.state, 2, "payee_state"),
            _txt(payee.zip, 9, "payee_zip"),
            " ",
            number(seq, 8, "sequence_number").decode(),
            " " * 215,
            tail,
            "  ",
        )
    )
    if len(record) != L.RECORD_LENGTH:  # pragma: no cover - layout invariant
        raise AssertionError("B record length")
    return record.encode("ascii")


def _totals_record(
    kind: bytes,
    count: int,
    sums: Sequence[int],
    seq: int,
    allowed: str,
    *,
    state_code: str = "",
    state_tax: int = 0,
    local_tax: int = 0,
) -> bytes:
    rec = RecordBuilder(L.RECORD_LENGTH, kind)
    rec.put(L.C.payee_count.start, L.C.payee_count.end, number(count, 8, "number_of_payees"))
    for k, code in enumerate(AMOUNT_CODES):
        if code in allowed:
            pos = L.C.total(code)
            rec.put(pos.start, pos.end, signed_number(sums[k], 18, f"control_total_{code}"))
    if kind == b"K":
        rec.put(L.K.state_tax.start, L.K.state_tax.end, signed_number(state_tax, 18, "state_tax_total"))
        rec.put(L.K.local_tax.start, L.K.local_tax.end, signed_number(local_tax, 18, "local_tax_total"))
        rec.put(L.K.fed_state_code.start, L.K.fed_state_code.end, alpha(state_code, 2, "state_code"))
    _seq(rec, seq)
    return rec.bytes()


def _f_record(payer_count: int, total_payees: int, seq: int) -> bytes:
    rec = RecordBuilder(L.RECORD_LENGTH, b"F")
    rec.put(L.F.payer_count.start, L.F.payer_count.end, number(payer_count, 8, "number_of_a_records"))
    rec.put(L.F.zeros.start, L.F.zeros.end, b"0" * L.F.zeros.width)
    rec.put(L.F.total_payees.start, L.F.total_payees.end, number(total_payees, 8, "total_payees"))
    _seq(rec, seq)
    return rec.bytes()
