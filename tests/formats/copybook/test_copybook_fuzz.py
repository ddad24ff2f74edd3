"""Hypothesis fuzzing: bad bytes and bad copybook text only ever raise the package's own errors."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.copybook import (
    CopybookError,
    DecodeOptions,
    Layout,
    decode_record,
    encode_record,
    iter_records,
    load_bundled_copybook,
    parse_copybook,
)

CORPUS = Path(__file__).resolve().parents[2] / "conformance" / "cobrix"
LAYOUTS: dict[str, Layout] = {
    p.stem: parse_copybook(p.read_text(encoding="latin-1")) for p in sorted(CORPUS.glob("case_*/*.cob"))
}
LAYOUTS["imf_entity"] = load_bundled_copybook("imf_entity")
LAYOUTS["imf_module"] = load_bundled_copybook("imf_module")
ENCODINGS = ["cp037", "common", "cp273", "ascii", "cp1148"]
_layout_names = st.sampled_from(sorted(LAYOUTS))
_options = st.builds(
    DecodeOptions,
    encoding=st.sampled_from(ENCODINGS),
    improved_null_detection=st.booleans(),
    strict_sign_overpunching=st.booleans(),
    float_format=st.sampled_from(["ieee754", "ibm"]),
    variable_size_occurs=st.booleans(),
    drop_group_fillers=st.booleans(),
    drop_value_fillers=st.booleans(),
    root=st.sampled_from(["collapse", "keep"]),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(name=_layout_names, data=st.binary(max_size=5000), options=_options)
def test_random_bytes_decode_or_raise_own_error(name: str, data: bytes, options: DecodeOptions) -> None:
    with contextlib.suppress(CopybookError):
        decode_record(LAYOUTS[name], data, options=options)


def _valid_record(name: str) -> bytes:
    layout = LAYOUTS[name]
    if name == "imf_module":
        return encode_record(layout, {"MOD_TRANSACTION": [{"TXN_CODE": 150}] * 3})
    return encode_record(layout, {})


@FUZZ
@given(
    name=_layout_names,
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=5000), st.integers(0, 255)), max_size=20),
    cut=st.integers(min_value=0, max_value=5000),
    options=_options,
)
def test_mutated_records_decode_or_raise_own_error(
    name: str,
    edits: list[tuple[int, int]],
    cut: int,
    options: DecodeOptions,
) -> None:
    record = bytearray(_valid_record(name))
    for pos, byte in edits:
        if record:
            record[pos % len(record)] = byte
    with contextlib.suppress(CopybookError):
        decode_record(LAYOUTS[name], bytes(record[: max(cut, len(record) // 2)]), options=options)


@FUZZ
@given(
    name=_layout_names,
    data=st.binary(max_size=3000),
    options=_options,
    record_format=st.sampled_from(["F", "V", "VB"]),
    big_endian=st.booleans(),
    adjustment=st.sampled_from([0, -4, 4]),
)
def test_random_files_split_or_raise_own_error(
    name: str,
    data: bytes,
    options: DecodeOptions,
    record_format: str,
    big_endian: bool,
    adjustment: int,
) -> None:
    try:
        for _ in iter_records(
            LAYOUTS[name],
            io.BytesIO(data),
            record_format=record_format,  # type: ignore[arg-type]
            options=options,
            rdw_big_endian=big_endian,
            rdw_adjustment=adjustment,
            chunk_size=128,
            errors="collect",
        ):
            pass
    except CopybookError:
        pass


_COPYBOOK_WORDS = [
    "01",
    "05",
    "10",
    "66",
    "77",
    "88",
    "FILLER",
    "A-FIELD",
    "B",
    "PIC",
    "PICTURE",
    "X(5)",
    "9(3)V99",
    "S9(4)",
    "COMP",
    "COMP-3",
    "COMP-1",
    "BINARY",
    "OCCURS",
    "3",
    "TO",
    "TIMES",
    "DEPENDING",
    "ON",
    "REDEFINES",
    "VALUE",
    "'A.B'",
    "SIGN",
    "LEADING",
    "SEPARATE",
    ".",
    "Z(4).99-",
    "9(0)",
    "X(",
    "PPP9",
    "USAGE",
    "IS",
    "INDEXED",
    "BY",
    "JUST",
    "\t",
    "*",
    "\n",
    "       ",
    "(",
    ")",
    "-",
    "99999999999",
]


@FUZZ
@given(st.lists(st.sampled_from(_COPYBOOK_WORDS), max_size=60))
def test_random_copybook_text_parses_or_raises_syntax_error(words: list[str]) -> None:
    text = "       " + " ".join(words)
    try:
        layout = parse_copybook(text)
    except CopybookError:
        return
    with contextlib.suppress(CopybookError):
        decode_record(layout, b"\x00" * min(layout.record_length, 4096))


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text_parses_or_raises_syntax_error(text: str) -> None:
    with contextlib.suppress(CopybookError):
        parse_copybook(text)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_default_record_round_trips(name: str) -> None:
    """Encoding an empty value dict gives a record every decoder accepts."""
    layout = LAYOUTS[name]
    data = _valid_record(name)
    assert len(data) == layout.record_length
    decode_record(layout, data)
