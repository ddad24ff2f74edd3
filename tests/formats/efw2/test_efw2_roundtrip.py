"""EFW2 writer -> reader round trips, totals, errors and fuzzing."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.efw2 import (
    RO_AMOUNTS,
    RW_AMOUNT_NAMES,
    EmployeeInput,
    EmployerInput,
    FormatError,
    SubmitterInput,
    read_efw2,
    write_efw2,
)
from taxvault.formats.efw2 import layout as L

SUBMITTER = SubmitterInput(ein="001234567", user_id="SYNTH001", company_name="SYNTHETIC PAYROLL")
CHARS = string.ascii_uppercase + string.digits + " .,'&-#/"
MAX = 99_999_999_999  # 11 digits of cents


def text(width: int) -> st.SearchStrategy[str]:
    return st.text(CHARS, max_size=width).map(str.strip)


@st.composite
def employees(draw: st.DrawFn) -> EmployeeInput:
    names = draw(st.sets(st.sampled_from(RW_AMOUNT_NAMES), max_size=8))
    return EmployeeInput(
        ssn=draw(st.from_regex(r"9[0-9]{2}[0-4][0-9][0-9]{4}", fullmatch=True)),
        first_name=draw(text(15)),
        middle_name=draw(text(15)),
        last_name=draw(text(20).filter(bool)),
        suffix=draw(st.sampled_from(["", "JR", "SR", "III"])),
        location=draw(text(22)),
        delivery=draw(text(22)),
        city=draw(text(22)),
        state=draw(st.sampled_from(["CA", "MA", ""])),
        zip=draw(st.from_regex(r"[0-9]{5}", fullmatch=True)),
        amounts={n: draw(st.one_of(st.just(0), st.just(MAX), st.integers(0, MAX))) for n in names},
        optional_amounts=draw(st.one_of(st.just({}), st.just({"allocated_tips": 1234, "archer_msa": 5}))),
        retirement_plan=draw(st.booleans()),
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    staff=st.lists(st.lists(employees(), min_size=0, max_size=4), min_size=1, max_size=3),
    line_end=st.sampled_from([b"\r\n", b"\n", b""]),
)
def test_values_survive_write_then_read(staff: list[list[EmployeeInput]], line_end: bytes) -> None:
    employers = [
        EmployerInput(ein=f"00{i:07d}", name=f"EMPLOYER {i}", tax_year=2024, employees=e) for i, e in enumerate(staff)
    ]
    result = read_efw2(write_efw2(SUBMITTER, employers, line_end=line_end), strict=True)
    assert result.control_problems == ()
    assert result.record_problems == ()
    flat = [(i, e) for i, group in enumerate(staff) for e in group]
    assert len(result.employees) == len(flat)
    for (index, given_emp), got in zip(flat, result.employees.rows(), strict=True):
        assert got.employer_index == index
        assert result.employers[index].ein == f"00{index:07d}"
        assert got.ssn == given_emp.ssn
        assert (got.first_name, got.middle_name, got.last_name, got.suffix) == (
            given_emp.first_name,
            given_emp.middle_name,
            given_emp.last_name,
            given_emp.suffix,
        )
        assert (got.location, got.delivery, got.city, got.state, got.zip) == (
            given_emp.location,
            given_emp.delivery,
            given_emp.city,
            given_emp.state,
            given_emp.zip,
        )
        assert {k: v for k, v in got.amounts.items() if v} == {k: v for k, v in given_emp.amounts.items() if v}
        assert got.retirement_plan == given_emp.retirement_plan


def _file() -> bytes:
    emps = [
        EmployeeInput(
            ssn=f"90012345{i}",
            first_name="Ana",
            last_name="Núñez-O'Brien",
            amounts={"wages_tips_other_comp": 100_00 * (i + 1), "deferred_401k": 5},
        )
        for i in range(3)
    ]
    return write_efw2(SUBMITTER, [EmployerInput(ein="001112223", name="ACME", tax_year=2024, employees=emps)])


def test_writer_folds_to_ascii_and_rejects_what_does_not_fit() -> None:
    result = read_efw2(_file())
    assert result.employees.row(0).last_name == "NUNEZ-O'BRIEN"
    assert result.employers[0].total is not None
    assert result.employers[0].total.amounts["deferred_401k"] == 15
    bad = EmployeeInput(ssn="900123456", first_name="A", last_name="B", amounts={"wages_tips_other_comp": MAX + 1})
    with pytest.raises(ValueError, match="does not fit"):
        write_efw2(SUBMITTER, [EmployerInput(ein="001112223", name="X", tax_year=2024, employees=[bad])])
    neg = EmployeeInput(ssn="900123456", first_name="A", last_name="B", amounts={"wages_tips_other_comp": -1})
    with pytest.raises(ValueError, match="negative"):
        write_efw2(SUBMITTER, [EmployerInput(ein="001112223", name="X", tax_year=2024, employees=[neg])])
    assert {n for n, _, _ in RO_AMOUNTS} >= {"allocated_tips"}


def test_rt_mismatch_and_bad_rw_fields_are_reported() -> None:
    raw = bytearray(_file())
    stride = L.RECORD_LENGTH + 2
    rw2 = stride * 3
    raw[rw2 + 2 : rw2 + 11] = b"9001X3451"
    raw[rw2 + 187 : rw2 + 198] = b"0000000ABCD"
    result = read_efw2(bytes(raw))
    assert [(p.record_number, p.field) for p in result.record_problems] == [
        (4, "ssn"),
        (4, "wages_tips_other_comp"),
    ]
    assert all("9001" not in repr(p) for p in result.record_problems)
    assert not result.consistent  # RT wages no longer add up
    assert {p.check for p in result.control_problems} == {"RT.wages_tips_other_comp"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"RA" + b" " * 100, "truncated"),
        (b"RW" + b" " * 510, "first record"),
        (b"\x00" * 1024, "first record"),
    ],
)
def test_not_efw2_raises_format_error(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_efw2(data)


def test_misplaced_records_raise_format_error() -> None:
    data = _file()
    stride = L.RECORD_LENGTH + 2
    records = [data[i : i + stride] for i in range(0, len(data), stride)]
    with pytest.raises(FormatError, match="record 2"):
        read_efw2(b"".join([records[0], records[2], *records[1:2], *records[3:]]))
    with pytest.raises(FormatError, match="unknown record identifier"):
        read_efw2(b"".join([*records[:3], b"RX" + records[3][2:], *records[4:]]))
    with pytest.raises(FormatError, match="wrong record length"):
        read_efw2(data.replace(b"ACME ", b"ACME", 1))


SEEDS = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[2] / "conformance" / "efw2").glob("*.txt"))]


def _read(data: bytes) -> None:
    try:
        result = read_efw2(data)
    except FormatError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        return
    assert len(result.employees) == sum(e.employee_count for e in result.employers)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    _read(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 6000), st.binary(min_size=1, max_size=12)), max_size=8),
)
def test_fuzz_mutated_valid_files(seed: bytes, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(seed)
    for offset, chunk in edits:
        offset %= len(data)
        data[offset : offset + len(chunk)] = chunk[: len(data) - offset]
    _read(bytes(data))
