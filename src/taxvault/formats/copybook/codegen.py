"""Generate one flat Python function per fixed-size group, for speed.

Why: with one closure per field, decoding costs about three Python calls per
field (node, converter, trim).  For master files with millions of records the
generated function does better: it decodes the group's whole span to text
with one C call (``codecs.charmap_decode``), takes each text field as a slice
of that string, calls each numeric converter directly, and builds the
nested dicts in a single dict display.  Only offsets (ints), dict keys
(``repr`` of identifiers) and names of objects placed in the function's own
namespace go into the generated source, so nothing from the input data can
reach ``exec``.

The generated function is used only when the whole group lies inside the
record; otherwise it hands over to the closure decoder, which implements the
short-record rules.  Both produce identical results on complete records.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from .field_decoders import JAVA_WHITESPACE
from .parser import Item
from .picture import Kind, Usage

StaticFn = Callable[[bytes, int, dict[int, Any]], Any]

_TRIM = {"both": ".strip(_ws)", "left": ".lstrip(_ws)", "right": ".rstrip(_ws)", "none": ""}


def _set_counter(ctx: dict[int, Any], index: int, value: Any) -> Any:
    ctx[index] = value
    return value


class GroupCodegen:
    """Build the generated decoder of one group; ``child_fn``/``converter`` come from the closure builder."""

    def __init__(
        self, *, decoding_table: str, trimming: str, improved_nulls: bool,
        key_of: Callable[[Item], str | None], needed: Callable[[Item], bool],
        child_fn: Callable[[Item], StaticFn], converter: Callable[[Item], Callable[[bytes], Any]],
        gated: Callable[[Item], bool],
    ) -> None:
        self.env: dict[str, Any] = {
            "_cd": codecs.charmap_decode, "_T": decoding_table, "_ws": JAVA_WHITESPACE,
            "_setc": _set_counter,
        }
        self.trim = _TRIM[trimming]
        self.improved_nulls = improved_nulls
        self.key_of = key_of
        self.needed = needed
        self.child_fn = child_fn
        self.converter = converter
        self.gated = gated
        self.names = 0

    def _bind(self, obj: object) -> str:
        self.names += 1
        name = f"_o{self.names}"
        self.env[name] = obj
        return name

    def supported(self, item: Item) -> bool:
        """Groups whose every needed child has an output key (hidden counters need the closure path)."""
        return all(self.key_of(c) is not None for c in item.children if self.needed(c)) and all(
            self.supported(c) for c in item.children if c.is_group and not c.occurs and self.needed(c)
            and not self.gated(c)
        )

    def build(self, item: Item, fallback: StaticFn) -> StaticFn:
        size = item.element_size
        self.env["_slow"] = fallback
        self.text_spans: list[tuple[int, int]] = []
        body = self._group(item, 0)
        # Decode only the bytes that hold this group's own text fields (not its tables').
        lo = min((a for a, _ in self.text_spans), default=0)
        hi = max((b for _, b in self.text_spans), default=0)
        text_line = f"    s = _cd(d[p + {lo}:p + {hi}], 'strict', _T)[0]\n" if self.text_spans else ""
        body = self._rebase(body, lo)
        source = (
            "def _decode(d, p, ctx):\n"
            f"    if p + {size} > len(d):\n"
            "        return _slow(d, p, ctx)\n"
            f"{text_line}"
            f"    return {body}\n"
        )
        exec(compile(source, f"<copybook group {item.name}>", "exec"), self.env)  # noqa: S102 - see module doc
        fn: StaticFn = self.env["_decode"]
        return fn

    @staticmethod
    def _rebase(body: str, lo: int) -> str:
        """Turn the marked absolute text offsets into offsets inside the decoded span."""
        parts = body.split("\x00")
        out = [parts[0]]
        for part in parts[1:]:
            digits = len(part) - len(part.lstrip("0123456789"))
            out.append(str(int(part[:digits]) - lo) + part[digits:])
        return "".join(out)

    def _group(self, item: Item, base: int) -> str:
        parts = []
        for child in item.children:
            if not self.needed(child):
                continue
            parts.append(f"{self.key_of(child)!r}: {self._child(child, base + child.rel_offset)}")
        return "{" + ", ".join(parts) + "}"

    def _child(self, child: Item, off: int) -> str:
        if child.occurs or self.gated(child):
            return f"{self._bind(self.child_fn(child))}(d, p + {off}, ctx)"
        if child.is_group:
            return self._group(child, off)
        ftype = child.ftype
        assert ftype is not None
        end = off + ftype.size
        if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT) and ftype.usage is not Usage.NATIONAL:
            self.text_spans.append((off, end))
            text = f"s[\x00{off}:\x00{end}]{self.trim}"
            if self.improved_nulls:
                return f"(None if d.count(0, p + {off}, p + {end}) == {ftype.size} else {text})"
            return text
        call = f"{self._bind(self.converter(child))}(d[p + {off}:p + {end}])"
        if child.is_counter:
            return f"_setc(ctx, {child.index}, {call})"
        return call
