"""Layout + options -> a compiled record decoder.

The layout tree is turned once into nested closures: each group knows the
precomputed offsets of its children and each elementary item owns a
specialised converter, so decoding a record is slicing and calling, with no
copybook interpretation.  Two shapes exist:

* static (the default, and every subtree without a variable-size table):
  offsets are constants, an OCCURS DEPENDING ON reserves its maximum size and
  returns as many elements as its counter says;
* dynamic (``variable_size_occurs``): positions after a table depend on the
  counters, so the nodes return ``(value, bytes consumed)`` and the record's
  own length falls out of decoding it.

Counters are recorded in a per-record dict (``ctx``) as they are decoded;
COBOL requires the counter to precede its table, so it is always there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .codegen import GroupCodegen
from .codepages import get_code_page
from .errors import RecordDecodeError
from .field_decoders import make_converter, numeric_table
from .layout import Layout, output_key
from .options import DecodeOptions
from .parser import Item
from .picture import Kind

Ctx = dict[int, Any]
StaticFn = Callable[[bytes, int, Ctx], Any]
DynamicFn = Callable[[bytes, int, Ctx], tuple[Any, int]]
_SEGMENT = -1


class RecordDecoder:
    """A decoder compiled for one layout and one set of options; use :func:`get_decoder`."""

    def __init__(self, layout: Layout, options: DecodeOptions, *, generate: bool = True) -> None:
        self.layout = layout
        self.options = options
        self._builder = _Builder(layout, options, generate=generate)
        self.variable = options.variable_size_occurs and layout.has_depending_on
        self._decode_sized = self._builder.record()
        # Groups decoded by generated code (0: the closure decoder does everything); see fastpath.STATS.
        self.generated_groups = self._builder.generated
        self._plain: RecordDecoder | None = None  # built on the first error, to locate it

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode one record held in ``data`` (shorter data gives null trailing fields)."""
        try:
            return self._decode_sized(data, 0)[0]
        except RecordDecodeError as exc:
            raise self._locate(exc, data, 0) from None

    def decode_at(self, data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        """Decode the record starting at ``pos`` of ``data``; return it and its length in bytes."""
        try:
            return self._decode_sized(data, pos)
        except RecordDecodeError as exc:
            raise self._locate(exc, data, pos) from None

    def _locate(self, exc: RecordDecodeError, data: bytes, pos: int) -> RecordDecodeError:
        """Give ``exc`` the field's offset inside the record (nodes report offsets within ``data``).

        The generated group decoders call converters without knowing positions;
        errors are rare, so such a record is decoded again by the closure
        decoder, whose nodes know where each field starts.
        """
        if exc.field_offset is None and self._builder.generate:
            if self._plain is None:
                self._plain = RecordDecoder(self.layout, self.options, generate=False)
            try:
                self._plain._decode_sized(data, pos)
            except RecordDecodeError as again:
                exc = again
        if exc.field_offset is None:
            return exc
        return RecordDecodeError(exc.reason, field=exc.field, field_offset=exc.field_offset - pos)


def get_decoder(layout: Layout, options: DecodeOptions | None = None) -> RecordDecoder:
    """The cached :class:`RecordDecoder` for ``layout`` and ``options``."""
    options = options or DecodeOptions()
    decoder = layout._compiled.get(("decode", options))
    if decoder is None:
        decoder = RecordDecoder(layout, options)
        layout._compiled[("decode", options)] = decoder
    assert isinstance(decoder, RecordDecoder)
    return decoder


def decode_record(
    layout: Layout,
    data: bytes,
    *,
    encoding: str | None = None,
    options: DecodeOptions | None = None,
) -> dict[str, Any]:
    """Decode one record.

    ``data`` holds exactly one record (a shorter record is allowed: fields past
    its end are ``None``, a text field cut by the end keeps its bytes).
    ``encoding`` overrides ``options.encoding``.  Raises :class:`RecordDecodeError`
    only when the record's shape cannot be known (bad OCCURS DEPENDING ON counter).
    """
    if options is None:
        # The common call: no options object to build and hash for every record.
        key = ("decode-default", encoding)
        decoder = layout._compiled.get(key)
        if decoder is None:
            defaults = DecodeOptions() if encoding is None else DecodeOptions().but(encoding=encoding)
            decoder = layout._compiled[key] = get_decoder(layout, defaults)
    else:
        if encoding is not None and encoding != options.encoding:
            options = options.but(encoding=encoding)
        decoder = get_decoder(layout, options)
    assert isinstance(decoder, RecordDecoder)
    return decoder.decode(data if type(data) is bytes else bytes(data))


class _Builder:
    def __init__(self, layout: Layout, options: DecodeOptions, *, generate: bool = True) -> None:
        self.layout = layout
        self.options = options
        self.generate = generate
        self.generated = 0
        self.code_page = get_code_page(options.encoding)
        self.segment_allowed: dict[str, frozenset[str]] = {
            output_key(name): frozenset(values) for name, values in options.segment_redefines
        }
        self.keys = _visible_keys(layout, options)
        self.counter_holders: set[int] = set()
        for item in layout.items:
            if item.is_counter:
                node: Item | None = item
                while node is not None:
                    self.counter_holders.add(node.index)
                    node = node.parent
        # Items holding an OCCURS DEPENDING ON are decoded even when not output, so that a
        # blank or out-of-range counter is always reported (never a silently null counter).
        for item in layout.items:
            if item.depending_on is not None:
                node = item
                while node is not None:
                    self.counter_holders.add(node.index)
                    node = node.parent
        self.dynamic_items: set[int] = set()
        if options.variable_size_occurs:
            for item in reversed(layout.items):
                if item.depending_on is not None or any(c.index in self.dynamic_items for c in item.children):
                    self.dynamic_items.add(item.index)

    # -- output policy -------------------------------------------------
    def output_key(self, item: Item) -> str | None:
        """The dict key of ``item``, or ``None`` when the item is left out of the output."""
        return self.keys[item.index]

    def needed(self, item: Item) -> bool:
        return self.output_key(item) is not None or item.index in self.counter_holders

    # -- static nodes ----------------------------------------------------
    def static(self, item: Item) -> StaticFn:
        single = self.static_single(item)
        if not item.occurs:
            return single
        return self.static_array(item, single)

    def static_single(self, item: Item) -> StaticFn:
        fn = self.static_group(item) if item.is_group else self.leaf(item)
        allowed = self.segment_allowed.get(item.key)
        if allowed is None:
            return fn
        inner = fn

        def segment_gate(data: bytes, pos: int, ctx: Ctx) -> Any:
            return inner(data, pos, ctx) if ctx.get(_SEGMENT) in allowed else None

        return segment_gate

    def converter(self, item: Item) -> Callable[[bytes], Any]:
        ftype = item.ftype
        assert ftype is not None
        o = self.options
        return make_converter(
            ftype,
            self.code_page,
            trimming=o.string_trimming,
            improved_nulls=o.improved_null_detection,
            strict_overpunch=o.strict_sign_overpunching,
            float_format=o.float_format,
            strict_binary_digits=o.strict_binary_digits,
            field=item.path,
            native_binary=o.native_binary,
            strict_packed_spare=o.strict_packed_spare_digit,
            dbcs=o.dbcs,
        )

    def gated(self, item: Item) -> bool:
        return item.key in self.segment_allowed

    def leaf(self, item: Item) -> StaticFn:
        ftype = item.ftype
        assert ftype is not None
        convert = self.converter(item)
        size = ftype.size
        partial_ok = ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT)

        def leaf(data: bytes, pos: int, ctx: Ctx) -> Any:
            end = pos + size
            if end <= len(data):
                try:
                    return convert(data[pos:end])
                except RecordDecodeError as exc:  # only strict converters raise
                    raise exc.at(pos) from None
            if partial_ok and pos < len(data):
                return convert(data[pos:])
            return None

        if not item.is_counter:
            return leaf
        index = item.index

        def counter(data: bytes, pos: int, ctx: Ctx) -> Any:
            value = ctx[index] = leaf(data, pos, ctx)
            return value

        return counter

    def static_group(self, item: Item) -> StaticFn:
        closure = self.closure_group(item)
        if not self.generate:
            return closure
        gen = GroupCodegen(
            decoding_table=self.code_page.decoding_table,
            trimming=self.options.string_trimming,
            improved_nulls=self.options.improved_null_detection,
            key_of=self.output_key,
            needed=self.needed,
            child_fn=self.static,
            converter=self.converter,
            gated=self.gated,
            numeric_table=numeric_table(self.code_page),
            strict_packed_spare=self.options.strict_packed_spare_digit,
        )
        if not gen.supported(item):
            return closure
        self.generated += 1
        return gen.build(item, closure)

    def closure_group(self, item: Item) -> StaticFn:
        entries = [
            (self.output_key(child), child.rel_offset, self.static(child))
            for child in item.children
            if self.needed(child)
        ]
        keyed = all(key is not None for key, _, _ in entries)
        if keyed:
            plain = [(key, off, fn) for key, off, fn in entries]

            def group(data: bytes, pos: int, ctx: Ctx) -> dict[str, Any]:
                return {key: fn(data, pos + off, ctx) for key, off, fn in plain}  # type: ignore[misc]

            return group

        def group_with_hidden(data: bytes, pos: int, ctx: Ctx) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, off, fn in entries:
                value = fn(data, pos + off, ctx)
                if key is not None:
                    out[key] = value
            return out

        return group_with_hidden

    def count_of(self, item: Item) -> Callable[[Ctx], int]:
        counter = item.depending_on
        if counter is None:
            fixed = item.count_max
            return lambda ctx: fixed
        index, high, name = counter.index, item.count_max, item.name
        low = item.occurs_min or 0
        # The counter's value is never put in the message (it is data); its name and the bounds are.
        invalid = f"OCCURS DEPENDING ON counter {counter.name} is blank or not a valid number"
        outside = f"OCCURS DEPENDING ON counter {counter.name} is outside {low}..{high} (OCCURS {low} TO {high})"

        def count(ctx: Ctx) -> int:
            n = ctx.get(index)
            if not isinstance(n, int):
                raise RecordDecodeError(invalid, field=name)
            if n < low or n > high:
                raise RecordDecodeError(outside, field=name)
            return n

        return count

    def static_array(self, item: Item, element: StaticFn) -> StaticFn:
        step = item.element_size
        count = self.count_of(item)

        def array(data: bytes, pos: int, ctx: Ctx) -> list[Any]:
            try:
                n = count(ctx)
            except RecordDecodeError as exc:
                raise exc.at(pos) from None
            return [element(data, pos + i * step, ctx) for i in range(n)]

        return array

    # -- dynamic nodes (variable_size_occurs) ------------------------------
    def dynamic(self, item: Item) -> DynamicFn:
        if item.index not in self.dynamic_items:
            fn = self.static(item) if self.needed(item) else None
            size = item.size

            def fixed(data: bytes, pos: int, ctx: Ctx) -> tuple[Any, int]:
                return (fn(data, pos, ctx) if fn is not None else None), size

            return fixed
        if any(child.index in self.dynamic_items for child in item.children):
            single = self.dynamic_group(item)
        else:  # a table of fixed-size elements: only the table's own length varies
            single = _sized(self.static_single(item), item.element_size)
        if not item.occurs:
            return single
        count = self.count_of(item)

        def array(data: bytes, pos: int, ctx: Ctx) -> tuple[list[Any], int]:
            out = []
            cur = pos
            try:
                n = count(ctx)
            except RecordDecodeError as exc:
                raise exc.at(pos) from None
            for _ in range(n):
                value, used = single(data, cur, ctx)
                out.append(value)
                cur += used
            return out, cur - pos

        return array

    def dynamic_group(self, item: Item) -> DynamicFn:
        entries = [
            (self.output_key(child), child.redefines is not None, self.dynamic(child)) for child in item.children
        ]

        def group(data: bytes, pos: int, ctx: Ctx) -> tuple[dict[str, Any], int]:
            out: dict[str, Any] = {}
            area_start = pos
            area_size = 0
            for key, redefines, fn in entries:
                if not redefines:
                    area_start += area_size
                    area_size = 0
                value, used = fn(data, area_start, ctx)
                area_size = max(area_size, used)
                if key is not None:
                    out[key] = value
            return out, area_start + area_size - pos

        return group

    # -- record ------------------------------------------------------------
    def record(self) -> Callable[[bytes, int], tuple[dict[str, Any], int]]:
        roots = self.layout.roots
        segment = self.segment_reader()
        collapse = self.options.root == "collapse" and len(roots) == 1
        variable = self.options.variable_size_occurs and self.layout.has_depending_on
        if len(roots) == 1 and segment is None and (collapse or roots[0].synthetic) and not variable:
            # One fixed-shape record: return the group's own (fresh) dict instead of copying it.
            only_key, only = roots[0].key, roots[0]
            static, size = self.static(only), only.size

            def decode_single(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
                value = static(data, pos, {})
                if type(value) is dict:
                    return value, size
                return {only_key: value}, size

            return decode_single

        if self.options.variable_size_occurs and self.layout.has_depending_on:
            parts = [(root.key, self.dynamic(root), root) for root in roots]
        else:
            parts = [(root.key, _sized(self.static(root), root.size), root) for root in roots]

        def decode(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
            ctx: Ctx = {}
            if segment is not None:
                ctx[_SEGMENT] = segment(data, pos, ctx)
            out: dict[str, Any] = {}
            length = 0
            for key, fn, root in parts:
                value, used = fn(data, pos, ctx)
                length = max(length, used)
                if collapse or root.synthetic:
                    if isinstance(value, dict):
                        out.update(value)
                    else:
                        out[key] = value
                else:
                    out[key] = value
            return out, length

        return decode

    def segment_reader(self) -> StaticFn | None:
        name = self.options.segment_field
        if name is None:
            return None
        try:
            item = self.layout.item(name)
        except KeyError:
            raise RecordDecodeError(f"segment field {name} is not a single item of the copybook") from None
        node: Item | None = item
        while node is not None:
            if node.occurs or node.index in self.dynamic_items:
                raise RecordDecodeError(f"segment field {name} must have a fixed position")
            node = node.parent
        fn = self.leaf(item)
        offset = item.offset
        return lambda data, pos, ctx: fn(data, pos + offset, ctx)


def _visible_keys(layout: Layout, options: DecodeOptions) -> list[str | None]:
    """Output key of every item under the FILLER policy of ``options`` (``None``: left out).

    A value FILLER is shown as ``FILLER_Pn`` unless value fillers are dropped;
    a group is shown when at least one of its children is; a FILLER group is
    shown as ``FILLER_n`` unless group fillers are dropped (numbered among the
    FILLER groups that have something to show, as Cobrix numbers them).
    """
    keys: list[str | None] = [None] * len(layout.items)
    for item in reversed(layout.items):
        if not item.is_group:
            hidden = item.slack or (item.is_filler and options.drop_value_fillers)
            keys[item.index] = None if hidden else item.key
            continue
        if all(keys[child.index] is None for child in item.children):
            continue
        if not item.is_filler:
            keys[item.index] = item.key
        elif not options.drop_group_fillers:
            keys[item.index] = item.key if options.drop_value_fillers else item.filler_key_all
    return keys


def _sized(fn: StaticFn, size: int) -> DynamicFn:
    def sized(data: bytes, pos: int, ctx: Ctx) -> tuple[Any, int]:
        return fn(data, pos, ctx), size

    return sized
