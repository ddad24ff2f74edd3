"""Copybook dialects real files come in: columns, comments, continuation, COPY/REPLACING, 66/88, signs, floats.

Table-driven: each case is a small copybook written for this test and the
layout it must give ((key, offset, size) of each elementary item), so a
dialect that is read wrongly shows up as a shifted or missing field.
"""

from __future__ import annotations

import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from taxvault.formats.copybook import CopybookSyntaxError, DecodeOptions, decode_record, parse_copybook
from taxvault.formats.copybook.source import detect_format

Fields = list[tuple[str, int, int]]
ABC: Fields = [("A", 0, 3), ("B", 3, 5), ("C", 8, 2)]


def _fields(text: str, **kwargs: Any) -> Fields:
    layout = parse_copybook(text, **kwargs)
    return [(f.key, f.offset, f.size) for f in layout.fields()]


DIALECTS = [
    pytest.param(
        "fixed",
        "000100 01  REC.                                                          CHG0001\n"
        "000200* A COMMENT LINE WITH PIC X(99) IN IT.\n"
        "000300/ PAGE-EJECT COMMENT\n"
        "000400     05  A  PIC X(3).                                              CHG0002X\n"
        "000500D    05  DEBUG-ONLY PIC X(9).\n"
        "000600     05  B  PIC 9(5).\n"
        "000700     05  C  PIC XX.\n",
        ABC,
        id="fixed-sequence-numbers-tags-past-72-debug-line",
    ),
    pytest.param(
        "fixed",
        "       01  REC.\n"
        "           05  A  PIC X(3).   *> trailing comment PIC X(7)\n"
        "      *> a floating comment line\n"
        "           05  B  PIC 9(5).\n"
        "           05  C  PIC XX.\n",
        ABC,
        id="fixed-inline-comments",
    ),
    pytest.param(
        "trimmed",
        "*  SEQUENCE AREA WAS CUT OFF BY THE TRANSFER\n"
        + " 01  REC.\n"
        + "     05  A  PIC X(3).".ljust(66)
        + "CHANGE01\n"
        + "/\n"
        + "     05  B  PIC 9(5).\n"
        + "     05  C  PIC XX.\n",
        ABC,
        id="trimmed-sequence-area",
    ),
    pytest.param(
        "shifted",
        " 000100 01  REC.\n"
        " 000200*    COMMENT\n"
        " 000300     05  A  PIC X(3).                                              TAG\n"
        " 000400     05  B  PIC 9(5).\n"
        " 000500     05  C  PIC XX.\n",
        ABC,
        id="shifted-one-column",
    ),
    pytest.param(
        "free",
        "* free-form copybook: no columns at all\n"
        "01 REC.\n"
        "  05 A PIC X(3). *> inline\n"
        "  05 B PIC 9(5).\n"
        "  05 C                                                                                 PIC XX.\n",
        ABC,
        id="free-form-level-in-column-1-long-line",
    ),
    pytest.param(
        "fixed",
        "       01  rec.\n           05  a  pic x(3).\n           05  b  picture is 9(5) usage display.\n"
        "           05  c  pic xx value spaces.\n",
        ABC,
        id="lowercase-keywords",
    ),
    pytest.param(
        "fixed",
        "       01  REC.\n"
        "           05  A  PIC X(3) VALUE\n"
        "                  'ABC'.\n"
        "           05  B  PIC 9(5)\n"
        "                  VALUE ZERO.\n"
        "           05  C  PIC X(2) VALUE 'A LITERAL THAT RUNS TO THE END OF THE AREA AND O\n"
        "      -           'N'.\n",
        ABC,
        id="value-across-lines-and-continued-literal",
    ),
    pytest.param(
        "fixed",
        "       01  REC.\n"
        "           05  A  PIC X(3).\n"
        "               88  A-YES VALUE 'Y' 'YES'.\n"
        "               88  A-RANGE VALUES ARE 'AAA' THRU 'AZZ', 'B'.\n"
        "           05  B  PIC 9(5).\n"
        "               88  B-LOW VALUE 0 THRU 99.\n"
        "               88  B-ZERO VALUE ZERO.\n"
        "           05  C  PIC XX.\n"
        "       66  A-AND-B RENAMES A THRU B.\n"
        "       66  JUST-C RENAMES C.\n",
        ABC,
        id="level-88-and-66-take-no-bytes",
    ),
]


@pytest.mark.parametrize(("fmt", "text", "fields"), DIALECTS)
def test_dialects_give_the_same_layout(fmt: str, text: str, fields: Fields) -> None:
    assert detect_format(text) == fmt
    assert _fields(text) == fields
    assert _fields(text, source_format=fmt) == fields  # the forced format reads it the same way


def test_text_past_column_72_would_be_a_field_if_not_cut() -> None:
    text = "       01  REC.\n" + "           05  A  PIC X(3).".ljust(72) + "05 Z PIC X.\n"
    assert _fields(text) == [("A", 0, 3)]
    assert _fields(text, source_format="free") == [("A", 0, 3), ("Z", 3, 1)]


def test_continued_literal_keeps_the_spaces_up_to_column_72() -> None:
    text = "       01  REC.\n           05  A  PIC X(3).\n               88  A-LONG VALUE 'AB\n      -    'C'.\n"
    layout = parse_copybook(text)
    _, cond = layout.conditions["A_LONG"]
    (low, _high), *_ = cond.values
    assert low == "AB" + " " * (72 - 35) + "C"


def test_conditions_and_renames_are_metadata() -> None:
    text = str(next(p.values[1] for p in DIALECTS if p.id == "level-88-and-66-take-no-bytes"))
    layout = parse_copybook(text)
    assert layout.record_length == 10
    item, cond = layout.conditions["A_RANGE"]
    assert item.name == "A"
    assert cond.values == (("AAA", "AZZ"), ("B", None))
    assert layout.conditions["B_LOW"][1].values == ((0, 99),)
    assert layout.conditions["B_ZERO"][1].values == ((0, None),)
    assert [(r.name, r.offset, r.size) for r in layout.renames] == [("A-AND-B", 0, 8), ("JUST-C", 8, 2)]
    values = decode_record(layout, b"YES00042XY", encoding="ascii")
    assert values == {"A": "YES", "B": 42, "C": "XY"}
    described = layout.describe()
    assert "88 A-YES  VALUE 'Y', 'YES'" in described
    assert "66 A-AND-B" in described


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("       01  REC.\n           05  A PIC X.\n       66  R RENAMES NOPE.\n", "NOPE matches 0"),
        (
            "       01  REC.\n           05  A PIC X.\n           05  B PIC X.\n       66  R RENAMES B THRU A.\n",
            "follow",
        ),
        ("       01  REC.\n           05  T OCCURS 2 PIC X.\n       66  R RENAMES T.\n", "OCCURS"),
        ("       88  LOST VALUE 1.\n       01  REC.\n           05  A PIC X.\n", "does not follow"),
        ("       01  REC.\n           05  A PIC X.\n               88  C.\n", "no VALUE"),
        ("       01  REC.\n           05  A PIC X BLANK WHEN ZERO.\n", "BLANK WHEN ZERO"),
    ],
)
def test_metadata_errors(text: str, message: str) -> None:
    with pytest.raises(CopybookSyntaxError, match=message):
        parse_copybook(text)


# -- COPY, REPLACING, :TAG: ------------------------------------------------------------------------

MEMBER = """
           05  :PFX:-ID      PIC X(3).
           05  :PFX:-AMOUNT  PIC 9(5).
"""


def test_tag_placeholders_filled_by_the_replacing_option() -> None:
    text = "       01  REC.\n" + MEMBER + "           05  C  PIC XX.\n"
    layout = parse_copybook(text, replacing={":PFX:": "CUST"})
    assert [f.key for f in layout.fields()] == ["CUST_ID", "CUST_AMOUNT", "C"]
    with pytest.raises(CopybookSyntaxError):
        parse_copybook(text)  # ':PFX:-ID' is not a data name


def test_copy_replacing_from_a_members_mapping() -> None:
    text = (
        "       01  REC.\n"
        "           COPY CUSTPART REPLACING ==:PFX:== BY ==CUST==.\n"
        "           COPY CUSTPART REPLACING ==:PFX:== BY ==PREV==\n"
        "                                   ==PIC 9(5)== BY ==PIC 9(7)==.\n"
    )
    layout = parse_copybook(text, copy_members={"custpart": MEMBER})
    assert [(f.key, f.offset, f.size) for f in layout.fields()] == [
        ("CUST_ID", 0, 3),
        ("CUST_AMOUNT", 3, 5),
        ("PREV_ID", 8, 3),
        ("PREV_AMOUNT", 11, 7),
    ]


def test_copy_members_from_directories_nested_and_leading_replacement(tmp_path: Path) -> None:
    (tmp_path / "HEADER.cpy").write_text("           05  HDR-KIND  PIC X.\n           COPY DATES.\n")
    (tmp_path / "dates.cpy").write_text("           05  HDR-DATE  PIC 9(8).\n")
    text = "       01  REC.\n           COPY HEADER REPLACING LEADING ==HDR== BY ==TRL==.\n"
    layout = parse_copybook(text, copy_dirs=[tmp_path])
    assert [(f.key, f.offset, f.size) for f in layout.fields()] == [("TRL_KIND", 0, 1), ("TRL_DATE", 1, 8)]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "member not found"),
        ({"A": "           COPY B.\n", "B": "           COPY A.\n"}, "copy each other"),
    ],
)
def test_copy_errors(members: dict[str, str], message: str) -> None:
    with pytest.raises(CopybookSyntaxError, match=message) as info:
        parse_copybook("       01  REC.\n           COPY A.\n", copy_members=members)
    assert info.value.line == 2


# -- values of the less common storage forms ----------------------------------------------------------

SIGNS = """
       01  REC.
           05  LEAD-SEP   PIC S9(3)V99
                          SIGN IS LEADING SEPARATE CHARACTER.
           05  TRAIL-SEP  PIC S9(4) SIGN TRAILING SEPARATE.
           05  LEAD-OVER  PIC S9(3) SIGN LEADING.
           05  UNSIGNED-SEP PIC 9(2) SIGN LEADING SEPARATE.
"""


def test_sign_separate_and_leading() -> None:
    layout = parse_copybook(SIGNS)
    assert [(f.key, f.size) for f in layout.fields()] == [
        ("LEAD_SEP", 6),
        ("TRAIL_SEP", 5),
        ("LEAD_OVER", 3),
        ("UNSIGNED_SEP", 3),
    ]
    ebcdic = "-12345" + "0042+" + "}12" + "-07"
    values = decode_record(layout, ebcdic.encode("cp037"))
    assert values == {
        "LEAD_SEP": Decimal("-123.45"),
        "TRAIL_SEP": 42,
        "LEAD_OVER": -12,
        "UNSIGNED_SEP": -7,
    }
    no_sign = "012345" + "00420" + "012" + " 07"  # a digit or blank where the separate sign must be
    assert decode_record(layout, no_sign.encode("cp037")) == {
        "LEAD_SEP": None,
        "TRAIL_SEP": None,
        "LEAD_OVER": 12,
        "UNSIGNED_SEP": None,
    }


def _ibm32(value: float) -> bytes:
    """IBM hexadecimal single precision, written independently of the reader (exact for these values)."""
    if value == 0:
        return b"\0\0\0\0"
    sign = 0x80 if value < 0 else 0
    mag = abs(value)
    exponent = 0
    while mag >= 1:
        mag /= 16
        exponent += 1
    while mag < 1 / 16:
        mag *= 16
        exponent -= 1
    return bytes([sign | (exponent + 64)]) + int(mag * (1 << 24)).to_bytes(3, "big")


@pytest.mark.parametrize("value", [0.0, 1.0, -1.0, 100.0, -0.15625, 3 * 2**-20, -118.625, 2.0**40])
def test_comp1_comp2_ieee_and_ibm(value: float) -> None:
    layout = parse_copybook("       01  REC.\n           05  F1 COMP-1.\n           05  F2 USAGE IS COMPUTATIONAL-2.\n")
    ieee = struct.pack(">f", value) + struct.pack(">d", value)
    assert decode_record(layout, ieee) == {"F1": value, "F2": value}
    ibm = _ibm32(value) + _ibm32(value) + b"\0\0\0\0"
    got = decode_record(layout, ibm, options=DecodeOptions(float_format="ibm"))
    assert got == {"F1": value, "F2": value}


def test_ibm_known_bit_patterns() -> None:
    layout = parse_copybook("       01  REC.\n           05  F1 COMP-1.\n           05  F2 COMP-2.\n")
    ibm = DecodeOptions(float_format="ibm")
    assert decode_record(layout, bytes.fromhex("41100000 C276A000 00000000"), options=ibm) == {
        "F1": 1.0,
        "F2": -118.625,
    }
    assert decode_record(layout, bytes.fromhex("00000000 80000000 00000000"), options=ibm) == {"F1": 0.0, "F2": 0.0}


def test_national_pic_n_is_utf16_big_endian() -> None:
    layout = parse_copybook(
        "       01  REC.\n           05  NAME PIC N(4).\n           05  CODE PIC N USAGE NATIONAL.\n"
    )
    assert [(f.key, f.size) for f in layout.fields()] == [("NAME", 8), ("CODE", 2)]
    assert decode_record(layout, "Zoë ".encode("utf-16-be") + "€".encode("utf-16-be")) == {"NAME": "Zoë", "CODE": "€"}


def test_picture_repetition_blank_when_zero_justified_and_sync() -> None:
    layout = parse_copybook(
        "       01  REC.\n"
        "           05  K  PIC X.\n"
        "           05  H  PIC S9(4) COMP SYNC.\n"
        "           05  R  PIC 9(3)V9(2) BLANK WHEN ZERO.\n"
        "           05  J  PIC X(4) JUSTIFIED RIGHT.\n"
        "           05  E  PIC ZZZ9.99.\n",
        honor_sync=False,
    )
    h, r, j = layout.item("H"), layout.item("R"), layout.item("J")
    assert (h.offset, h.sync) == (1, True)  # SYNC ignored on request: no slack byte is inserted
    assert (r.offset, r.size, r.blank_when_zero) == (3, 5, True)
    assert j.justified
    data = (
        "A".encode("cp037") + b"\xff\xfe" + "     ".encode("cp037") + "  AB".encode("cp037") + "1234.50".encode("cp037")
    )
    assert decode_record(layout, data) == {"K": "A", "H": -2, "R": Decimal("0.00"), "J": "AB", "E": Decimal("1234.50")}
    blank_plain = parse_copybook("       01  REC.\n           05  R  PIC 9(3)V9(2).\n")
    assert decode_record(blank_plain, "     ".encode("cp037")) == {"R": None}  # blank is null without the clause


# -- less common forms and every syntax error the parser reports ---------------------------------------

H = "       01  REC.\n"


def test_less_common_forms() -> None:
    text = (
        "       01  REC GLOBAL.\n"
        "           05  G  USAGE IS COMP.\n"
        "               10  H1  PIC S9(4).\n"
        "               10  H2  PIC 9(9).\n"
        "           05  IX USAGE INDEX.\n"
        "           05  K  PIC X(2) VALUE X'C1C2'.\n"
        "               88  K-HEX VALUE X'C1C2' X'FFFF'.\n"
        "               88  K-ALL VALUE ALL 'A'.\n"
        "               88  K-FIG VALUES HIGH-VALUES LOW-VALUE SPACES QUOTE.\n"
        "               88  K-NUM VALUE -1.5 +2 3.\n"
        "       EJECT.\n"
        "           05  T  OCCURS 2 TIMES INDEXED BY T-IX ASCENDING KEY IS T-K.\n"
        "               10  T-K PIC X.\n"
        "           05  S  PIC S9(3) SEPARATE.\n"
        "           05  N  GROUP-USAGE NATIONAL.\n"
        "               10  N1 PIC N(2).\n"
    )
    layout = parse_copybook(text)
    assert [(f.key, f.offset, f.size) for f in layout.fields()] == [
        ("H1", 0, 2),
        ("H2", 2, 4),
        ("IX", 6, 4),
        ("K", 10, 2),
        ("T_K", 12, 1),
        ("S", 14, 4),
        ("N1", 18, 4),
    ]
    assert layout.item("K").value == ("X'C1C2'",)
    conds = {k: c.values for k, (_, c) in layout.conditions.items()}
    assert conds["K_HEX"] == ((b"\xc1\xc2", None), (b"\xff\xff", None))
    assert conds["K_ALL"] == (("A", None),)
    assert conds["K_FIG"] == ((b"\xff", None), (b"\x00", None), (" ", None), ('"', None))
    assert conds["K_NUM"] == ((Decimal("-1.5"), None), (2, None), (3, None))
    assert "88 K-HEX  VALUE X'C1C2', X'FFFF'" in layout.describe()


def test_copy_statement_forms(tmp_path: Path) -> None:
    lib = tmp_path / "copylib"
    lib.mkdir()
    (lib / "part.cbl").write_bytes(
        "           05  OLD-NAME PIC X(2).\n           05  NAME-OLD PIC X.\n".encode("latin-1")
    )
    (tmp_path / "latin.cpy").write_bytes("      * caf\xe9\n           05  L PIC X.\n".encode("latin-1"))
    text = (
        H + "           COPY 'PART' OF COPYLIB SUPPRESS\n"
        "                REPLACING OLD-NAME BY NEW-NAME\n"
        "                TRAILING ==-OLD== BY ==-NEW==.\n"
        "           COPY LATIN.\n"
    )
    layout = parse_copybook(text, copy_dirs=[tmp_path])
    assert [f.key for f in layout.fields()] == ["NEW_NAME", "NAME_NEW", "L"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (H + "           COPY", "ends before the member name"),
        (H + "           COPY A REPLACING ==X== ==Y==.\n", "expected BY"),
        (H + "           COPY A REPLACING ==X== BY.\n", "missing operand"),
        (H + "           COPY A REPLACING ==X BY Y.\n", "not closed"),
        (H + "           COPY A REPLACING LEADING ==X Y== BY ==Z==.\n", "one word"),
        (H + "           COPY A\n           05 B PIC X.\n", "not terminated"),
        (H + "           05  A PIC X OCCURS 2 OCCURS 3.\n", "more than one OCCURS"),
        (H + "           05  A PIC X OCCURS 3 TO 2 DEPENDING ON B.\n", "maximum below minimum"),
        (H + "           05  A PIC X OCCURS 0.\n", "without DEPENDING ON"),
        (H + "           05  A PIC X OCCURS 2000000.\n", "larger than"),
        (H + "           05  A PIC X OCCURS MANY.\n", "OCCURS count"),
        (H + "           05  A PIC X PIC X.\n", "more than one PIC"),
        (H + "           05  A PIC 'X'.\n", "invalid picture"),
        (H + "           05  A USAGE WEIRD.\n", "unsupported USAGE"),
        (H + "           05  A PIC S9 SIGN IS MIDDLE.\n", "LEADING or TRAILING"),
        (H + "           05  A PIC X VALUE.\n", "VALUE without"),
        (H + "           05  A PIC 9 BLANK WHEN.\n", "BLANK WHEN ZERO"),
        (H + "           05  A PIC X.\n               88  C VALUE.\n", "no values"),
        (H + "           05  A PIC X.\n               88  C VALUE 'A.\n", "literal is not closed"),
        (H + "           05  A PIC X.\n               88  C VALUE X'ZZ'.\n", "hexadecimal"),
        (H + "           05  A PIC X.\n               88  C VALUE ABC.\n", "expected a literal"),
        (H + "           05  A PIC X.\n               88  C VALUE ALL.\n", "literal after ALL"),
        (H + "           05  A PIC X.\n       66  R A.\n", "no RENAMES"),
        (H + "           05  A PIC X.\n       66  R RENAMES A B.\n", "unexpected word"),
        ("       66  R RENAMES A.\n       01  REC.\n           05  A PIC X.\n", "does not follow a record"),
        ("       77  A PIC X.\n           05  B PIC X.\n", "no parent record"),
        ("           05  A PIC X.\n       01  REC.\n           05  B PIC X.\n", "no parent record"),
        (H + "           05  G PIC X.\n               10  A PIC X.\n", "group item G has a PIC"),
        (H + "           55  A PIC X.\n", "invalid level number"),
        (H + "           05  A PIC X(0).\n", "bad repetition count"),
        (H + "           05  A PIC X(3.\n", "unbalanced"),
        (H + "           05  A PIC X(3) USAGE NATIONAL.\n", "needs PIC N or a numeric picture"),
        (H + "           05  A PIC XQ.\n", "unsupported characters"),
        (H + "           05  A PIC 9S9.\n", "S must be the first"),
        (H + "           05  A PIC 9V9V9.\n", "more than one decimal point"),
        (H + "           05  A PIC SV.\n", "no digit positions"),
        (H + "           05  A PIC ZZ9.99 COMP-3.\n", "must be USAGE DISPLAY"),
        (H + "           05  A PIC.\n", "expected a picture string"),
        (H + "           05  A PIC X(3) VALUE 'AB\n      -    C'.\n", "after a quote"),
        ("      -    'A'.\n" + H, "without a line"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(CopybookSyntaxError, match=message):
        parse_copybook(text, copy_members={"A": "           05  Z PIC X.\n"})


def test_replacing_option_needs_text_and_unknown_format_is_refused() -> None:
    with pytest.raises(CopybookSyntaxError, match="empty text"):
        parse_copybook(H + "           05  A PIC X.\n", replacing={"  ": "X"})
    with pytest.raises(CopybookSyntaxError, match="unknown source format"):
        parse_copybook(H, source_format="punched")  # type: ignore[arg-type]


def test_trimmed_continuation_and_word_continuation() -> None:
    text = (
        "* trimmed file\n"
        " 01  REC.\n"
        "     05  A PIC X(3).\n"
        "         88  A-LONG VALUE 'XY\n"
        "-        'Z'.\n"
        "     05  LONG-NA\n"
        "-    ME PIC X.\n"
    )
    layout = parse_copybook(text)
    assert [f.key for f in layout.fields()] == ["A", "LONG_NAME"]
    (low, _), *_ = layout.conditions["A_LONG"][1].values
    quote = text.splitlines()[3].index("'")
    assert low == "XY".ljust(66 - quote - 1) + "Z"  # the literal runs to column 66, the trimmed area's end


def test_text_starting_in_the_indicator_column_is_kept() -> None:
    text = (
        "      * hand-edited: levels typed from column 7\n      01 REC.\n      10 A PIC X(3).\n      10 B PIC 9(5).\n"
    )
    expected = [("A", 0, 3), ("B", 3, 5)]
    assert _fields(text, source_format="fixed") == expected  # '10' was read as level 0 before
    assert _fields(text) == expected


def test_cobol_2002_usages_and_listing_directives_without_period() -> None:
    text = (
        H + "           05  A USAGE BINARY-CHAR UNSIGNED.\n"
        "           EJECT\n"
        "           05  B BINARY-SHORT.\n"
        "           SKIP2\n"
        "           05  C BINARY-LONG SIGNED.\n"
        "           05  D USAGE IS BINARY-DOUBLE UNSIGNED.\n"
        "           EJECT.\n"
        "           05  E FLOAT-LONG.\n"
        "           05  F USAGE FLOAT-SHORT.\n"
    )
    layout = parse_copybook(text)
    assert [(f.key, f.offset, f.size) for f in layout.fields()] == [
        ("A", 0, 1),
        ("B", 1, 2),
        ("C", 3, 4),
        ("D", 7, 8),
        ("E", 15, 8),
        ("F", 23, 4),
    ]
    data = bytes([255, 255, 254]) + b"\xff" * 12 + struct.pack(">d", 1.5) + struct.pack(">f", -2.0)
    assert decode_record(layout, data) == {"A": 255, "B": -2, "C": -1, "D": 2**64 - 1, "E": 1.5, "F": -2.0}


def test_byte_order_mark_does_not_shift_the_columns() -> None:
    text = "\ufeff000100 01  REC.\n000200     05  A  PIC X(3).\n"
    assert _fields(text) == [("A", 0, 3)]
