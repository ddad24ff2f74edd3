"""Pub 1220 writer -> reader round trips, control-total detection and error behaviour."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.pub1220 import (
    AMOUNT_CODES,
    ControlTotalsError,
    FormatError,
    PayeeInput,
    PayerInput,
    TransmitterInput,
    code_for_box,
    read_pub1220,
    write_pub1220,
)
from taxvault.formats.pub1220 import layout as L

TRANSMITTER = TransmitterInput(tin="001234567", tcc="12ABC", name="SYNTHETIC TRANSMITTER", test_file=True)
PRINTABLE = string.ascii_letters + string.digits + " .,'&-#/()"
names = st.text(PRINTABLE, min_size=1, max_size=40).map(str.strip).filter(bool)
tins = st.from_regex(r"9[0-9]{2}[0-4][0-9][0-9]{4}", fullmatch=True)
MAX = 999_999_999_999  # 12 digits of cents


def _payee(tin: str, amounts: dict[str, int], **kw: object) -> PayeeInput:
    return PayeeInput(tin=tin, name=str(kw.pop("name", "DOE JANE")), amounts=amounts, **kw)  # type: ignore[arg-type]


def _file(payers: list[PayerInput], year: int = 2024, **kw: object) -> bytes:
    return write_pub1220(TRANSMITTER, payers, payment_year=year, **kw)  # type: ignore[arg-type]


@st.composite
def payee_inputs(draw: st.DrawFn, codes: str, negative: bool = False) -> PayeeInput:
    low = -99_999_999_999 if negative else 0
    amounts = {c: draw(st.one_of(st.just(0), st.just(MAX if c != "J" else low), st.integers(low, MAX))) for c in codes}
    return PayeeInput(
        tin=draw(tins),
        name=draw(names),
        name2=draw(st.one_of(st.just(""), names)),
        address=draw(names),
        city=draw(names),
        state=draw(st.sampled_from(["CA", "NY", "TX", ""])),
        zip=draw(st.from_regex(r"[0-9]{5}([0-9]{4})?", fullmatch=True)),
        amounts=amounts,
        tin_type=draw(st.sampled_from(["1", "2", ""])),
        account_number=draw(st.text(string.ascii_uppercase + string.digits, max_size=20)),
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    form=st.sampled_from(["1099-NEC", "1099-INT", "1099-DIV", "1099-MISC", "1099-R", "1099-G"]),
    data=st.data(),
    line_end=st.sampled_from([b"", b"\r\n", b"\n"]),
)
def test_values_survive_write_then_read(form: str, data: st.DataObject, line_end: bytes) -> None:
    codes = "".join(data.draw(st.sets(st.sampled_from(AMOUNT_CODES), min_size=1)))
    codes = "".join(c for c in AMOUNT_CODES if c in codes)
    payees = data.draw(st.lists(payee_inputs(codes), min_size=1, max_size=5))
    payer = PayerInput(tin="001112223", name=data.draw(names), form=form, payees=payees, amount_codes=codes)
    result = read_pub1220(_file([payer], line_end=line_end), strict=True)
    assert result.consistent
    assert result.control_problems == ()
    assert result.record_problems == ()
    (read_payer,) = result.payers
    assert read_payer.amount_codes == codes
    assert read_payer.name == payer.name
    assert read_payer.form == form
    for given_payee, got in zip(payees, result.payees.rows(), strict=True):
        assert got.tin == given_payee.tin
        assert got.tin_type == given_payee.tin_type
        assert (got.name, got.name2, got.address, got.city, got.state, got.zip) == (
            given_payee.name,
            given_payee.name2,
            given_payee.address.rstrip(),
            given_payee.city.rstrip(),
            given_payee.state,
            given_payee.zip,
        )
        assert got.account_number == given_payee.account_number
        assert {c: v for c, v in got.amounts.items() if v} == {c: v for c, v in given_payee.amounts.items() if v}


@settings(max_examples=40)
@given(data=st.data())
def test_negative_amounts_round_trip_on_1099_b(data: st.DataObject) -> None:
    payees = data.draw(st.lists(payee_inputs("12D", negative=True), min_size=1, max_size=4))
    payer = PayerInput(tin="001112223", name="BROKER", form="1099-B", payees=payees)
    result = read_pub1220(_file([payer]))
    assert result.consistent
    for given_payee, got in zip(payees, result.payees.rows(), strict=True):
        assert {c: v for c, v in got.amounts.items() if v} == {c: v for c, v in given_payee.amounts.items() if v}


def test_overpunch_negative_amounts_are_read() -> None:
    payer = PayerInput(tin="001112223", name="BROKER", form="1099-B", payees=[_payee("900123456", {"1": 0})])
    raw = bytearray(_file([payer]))
    b = L.RECORD_LENGTH * 2
    pos = L.B.amount("1")
    raw[b + pos.start - 1 : b + pos.end] = b"00000001234}"  # -12340 cents, negative overpunch
    cpos = L.C.total("1")
    c = L.RECORD_LENGTH * 3
    raw[c + cpos.start - 1 : c + cpos.end] = b"-00000000000012340"
    result = read_pub1220(bytes(raw))
    assert result.payees.row(0).amounts["1"] == -12340
    assert result.consistent


def test_negative_amount_refused_where_publication_forbids_it() -> None:
    payer = PayerInput(tin="001112223", name="X", form="1099-NEC", payees=[_payee("900123456", {"1": -1})])
    with pytest.raises(ValueError, match="negative"):
        _file([payer])


def test_amount_overflow_is_an_error_and_names_are_truncated() -> None:
    too_big = PayerInput(tin="001112223", name="X", form="1099-NEC", payees=[_payee("900123456", {"1": MAX + 1})])
    with pytest.raises(ValueError, match="does not fit"):
        _file([too_big])
    long_name = "A" * 39 + "BCDEF"
    payer = PayerInput(
        tin="001112223",
        name="X" * 50,
        form="1099-NEC",
        payees=[_payee("900123456", {"1": 5}, name=long_name)],
    )
    result = read_pub1220(_file([payer]))
    assert result.payees.row(0).name == long_name[:40]
    assert result.payers[0].name == "X" * 40


def test_writer_computes_k_records_per_state_and_legacy_layout() -> None:
    payees = [
        _payee("900123456", {"1": 100, "4": 10}, fed_state_code="CA", state_tax=7),
        _payee("900123457", {"1": 200}, fed_state_code="06", state_tax=3),
        _payee("900123458", {"1": 300}, fed_state_code="25"),
    ]
    payer = PayerInput(tin="001112223", name="X", form="1099-NEC", payees=payees, combined_fed_state=True)
    result = read_pub1220(_file([payer, payer]))
    assert result.consistent
    assert result.control_problems == ()
    assert [(k.fed_state_code, k.payee_count, k.totals["1"], k.state_tax) for k in result.payers[0].state_totals] == [
        ("06", 2, 300, 10),
        ("25", 1, 300, 0),
    ]
    assert result.amounts_by_box(0) == {"nonemployee_compensation": 100, "federal_income_tax_withheld": 10}

    legacy = PayerInput(tin="001112223", name="X", form="1099-MISC", payees=[_payee("900123456", {"7": 9})])
    old = read_pub1220(_file([legacy], year=2019, legacy_layout=True))
    assert old.payees.row(0).name == "DOE JANE"
    assert old.payees.row(0).amounts["7"] == 9
    assert old.amounts_by_box(0) == {"nonemployee_compensation": 9}


def test_code_for_box_maps_boxes_to_codes() -> None:
    assert code_for_box("1099-DIV", "1a") == "1"
    assert code_for_box("1099-INT", "bond_premium_on_treasury_obligations") == "E"
    assert code_for_box("1099-MISC", "7", payment_year=2019) == "7"
    with pytest.raises(ValueError, match="no box"):
        code_for_box("1099-NEC", "99")


def _nec_file(count: int = 3) -> bytearray:
    payees = [_payee(f"90012345{i}", {"1": 100 * (i + 1)}) for i in range(count)]
    return bytearray(_file([PayerInput(tin="001112223", name="X", form="1099-NEC", payees=payees)]))


def test_control_total_mismatch_is_reported_not_ignored() -> None:
    raw = _nec_file()
    c = L.RECORD_LENGTH * 5
    pos = L.C.total("1")
    raw[c + pos.start - 1 : c + pos.end] = b"000000000000000999"
    f = L.RECORD_LENGTH * 6
    raw[f + L.F.total_payees.start - 1 : f + L.F.total_payees.end] = b"00000009"
    result = read_pub1220(bytes(raw))
    assert not result.consistent
    assert {p.check for p in result.control_problems} == {"C.total_1", "F.total_payees"}
    problem = next(p for p in result.control_problems if p.check == "C.total_1")
    assert (problem.stated, problem.computed, problem.record_number) == (999, 600, 6)
    with pytest.raises(ControlTotalsError) as err:
        read_pub1220(bytes(raw), strict=True)
    assert len(err.value.problems) == 2


def test_bad_b_record_is_a_record_problem_without_the_tin_in_it() -> None:
    raw = _nec_file()
    b = L.RECORD_LENGTH * 3  # second payee, record 4
    raw[b + L.B.tin.start - 1 : b + L.B.tin.end] = b"90012X451"
    pos = L.B.amount("1")
    raw[b + pos.start - 1 : b + pos.end] = b"00000000ABC0"
    result = read_pub1220(bytes(raw))
    fields = [(p.record_number, p.field) for p in result.record_problems]
    assert fields == [(4, "payee_tin"), (4, "payment_amount_1")]
    assert list(result.payees.valid) == [True, False, True]
    for p in result.record_problems:
        assert "90012" not in repr(p)
        assert "90012" not in p.reason
        assert len(p.raw) == L.RECORD_LENGTH


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"", "empty"),
        (lambda d: d[:-10], "truncated"),
        (lambda d: d[750:], "first record"),
        (lambda d: b"\x00\xff" * 900, "first record"),
        (lambda d: d[: 750 * 2] + d[750 * 3 :], "record"),  # payee dropped: still framed; totals catch it
        (lambda d: d[:750] + d[1500:], "record 2"),  # A record removed: B without payer
        (lambda d: d[:-750], "ends after record"),  # F missing
        (lambda d: d[:1500] + b"Z" + d[1501:], "unknown record type"),
        (
            lambda d: b"\n".join(d[i : i + 750] for i in range(0, len(d), 750)).replace(b"DOE JANE", b"DOEJANE", 1),
            "record",
        ),
    ],
)
def test_files_that_are_not_pub1220_raise_format_error(mutate: object, message: str) -> None:
    data = bytes(_nec_file())
    bad = mutate(data)  # type: ignore[operator]
    try:
        result = read_pub1220(bad)
    except FormatError as exc:
        text = str(exc)
    else:  # only the dropped-payee case parses, and then its totals disagree
        assert not result.consistent
        return
    assert message in text
    assert "\n" not in text
    assert "90012345" not in text


def test_reader_tolerates_nul_blanks_and_crlf_inside_749_750() -> None:
    data = bytearray(_nec_file())
    for r in range(len(data) // 750):
        data[r * 750 + 748 : r * 750 + 750] = b"\r\n"
    data = bytearray(bytes(data).replace(b" ", b"\x00"))
    result = read_pub1220(bytes(data))
    assert result.consistent
    assert result.record_problems == ()
    assert result.payees.row(0).name == "DOE JANE"


def test_to_arrow_gives_trimmed_columns() -> None:
    table = read_pub1220(bytes(_nec_file())).payees.to_arrow()
    assert table.num_rows == 3
    assert table.column("name").to_pylist() == ["DOE JANE"] * 3
    assert table.column("amount_1").to_pylist() == [100, 200, 300]
