"""IBM Enterprise COBOL rules the reader follows for copybooks and files written elsewhere (issue 17).

SYNCHRONIZED slack bytes, DBCS items (PIC G, PIC N DISPLAY-1), the REPLACE
statement, OCCURS DEPENDING ON counters outside OCCURS min..max, and the strict
check of the spare digit of even-digit COMP-3 items.  Copybooks and bytes are
written here; offsets in comments are computed from the IBM Language
Reference's rules ("Slack bytes within records", "Slack bytes between
records" and the SYNCHRONIZED clause).
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxvault.cli import app
from taxvault.formats.copybook import (
    CopybookSyntaxError,
    DecodeOptions,
    RecordDecodeError,
    decode_record,
    encode_record,
    iter_records,
    parse_copybook,
)
from taxvault.formats.copybook.layout import sync_boundary

CP = "cp037"


def e(text: str) -> bytes:
    return text.encode(CP)


def offsets(layout: Any, *names: str) -> list[tuple[int, int]]:
    return [(layout.item(n).offset, layout.item(n).size) for n in names]


# -- SYNCHRONIZED ---------------------------------------------------------------------------------

IBM_EXAMPLES = """\
       01  FIELD-A.
           05 FIELD-B PIC X(5).
           05 FIELD-C.
              10 FIELD-D PIC XX.
              10 FIELD-E PIC S9(6) COMP SYNC.
       01  FIELD-L.
           05 FIELD-M PIC X(5).
           05 FIELD-N PIC XX.
           05 FIELD-O.
              10 FIELD-P PIC S9(6) COMP SYNC.
"""

TABLE = """\
       01  WORK-RECORD.
           05 WORK-CODE PIC X.
           05 COMP-TABLE OCCURS 3 TIMES.
              10 COMP-TYPE PIC X.
              10 COMP-PAY  PIC S9(4)V99 COMP SYNC.
              10 COMP-HRS  PIC S9(3) COMP SYNC.
              10 COMP-NAME PIC X(5).
           05 TRAILER PIC X(2).
"""


def test_slack_bytes_within_records_follow_the_language_reference() -> None:
    layout = parse_copybook(IBM_EXAMPLES)
    # FIELD-A: B 0-4, D 5-6, E needs a fullword: 7 % 4 = 3 -> 1 slack byte at 7 inside FIELD-C, E at 8.
    assert offsets(layout, "FIELD-B", "FIELD-C", "FIELD-D", "FIELD-E") == [(0, 5), (5, 7), (5, 2), (8, 4)]
    # FIELD-L: the slack byte follows FIELD-N at level 05 (before FIELD-O), so FIELD-O starts at 8, 4 bytes.
    assert offsets(layout, "FIELD-N", "FIELD-O", "FIELD-P") == [(5, 2), (8, 4), (8, 4)]
    field_l = layout.item("FIELD-L")
    slack = [c for c in field_l.children if c.slack]
    assert [(s.offset, s.size, s.level) for s in slack] == [(7, 1, 5)]
    assert layout.record_length == 12
    ignored = parse_copybook(IBM_EXAMPLES, honor_sync=False)
    assert offsets(ignored, "FIELD-E", "FIELD-P") == [(7, 4), (7, 4)] and ignored.record_length == 11


def test_each_boundary_kind() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 A  PIC X.\n"
        "           05 H  PIC 9(4) BINARY SYNC.\n"  # halfword: 1 -> 2
        "           05 B  PIC X.\n"
        "           05 F  PIC S9(9) COMP-5 SYNCHRONIZED.\n"  # fullword: 5 -> 8
        "           05 C  PIC X.\n"
        "           05 L  PIC S9(12) COMP-4 SYNC LEFT.\n"  # 10-18 digits: fullword (IBM: m = 4 from 5 digits)
        "           05 D  PIC X.\n"
        "           05 G  COMP-2 SYNC.\n"  # doubleword: 21 -> 24
        "           05 K  PIC X.\n"
        "           05 S  COMP-1 SYNC.\n"  # fullword: 33 -> 36
        "           05 P  PIC S9(7) COMP-3 SYNC.\n"  # packed: SYNC has no effect
        "           05 X  PIC X(3) SYNC.\n"  # DISPLAY: no effect
        "           05 I  USAGE INDEX SYNC.\n"  # fullword: 47 -> 48
        "           05 Q  USAGE POINTER SYNC.\n"
    )
    assert offsets(layout, "H", "F", "L", "G", "S", "P", "X", "I", "Q") == [
        (2, 2),
        (8, 4),
        (16, 8),
        (32, 8),
        (44, 4),
        (48, 4),
        (52, 3),
        (56, 4),
        (60, 4),
    ]
    assert [sync_boundary(layout.item(n)) for n in ("H", "F", "L", "G", "S", "P", "X", "I")] == [2, 4, 4, 8, 4, 1, 1, 4]


def test_inter_occurrence_slack_bytes_and_decoding() -> None:
    layout = parse_copybook(TABLE)
    # One element: TYPE 1, slack 2-3, PAY 4-7, HRS 8-9, NAME 10-14: 14 bytes from offset 1; the largest m is 4,
    # 14 % 4 = 2 -> 2 inter-occurrence slack bytes (15-16) at the end of each element: 16 bytes an occurrence.
    table = layout.item("COMP-TABLE")
    assert (table.offset, table.element_size, table.size) == (1, 16, 48)
    assert offsets(layout, "COMP-TYPE", "COMP-PAY", "COMP-HRS", "COMP-NAME", "TRAILER") == [
        (1, 1),
        (4, 4),
        (8, 2),
        (10, 5),
        (49, 2),
    ]
    assert layout.record_length == 51
    # Occurrence k starts at 1 + 16k, so PAY at 4 + 16k and HRS at 8 + 16k: all aligned like the first.
    record = bytearray(e(" ") * 51)
    record[0:1] = e("W")
    for k, (pay, hrs, name) in enumerate([(12345, 40, "ANN"), (-1, -7, "BOB"), (0, 0, "")]):
        base = 1 + 16 * k
        record[base : base + 1] = e("T")
        record[base + 1 : base + 3] = b"\x00\x00"  # slack bytes (undefined content)
        record[base + 3 : base + 7] = pay.to_bytes(4, "big", signed=True)
        record[base + 7 : base + 9] = hrs.to_bytes(2, "big", signed=True)
        record[base + 9 : base + 14] = e(name.ljust(5))
        record[base + 14 : base + 16] = b"\xff\xff"
    record[49:51] = e("ZZ")
    values = decode_record(layout, bytes(record))
    assert values == {
        "WORK_CODE": "W",
        "COMP_TABLE": [
            {"COMP_TYPE": "T", "COMP_PAY": Decimal("123.45"), "COMP_HRS": 40, "COMP_NAME": "ANN"},
            {"COMP_TYPE": "T", "COMP_PAY": Decimal("-0.01"), "COMP_HRS": -7, "COMP_NAME": "BOB"},
            {"COMP_TYPE": "T", "COMP_PAY": Decimal("0.00"), "COMP_HRS": 0, "COMP_NAME": ""},
        ],
        "TRAILER": "ZZ",
    }
    # Slack bytes never appear, not even with value fillers kept, and do not shift FILLER numbering.
    kept = decode_record(layout, bytes(record), options=DecodeOptions(drop_value_fillers=False))
    assert kept == values
    # The writer puts every value where the reader finds it.
    assert decode_record(layout, encode_record(layout, values)) == values
    # Without alignment the same copybook reads other bytes: the option exists for files that were not aligned.
    plain = parse_copybook(TABLE, honor_sync=False)
    assert plain.record_length == 1 + 3 * 12 + 2
    assert decode_record(plain, encode_record(plain, values)) == values


def test_sync_in_variable_table_group_sync_and_redefines() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 N   PIC 9.\n"
        "           05 T   OCCURS 1 TO 4 DEPENDING ON N SYNC.\n"  # SYNC on a group: its binary items
        "              10 A PIC X.\n"
        "              10 B PIC S9(4) COMP.\n"
        "           05 Z   PIC X(3).\n"
        "           05 Y   REDEFINES Z PIC S9(5) COMP SYNC.\n"  # a redefining item is never moved
    )
    # N 0; T's first element starts at 1: A 1, slack 2, B 3-4?  B needs a halfword: 2 % 2 = 0 -> B at 2-3, so the
    # element is A 1, B 2-3 = 3 bytes, m = 2 -> 1 inter-occurrence slack byte: 4 bytes an element.
    assert offsets(layout, "A", "B") == [(1, 1), (2, 2)]
    assert layout.item("T").element_size == 4
    assert offsets(layout, "Z", "Y") == [(17, 3), (17, 4)]
    values = {"N": 2, "T": [{"A": "P", "B": -2}, {"A": "Q", "B": 300}], "Z": "XYZ"}
    data = encode_record(layout, values, variable_size_occurs=True)
    # Element k starts at 1 + 4k: B of the second element at 6-7, after its 1-byte inter-occurrence slack.
    assert (data[2:4], data[6:8], data[9:12]) == (b"\xff\xfe", (300).to_bytes(2, "big"), e("XYZ"))
    options = DecodeOptions(variable_size_occurs=True)
    decoded = decode_record(layout, data, options=options)
    assert decoded["T"] == values["T"] and decoded["Z"] == "XYZ"


def test_layout_command_shows_slack_bytes(tmp_path: Path) -> None:
    cpy = tmp_path / "work.cpy"
    cpy.write_text(TABLE, encoding="latin-1")
    runner = CliRunner()
    table = runner.invoke(app, ["copybook", "layout", str(cpy)])
    assert table.exit_code == 0, table.output
    slack_lines = [line for line in table.output.splitlines() if "SLACK BYTES" in line]
    # offset, 1-based start, end, size of the slack before COMP-PAY and of the inter-occurrence slack.
    assert [line.split()[-4:] for line in slack_lines] == [["2", "3", "4", "2"], ["15", "16", "17", "2"]]
    assert "record length 51" in table.output
    rows = json.loads(runner.invoke(app, ["copybook", "layout", str(cpy), "--json"]).output)["items"]
    assert [(r["offset"], r["size"]) for r in rows if r["slack"]] == [(2, 2), (15, 2)]
    ignored = runner.invoke(app, ["copybook", "layout", str(cpy), "--ignore-sync"])
    assert "SLACK BYTES" not in ignored.output and "record length 39" in ignored.output


# -- DBCS and national --------------------------------------------------------------------------------

DBCS = """\
       01  R.
           05 K   PIC X(2).
           05 G1  PIC G(3) USAGE DISPLAY-1.
           05 N1  PIC N(2) USAGE IS DISPLAY-1.
           05 G2  PIC G(2).
           05 U   PIC N(2).
           05 V   PIC N(2) USAGE NATIONAL.
"""
# K 0-1, G1 2-7, N1 8-11, G2 12-15, U 16-19, V 20-23.
DBCS_RECORD = (
    e("AB")
    + bytes.fromhex("42C142C24040")  # two DBCS characters and a DBCS space
    + bytes.fromhex("404042F1")
    + bytes.fromhex("0000" * 2)
    + "Zé".encode("utf-16-be")
    + "x".encode("utf-16-be")
    + " ".encode("utf-16-be")
)


def test_dbcs_items_decode_as_documented() -> None:
    layout = parse_copybook(DBCS)
    assert offsets(layout, "G1", "N1", "G2", "U", "V") == [(2, 6), (8, 4), (12, 4), (16, 4), (20, 4)]
    assert decode_record(layout, DBCS_RECORD) == {
        "K": "AB",
        "G1": "42C142C2",  # hex, 4 digits a character, DBCS spaces (X'4040') trimmed
        "N1": "42F1",
        "G2": None,  # all X'00', as other text with improved null detection
        "U": "Zé",  # PIC N without DISPLAY-1 is national: UTF-16BE
        "V": "x",
    }
    untrimmed = decode_record(layout, DBCS_RECORD, options=DecodeOptions(string_trimming="none"))
    assert (untrimmed["G1"], untrimmed["N1"]) == ("42C142C24040", "404042F1")
    # A codec the user names decodes the bytes (here utf-16-be stands in for a registered cp930/cp939).
    as_codec = decode_record(layout, DBCS_RECORD, options=DecodeOptions(dbcs="utf-16-be"))
    assert as_codec["G1"] == bytes.fromhex("42C142C24040").decode("utf-16-be").strip()
    with pytest.raises(ValueError, match="not 'hex', 'refuse' or a Python codec"):
        decode_record(layout, DBCS_RECORD, options=DecodeOptions(dbcs="cp-no-such"))
    # The writer takes the hex form back.
    values = decode_record(layout, DBCS_RECORD)
    values["G2"] = "42C3"
    assert decode_record(layout, encode_record(layout, values)) == values


def test_dbcs_refused_records_are_quarantined_with_field_and_offset() -> None:
    layout = parse_copybook(DBCS)
    records = list(
        iter_records(layout, io.BytesIO(DBCS_RECORD * 3), options=DecodeOptions(dbcs="refuse"), errors="collect")
    )
    assert len(records) == 3
    for rec in records:
        assert rec.values is None and rec.error is not None
        assert (rec.error.field, rec.error.field_offset) == ("R.G1", 2)
        assert "no DBCS code page" in rec.error.reason
    # A codec that cannot decode the bytes reports the record too, never a replacement character.
    bad = parse_copybook("       01  R.\n           05 G PIC G(1).\n")
    with pytest.raises(RecordDecodeError, match="does not decode with utf-8"):
        decode_record(bad, b"\xff\xfe", options=DecodeOptions(dbcs="utf-8"))


def test_dbcs_pictures_that_are_refused() -> None:
    for text, reason in [
        ("05 A PIC X(2) DISPLAY-1", "needs PIC G or N"),
        ("05 A PIC G(2) COMP-3", "must be USAGE DISPLAY-1"),
        ("05 A PIC GX", "needs PIC G or N"),
    ]:
        with pytest.raises(CopybookSyntaxError, match=reason):
            parse_copybook(f"       01  R.\n           {text}.\n")
    spaced = parse_copybook("       01  R.\n           05 A PIC GGBGG.\n")
    assert spaced.item("A").size == 10  # B in a DBCS picture is a DBCS space: 2 bytes


# -- REPLACE statement ---------------------------------------------------------------------------------


def test_replace_statement_off_and_also_with_copy_members() -> None:
    text = (
        "       REPLACE ==:P:== BY ==CUST== ==X(3)== BY ==X(5)==.\n"
        "       01  :P:-REC.\n"
        "           05 :P:-NAME PIC X(3).\n"
        "           COPY ADDR.\n"
        "       REPLACE ALSO ==9(2)== BY ==9(4)==.\n"
        "           05 :P:-AGE PIC 9(2).\n"
        "       REPLACE OFF.\n"
        "           05 X-LEN PIC 9(2).\n"
        "       REPLACE LEADING ==Y-== BY ==ZIP-==.\n"
        "           05 Y-CODE PIC X(3).\n"
    )
    layout = parse_copybook(text, copy_members={"ADDR": "           05 :P:-CITY PIC X(3).\n"})
    # COPY is expanded first, so the member's :P: and X(3) are replaced by the REPLACE in effect.
    assert offsets(layout, "CUST-NAME", "CUST-CITY", "CUST-AGE", "X-LEN", "ZIP-CODE") == [
        (0, 5),
        (5, 5),
        (10, 4),
        (14, 2),
        (16, 3),
    ]
    assert layout.roots[0].name == "CUST-REC"


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("REPLACE ==A== BY B.", "pseudo-text"),
        ("REPLACE A BY ==B==.", "pseudo-text"),
        ("REPLACE ==A== ==B==.", "expected BY"),
        ("REPLACE ==== BY ==B==.", "empty"),
        ("REPLACE.", "without operands"),
        ("REPLACE ==A== BY ==B==", "pseudo-text"),  # the next entry's level number is taken as an operand
        ("REPLACE OFF", "not terminated"),
    ],
)
def test_replace_statement_errors(statement: str, reason: str) -> None:
    with pytest.raises(CopybookSyntaxError, match=reason):
        parse_copybook(f"       {statement}\n       01  R.\n           05 A PIC X.\n")


# -- OCCURS DEPENDING ON outside min..max -------------------------------------------------------------

ODO = """\
       01  R.
           05 ID  PIC X(2).
           05 N   PIC 9(3).
           05 T   OCCURS 2 TO 5 TIMES DEPENDING ON N.
              10 V PIC X.
"""


@pytest.mark.parametrize("variable", [False, True])
def test_counter_below_the_minimum_or_above_the_maximum_is_reported(variable: bool) -> None:
    layout = parse_copybook(ODO)
    options = DecodeOptions(variable_size_occurs=variable)
    good = e("AA002XY   ")
    assert decode_record(layout, good, options=options)["T"] == [{"V": "X"}, {"V": "Y"}]
    for counter in ("001", "000", "987"):
        data = e("AA" + counter + "XYZAB")
        with pytest.raises(RecordDecodeError) as info:
            decode_record(layout, data, options=options)
        err = info.value
        assert (err.field, err.field_offset) == ("T", 5)
        assert "outside 2..5" in err.reason and "counter N" in err.reason
        assert counter.lstrip("0") not in str(err).replace("2..5", "") or counter == "000"
        assert "987" not in str(err)
    blank = e("AA   XY   ")
    with pytest.raises(RecordDecodeError, match="blank or not a valid number"):
        decode_record(layout, blank, options=options)


def test_counter_out_of_range_quarantines_only_that_record() -> None:
    layout = parse_copybook(ODO)
    records = [e("AA002XY   "), e("AB001X    "), e("AC005VWXYZ")]
    out = list(iter_records(layout, io.BytesIO(b"".join(records * 700)), errors="collect"))
    assert len(out) == 2100
    bad = [r for r in out if r.error is not None]
    assert len(bad) == 700 and all(r.index % 3 == 1 for r in bad)
    assert all((r.error.field, r.error.field_offset) == ("T", 5) for r in bad if r.error is not None)
    assert out[2].values == {"ID": "AC", "N": 5, "T": [{"V": c} for c in "VWXYZ"]}


# -- COMP-3 spare digit -------------------------------------------------------------------------------

PACKED = """\
       01  R.
           05 E4  PIC S9(4) COMP-3.
           05 E6  PIC 9(4)V99 COMP-3.
           05 O5  PIC S9(5) COMP-3.
"""
# E4 0-2 (5 nibbles: 1 spare + 4 digits + sign), E6 3-6 (7 nibbles + sign), O5 7-9 (5 digits + sign, no spare).


def test_packed_spare_digit_default_and_strict() -> None:
    layout = parse_copybook(PACKED)
    clean = bytes.fromhex("01234C" + "0123456F" + "12345D")
    spare = bytes.fromhex("91234C" + "1123456F" + "12345D")
    assert decode_record(layout, clean) == {"E4": 1234, "E6": Decimal("1234.56"), "O5": -12345}
    # Default (documented): the spare nibble is read like the other digits, the raw value.
    assert decode_record(layout, spare) == {"E4": 91234, "E6": Decimal("11234.56"), "O5": -12345}
    strict = DecodeOptions(strict_packed_spare_digit=True)
    assert decode_record(layout, clean, options=strict) == decode_record(layout, clean)
    with pytest.raises(RecordDecodeError, match="non-zero spare high-order digit") as info:
        decode_record(layout, spare, options=strict)
    assert (info.value.field, info.value.field_offset) == ("R.E4", 0)
    only_e6 = bytes.fromhex("01234C" + "1123456F" + "12345D")
    with pytest.raises(RecordDecodeError) as info:
        decode_record(layout, only_e6, options=strict)
    assert (info.value.field, info.value.field_offset) == ("R.E6", 3)
    # The column-wise batch path reports the same records.
    out = list(iter_records(layout, io.BytesIO((clean + only_e6) * 600), options=strict, errors="collect"))
    assert [r.error is None for r in out[:4]] == [True, False, True, False]
    assert out[0].values == decode_record(layout, clean)
    assert sum(r.error is not None for r in out) == 600


# -- other dialect features ---------------------------------------------------------------------------

EDITED = """\
       01  R.
           05 B PIC $$,$$9.99CR.
           05 C PIC +ZZ,ZZ9.99.
           05 D PIC ***9.99DB.
           05 E PIC 99/99/99.
           05 G PIC 9(3)B9(2).
           05 H PIC ++++9.
           05 I PIC ----9.99.
           05 J PIC $ZZZ9.
           05 K PIC Z,ZZ9.
           05 L PIC $$$.99.
           05 M PIC ZZ9.99-.
"""


def test_edited_numeric_pictures_read_and_write_by_position() -> None:
    layout = parse_copybook(EDITED)
    # CR and DB take two positions: B is 11 bytes, D 9.
    assert [layout.item(n).size for n in "BCDEGHIJKLM"] == [11, 10, 9, 8, 6, 5, 8, 5, 5, 6, 7]
    printed = "$1,234.56CR+    12.30***5.00DB31/12/99123 45  -12   -0.05$   71,234  $.05  1.50-"
    values = {
        "B": Decimal("-1234.56"),
        "C": Decimal("12.30"),
        "D": Decimal("-5.00"),
        "E": 311299,
        "G": 12345,
        "H": -12,
        "I": Decimal("-0.05"),
        "J": 7,
        "K": 1234,
        "L": Decimal("0.05"),
        "M": Decimal("-1.50"),
    }
    assert decode_record(layout, e(printed)) == values
    assert encode_record(layout, values) == e(printed)
    other = "    $0.00  -12,345.781234.56  00/00/00000 00   +3  123.45$   0    0$99.99  0.00 "
    decoded = decode_record(layout, e(other))
    assert (decoded["B"], decoded["C"], decoded["D"], decoded["H"], decoded["L"]) == (
        Decimal("0.00"),
        Decimal("-12345.78"),
        Decimal("1234.56"),
        3,
        Decimal("99.99"),
    )
    assert encode_record(layout, decoded) == e(other)
    # A digit where the mask inserts a character, or a letter in a digit position: null, never a guess.
    broken = decode_record(layout, e("$1,2345.6CR" + "+    1X.30" + other[21:]))
    assert (broken["B"], broken["C"]) == (None, None)


def test_clauses_and_usages_real_copybooks_carry() -> None:
    layout = parse_copybook(
        "       78  MAX-ITEMS VALUE 5.\n"
        "       01  R.\n"
        "           05 D   PIC 9(6) DATE FORMAT YYXXXX.\n"
        "           05 V   PIC X(2) VOLATILE.\n"
        "           05 P   USAGE PROCEDURE-POINTER.\n"
        "           05 F   FUNCTION-POINTER.\n"
        "           05 Q   USAGE IS POINTER-64 SYNC.\n"
        "           05 A   PIC S9(3) SIGN IS LEADING.\n"
        "           05 T   OCCURS 2 ASCENDING KEY IS K1\n"
        "                  INDEXED BY IX1 IX2.\n"
        "              10 K1 PIC X.\n"
    )
    # D 0-5, V 6-7, P 8-15 (8 bytes), F 16-19, Q: a doubleword at 24 after 4 slack bytes, A 32-34, T 35-36.
    assert offsets(layout, "D", "V", "P", "F", "Q", "A", "T") == [
        (0, 6),
        (6, 2),
        (8, 8),
        (16, 4),
        (24, 8),
        (32, 3),
        (35, 2),
    ]
    data = e("240101AB") + bytes(8) + bytes(4) + bytes(4) + (7).to_bytes(8, "big") + bytes([0xD1, 0xF2, 0xF3]) + e("XY")
    values = decode_record(layout, data)
    assert (values["D"], values["Q"], values["A"], values["T"]) == (240101, 7, -123, [{"K1": "X"}, {"K1": "Y"}])


def test_batch_path_agrees_on_slack_dbcs_and_edited() -> None:
    """iter_records decodes fixed-length files column-wise; it must give what the record decoder gives."""
    for text, record in [
        (TABLE, None),
        (DBCS, DBCS_RECORD),
        (EDITED, e("$1,234.56CR+    12.30***5.00DB31/12/99123 45  -12   -0.05$   71,234  $.05  1.50-")),
    ]:
        layout = parse_copybook(text)
        if record is None:
            row = {"WORK_CODE": "A", "COMP_TABLE": [{"COMP_PAY": 1, "COMP_HRS": -3}] * 3, "TRAILER": "Z"}
            record = encode_record(layout, row)
        want = decode_record(layout, record)
        out = list(iter_records(layout, io.BytesIO(record * 2500)))
        assert len(out) == 2500 and all(r.values == want for r in out)


def test_depending_on_a_qualified_counter() -> None:
    text = (
        "       01  R.\n"
        "           05 G.\n"
        "              10 N PIC 9.\n"
        "           05 H.\n"
        "              10 N PIC 9.\n"
        "           05 T OCCURS 1 TO 3 DEPENDING ON N IN H PIC X.\n"
    )
    layout = parse_copybook(text)
    assert decode_record(layout, e("12ABC")) == {"G": {"N": 1}, "H": {"N": 2}, "T": ["A", "B"]}
    assert decode_record(parse_copybook(text.replace("IN H", "OF G")), e("12ABC"))["T"] == ["A"]
    with pytest.raises(CopybookSyntaxError, match="no such item before T"):
        parse_copybook(text.replace("IN H", "OF Q"))


def test_decode_command_options_for_the_ibm_rules(tmp_path: Path) -> None:
    cpy = tmp_path / "mix.cpy"
    cpy.write_text(
        "       01  R.\n"
        "           05 K   PIC X.\n"
        "           05 B   PIC S9(4) COMP SYNC.\n"
        "           05 G   PIC G(1).\n"
        "           05 P   PIC S9(2) COMP-3.\n",
        encoding="latin-1",
    )
    # Aligned: K 0, slack 1, B 2-3, G 4-5, P 6-7 (8 bytes); without alignment: B 1-2, G 3-4, P 5-6 (7 bytes).
    aligned = [
        e("A") + b"\x00" + (5).to_bytes(2, "big") + b"\x42\xc1" + b"\x01\x2c",
        e("B") + b"\x00\xff\xff\x40\x40\x90\x1d",
    ]
    data = tmp_path / "mix.dat"
    data.write_bytes(b"".join(aligned))
    runner = CliRunner()

    def decode(out: str, *extra: str) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
        path = tmp_path / out
        result = runner.invoke(app, ["copybook", "decode", str(data), "-c", str(cpy), "-o", str(path), *extra])
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        qpath = tmp_path / out.replace(".jsonl", ".quarantine.jsonl")
        quarantined = [json.loads(line) for line in qpath.read_text().splitlines()] if qpath.exists() else []
        return result, rows, quarantined

    result, rows, quarantined = decode("a.jsonl")
    assert result.exit_code == 0, result.output
    assert rows == [{"K": "A", "B": 5, "G": "42C1", "P": 12}, {"K": "B", "B": -1, "G": "", "P": -901}]
    result, rows, quarantined = decode("s.jsonl", "--strict-packed-spare", "--strict")
    assert result.exit_code == 1 and len(rows) == 1 and [q["field"] for q in quarantined] == ["R.P"]
    result, rows, quarantined = decode("r.jsonl", "--dbcs", "refuse")
    assert rows == [] and [q["field_offset"] for q in quarantined] == [4, 4]
    assert (
        runner.invoke(
            app,
            [
                "copybook",
                "decode",
                str(data),
                "-c",
                str(cpy),
                "-o",
                str(tmp_path / "x.jsonl"),
                "--dbcs",
                "no-such-codec",
            ],
        ).exit_code
        == 1
    )
    data.write_bytes(b"".join(rec[:1] + rec[2:] for rec in aligned))  # the same records written without alignment
    result, rows, _ = decode("i.jsonl", "--ignore-sync")
    assert rows == [{"K": "A", "B": 5, "G": "42C1", "P": 12}, {"K": "B", "B": -1, "G": "", "P": -901}]


def test_national_decimal_items() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 A PIC 9(3) USAGE NATIONAL.\n"
        "           05 B PIC S9(3)V99 NATIONAL SIGN LEADING SEPARATE.\n"
        "           05 G USAGE NATIONAL.\n"
        "              10 D PIC 9(2).\n"
        "              10 E PIC N(2).\n"
    )
    # 2 bytes a character: A 0-5, B 6-17 (sign + 5 digits), D 18-21, E 22-25.
    assert offsets(layout, "A", "B", "D", "E") == [(0, 6), (6, 12), (18, 4), (22, 4)]
    data = "123-0012542hi".encode("utf-16-be")
    values = {"A": 123, "B": Decimal("-1.25"), "G": {"D": 42, "E": "hi"}}
    assert decode_record(layout, data) == values
    assert encode_record(layout, values) == data
    assert decode_record(layout, "1x3".encode("utf-16-be") + data[6:])["A"] is None
    assert decode_record(layout, "12\u0663".encode("utf-16-be") + data[6:])["A"] is None  # a non-ASCII digit


def test_national_and_dbcs_literals_in_values_and_conditions() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 A PIC N(2) VALUE NX'00410042'.\n"
        "              88 A-AB VALUE NX'00410042' N'xy'.\n"
        "           05 G PIC G(1) VALUE G'..'.\n"
        "              88 G-X VALUE G'x'.\n"
    )
    assert layout.item("A").value == ("NX'00410042'",)
    assert layout.conditions["A_AB"][1].values == ((b"\x00A\x00B", None), ("xy", None))
    assert layout.conditions["G_X"][1].values == (("x", None),)


def test_nested_tables_and_slack_after_nested_groups() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 T OCCURS 2.\n"
        "              10 A PIC X.\n"
        "              10 U OCCURS 2.\n"
        "                 15 B PIC S9(4) COMP SYNC.\n"
        "                 15 C PIC X.\n"
        "           05 D COMP-2 SYNC.\n"
        "           05 G.\n"
        "              10 H.\n"
        "                 15 X PIC X(3).\n"
        "           05 F COMP-1 SYNC.\n"
    )
    # T at 0: A 0, 1 slack byte, U at 2 (B 2-3, C 4, 1 inter-occurrence byte: 4 an element, 8 in all),
    # T's element 10 bytes (even, m = 2): T 0-19.  D needs a doubleword: 4 slack bytes after the table, D 24-31.
    # G 32: X 32-34; F needs a fullword at 36: the byte goes at the end of H (IBM: after X, at X's level).
    assert offsets(layout, "A", "U", "B", "C", "T", "D", "X", "H", "G", "F") == [
        (0, 1),
        (2, 8),
        (2, 2),
        (4, 1),
        (0, 20),
        (24, 8),
        (32, 3),
        (32, 4),
        (32, 4),
        (36, 4),
    ]
    row = {"T": [{"A": "P", "U": [{"B": 1, "C": "Q"}, {"B": -2, "C": "R"}]}] * 2, "D": 2.5, "G": {"H": {"X": "XYZ"}}}
    row["F"] = 0.5
    assert decode_record(layout, encode_record(layout, row)) == row


def test_many_sync_items_lay_out_quickly() -> None:
    import time

    text = "       01 R.\n" + "".join(
        f"          05 A{i} PIC X.\n          05 B{i} PIC S9(9) COMP SYNC.\n" for i in range(1500)
    )
    began = time.process_time()
    layout = parse_copybook(text)
    assert layout.record_length == 1500 * 8
    assert time.process_time() - began < 3.0  # one pass, not one pass per slack insertion


def test_micro_focus_comp_x() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 A PIC X(2) COMP-X.\n"
        "           05 B PIC 9(3) COMP-X.\n"
        "           05 C PIC 9(5) USAGE COMPUTATIONAL-X.\n"
    )
    # A: 2 bytes; B: 999 needs 2 bytes; C: 99999 needs 3 (unsigned, big-endian).
    assert offsets(layout, "A", "B", "C") == [(0, 2), (2, 2), (4, 3)]
    data = bytes([0xFF, 0xFE, 0x03, 0xE7, 0x01, 0x86, 0x9F])
    assert decode_record(layout, data) == {"A": 65534, "B": 999, "C": 99999}
    assert encode_record(layout, {"A": 65534, "B": 999, "C": 99999}) == data
    with pytest.raises(CopybookSyntaxError, match="COMP-X needs PIC X"):
        parse_copybook("       01  R.\n           05 A PIC S9(3) COMP-X.\n")


def test_external_floating_point() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 A PIC +9(2).9(4)E+99.\n"
        "           05 B PIC -V9(5)E-99.\n"
        "           05 C PIC +9E+99.\n"
    )
    assert offsets(layout, "A", "B", "C") == [(0, 12), (12, 10), (22, 6)]
    printed = "+12.3450E+02-12300E-03+7E+05"
    assert decode_record(layout, e(printed)) == {"A": 1234.5, "B": -0.000123, "C": 700000.0}
    assert encode_record(layout, {"A": 1234.5, "B": -0.000123, "C": 7e5}) == e(printed)
    assert decode_record(layout, e(" 12.3456E+02 12345E-03-1E-05")) == {"A": 1234.56, "B": 0.00012345, "C": -1e-05}
    bad = decode_record(layout, e("+12.3456X+02 12A45E-03+1E+0Q"))
    assert bad == {"A": None, "B": None, "C": None}


def test_decimal_point_is_comma() -> None:
    text = (
        "       01  R.\n"
        "           05 A PIC ZZ.ZZ9,99-.\n"
        "           05 B PIC 9(3),99.\n"
        "           05 C PIC $$.$$9,99CR.\n"
        "           05 D PIC S9(3)V99.\n"
    )
    layout = parse_copybook(text, decimal_point_comma=True)
    printed = "12.345,67-123,45$1.234,50CR0012L"
    values = {"A": Decimal("-12345.67"), "B": Decimal("123.45"), "C": Decimal("-1234.50"), "D": Decimal("-1.23")}
    assert decode_record(layout, e(printed)) == values
    assert encode_record(layout, values) == e(printed)
    # Without the setting the same text is the '.' convention: A's '.' is the point, so the value differs.
    assert decode_record(parse_copybook(text), e(printed))["A"] != values["A"]


def test_national_text_that_is_not_utf16_is_null() -> None:
    layout = parse_copybook("       01  R.\n           05 U PIC N(2).\n           05 K PIC X.\n")
    assert decode_record(layout, "ab".encode("utf-16-be") + e("K")) == {"U": "ab", "K": "K"}
    lone_surrogate = b"\xd8\x00\x00a"
    assert decode_record(layout, lone_surrogate + e("K")) == {"U": None, "K": "K"}  # never a U+FFFD guess
    out = list(iter_records(layout, io.BytesIO((lone_surrogate + e("K")) * 2100)))
    assert all(r.values == {"U": None, "K": "K"} for r in out)


def test_micro_focus_comp_6_unsigned_packed() -> None:
    layout = parse_copybook(
        "       01  R.\n           05 A PIC 9(4) COMP-6.\n           05 B PIC 9(3)V99 COMPUTATIONAL-6.\n"
    )
    # No sign nibble: 4 digits in 2 bytes, 5 digits in 3 (one spare leading nibble).
    assert offsets(layout, "A", "B") == [(0, 2), (2, 3)]
    data = bytes.fromhex("1234" + "012345")
    assert decode_record(layout, data) == {"A": 1234, "B": Decimal("123.45")}
    assert encode_record(layout, {"A": 1234, "B": Decimal("123.45")}) == data
    assert decode_record(layout, bytes.fromhex("123C" + "012345"))["A"] is None
    with pytest.raises(CopybookSyntaxError, match="COMP-6 is unsigned"):
        parse_copybook("       01  R.\n           05 A PIC S9(4) COMP-6.\n")


def test_utf8_items() -> None:
    layout = parse_copybook(
        "       01  R.\n"
        "           05 A PIC U(3).\n"
        "           05 B PIC U BYTE-LENGTH 5 USAGE UTF-8.\n"
        "           05 K PIC X.\n"
    )
    # PIC U(3): 4 bytes a character position (12); BYTE-LENGTH 5: 5 bytes.
    assert offsets(layout, "A", "B", "K") == [(0, 12), (12, 5), (17, 1)]
    data = "héé".encode().ljust(12) + "€a".encode().ljust(5) + e("Z")
    assert decode_record(layout, data) == {"A": "héé", "B": "€a", "K": "Z"}
    assert encode_record(layout, {"A": "héé", "B": "€a", "K": "Z"}) == data
    assert decode_record(layout, b"\xff" * 12 + data[12:])["A"] is None  # not UTF-8: null, never a guess
    with pytest.raises(CopybookSyntaxError, match="BYTE-LENGTH"):
        parse_copybook("       01  R.\n           05 A PIC X BYTE-LENGTH 5.\n")
