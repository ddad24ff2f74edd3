"""Hypothesis round trip over generated copybooks: encode values, decode them back, get the same values.

The copybooks are generated here (levels, nested groups, OCCURS, OCCURS
DEPENDING ON, REDEFINES, every PIC kind and USAGE the reader knows) and
rendered in several source formats (fixed with sequence numbers and change
tags past column 72, trimmed, free, lower case), which must all parse to the
same layout.  The encoder is copybook-io's (``encode_record``); the decoder is
checked on both its generated and its plain closure path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.copybook import DecodeOptions, Layout, RecordDecoder, encode_record, parse_copybook
from taxvault.formats.copybook.parser import Item
from taxvault.formats.copybook.picture import Kind, Usage

ROUND_TRIP = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,-/()+&"

_BINARY_USAGES = ["COMP", "COMP-4", "COMP-5", "BINARY", "COMPUTATIONAL"]
_COBOL_2002 = [
    "BINARY-CHAR",
    "USAGE BINARY-CHAR UNSIGNED",
    "BINARY-SHORT SIGNED",
    "USAGE IS BINARY-LONG",
    "BINARY-DOUBLE UNSIGNED",
    "FLOAT-SHORT",
    "USAGE FLOAT-LONG",
]
_EDITED = ["PIC $$,$$9.99CR", "PIC ZZ9.99-", "PIC +ZZ,ZZ9", "PIC ***9.99DB", "PIC 99/99/99", "PIC ----9.9"]


@st.composite
def pictures(draw: st.DrawFn) -> str:
    """One elementary item's clauses."""
    kinds = ["text", "display", "packed", "binary", "float", "sign", "national", "cobol2002", "dbcs", "edited"]
    kind = draw(st.sampled_from(kinds))
    # SYNC on binary and floating-point items: IBM slack bytes before them and at the end of table elements.
    sync = " SYNC" if kind in ("binary", "float", "cobol2002") and draw(st.integers(0, 2)) == 0 else ""
    if kind == "cobol2002":
        return draw(st.sampled_from(_COBOL_2002)) + sync
    if kind == "dbcs":
        return draw(st.sampled_from(["PIC G({n})", "PIC N({n}) USAGE DISPLAY-1", "PIC G({n}) DISPLAY-1"])).format(
            n=draw(st.integers(1, 4))
        )
    if kind == "edited":
        return draw(st.sampled_from(_EDITED))
    if kind == "text":
        return f"PIC X({draw(st.integers(1, 12))})"
    if kind == "national":
        return f"PIC N({draw(st.integers(1, 4))})"
    if kind == "float":
        return draw(st.sampled_from(["COMP-1", "COMP-2", "USAGE IS COMPUTATIONAL-2"])) + sync
    signed = "S" if draw(st.booleans()) else ""
    integer = draw(st.integers(1, 9))
    scale = draw(st.integers(0, 4)) if kind != "binary" else draw(st.integers(0, 2))
    body = f"{signed}9({integer})" + (f"V9({scale})" if scale else "")
    if kind == "display":
        return f"PIC {body}"
    if kind == "packed":
        return f"PIC {body} " + draw(st.sampled_from(["COMP-3", "PACKED-DECIMAL"]))
    if kind == "binary":
        return f"PIC {body} " + draw(st.sampled_from(_BINARY_USAGES)) + sync
    where = draw(st.sampled_from(["LEADING SEPARATE", "TRAILING SEPARATE CHARACTER", "LEADING", "TRAILING"]))
    return f"PIC S9({integer}) SIGN IS {where}"


@st.composite
def copybooks(draw: st.DrawFn) -> list[tuple[int, str]]:
    """(depth, entry text without the period) in document order; depth 0 is the 01 record."""
    entries: list[tuple[int, str]] = [(0, "01 REC")]
    serial = iter(range(1, 10_000))

    def body(depth: int) -> None:
        level = 5 * depth
        for _ in range(draw(st.integers(1, 3))):
            name = f"F{next(serial)}"
            occurs = draw(st.sampled_from(["", "", "", " OCCURS 2 TIMES", " OCCURS 3"]))
            if depth < 3 and draw(st.integers(0, 3)) == 0:
                entries.append((depth, f"{level:02d} {name}{occurs}"))
                body(depth + 1)
            else:
                pic = draw(pictures())
                entries.append((depth, f"{level:02d} {name} {pic}{occurs}"))
                if not occurs and "X(" in pic and draw(st.booleans()):
                    size = int(pic[pic.index("(") + 1 : pic.index(")")])
                    entries.append((depth, f"{level:02d} {name}-R REDEFINES {name} PIC X({size})"))

    body(1)
    if draw(st.booleans()):
        count = f"C{next(serial)}"
        entries.append((1, f"05 {count} PIC 9(2)"))
        entries.append((1, f"05 T{next(serial)} OCCURS 0 TO 3 TIMES DEPENDING ON {count}"))
        entries.append((2, f"10 E{next(serial)} {draw(pictures())}"))
        entries.append((2, f"10 E{next(serial)} PIC X(2)"))
    return entries


def _wrap(code: str, width: int) -> list[str]:
    """Split an entry over lines at spaces so that each fits the text area, as people write long entries."""
    indent = len(code) - len(code.lstrip())
    lines = [""]
    for word in code.split():
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(" " * (indent + 4))
        lines[-1] = (lines[-1] + " " + word) if lines[-1].strip() else (lines[-1] or " " * indent) + word
    return lines


def render(entries: list[tuple[int, str]], fmt: str) -> str:
    """The copybook text in one source format (65 columns of text in the column formats)."""
    lines = []
    for n, (depth, entry) in enumerate(entries, start=1):
        code = " " * (4 * depth) + entry + "."
        if fmt == "fixed":
            for k, part in enumerate(_wrap(code, 60)):
                lines.append(f"{n * 100 + k:06d}     {part}".ljust(72) + f"CHG{n:04d}")
            if n % 3 == 0:
                lines.append(f"{n * 100 + 99:06d}* comment after entry {n} PIC X(99).")
        elif fmt == "trimmed":
            lines.extend("     " + part for part in _wrap(code, 60))
            if n % 3 == 0:
                lines.append("*  comment PIC X(99).")
        elif fmt == "lower":
            parts = _wrap(code.lower(), 40)
            lines.extend("       " + part for part in parts[:-1])
            lines.append("       " + parts[-1] + "  *> inline")
        else:
            lines.append(code)
    return "\n".join(lines) + "\n"


def _text(size: int) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARS, max_size=size).map(str.strip)


def value_for(item: Item) -> st.SearchStrategy[Any]:
    ftype = item.ftype
    assert ftype is not None
    if ftype.usage is Usage.NATIONAL:
        return st.text(st.characters(min_codepoint=0x21, max_codepoint=0xD7FF), max_size=ftype.size // 2)
    if ftype.usage is Usage.DBCS:  # the default rule: hex, 4 digits a character (DBCS spaces are trimmed)
        chars = st.integers(0x4141, 0x7FFE).map(lambda c: f"{c:04X}")
        return st.lists(chars, max_size=ftype.size // 2).map("".join)
    if ftype.kind is Kind.TEXT:
        return _text(ftype.size)
    if ftype.kind is Kind.FLOAT:
        if ftype.usage is Usage.FLOAT:
            return st.floats(width=32, allow_nan=False, allow_infinity=False)
        return st.floats(allow_nan=False, allow_infinity=False)
    if ftype.usage is Usage.BINARY:
        # The raw rule: every value the bytes can hold, beyond the PIC digits too.
        bits = 8 * ftype.size
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ftype.signed else (0, 2**bits - 1)
        ints = st.integers(low, high)
    else:
        limit = 10**ftype.digits - 1
        ints = st.integers(-limit if ftype.signed else 0, limit)
    if ftype.scale > 0:
        return ints.map(lambda v: Decimal(v).scaleb(-ftype.scale))
    return ints


def values_for(layout: Layout, draw: Callable[[st.SearchStrategy[Any]], Any]) -> dict[str, Any]:
    def group(item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in item.children:
            if child.redefines is not None or child.is_counter or child.slack:
                continue
            if child.depending_on is not None:
                count = draw(st.integers(0, child.count_max))
                out[child.key] = [one(child) for _ in range(count)]
            elif child.occurs:
                out[child.key] = [one(child) for _ in range(child.count_max)]
            else:
                out[child.key] = one(child)
        return out

    def one(item: Item) -> Any:
        return group(item) if item.is_group else draw(value_for(item))

    return group(layout.roots[0])


def _without_views(decoded: Any, item: Item) -> Any:
    """Drop REDEFINES views and ODO counters (the encoder writes counters from the list lengths)."""
    if isinstance(decoded, list):
        return [_without_views(v, item) for v in decoded]
    if not item.is_group:
        return decoded
    return {
        child.key: _without_views(decoded[child.key], child)
        for child in item.children
        if child.redefines is None and not child.is_counter and not child.slack
    }


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, float):
        return isinstance(got, float) and (got == want or (math.isnan(got) and math.isnan(want)))
    return type(got) is type(want) and got == want


@ROUND_TRIP
@given(entries=copybooks(), encoding=st.sampled_from(["cp037", "ascii"]), data=st.data())
def test_generated_copybooks_round_trip(entries: list[tuple[int, str]], encoding: str, data: st.DataObject) -> None:
    layout = parse_copybook(render(entries, "fixed"))
    shape = [(f.key, f.offset, f.size) for f in layout.fields()]
    for fmt in ("trimmed", "free", "lower"):
        other = parse_copybook(render(entries, fmt))
        assert [(f.key, f.offset, f.size) for f in other.fields()] == shape, fmt
    values = values_for(layout, data.draw)
    variable = data.draw(st.booleans())
    record = encode_record(layout, values, encoding=encoding, variable_size_occurs=variable)
    options = DecodeOptions(encoding=encoding, variable_size_occurs=variable)
    for generate in (True, False):
        decoded = RecordDecoder(layout, options, generate=generate).decode(record)
        assert _same(_without_views(decoded, layout.roots[0]), values)
