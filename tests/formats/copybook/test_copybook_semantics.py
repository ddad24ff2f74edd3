"""Value semantics the reader promises: never silently wrong, one binary rule, FILLER policy.

Each case decodes with the generated fast path and with the plain closure
decoder (``generate=False``) and expects the same result from both.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from taxvault.formats.copybook import (
    DecodeOptions,
    RecordDecodeError,
    RecordDecoder,
    encode_record,
    iter_records,
    parse_copybook,
)

NESTED_ODO = """
       01 REC.
          05 N-OUTER     PIC 9.
          05 OUTER OCCURS 0 TO 3 TIMES DEPENDING ON N-OUTER.
             10 N-INNER  PIC 9.
             10 FILLER   PIC X.
             10 INNER OCCURS 0 TO 2 TIMES DEPENDING ON N-INNER.
                15 FILLER PIC X.
          05 TAIL        PIC X(2).
"""


def _both(text: str, data: bytes, options: DecodeOptions) -> Any:
    layout = parse_copybook(text)
    results = []
    for generate in (True, False):
        results.append(RecordDecoder(layout, options, generate=generate).decode(data))
    assert results[0] == results[1]
    return results[0]


def _error(text: str, data: bytes, options: DecodeOptions) -> RecordDecodeError:
    layout = parse_copybook(text)
    errors = []
    for generate in (True, False):
        with pytest.raises(RecordDecodeError) as info:
            RecordDecoder(layout, options, generate=generate).decode(data)
        errors.append(info.value)
    assert (errors[0].field, errors[0].field_offset, errors[0].reason) == (
        errors[1].field,
        errors[1].field_offset,
        errors[1].reason,
    )
    return errors[0]


KEPT = [
    {"N_INNER": 2, "FILLER_P1": "-", "INNER": [{"FILLER_P2": "a"}, {"FILLER_P2": "b"}]},
    {"N_INNER": 1, "FILLER_P1": "*", "INNER": [{"FILLER_P2": "c"}]},
]


def test_nested_odo_keeps_value_fillers_and_filler_only_tables_when_asked() -> None:
    ascii_kept = DecodeOptions(encoding="ascii", drop_value_fillers=False)
    full = b"2" + b"2-ab" + b"1*c " + b"0 xx" + b"ZZ"
    assert _both(NESTED_ODO, full, ascii_kept) == {"N_OUTER": 2, "OUTER": KEPT, "TAIL": "ZZ"}
    packed = b"2" + b"2-ab" + b"1*c" + b"ZZ"
    variable = ascii_kept.but(variable_size_occurs=True)
    assert _both(NESTED_ODO, packed, variable) == {"N_OUTER": 2, "OUTER": KEPT, "TAIL": "ZZ"}


def test_value_fillers_dropped_by_default_and_filler_only_groups_vanish() -> None:
    full = b"2" + b"2-ab" + b"1*c " + b"0 xx" + b"ZZ"
    got = _both(NESTED_ODO, full, DecodeOptions(encoding="ascii"))
    assert got == {"N_OUTER": 2, "OUTER": [{"N_INNER": 2}, {"N_INNER": 1}], "TAIL": "ZZ"}


def test_filler_groups_are_numbered_children_first_as_cobrix_does() -> None:
    text = """
       01 REC.
          05 FILLER.
             10 FILLER.
                15 A PIC X.
             10 FILLER PIC X.
          05 FILLER.
             10 FILLER PIC X.
    """
    default = _both(text, b"abc", DecodeOptions(encoding="ascii"))
    assert default == {"FILLER_2": {"FILLER_1": {"A": "a"}}}
    kept = _both(text, b"abc", DecodeOptions(encoding="ascii", drop_value_fillers=False))
    assert kept == {"FILLER_2": {"FILLER_1": {"A": "a"}, "FILLER_P1": "b"}, "FILLER_3": {"FILLER_P2": "c"}}
    dropped = _both(text, b"abc", DecodeOptions(encoding="ascii", drop_group_fillers=True))
    assert dropped == {}


@pytest.mark.parametrize(
    ("pic", "data", "value"),
    [
        ("9(4) COMP", b"\xff\xff", 65535),
        ("S9(4) COMP", b"\xff\xff", -1),
        ("9(8) COMP", b"\xff\xff\xff\xff", 2**32 - 1),
        ("9(8) COMP-4", b"\x80\x00\x00\x00", 2**31),
        ("9(9) BINARY", b"\xff\xff\xff\xff", 2**32 - 1),
        ("S9(9) COMP-5", b"\x80\x00\x00\x00", -(2**31)),
        ("9(9) COMP-5", b"\xc0\x00\x00\x00", 3 * 2**30),
        ("9(18) COMP", b"\xff" * 8, 2**64 - 1),
        ("S9(18) COMP", b"\x80" + b"\x00" * 7, -(2**63)),
        ("9(7)V99 COMP", b"\xff\xff\xff\xff", Decimal("42949672.95")),
        ("9(5) COMP", b"\x00\x01\x86\xa0", 100000),
    ],
)
def test_binary_values_are_the_raw_bytes_for_every_width(pic: str, data: bytes, value: Any) -> None:
    text = f"       01 REC.\n          05 F PIC {pic}.\n"
    assert _both(text, data, DecodeOptions()) == {"F": value}


@pytest.mark.parametrize(
    ("pic", "data", "ok"),
    [
        ("9(4) COMP", (9999).to_bytes(2, "big"), True),
        ("9(4) COMP", (10000).to_bytes(2, "big"), False),
        ("S9(4) COMP", (-9999).to_bytes(2, "big", signed=True), True),
        ("S9(4) COMP", (-10000).to_bytes(2, "big", signed=True), False),
        ("9(8) COMP", (2**31).to_bytes(4, "big"), False),
        ("9(9) COMP-5", (999_999_999).to_bytes(4, "big"), True),
        ("9(9) COMP-5", (10**9).to_bytes(4, "big"), False),
        ("S9(18) COMP", (-(10**18)).to_bytes(8, "big", signed=True), False),
    ],
)
def test_strict_binary_digits_reports_values_beyond_the_pic(pic: str, data: bytes, ok: bool) -> None:
    text = f"       01 REC.\n          05 A PIC X(3).\n          05 F PIC {pic}.\n"
    strict = DecodeOptions(strict_binary_digits=True)
    if ok:
        assert (
            _both(text, b"\xc1\xc2\xc3" + data, strict)["F"]
            == _both(text, b"\xc1\xc2\xc3" + data, DecodeOptions())["F"]
        )
        return
    err = _error(text, b"\xc1\xc2\xc3" + data, strict)
    assert err.field == "REC.F"
    assert err.field_offset == 3
    assert "more digits than PIC" in err.reason
    assert str(int.from_bytes(data, "big")) not in str(err)


def test_strict_binary_error_inside_a_table_names_the_element_offset() -> None:
    text = """
       01 REC.
          05 ID PIC X(2).
          05 T OCCURS 3 TIMES.
             10 K PIC X.
             10 V PIC 9(4) COMP.
    """
    data = b"\xc1\xc1" + b"\xc1\x00\x01" + b"\xc1\x27\x10" + b"\xc1\x00\x02"
    err = _error(text, data, DecodeOptions(strict_binary_digits=True))
    assert (err.field, err.field_offset) == ("REC.T.V", 6)


def test_bad_nested_counter_is_reported_with_field_and_offset() -> None:
    data = b"2" + b"2-ab" + b"X*c " + b"0 xx" + b"ZZ"
    err = _error(NESTED_ODO, data, DecodeOptions(encoding="ascii"))
    assert err.field == "INNER"
    assert err.field_offset == 7
    assert "N-INNER" in err.reason


def test_counter_past_a_short_record_is_reported_not_null() -> None:
    err = _error(NESTED_ODO, b"2" + b"2-ab", DecodeOptions(encoding="ascii"))
    assert err.field == "INNER"


def test_raw_binary_round_trips_through_the_encoder() -> None:
    layout = parse_copybook("       01 REC.\n          05 F PIC 9(8) COMP.\n          05 G PIC S9(4) COMP-5.\n")
    values = {"F": 2**32 - 1, "G": -32768}
    data = encode_record(layout, values)
    assert data == b"\xff\xff\xff\xff\x80\x00"
    assert RecordDecoder(layout, DecodeOptions()).decode(data) == values


def test_collected_errors_keep_field_and_offsets() -> None:
    layout = parse_copybook("       01 REC.\n          05 ID PIC X(2).\n          05 N PIC 9(4) COMP.\n")
    data = b"\xc1\xc1\x00\x01" + b"\xc1\xc2\x27\x10"
    got = list(
        iter_records(layout, io.BytesIO(data), options=DecodeOptions(strict_binary_digits=True), errors="collect")
    )
    assert got[0].values == {"ID": "AA", "N": 1}
    err = got[1].error
    assert err is not None and got[1].values is None
    assert (err.record_index, err.offset, err.field, err.field_offset) == (1, 4, "REC.N", 2)
    assert "record 1, byte offset 4, field REC.N, at record byte 2" in str(err)


def test_native_binary_byte_order_for_x86_files() -> None:
    text = """
       01 REC.
          05 C  PIC S9(4) COMP.
          05 C5 PIC S9(4) COMP-5.
          05 G  USAGE COMP-5.
             10 G1 PIC 9(8).
          05 L  BINARY-LONG.
    """
    data = b"\x00\x01" + b"\x01\x00" + b"\x01\x00\x00\x00" + b"\xfe\xff\xff\xff"
    assert _both(text, data, DecodeOptions()) == {"C": 1, "C5": 256, "G": {"G1": 2**24}, "L": -16777217}
    little = DecodeOptions(native_binary="little")
    assert _both(text, data, little) == {"C": 1, "C5": 1, "G": {"G1": 1}, "L": -2}
