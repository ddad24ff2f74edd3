"""Files holding several record types: a key field picks the 01 layout of each record.

Why: mainframe extracts often interleave record types (a header, entity
records, tax modules, a trailer) in one file, each described by its own 01
level of one copybook, with a record-type code at a fixed position.  Cobrix
calls this segment options; here a :class:`SegmentMap` says which field holds
the code and which 01 layout decodes each code.  A record whose code is not
in the map is reported (quarantined), never dropped or decoded with a guess.

The messages never contain the field's value: record-type codes are harmless,
but the field a user points at might not be (a TIN by mistake).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .codepages import get_code_page
from .decoder import get_decoder
from .errors import CopybookError, RecordDecodeError
from .field_decoders import make_converter
from .layout import Layout, output_key
from .options import DecodeOptions
from .parser import Item


class SegmentMapError(CopybookError, ValueError):
    """The segment map does not fit the copybook (unknown field or 01 layout)."""


def sub_layout(layout: Layout, name: str) -> Layout:
    """A layout with only the 01 record called ``name`` (a copy: ``layout`` is untouched).

    Each record type is decoded with its own 01 alone, so the counters and
    REDEFINES of the other types can never make a record fail.
    """
    wanted = output_key(name)
    for root in layout.roots:
        if output_key(root.name) == wanted and not root.synthetic:
            return Layout([copy.deepcopy(root)], layout.source_name)
    names = ", ".join(root.name for root in layout.roots if not root.synthetic) or "none"
    raise SegmentMapError(f"the copybook has no 01 record called {name} (01 records: {names})")


@dataclass(frozen=True)
class SegmentMap:
    """``field``: the record-type field; ``layouts``: its value (as text, trimmed) -> 01 record name."""

    field: str
    layouts: Mapping[str, str]

    @classmethod
    def parse(cls, field: str, pairs: list[str]) -> SegmentMap:
        """From command-line ``VALUE=LAYOUT`` pairs (``H=HEADER-REC``)."""
        out: dict[str, str] = {}
        for pair in pairs:
            value, sep, name = pair.partition("=")
            if not sep or not name.strip():
                raise SegmentMapError(f"segment map entry {pair!r} is not VALUE=LAYOUT")
            out[value.strip()] = name.strip()
        if not out:
            raise SegmentMapError("a segment field needs at least one VALUE=LAYOUT entry")
        return cls(field, out)


class SegmentDecoder:
    """Decode a record with the layout its key field names; :meth:`decode` returns (01 name, values)."""

    def __init__(self, layout: Layout, segments: SegmentMap, options: DecodeOptions) -> None:
        self.field = segments.field
        item = _key_item(layout, segments.field)
        _check_fixed(item, segments.field)
        if options.variable_size_occurs and any(
            t.depending_on is not None and t.offset < item.offset + item.size for t in layout.items
        ):
            raise SegmentMapError(
                f"segment field {segments.field} lies after a variable-size table: it has no fixed position"
            )
        assert item.ftype is not None
        self.start, self.end = item.offset, item.offset + item.ftype.size
        self.key_of: Callable[[bytes], Any] = make_converter(
            item.ftype,
            get_code_page(options.encoding),
            trimming="both",
            improved_nulls=options.improved_null_detection,
            strict_overpunch=options.strict_sign_overpunching,
            float_format=options.float_format,
        )
        by_name: dict[str, tuple[str, Callable[[bytes], dict[str, Any]]]] = {}
        self.by_value: dict[str, tuple[str, Callable[[bytes], dict[str, Any]]]] = {}
        for value, name in segments.layouts.items():
            key = output_key(name)
            if key not in by_name:
                one = sub_layout(layout, name)
                by_name[key] = (one.roots[0].name, get_decoder(one, options).decode)
            self.by_value[value] = by_name[key]

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Raises :class:`RecordDecodeError` for a record too short for the key or with an unknown key."""
        if len(data) < self.end:
            raise RecordDecodeError("the record is too short to hold the segment field", field=self.field)
        value = self.key_of(data[self.start : self.end])
        chosen = self.by_value.get("" if value is None else str(value).strip())
        if chosen is None:
            raise RecordDecodeError("the segment field holds a value that is not in the segment map", field=self.field)
        name, decode = chosen
        return name, decode(data)


def _key_item(layout: Layout, name: str) -> Item:
    """The key field; the same name in several 01 records is fine when it sits at the same place in each."""
    try:
        return layout.item(name)
    except KeyError:
        pass
    wanted = output_key(name)
    found = [it for it in layout.items if output_key(it.name) == wanted]
    if found and all(
        (it.offset, it.size, it.ftype) == (found[0].offset, found[0].size, found[0].ftype) for it in found
    ):
        return found[0]
    raise SegmentMapError(f"segment field {name} is not a single item of the copybook (or not at one place)")


def _check_fixed(item: Item, name: str) -> None:
    node: Item | None = item
    while node is not None:
        if node.occurs:
            raise SegmentMapError(f"segment field {name} is inside a table (OCCURS): it has no fixed position")
        node = node.parent
    if item.is_group or item.ftype is None:
        raise SegmentMapError(f"segment field {name} is a group, not an elementary item")
