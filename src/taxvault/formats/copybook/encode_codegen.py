"""Generate one flat Python encoder per layout, for writing millions of records.

Why: the plain writer (:mod:`.encoder`) walks the item tree for every
record, validates every value through ``Decimal`` and writes each field into a
``bytearray`` separately, about a thousand records per second for a fixed
IMF module.  The generated encoder instead builds the whole record as *one*
``str`` in which every character stands for exactly one output byte, and
turns it into bytes with a single C call (``codecs.charmap_encode`` with a
prebuilt map):

* text is the value itself, padded with the code page's space character;
* zoned decimals are ``'%0Nd' % value`` (the digit characters encode to the
  zone-F digits), with the sign overpunch swapped in from a small table;
* COMP-3 and COMP bytes are made with ``bytes.fromhex`` / ``int.to_bytes``
  and mapped back to the characters that encode to those bytes;
* unset fields and unused table entries are precomputed constants.

Only code pages in which every byte value has a character can do this (all
the EBCDIC pages do), plus ASCII, which is written through Latin-1 after an
``isascii`` check.

Byte-identical output with the plain writer is kept by construction: the
generated code handles only the common, unambiguous cases (``str`` text,
``int`` / ``Decimal`` numbers, plain groups and tables) and raises
:class:`Fallback` on anything else -- a present REDEFINES, an unexpected type,
a value that might not fit.  The caller then runs the plain writer, which
either writes the record or raises the precise :class:`RecordEncodeError`.
Layouts the generator does not understand (several 01 records, ``root="keep"``,
counters shared by several tables ...) simply get no generated encoder.

Only offsets, sizes, dict keys (``repr`` of identifiers) and names of objects
placed in the function's own namespace go into the generated source, never
input data.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .codepages import CodePage
from .encoder import encode_value, initial_bytes
from .fastpath import Fallback
from .layout import Layout
from .parser import Item
from .picture import FieldType, Kind, Usage

Encoder = Callable[[Mapping[str, Any]], bytes]


def _fail(*_: object) -> Any:
    raise Fallback


def _group(value: Any, keys: frozenset[str]) -> Mapping[str, Any]:
    """A group's value as the plain writer sees it (``None``/empty -> ``{}``), or :class:`Fallback`."""
    if not value:
        if value is None or isinstance(value, Mapping):
            return {}
        raise Fallback
    if not isinstance(value, Mapping) or not keys.issuperset(value):
        raise Fallback
    return value


def _table(value: Any) -> list[Any] | tuple[Any, ...]:
    if value is None:
        return []
    if type(value) is list or type(value) is tuple:
        return value
    raise Fallback


class _RecordCharset:
    """The character <-> byte correspondence used to build a record as one string."""

    def __init__(self, cp: CodePage) -> None:
        table = cp.encoding_table
        self.ascii_check = False
        if all(ch not in "\ufffe\ufffd" for ch in table) and len(set(table)) == 256:
            self.chars = table  # chars[b] encodes to byte b
        elif cp.name == "ascii":
            self.chars = "".join(map(chr, range(256)))  # Latin-1; text is checked with isascii()
            self.ascii_check = True
        else:
            raise LookupError(cp.name)
        self.map = codecs.charmap_build(self.chars)
        # Latin-1 encoding is a memory copy and bytes.translate one table lookup per byte, both much
        # faster than charmap_encode; usable when every character of the page is in Latin-1.
        self.latin1 = all(ord(ch) < 256 for ch in self.chars)
        self.translation = bytes(
            codecs.charmap_encode(chr(c), "strict", self.map)[0][0] if self.latin1 else 0 for c in range(256)
        )
        self.identity = self.translation == bytes(range(256))

    def of(self, data: bytes) -> str:
        """The characters that encode to ``data``."""
        return "".join(self.chars[b] for b in data)

    def encodes(self, text: str, data: bytes) -> bool:
        return codecs.charmap_encode(text, "strict", self.map)[0] == data


class EncoderCodegen:
    """Build the generated encoder of ``layout``; :meth:`build` returns ``None`` when unsupported."""

    def __init__(self, layout: Layout, cp: CodePage, *, variable: bool, float_format: str) -> None:
        self.layout = layout
        self.cp = cp
        self.variable = variable
        self.float_format = float_format
        self.rc = _RecordCharset(cp)
        self.env: dict[str, Any] = {
            "_fail": _fail,
            "_grp": _group,
            "_tab": _table,
            "_F": Fallback,
            "_Dec": Decimal,
            "_fh": bytes.fromhex,
            "_cd": codecs.charmap_decode,
            "_R": self.rc.chars,
        }
        self.names = 0
        self.functions: list[str] = []
        self.pad = self.rc.chars[cp.space]
        ebcdic = cp.ebcdic
        digit_bytes = bytes((0xF0 if ebcdic else 0x30) + d for d in range(10))
        # Zoned digits can be written as '0'-'9' only when those characters encode to the zone digits.
        self.zoned_ok = self.rc.encodes("0123456789", digit_bytes)

    # -- helpers -----------------------------------------------------------
    def _bind(self, obj: object) -> str:
        self.names += 1
        name = f"_o{self.names}"
        self.env[name] = obj
        return name

    def _var(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def initial(self, item: Item) -> str:
        """Characters of one element of ``item`` as the plain writer initialises it (no values)."""
        if not item.is_group:
            assert item.ftype is not None
            return self.rc.of(initial_bytes(item.ftype, self.cp))
        out = []
        area = 0
        area_size = 0
        for child in item.children:
            if child.redefines is None:
                out.append(self.rc.chars[0] * (area_size - area))
                area_size = child.size
                area = child.size
                out.append(self.initial(child) * child.count_max)
            else:
                area_size = max(area_size, child.size)
        out.append(self.rc.chars[0] * (area_size - area))
        return "".join(out)

    # -- support -----------------------------------------------------------
    def supported(self) -> bool:
        roots = self.layout.roots
        if len(roots) != 1 or not roots[0].is_group:
            return False
        dependents: dict[int, int] = {}
        for item in self.layout.items:
            if item.depending_on is not None:
                counter = item.depending_on
                dependents[counter.index] = dependents.get(counter.index, 0) + 1
                if _scope(counter) is not _scope_of_table(item) or _in_redefines(counter) or _in_redefines(item):
                    return False
                if self.variable and _scope_of_table(item) is not None:
                    return False  # nested variable-size tables: positions depend on each element
            if self.variable and item.redefines is not None and item.redefines.size < item.size:
                return False  # the plain writer's variable-size areas then overlap; keep its exact rules
        counters = [item for item in self.layout.items if item.is_counter]
        return all(dependents.get(c.index) == 1 for c in counters)

    # -- generation ----------------------------------------------------------
    def build(self) -> Encoder | None:
        if not self.supported():
            return None
        root = self.layout.roots[0]
        self.env["_K0"] = frozenset(c.key for c in root.children)
        lines = ["    if not _K0.issuperset(v0):", "        raise _F"]
        pieces: list[str] = []
        counters: dict[int, tuple[str, str]] = {}
        self._group_body(root, "v0", lines, pieces, counters)
        body = "\n".join(lines)
        if not self.rc.latin1:
            final = f"_ce({_join(pieces)}, 'strict', _M)[0]"
        elif self.rc.identity:
            final = f"{_join(pieces)}.encode('latin-1')"
        else:
            final = f"{_join(pieces)}.encode('latin-1').translate(_T)"
        # A character the code page cannot write is the plain writer's error to name.
        ret = f"\n    try:\n        return {final}\n    except UnicodeEncodeError:\n        raise _F from None\n"
        source = "\n\n".join(self.functions) + "\n\ndef _encode(v0):\n" + body + ret
        self.env["_ce"] = codecs.charmap_encode
        self.env["_M"] = self.rc.map
        self.env["_T"] = self.rc.translation
        exec(compile(source, f"<copybook encoder {root.name}>", "exec"), self.env)  # noqa: S102 - see module doc
        fn: Encoder = self.env["_encode"]
        return fn

    def _group_body(
        self, item: Item, var: str, lines: list[str], pieces: list[str], counters: dict[int, tuple[str, str]]
    ) -> None:
        """Append the statements encoding the children of group ``item`` (its value is in ``var``)."""
        area = 0
        area_size = 0
        for child in item.children:
            if child.redefines is not None:
                if not child.is_filler:
                    lines.append(f"    if {child.key!r} in {var}:")
                    lines.append("        raise _F")
                area_size = max(area_size, child.size)
                continue
            if not self.variable and area_size > area:
                pieces.append(repr(self.rc.chars[0] * (area_size - area)))
            area = area_size = child.size
            value = f"{var}.get({child.key!r})"
            if child.occurs:
                pieces.append(self._occurs(child, value, lines, counters))
            elif child.is_group:
                gvar = self._var("g")
                keys = self._bind(frozenset(c.key for c in child.children))
                lines.append(f"    {gvar} = {value}")
                lines.append(f"    if type({gvar}) is dict and {keys}.issuperset({gvar}):")
                lines.append("        pass")
                lines.append("    else:")
                lines.append(f"        {gvar} = _grp({gvar}, {keys})")
                self._group_body(child, gvar, lines, pieces, counters)
            else:
                pvar = self._var("p")
                if child.is_counter:
                    # Written by its table (always generated in this function: see supported()).
                    counters[child.index] = (pvar, self._var("c"))
                    lines.append(f"    {counters[child.index][1]} = {value}")
                else:
                    lines.append(f"    x = {value}")
                    lines.append(f"    {pvar} = {self._leaf(child, 'x')}")
                pieces.append(pvar)
        if not self.variable and area_size > area:
            pieces.append(repr(self.rc.chars[0] * (area_size - area)))

    def _occurs(self, item: Item, value: str, lines: list[str], counters: dict[int, tuple[str, str]]) -> str:
        element = self._element_function(item)
        tvar = self._var("t")
        nvar = self._var("n")
        lines.append(f"    {tvar} = _tab({value})")
        lines.append(f"    {nvar} = len({tvar})")
        high = item.count_max
        counter = item.depending_on
        if counter is None:
            lines.append(f"    if {nvar} != {high} and {nvar} != 0:")
            lines.append("        raise _F")
        else:
            low = item.occurs_min or 0
            lines.append(f"    if {nvar} > {high} or {nvar} < {low}:")
            lines.append("        raise _F")
            pvar, given = counters[counter.index]
            assert counter.ftype is not None
            lines.append(f"    if {given} is not None and (type({given}) is not int or {given} != {nvar}):")
            lines.append("        raise _F")
            lines.append(f"    {pvar} = {self._leaf(counter, nvar)}")
        joined = f"''.join([{element}(e) for e in {tvar}])"
        if self.variable and counter is not None:
            return joined
        blank = self._bind(self.initial(item))
        return f"({joined} + {blank} * ({high} - {nvar}))"

    def _element_function(self, item: Item) -> str:
        name = self._var("_e")
        lines: list[str] = []
        pieces: list[str] = []
        if item.is_group:
            keys = self._bind(frozenset(c.key for c in item.children))
            lines.append(f"    if type(v) is not dict or not {keys}.issuperset(v):")
            lines.append(f"        v = _grp(v, {keys})")
            self._group_body(item, "v", lines, pieces, {})
        else:
            pieces.append(self._leaf(item, "v"))
        body = "\n".join(lines)
        self.functions.append(f"def {name}(v):\n{body}\n    return {_join(pieces)}")
        return name

    # -- leaves --------------------------------------------------------------
    def _leaf(self, item: Item, x: str) -> str:
        """An expression giving the characters of leaf ``item`` for the value in ``x`` (blank for ``None``)."""
        ftype = item.ftype
        assert ftype is not None
        blank = repr(self.initial(item))
        # JUSTIFIED RIGHT and BLANK WHEN ZERO: the plain writer's rules, through the generic path.
        fast = None if item.justified or ftype.blank_when_zero else self._fast_leaf(ftype, x)
        if fast is None:
            fast = f"{self._bind(self._generic(ftype, item.path, item.justified))}({x})"
        return f"({blank} if {x} is None else {fast})"

    def _generic(self, ftype: FieldType, name: str, justified: bool = False) -> Callable[[Any], str]:
        cp, float_format, chars = self.cp, self.float_format, self.rc.chars
        cd = codecs.charmap_decode

        def generic(value: Any) -> str:
            return cd(encode_value(ftype, value, cp, float_format, name, justified=justified), "strict", chars)[0]

        return generic

    def _fast_leaf(self, ftype: FieldType, x: str) -> str | None:
        """The inline fast path for the common field types, ``None`` where only the generic one is exact."""
        size = ftype.size
        if ftype.kind is Kind.TEXT and ftype.usage is Usage.DISPLAY:
            check = f" and {x}.isascii()" if self.rc.ascii_check else ""
            return f"({x}.ljust({size}, {self.pad!r}) if type({x}) is str and len({x}) <= {size}{check} else _fail())"
        if ftype.kind is not Kind.NUMBER or ftype.edited or ftype.scale < 0 or ftype.digits > 27:
            # Edited pictures, P scaling and numbers beyond Decimal's 28-digit context keep the plain rules.
            return None
        if ftype.usage is Usage.DISPLAY:
            if not self.zoned_ok:
                return None
            fn = self._bind(self._zoned(ftype))
            if not ftype.signed and ftype.scale == 0:
                limit = 10**ftype.digits
                return f"('%0{ftype.digits}d' % {x} if type({x}) is int and 0 <= {x} < {limit} else {fn}({x}))"
            return f"{fn}({x})"
        if ftype.usage is Usage.PACKED:
            return f"{self._bind(self._packed(ftype))}({x})"
        if ftype.usage is Usage.BINARY:
            return f"{self._bind(self._binary(ftype))}({x})"
        return None

    def _unscaler(self, ftype: FieldType) -> Callable[[Any], int]:
        """value -> stored integer for int/Decimal values that are exactly representable, else Fallback."""
        scale = ftype.scale
        factor = 10**scale
        limit = 10**ftype.digits if ftype.usage is not Usage.BINARY else None
        signed = ftype.signed
        decimal = Decimal

        def unscaled(value: Any) -> int:
            u: int
            if type(value) is int:
                u = value * factor
            elif type(value) is decimal:
                try:  # NaN, sNaN and Infinity cannot be stored: the plain writer names the error
                    scaled = value.scaleb(scale) if scale else value
                    u = int(scaled)
                    exact = u == scaled
                except (ValueError, OverflowError, ArithmeticError):
                    raise Fallback from None
                if not exact:
                    raise Fallback
            else:
                raise Fallback
            if (u < 0 and not signed) or (limit is not None and not -limit < u < limit):
                raise Fallback
            return u

        return unscaled

    def _zoned(self, ftype: FieldType) -> Callable[[Any], str]:
        unscaled = self._unscaler(ftype)
        chars = self.rc.chars
        fmt = f"%0{ftype.digits}d"
        if self.cp.ebcdic:
            pos = "".join(chars[0xC0 + d] for d in range(10))
            neg = "".join(chars[0xD0 + d] for d in range(10))
            plus, minus = chars[0x4E], chars[0x60]
        else:
            pos, neg = "{ABCDEFGHI", "}JKLMNOPQR"
            plus, minus = "+", "-"
        signed = ftype.signed
        separate, leading = ftype.sign_separate, ftype.sign_leading

        def zoned(value: Any) -> str:
            u = unscaled(value)
            digits = fmt % (-u if u < 0 else u)
            if not signed:
                return digits
            if separate:
                sign = minus if u < 0 else plus
                return sign + digits if leading else digits + sign
            punch = neg if u < 0 else pos
            if leading:
                return punch[ord(digits[0]) - 48] + digits[1:]
            return digits[:-1] + punch[ord(digits[-1]) - 48]

        return zoned

    def _packed(self, ftype: FieldType) -> Callable[[Any], str]:
        scale, signed = ftype.scale, ftype.signed
        factor, limit = 10**scale, 10**ftype.digits
        fmt = f"%0{2 * ftype.size - 1}d"
        chars = self.rc.chars
        cd, fromhex, decimal = codecs.charmap_decode, bytes.fromhex, Decimal
        plus = "c" if signed else "f"

        def packed(value: Any) -> str:
            # The _unscaler rules, inlined: this runs for every amount of every record.
            if type(value) is decimal:
                try:  # NaN, sNaN and Infinity: see _unscaler
                    scaled = value.scaleb(scale) if scale else value
                    u = int(scaled)
                    exact = u == scaled
                except (ValueError, OverflowError, ArithmeticError):
                    raise Fallback from None
                if not exact:
                    raise Fallback
            elif type(value) is int:
                u = value * factor
            else:
                raise Fallback
            if u < 0:
                if not signed or u <= -limit:
                    raise Fallback
                return cd(fromhex(fmt % -u + "d"), "strict", chars)[0]
            if u >= limit:
                raise Fallback
            return cd(fromhex(fmt % u + plus), "strict", chars)[0]

        return packed

    def _binary(self, ftype: FieldType) -> Callable[[Any], str]:
        unscaled = self._unscaler(ftype)
        size, signed = ftype.size, ftype.signed
        chars = self.rc.chars
        cd = codecs.charmap_decode

        def binary(value: Any) -> str:
            try:
                data = unscaled(value).to_bytes(size, "big", signed=signed)
            except OverflowError:
                raise Fallback from None
            return cd(data, "strict", chars)[0]

        return binary


def _join(pieces: list[str]) -> str:
    if not pieces:
        return "''"
    if len(pieces) == 1:
        return pieces[0]
    return "''.join((" + ", ".join(pieces) + ",))"


def _scope(item: Item) -> Item | None:
    """The nearest OCCURS ancestor of ``item`` (the generated function that writes it)."""
    node = item.parent
    while node is not None:
        if node.occurs:
            return node
        node = node.parent
    return None


def _scope_of_table(item: Item) -> Item | None:
    return _scope(item)


def _in_redefines(item: Item) -> bool:
    node: Item | None = item
    while node is not None:
        if node.redefines is not None:
            return True
        node = node.parent
    return False


def build_encoder(layout: Layout, cp: CodePage, *, variable: bool, float_format: str) -> Encoder | None:
    """The generated encoder for these settings, or ``None`` when the layout or code page is not supported."""
    try:
        gen = EncoderCodegen(layout, cp, variable=variable, float_format=float_format)
    except LookupError:
        return None
    return gen.build()
