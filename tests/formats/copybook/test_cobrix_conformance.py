"""Cobrix conformance: every case and variant of tests/conformance/cobrix/manifest.json must match.

The harness derives the reader settings from the manifest (code page, trimming,
null detection, filler policy, root policy, record format, RDW details,
segment map) and compares as the corpus README prescribes: nulls dropped,
metadata keys ignored (but Record_Id / Record_Byte_Length are checked against
our own record splitting), numbers compared exactly as decimals, COMP-1 after
rounding the expected value to float32.

One documented divergence: Cobrix reads an unsigned 4-byte binary field of 5-8
digits as a Java int, so a raw value >= 2^31 is null there; taxvault returns
the raw value (the JRecord / LegStar rule, one rule for every binary width).
Such values are above the PIC digits, so the harness drops binary values
that exceed their PIC before comparing, and checks that
``strict_binary_digits`` reports exactly the records that hold one.
"""

from __future__ import annotations

import decimal
import io
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from taxvault.formats.copybook import (
    DecodeOptions,
    Layout,
    RecordDecodeError,
    Usage,
    iter_records,
    parse_copybook,
)

CORPUS = Path(__file__).resolve().parents[2] / "conformance" / "cobrix"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))


def _variants() -> list[Any]:
    params = []
    for case in MANIFEST["cases"]:
        for variant in case.get("variants") or [{"expected": case["expected"]}]:
            stem = Path(variant["expected"]).stem
            params.append(pytest.param(case, variant, id=f"{case['id']}[{stem}]"))
    return params


def _options(case: dict[str, Any], variant: dict[str, Any]) -> DecodeOptions:
    settings = case["reader_settings"]
    ascii_data = case["encoding"].upper() == "ASCII"
    encoding = "ascii" if ascii_data else variant.get("ebcdic_code_page", "common")
    options = DecodeOptions(
        encoding=encoding,
        string_trimming=variant.get("string_trimming", settings["string_trimming"]),
        improved_null_detection=settings["improved_null_detection"],
        strict_sign_overpunching=settings["strict_sign_overpunching"],
        float_format="ieee754" if settings["floating_point_format"].startswith("IEEE") else "ibm",
        root="keep" if settings["root"].startswith("keep") else "collapse",
        drop_value_fillers=variant.get("drop_value_fillers", settings["drop_value_fillers"]),
        drop_group_fillers=variant.get("drop_group_fillers", settings["drop_group_fillers"]),
        variable_size_occurs=settings.get("variable_size_occurs", False),
    )
    segments = case.get("segment_redefines")
    if segments:
        options = options.with_segments(segments["selector_field"], segments["map"])
    return options


def _load_expected(case: dict[str, Any], variant: dict[str, Any]) -> list[dict[str, Any]]:
    text = (CORPUS / variant["expected"]).read_text(encoding="utf-8")
    rows: list[dict[str, Any]]
    if case["expected_output"]["format"].startswith("one pretty-printed JSON array"):
        rows = json.loads(text, parse_float=decimal.Decimal)
    else:
        rows = [json.loads(line, parse_float=decimal.Decimal) for line in text.split("\n") if line.strip()]
    assert len(rows) == case["expected_output"]["rows"]
    return rows


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _drop_over_pic_binary(value: Any, limits: dict[str, int]) -> tuple[Any, int]:
    """Drop binary values above their PIC digits (Cobrix gives null for them); count them."""
    if isinstance(value, list):
        pairs = [_drop_over_pic_binary(v, limits) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if not isinstance(value, dict):
        return value, 0
    out: dict[str, Any] = {}
    dropped = 0
    for key, v in value.items():
        if key in limits and isinstance(v, int | decimal.Decimal) and abs(decimal.Decimal(v)) >= limits[key]:
            dropped += 1
            continue
        out[key], n = _drop_over_pic_binary(v, limits)
        dropped += n
    return out, dropped


def _binary_limits(layout: Layout) -> dict[str, int]:
    """Key -> smallest magnitude above the PIC digits, for binary fields (values already scaled)."""
    return {
        item.key: 10 ** (item.ftype.digits - item.ftype.scale)
        for item in layout.fields()
        if item.ftype and item.ftype.usage is Usage.BINARY and item.ftype.scale == 0
    }


def _float_keys(layout: Layout) -> dict[str, Usage]:
    return {
        item.key: item.ftype.usage
        for item in layout.fields()
        if item.ftype and item.ftype.usage in (Usage.FLOAT, Usage.DOUBLE)
    }


def _same(got: Any, want: Any, floats: dict[str, Usage], key: str = "") -> bool:
    if isinstance(want, dict):
        return (
            isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k], floats, k) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(g, w, floats, key) for g, w in zip(got, want, strict=True))
        )
    if isinstance(got, float):
        expected = float(want)
        if floats.get(key) is Usage.FLOAT:
            expected = struct.unpack(">f", struct.pack(">f", expected))[0]
        return got == expected
    if isinstance(want, decimal.Decimal | int) and not isinstance(want, bool):
        return isinstance(got, decimal.Decimal | int) and decimal.Decimal(got) == decimal.Decimal(want)
    return bool(got == want)


def _select(case: dict[str, Any], records: list[Any]) -> list[Any]:
    selection = case["expected_output"]["selection"]
    wanted = case["expected_output"]["rows"]
    order = re.search(r"smallest (\w+)", selection)
    if order:
        field = order.group(1)
        records = sorted(records, key=lambda r: r.values[field])  # stable: ties stay in file order
    return records[:wanted]


@pytest.mark.parametrize(("case", "variant"), _variants())
def test_cobrix_case(case: dict[str, Any], variant: dict[str, Any]) -> None:
    layout = parse_copybook((CORPUS / case["copybook"]).read_text(encoding="latin-1"))
    fmt = case["record_format"]
    if "record_length" in fmt:
        assert layout.record_length == fmt["record_length"]
    options = _options(case, variant)
    rdw = fmt.get("rdw") or {}
    data = (CORPUS / case["data"]).read_bytes()
    records = list(
        iter_records(
            layout,
            io.BytesIO(data),
            record_format="V" if fmt["type"].startswith("V") else "F",
            options=options,
            rdw_big_endian=rdw.get("endianness") == "big",
            rdw_adjustment=rdw.get("adjustment", 0),
            chunk_size=4096,
        )
    )
    assert len(records) == fmt["record_count"]
    if "record_lengths" in fmt:
        lengths = [len(r.data) for r in records]
        assert set(lengths) <= set(fmt["record_lengths"]) or lengths == fmt["record_lengths"]
    expected = _load_expected(case, variant)
    selected = _select(case, records)
    floats = _float_keys(layout)
    limits = _binary_limits(layout)
    ignore = set(case["expected_output"].get("ignore_keys", []))
    mismatches = []
    over_pic: set[int] = set()
    for record in records:
        if _drop_over_pic_binary(record.values, limits)[1]:
            over_pic.add(record.index)
    for record, want in zip(selected, expected, strict=True):
        if "Record_Id" in want:
            assert want["Record_Id"] == record.index
        if "Record_Byte_Length" in want:
            assert want["Record_Byte_Length"] == len(record.data)
        want = {k: v for k, v in want.items() if k not in ignore}
        got = _drop_nulls(_drop_over_pic_binary(record.values, limits)[0])
        if not _same(got, want, floats):
            mismatches.append((record.index, got, want))
    assert not mismatches, f"{len(mismatches)} rows differ; first: {mismatches[0]}"
    strict = list(
        iter_records(
            layout,
            io.BytesIO(data),
            record_format="V" if fmt["type"].startswith("V") else "F",
            options=options.but(strict_binary_digits=True),
            rdw_big_endian=rdw.get("endianness") == "big",
            rdw_adjustment=rdw.get("adjustment", 0),
            errors="collect",
        )
    )
    reported = {r.index for r in strict if r.error is not None}
    assert reported == over_pic
    assert all(isinstance(r.error, RecordDecodeError) and r.error.field for r in strict if r.error)


def _cobrix_layout_rows(path: Path) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[2:]:
        numbers = re.findall(r"\s(\d+)", line)
        names = re.findall(r"[A-Z][A-Z0-9_]*", line)
        if names and len(numbers) >= 3:
            rows.append(
                (re.sub(r"_\d+$", "", names[0]) if names[0].startswith("FILLER") else names[0], int(numbers[-3]))
            )
    return rows


@pytest.mark.parametrize(
    "layout_file",
    sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.glob("case_*/*_layout.txt")),
)
def test_cobrix_layout_offsets(layout_file: str) -> None:
    """Start offsets of every item agree with the layout tables Cobrix printed."""
    folder = (CORPUS / layout_file).parent
    (copybook,) = folder.glob("*.cob")
    layout = parse_copybook(copybook.read_text(encoding="latin-1"))
    ours = [(item.key if not item.is_filler else "FILLER", item.offset + 1) for item in layout.items]
    theirs = _cobrix_layout_rows(CORPUS / layout_file)
    assert ours == theirs
