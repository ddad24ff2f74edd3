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

Two more savings, each guarded so the result cannot change:

* when every character of the code page is in Latin-1, the span is decoded
  with ``bytes.translate`` + ``decode("latin-1")`` (two table-free C loops)
  instead of ``charmap_decode``;
* Java's trim (drop code points <= U+0020) costs a ``strip(chars)`` per field,
  four times the price of ``str.strip()``.  Both remove exactly the same
  characters from a string that holds none of the few characters on which
  they disagree (e.g. NEL, NBSP, or a control character the page keeps), and
  the improved null check only matters for a field of 0x00 bytes.  So one
  ``bytes.translate(None, those bytes)`` over the span decides per record:
  if nothing was deleted, the generated code uses ``strip()`` and no per-field
  null checks; otherwise the exact per-field expressions;
* unscaled DISPLAY integers are converted inline (``int`` of the translated
  digits), calling the field converter only when they are not plain digits.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .fastpath import STATS
from .field_decoders import JAVA_WHITESPACE
from .parser import Item
from .picture import Kind, Usage

StaticFn = Callable[[bytes, int, dict[int, Any]], Any]

_TRIM = {"both": ".strip(_ws)", "left": ".lstrip(_ws)", "right": ".rstrip(_ws)", "none": ""}
_PLAIN_TRIM = {"both": ".strip()", "left": ".lstrip()", "right": ".rstrip()", "none": ""}


def _slow_table(closure: StaticFn, d: bytes, p: int, ctx: dict[int, Any]) -> Any:
    STATS.decoder_fallbacks += 1  # the table runs past the data: the closure decoder's short-record rules
    return closure(d, p, ctx)


def _set_counter(ctx: dict[int, Any], index: int, value: Any) -> Any:
    ctx[index] = value
    return value


class GroupCodegen:
    """Build the generated decoder of one group; ``child_fn``/``converter`` come from the closure builder."""

    def __init__(
        self,
        *,
        decoding_table: str,
        trimming: str,
        improved_nulls: bool,
        key_of: Callable[[Item], str | None],
        needed: Callable[[Item], bool],
        child_fn: Callable[[Item], StaticFn],
        converter: Callable[[Item], Callable[[bytes], Any]],
        gated: Callable[[Item], bool],
        numeric_table: bytes | None = None,
        strict_packed_spare: bool = False,
    ) -> None:
        self.numeric_table = numeric_table
        self.strict_packed_spare = strict_packed_spare
        self.latin1 = all(ord(ch) < 256 for ch in decoding_table)
        java = {chr(c) for c in range(0x21)}
        if trimming == "none":
            disagree: set[str] = set()
        else:
            disagree = {ch for ch in set(decoding_table) | java if ch.isspace() != (ch in java)}
        special = {b for b in range(256) if decoding_table[b] in disagree}
        if improved_nulls:
            special.add(0)
        self.env: dict[str, Any] = {
            "_TT": bytes(ord(ch) if self.latin1 else 0 for ch in decoding_table),
            "_X": bytes(sorted(special)),
            "_N": numeric_table,
            "_cd": codecs.charmap_decode,
            "_T": decoding_table,
            "_ws": JAVA_WHITESPACE,
            "_setc": _set_counter,
            "_Dec": Decimal,
            "_PS": {"c": "", "d": "-"},
            "_PU": {"f": ""},
        }
        self.trim = _TRIM[trimming]
        self.plain_trim = _PLAIN_TRIM[trimming]
        self.improved_nulls = improved_nulls
        self.key_of = key_of
        self.needed = needed
        self.child_fn = child_fn
        self.converter = converter
        self.gated = gated
        self.names = 0
        self.bound: dict[tuple[str, int], str] = {}
        self.var = "p"  # the name of the base position in the code being generated
        self.reach = 0  # end of the furthest field read directly by the function being generated
        self.text_spans: list[tuple[int, int]] = []
        self.fast = False
        self.uses_digits = False  # whether the code being generated reads ``u`` (translated digits)
        # The builder's own OCCURS DEPENDING ON rule (range check and error), so inlined tables
        # count exactly as the closure decoder does; without it, tables stay closure calls.
        self.count_of: Callable[[Item], Callable[[dict[int, Any]], int]] | None = getattr(
            getattr(child_fn, "__self__", None), "count_of", None
        )

    def _fn(self, kind: str, item: Item) -> str:
        """Bind the child function or converter of ``item`` once (the group body is generated twice)."""
        key = (kind, item.index)
        name = self.bound.get(key)
        if name is None:
            obj = self.child_fn(item) if kind == "child" else self.converter(item)
            name = self.bound[key] = self._bind(obj)
        return name

    def _bind(self, obj: object) -> str:
        self.names += 1
        name = f"_o{self.names}"
        self.env[name] = obj
        return name

    def supported(self, item: Item) -> bool:
        """Groups whose every needed child has an output key (hidden counters need the closure path)."""
        return all(self.key_of(c) is not None for c in item.children if self.needed(c)) and all(
            self.supported(c)
            for c in item.children
            if c.is_group and not c.occurs and self.needed(c) and not self.gated(c)
        )

    def build(self, item: Item, fallback: StaticFn) -> StaticFn:
        def slow(d: bytes, p: int, ctx: dict[int, Any]) -> Any:
            STATS.decoder_fallbacks += 1  # the group runs past the data: the closure decoder's short-record rules
            return fallback(d, p, ctx)

        self.env["_slow"] = slow
        self.text_spans = []
        self.fast = False
        self.var = "p"
        self.reach = 0
        self.uses_digits = False
        exact = self._group(item, 0)
        size = self.reach  # inlined tables and closure calls check their own bounds
        # Decode only the bytes that hold this group's own text fields (not its tables').
        lo = min((a for a, _ in self.text_spans), default=0)
        hi = max((b for _, b in self.text_spans), default=0)
        exact = self._rebase(exact, lo)
        lines = [
            "def _decode(d, p, ctx):",
            f"    if p + {size} > len(d):",
            "        return _slow(d, p, ctx)",
        ]
        if self.uses_digits:
            lines.append(f"    u = d[p:p + {size}].translate(_N)")
        if not self.text_spans:
            lines.append(f"    return {exact}")
        else:
            if self.latin1:
                lines.append(f"    r = d[p + {lo}:p + {hi}]")
                lines.append("    s = r.translate(_TT).decode('latin-1')")
            else:
                lines.append(f"    r = d[p + {lo}:p + {hi}]")
                lines.append("    s = _cd(r, 'strict', _T)[0]")
            self.text_spans = []
            self.fast = True
            quick = self._rebase(self._group(item, 0), lo)
            if self.env["_X"]:
                lines.append(f"    if len(r.translate(None, _X)) == {hi - lo}:")
                lines.append(f"        return {quick}")
                lines.append(f"    return {exact}")
            else:
                lines.append(f"    return {quick}")
        source = "\n".join(lines) + "\n"
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
        if self.gated(child):
            return f"{self._fn('child', child)}(d, {self.var} + {off}, ctx)"
        if child.occurs:
            if self._inlinable(child):
                return f"{self._table(child)}(d, {self.var} + {off}, ctx)"
            return f"{self._fn('child', child)}(d, {self.var} + {off}, ctx)"
        if child.is_group:
            return self._group(child, off)
        return self._leaf(child, off)

    def _leaf(self, child: Item, off: int) -> str:
        p = self.var
        ftype = child.ftype
        assert ftype is not None
        end = off + ftype.size
        self.reach = max(self.reach, end)
        if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT) and ftype.usage not in (Usage.NATIONAL, Usage.DBCS, Usage.UTF8):
            self.text_spans.append((off, end))
            if self.fast:
                return f"s[\x00{off}:\x00{end}]{self.plain_trim}"
            text = f"s[\x00{off}:\x00{end}]{self.trim}"
            if self.improved_nulls:
                return f"(None if d.count(0, {p} + {off}, {p} + {end}) == {ftype.size} else {text})"
            return text
        convert = self._fn("converter", child)
        call = f"{convert}(d[{p} + {off}:{p} + {end}])"
        if (
            self.numeric_table is not None
            and ftype.kind is Kind.NUMBER
            and ftype.usage is Usage.DISPLAY
            and ftype.scale == 0
            and not ftype.edited
            and not ftype.sign_separate  # the converter checks the sign position (copybook-parse)
        ):
            # The converter's own first step, inlined: all digits after translation -> int.  The
            # digits come from ``u``, the function's whole span translated once (see _span_lines).
            self.uses_digits = True
            call = f"(int(t) if (t := u[{off}:{end}]).isdigit() else {call})"
        elif (
            ftype.usage is Usage.PACKED
            and ftype.kind is Kind.NUMBER
            and not ftype.edited
            and ftype.scale >= 0
            and not (self.strict_packed_spare and ftype.digits % 2 == 0)  # the converter checks the spare digit
        ):
            # Only the canonical signs (C/D when signed, F when not) with plain digits are taken here:
            # its value is the same under every packed rule; anything else goes to the converter.
            # A negative zero is left to the converter too.
            signs = "_PS" if ftype.signed else "_PU"
            value = f"_Dec({signs}[x] + h[:-1] + 'E-{ftype.scale}')" if ftype.scale > 0 else f"int({signs}[x] + h[:-1])"
            call = (
                f"({value} if (x := (h := d[{p} + {off}:{p} + {end}].hex())[-1]) in {signs} and h[:-1].isdigit()"
                f" and (x != 'd' or h[:-1].strip('0')) else {call})"
            )
        if child.is_counter:
            return f"_setc(ctx, {child.index}, {call})"
        return call

    # -- tables ------------------------------------------------------------
    def _inlinable(self, table: Item) -> bool:
        """A table whose elements are plain values: no inner tables, counters, gates or hidden items."""
        if self.count_of is None:
            return False
        for node in table.walk():
            if node is not table and (node.occurs or self.gated(node)):
                return False
            if node.is_counter or (node.is_group and not self.supported(node)):
                return False
        return True

    def _table(self, table: Item) -> str:
        """Generate (once) a function decoding a whole table with one list comprehension.

        Why: a table of N elements otherwise costs N calls of the element's
        function plus the closure loop.  The function counts as the closure
        decoder does (same ``count_of``), checks that every element it will
        read lies inside the data (otherwise it hands the table to the
        closure decoder), and decodes the elements' text from one span per
        element, with the same strip()/exact choice as the group (made per
        element, over the element's text bytes).
        """
        key = ("table", table.index)
        name = self.bound.get(key)
        if name is not None:
            return name
        saved = (self.var, self.reach, self.text_spans, self.fast, self.uses_digits)
        assert self.count_of is not None
        count = self._bind(self.count_of(table))
        closure = self._fn("child", table)
        step = table.element_size
        self.var = "q"
        self.text_spans, self.fast, self.uses_digits, self.reach = [], False, False, 0
        exact = self._element(table)
        reach, digits = self.reach, self.uses_digits
        spans = self.text_spans
        self.text_spans, self.fast = [], True
        quick = self._element(table)
        self.var, self.reach, self.text_spans, self.fast, self.uses_digits = saved
        lo = min((a for a, _ in spans), default=0)
        hi = max((b for _, b in spans), default=0)
        exact, quick = self._rebase(exact, lo), self._rebase(quick, lo)
        width = hi - lo
        decode = "r.translate(_TT).decode('latin-1')" if self.latin1 else "_cd(r, 'strict', _T)[0]"
        loop = f"for q in range(p, e, {step})"
        if digits:
            loop += f" for u in (d[q:q + {reach}].translate(_N),)"
        if spans:
            loop += f" for r in (d[q + {lo}:q + {hi}],) for s in ({decode},)"
            if self.env["_X"]:  # the strip()/exact choice, per element as per group
                quick = f"({quick} if len(r.translate(None, _X)) == {width} else {exact})"
        else:
            quick = exact
        fn_name = self._bind(None)
        lines = [
            f"def {fn_name}(d, p, ctx):",
            f"    e = p + {count}(ctx) * {step}",
            "    if e > len(d):",
            f"        return _slow_table({closure}, d, p, ctx)",
            f"    return [{quick} {loop}]",
        ]
        self.env["_slow_table"] = _slow_table
        exec(compile("\n".join(lines) + "\n", f"<copybook table {table.name}>", "exec"), self.env)  # noqa: S102
        self.bound[key] = fn_name
        return fn_name

    def _element(self, table: Item) -> str:
        if table.is_group:
            return self._group(table, 0)
        return self._leaf(table, 0)
