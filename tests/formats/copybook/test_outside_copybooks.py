"""Copybooks from other open-source readers' test suites (tests/conformance/outside): parse, measure, decode.

Each copybook must parse; its record length must be the one its source
states; where the source ships a layout dump (Cobrix's ``*_layout.txt``),
every field's 1-based start, end and length must match it; where it ships
data and expected output, the decoded values must equal them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from taxvault.formats.copybook import Item, Layout, iter_records, parse_copybook, sub_layout
from taxvault.formats.copybook.cli import layout_rows

ROOT = Path(__file__).resolve().parents[2] / "conformance" / "outside"
CASES: list[dict[str, Any]] = json.loads((ROOT / "manifest.json").read_text())["cases"]
_LINE = re.compile(r"^(\s*)(?:(\d+)\s+)?([A-Z0-9_]+)\s.*?(\d+)\s+(\d+)\s+(\d+)\s*$")


def _layout(case: dict[str, Any]) -> Layout:
    return parse_copybook((ROOT / case["copybook"]).read_text(encoding="latin-1"), source_name=case["copybook"])


def _dump(path: Path) -> list[tuple[str, int, int, int]]:
    """(name, start, end, length) per line of a Cobrix layout dump (the 01 line included)."""
    rows = []
    for line in path.read_text().splitlines()[2:]:
        match = _LINE.match(line)
        assert match, line
        rows.append((match.group(3), int(match.group(4)), int(match.group(5)), int(match.group(6))))
    return rows


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_outside_copybook_parses_with_the_stated_length(case: dict[str, Any]) -> None:
    layout = _layout(case)
    assert layout.record_length == case["record_length"]


@pytest.mark.parametrize("case", [c for c in CASES if "layout" in c], ids=[c["id"] for c in CASES if "layout" in c])
def test_outside_layout_dump_matches(case: dict[str, Any]) -> None:
    layout = _layout(case)
    rows = layout_rows(layout)
    items = [item for item in layout.items if not item.synthetic]
    assert [row["name"] for row in rows] == [item.name for item in items]
    ours = []
    for row, item in zip(rows, items, strict=True):
        # Cobrix prints a REDEFINES item (and the item it redefines) with the size of their shared area.
        size = _area_size(item)
        ours.append((row["name"].replace("-", "_"), row["offset"] + 1, row["offset"] + size, size))
    assert ours == _dump(ROOT / case["layout"])


def _area_size(item: Item) -> int:
    base = item.redefines or item
    siblings = base.parent.children if base.parent is not None else [base]
    return max(i.size for i in siblings if i is base or i.redefines is base)


def _keys(value: Any) -> Any:
    """The expected JSON with our key spelling (``-`` -> ``_``)."""
    if isinstance(value, dict):
        return {k.replace("-", "_"): _keys(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", [c for c in CASES if "data" in c], ids=[c["id"] for c in CASES if "data" in c])
def test_outside_data_decodes_to_the_expected_values(case: dict[str, Any]) -> None:
    layout = _layout(case)
    data = (ROOT / case["data"]).read_bytes()
    expected = json.loads((ROOT / case["expected"]).read_text())
    got: dict[str, Any] = {}
    position = 0
    for name in case["record_types_in_sequence"]:  # one record of each 01 in turn
        one = sub_layout(layout, name)
        chunk = data[position : position + one.record_length]
        position += one.record_length
        (record,) = list(iter_records(one, io.BytesIO(chunk), encoding=case["encoding"]))
        got[one.roots[0].key] = record.values
    assert position == len(data)
    assert got == _keys(expected)
