"""Record formats on hand-made files: F, FB, V, VB (standard, extended, little-endian BDW), text, segments.

Each file is built byte by byte here (not with the writer under test where the
framing itself is the point), so a reader that mis-frames would fail.  Framing
errors must name the byte offset; a record that cannot be decoded is reported
and the records after it are still decoded.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.copybook import (
    DecodeOptions,
    FileFormatError,
    RecordDecodeError,
    RecordDecoder,
    encode_record,
    iter_raw_records,
    iter_records,
    load_bundled_copybook,
    parse_copybook,
)
from taxvault.formats.copybook.records import _record_decoder, _trailing_table_only
from taxvault.formats.copybook.segments import SegmentMap, SegmentMapError, sub_layout

SMALL = parse_copybook(
    """
       01  REC.
           05  KIND      PIC X.
           05  AMOUNT    PIC 9(3).
"""
)
ODO = parse_copybook(
    """
       01  REC.
           05  N         PIC 9.
           05  ITEM      PIC XX OCCURS 0 TO 3 DEPENDING ON N.
"""
)
TYPES = parse_copybook(
    """
       01  HEADER-REC.
           05  REC-TYPE  PIC X.
           05  FILE-DATE PIC 9(8).
       01  DETAIL-REC.
           05  REC-TYPE  PIC X.
           05  NAME      PIC X(5).
           05  CNT       PIC 9.
           05  CODES     PIC 9 OCCURS 0 TO 2 DEPENDING ON CNT.
"""
)


def ascii_values(data: bytes, layout: Any = SMALL, **kw: Any) -> list[dict[str, Any] | None]:
    return [r.values for r in iter_records(layout, io.BytesIO(data), encoding="ascii", **kw)]


def rdw_be(payload: bytes, inclusive: bool = False) -> bytes:
    return (len(payload) + (4 if inclusive else 0)).to_bytes(2, "big") + b"\0\0" + payload


def rdw_le(payload: bytes) -> bytes:
    return b"\0\0" + len(payload).to_bytes(2, "little") + payload


def test_fixed_and_fixed_block() -> None:
    data = b"A001B002C003"
    for fmt in ("F", "FB"):
        assert ascii_values(data, record_format=fmt) == [
            {"KIND": "A", "AMOUNT": 1},
            {"KIND": "B", "AMOUNT": 2},
            {"KIND": "C", "AMOUNT": 3},
        ]
    with pytest.raises(FileFormatError) as info:
        ascii_values(data + b"D0", record_format="FB")
    assert info.value.offset == 12
    assert "partial record of 2 bytes" in str(info.value)


def test_rdw_big_little_inclusive() -> None:
    recs = [b"A001", b"B002"]
    want: list[dict[str, Any] | None] = [{"KIND": "A", "AMOUNT": 1}, {"KIND": "B", "AMOUNT": 2}]
    assert ascii_values(b"".join(rdw_be(r) for r in recs), record_format="V") == want
    assert ascii_values(b"".join(rdw_le(r) for r in recs), record_format="V", rdw_big_endian=False) == want
    inclusive = b"".join(rdw_be(r, inclusive=True) for r in recs)
    assert ascii_values(inclusive, record_format="V", rdw_adjustment=-4) == want
    # Without the adjustment the first RDW announces 8 bytes (its record and the next RDW), so the
    # next "RDW" is the second record's data, at byte 12.
    with pytest.raises(FileFormatError) as info:
        ascii_values(inclusive, record_format="V")
    assert info.value.offset == 12
    raws = list(iter_raw_records(io.BytesIO(b"".join(rdw_be(r) for r in recs)), record_format="V"))
    assert [(r.index, r.offset) for r in raws] == [(0, 4), (1, 12)]


def block(records: list[bytes], *, header: str = "standard") -> bytes:
    body = b"".join(rdw_be(r) for r in records)
    if header == "standard":
        return (len(body) + 4).to_bytes(2, "big") + b"\0\0" + body
    if header == "extended":
        return ((len(body) + 4) | 0x80000000).to_bytes(4, "big") + body
    if header == "little":
        return b"\0\0" + (len(body) + 4).to_bytes(2, "little") + body
    if header == "exclusive":
        return len(body).to_bytes(2, "big") + b"\0\0" + body
    raise AssertionError(header)


@pytest.mark.parametrize(
    ("header", "options"),
    [
        ("standard", {}),
        ("extended", {}),
        ("little", {"bdw_big_endian": False}),
        ("exclusive", {"bdw_adjustment": 4}),
    ],
)
def test_blocked_records(header: str, options: dict[str, Any]) -> None:
    data = block([b"A001", b"B002"], header=header) + block([b"C003"], header=header) + block([], header=header)
    got = ascii_values(data, record_format="VB", **options)
    assert [v["KIND"] for v in got if v] == ["A", "B", "C"]
    raws = list(iter_raw_records(io.BytesIO(data), record_format="VB", **options))
    assert [r.index for r in raws] == [0, 1, 2]
    assert raws[2].offset == 20 + 4 + 4  # first block (4 + 2 * 8 bytes), second BDW, its RDW


@pytest.mark.parametrize(
    ("data", "options", "offset", "message"),
    [
        (block([b"A001"])[:-1], {}, 0, "only 7 remain"),  # the block runs past the end of the file
        (b"\0\x08\x01\x02" + rdw_be(b"A001"), {}, 0, "non-zero bytes 2-3"),
        (b"\0\x02\0\0", {}, 0, "shorter than its own"),
        (block([b"A001"], header="exclusive"), {}, 4, "BDW adjustment of +4"),  # BDW counted without itself
        (b"\x01\x02\0\x0c" + rdw_be(b"A001"), {"bdw_big_endian": False}, 0, "non-zero bytes 0-1"),
        (b"\0\x0a\0\0" + rdw_be(b"A001") + b"\0\x0a\0\0", {}, 4, "past the end of its block"),
        (block([b"A001"]) + b"\0\x0c", {}, 12, "trailing bytes"),
    ],
)
def test_block_framing_errors_name_the_offset(data: bytes, options: dict[str, Any], offset: int, message: str) -> None:
    with pytest.raises(FileFormatError) as info:
        ascii_values(data, record_format="VB", **options)
    assert info.value.offset == offset
    assert message in str(info.value)


def test_text_lines_lf_crlf_and_last_line() -> None:
    data = b"A001\nB002\r\nC003"
    assert [v["KIND"] for v in ascii_values(data, record_format="text") if v] == ["A", "B", "C"]
    raws = list(iter_raw_records(io.BytesIO(data), record_format="text", chunk_size=3))
    assert [(r.offset, r.data) for r in raws] == [(0, b"A001"), (5, b"B002"), (11, b"C003")]
    # A short line gives trailing nulls, an empty line an empty record; a final line end adds no record.
    assert ascii_values(b"A\n\nB12\n", record_format="text") == [
        {"KIND": "A", "AMOUNT": None},
        {"KIND": None, "AMOUNT": None},
        {"KIND": "B", "AMOUNT": None},
    ]


@given(lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=8), chunk=st.integers(1, 9))
@settings(max_examples=60, deadline=None)
def test_text_split_matches_splitlines(lines: list[bytes], chunk: int) -> None:
    data = b"\n".join(lines)
    got = [r.data for r in iter_raw_records(io.BytesIO(data), record_format="text", chunk_size=chunk)]
    expected = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")]
    if expected and expected[-1] == b"" and data.endswith(b"\n"):
        expected.pop()
    assert got == (expected if data else [])


def test_a_bad_record_is_reported_and_the_rest_decoded() -> None:
    data = b"".join(rdw_be(r) for r in (b"1AB", b"9ABCDEF", b"2ABCD"))
    got = list(iter_records(ODO, io.BytesIO(data), record_format="V", encoding="ascii", errors="collect"))
    assert [r.values for r in got] == [{"N": 1, "ITEM": ["AB"]}, None, {"N": 2, "ITEM": ["AB", "CD"]}]
    error = got[1].error
    assert error is not None and error.record_index == 1 and error.offset == 11
    with pytest.raises(RecordDecodeError):
        list(iter_records(ODO, io.BytesIO(data), record_format="V", encoding="ascii"))


def test_unknown_format_is_refused() -> None:
    with pytest.raises(FileFormatError, match="unknown record format"):
        ascii_values(b"A001", record_format="U")


def test_segments_choose_the_layout_and_report_unknown_types() -> None:
    records = [b"H20240101", b"DSMITH2", b"X", b"DJONES1"]
    data = b"".join(
        rdw_be(r + (b"12" if r.startswith(b"DS") else b"3" if r.startswith(b"DJ") else b"")) for r in records
    )
    segments = SegmentMap.parse("REC-TYPE", ["H=HEADER-REC", "D=detail-rec"])
    got = list(
        iter_records(TYPES, io.BytesIO(data), record_format="V", encoding="ascii", segments=segments, errors="collect")
    )
    assert [r.record_type for r in got] == ["HEADER-REC", "DETAIL-REC", None, "DETAIL-REC"]
    assert got[0].values == {"REC_TYPE": "H", "FILE_DATE": 20240101}
    assert got[1].values == {"REC_TYPE": "D", "NAME": "SMITH", "CNT": 2, "CODES": [1, 2]}
    assert got[3].values == {"REC_TYPE": "D", "NAME": "JONES", "CNT": 1, "CODES": [3]}
    error = got[2].error
    assert error is not None and error.field == "REC-TYPE" and "not in the segment map" in error.reason
    assert error.record_index == 2
    # Fixed-length: every record is as long as the longest 01.
    fixed = b"H20240101" + b"DSMITH212"
    got = list(iter_records(TYPES, io.BytesIO(fixed), encoding="ascii", segments=segments))
    assert [r.values["REC_TYPE"] for r in got if r.values] == ["H", "D"]


@pytest.mark.parametrize(
    ("field", "pairs", "message"),
    [
        ("NO-SUCH", ["H=HEADER-REC"], "not a single item"),
        ("FILE-DATE", ["H=NO-SUCH-REC"], "no 01 record called NO-SUCH-REC"),
        ("CODES", ["1=DETAIL-REC"], "inside a table"),
        ("REC-TYPE", ["H"], "not VALUE=LAYOUT"),
        ("REC-TYPE", [], "at least one"),
    ],
)
def test_segment_map_errors(field: str, pairs: list[str], message: str) -> None:
    with pytest.raises(SegmentMapError, match=message):
        list(iter_records(TYPES, io.BytesIO(b""), segments=SegmentMap.parse(field, pairs)))


def test_sub_layout_leaves_the_copybook_untouched() -> None:
    detail = sub_layout(TYPES, "DETAIL-REC")
    assert detail.record_length == 9 and len(detail.roots) == 1
    assert (
        TYPES.roots[1].children[0].index != detail.roots[0].children[0].index or TYPES.roots[0] is not detail.roots[0]
    )
    assert [i.index for i in TYPES.items] == list(range(len(TYPES.items)))


# -- the V fast path: the fixed-shape decoder for a trailing table gives the variable decoder's values


def test_trailing_table_shape_is_recognised() -> None:
    module = load_bundled_copybook("imf_module")
    assert _trailing_table_only(module)
    fast = _record_decoder(module, DecodeOptions(variable_size_occurs=True), "V")
    assert getattr(fast, "__self__").variable is False  # noqa: B009 - the fixed-shape decoder is used
    assert _trailing_table_only(ODO)
    assert not _trailing_table_only(TYPES)  # two 01 records
    after = "       01 R.\n  05 N PIC 9.\n  05 T PIC X OCCURS 1 TO 3 DEPENDING ON N.\n  05 Z PIC X.\n"
    assert not _trailing_table_only(parse_copybook(after))


_TRAILING = {
    "imf_module": load_bundled_copybook("imf_module"),
    "odo": ODO,
    "odo_group": parse_copybook(
        """
       01  REC.
           05  HEAD.
               10  ID      PIC X(3).
               10  AMT     PIC S9(5)V99 COMP-3.
           05  ALT REDEFINES HEAD PIC X(7).
           05  N           PIC S9(3) COMP.
           05  T OCCURS 0 TO 5 DEPENDING ON N.
               10  T-NAME  PIC X(4).
               10  T-NUM   PIC 9(4).
               10  T-PK    PIC 9(3) COMP-3.
               10  FILLER  PIC X.
"""
    ),
}
_options = st.builds(
    DecodeOptions,
    encoding=st.sampled_from(["cp037", "ascii", "common"]),
    string_trimming=st.sampled_from(["both", "none", "right"]),
    improved_null_detection=st.booleans(),
    drop_value_fillers=st.booleans(),
    variable_size_occurs=st.just(True),
)
_bytes = st.lists(
    st.sampled_from([0x00, 0x01, 0x02, 0x40, 0xF1, 0xF3, 0x31, 0x0C, 0x15, 0xC1]) | st.integers(0, 255), max_size=260
).map(bytes)


def _outcome(fn: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", repr(fn(data))
    except RecordDecodeError as exc:
        return "error", (exc.reason, exc.field)


@given(name=st.sampled_from(sorted(_TRAILING)), options=_options, raw=_bytes, count=st.integers(0, 5))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_v_fast_path_matches_the_variable_decoder(name: str, options: DecodeOptions, raw: bytes, count: int) -> None:
    layout = _TRAILING[name]
    plain = RecordDecoder(layout, options, generate=False)
    fast = _record_decoder(layout, options, "V")
    table = next(i for i in layout.items if i.depending_on is not None)
    counter = table.depending_on
    assert counter is not None
    n = min(max(count, table.occurs_min or 0), table.count_max)
    values: dict[str, Any] = {table.key: [{} if table.is_group else None] * n}
    image = encode_record(layout, values, encoding=options.encoding)  # the counter is written from the table
    end = table.offset + n * table.element_size
    body = bytearray((raw * (end // max(len(raw), 1) + 1))[:end] if raw else bytes(end))
    lo, hi = counter.offset, counter.offset + counter.size
    body[lo:hi] = image[lo:hi]  # random bytes with a right counter
    records = [raw, bytes(body), image[:end], image[: table.offset]]
    for record in records:
        assert _outcome(fast, record) == _outcome(plain.decode, record)
