"""Error reporting and edge behaviour: syntax errors carry line numbers, framing errors carry offsets."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from taxvault.formats.copybook import (
    CopybookSyntaxError,
    DecodeOptions,
    FileFormatError,
    RecordDecodeError,
    RecordDecoder,
    RecordEncodeError,
    decode_record,
    encode_record,
    iter_records,
    load_bundled_copybook,
    parse_copybook,
    rdw_header,
)

CORPUS = Path(__file__).resolve().parents[2] / "conformance" / "cobrix"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("       01  REC.\n           05  A  PIC X(3)\n", 2),  # no terminating period
        ("       01  REC.\n           05  A PIC X.\n           05  B PIC Q(3).\n", 3),
        ("       01  REC.\n           05  A PIC X(2).\n           05  B REDEFINES Z PIC X.\n", 3),
        ("       01  REC.\n           05  N OCCURS 3 DEPENDING ON MISSING PIC X.\n", 2),
        ("       01  REC.\n           05  A PIC X(2) BOGUS.\n", 2),
        ("       01  REC.\n           05  A.\n", 2),  # elementary item without PIC
        ("       01  REC.\n           05  A PIC X COMP-3.\n", 2),
    ],
)
def test_syntax_errors_carry_line_numbers(text: str, line: int) -> None:
    with pytest.raises(CopybookSyntaxError) as info:
        parse_copybook(text)
    assert info.value.line == line


def test_columns_comments_and_tabs() -> None:
    text = (
        "000100 01  REC.                                                          IGNORED\n"
        "000200* 05  COMMENTED PIC X(99).\n"
        "\t\t    05  A PIC X(2).\n"
        "000400/ PAGE EJECT COMMENT\n"
        "            05  B PIC 9(3)V99 COMP-3.                                    XXXXXXXX\n"
        "            05  C PIC S9(4) SIGN LEADING SEPARATE.\n"
        "            88  C-ZERO VALUE 0.\n"
    )
    layout = parse_copybook(text)
    assert [f.key for f in layout.fields()] == ["A", "B", "C"]
    assert layout.record_length == 2 + 3 + 5


def test_odo_counter_out_of_range_is_a_record_error() -> None:
    layout = load_bundled_copybook("imf_module")
    data = bytearray(encode_record(layout, {"MOD_TRANSACTION": [{}]}))
    data[26:28] = (500).to_bytes(2, "big")
    with pytest.raises(RecordDecodeError, match="MOD-TXN-COUNT"):
        decode_record(layout, bytes(data))
    records = list(iter_records(layout, io.BytesIO(bytes(data)), errors="collect"))
    assert records[0].values is None
    assert records[0].error is not None
    assert records[0].error.record_index == 0


def test_framing_errors() -> None:
    layout = load_bundled_copybook("imf_entity")
    record = encode_record(layout, {})
    with pytest.raises(FileFormatError, match="partial record"):
        list(iter_records(layout, io.BytesIO(record + b"\x40" * 10)))
    with pytest.raises(FileFormatError, match="announces"):
        list(iter_records(layout, io.BytesIO(rdw_header(300) + record), record_format="V"))
    little = rdw_header(len(record), big_endian=False) + record
    with pytest.raises(FileFormatError, match="endianness"):
        list(iter_records(layout, io.BytesIO(little), record_format="V", rdw_big_endian=True))
    got = list(iter_records(layout, io.BytesIO(little), record_format="V", rdw_big_endian=False))
    assert len(got) == 1


def test_blocked_variable_records() -> None:
    layout = load_bundled_copybook("imf_entity")
    payloads = [encode_record(layout, {"ENT_TIN": f"90001000{i}"}) for i in range(3)]
    block = b"".join(rdw_header(len(p), adjustment=-4) + p for p in payloads)
    data = (len(block) + 4).to_bytes(2, "big") + b"\0\0" + block
    got = list(iter_records(layout, io.BytesIO(data), record_format="VB", rdw_adjustment=-4))
    assert [r.values["ENT_TIN"] for r in got if r.values] == [f"90001000{i}" for i in range(3)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"MOD_BALANCE": Decimal("1.234")}, "decimal places"),
        ({"MOD_BALANCE": Decimal("100000000000.00")}, "digits"),
        ({"MOD_STATUS": -1}, "unsigned"),
        ({"MOD_KEY": {"MOD_TIN": "X" * 10}}, "do not fit"),
        ({"NO_SUCH_FIELD": 1}, "unknown key"),
        ({"MOD_BALANCE": 1.5}, "expected int or Decimal"),
        ({"MOD_TRANSACTION": []}, "occurrences"),
        ({"MOD_TXN_COUNT": 2, "MOD_TRANSACTION": [{}]}, "counter"),
    ],
)
def test_encoder_refuses_lossy_values(values: dict[str, object], message: str) -> None:
    with pytest.raises(RecordEncodeError, match=message):
        encode_record(load_bundled_copybook("imf_module"), values)


def test_generated_and_closure_decoders_agree() -> None:
    """The exec-generated fast path must decode exactly like the closure path (incl. short records)."""
    layout = parse_copybook((CORPUS / "case_type_variety" / "test6_copybook.cob").read_text("latin-1"))
    data = (CORPUS / "case_type_variety" / "INTEGR.TYPES.NOV28.DATA.dat").read_bytes()
    options = DecodeOptions(encoding="common")
    fast = RecordDecoder(layout, options)
    slow = RecordDecoder(layout, options, generate=False)
    for i in range(0, 100, 7):
        record = data[i * 1493 : (i + 1) * 1493]
        for cut in (1493, 700, 3):
            assert fast.decode(record[:cut]) == slow.decode(record[:cut])
