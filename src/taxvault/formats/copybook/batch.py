"""Decode many records at once, column by column, and give back one dict per record.

Why: a record decoder, even generated, pays Python's price per field (a
slice, a translate, an ``int``: ~150-250 ns each).  A tax-module record has
about 25 fields, so per-record decoding tops out near 90k records/s.  Here a
batch of records (any lengths, at any positions of one buffer) is decoded the
way :func:`decode_columns` decodes a fixed-length file: each field's bytes
for every record are gathered with numpy, text columns are decoded with one
C call and cut, DISPLAY integers with numpy digit arithmetic, everything else
through the same field converters as the record decoder; table elements
likewise over all elements of all records.  Generated comprehensions then
zip the columns into the decoder's nested dicts.

Exactness: a record goes to the record decoder itself (and its errors are
its errors) whenever it is not plainly regular: shorter than its fields, an
OCCURS DEPENDING ON counter the decoder's own count rule refuses, or a table
running past its end.  Supported layouts: one 01 group, no segment options,
tables of plain elements (no table inside a table) at fixed positions (the
fixed-shape decoder; with ``variable_size_occurs`` only the trailing-table
shape, where both agree -- see records._trailing_table_only).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from .bulk import _Columns
from .decoder import RecordDecoder, _Builder, get_decoder
from .errors import RecordDecodeError
from .layout import Layout
from .options import DecodeOptions
from .parser import Item

Values = dict[str, Any]


class _Leaf:
    """A column: one elementary item at a fixed offset (inside the record, or inside a table element)."""

    def __init__(self, item: Item, offset: int) -> None:
        self.item = item
        self.offset = offset
        assert item.ftype is not None
        self.width = item.ftype.size


class BatchDecoder:
    """Column-wise decoder for one layout and options; :meth:`decode_many` is the entry point."""

    def __init__(self, layout: Layout, options: DecodeOptions, decoder: RecordDecoder) -> None:
        self.layout = layout
        self.options = options
        self.decoder = decoder
        self.builder = _Builder(layout, options, generate=False)
        self.columns = _Columns(layout, options, decoder, b"", 1, 0, False)
        self.record_leaves: list[_Leaf] = []
        self.tables: list[_Table] = []
        root = layout.roots[0]
        collapse = options.root == "collapse" or root.synthetic
        body = self._group(root, 0, self.record_leaves, top=True)
        if not collapse:
            body = "{" + f"{root.key!r}: {body}" + "}"
        names = [f"a{i}" for i in range(len(self.record_leaves))] + [f"t{i}" for i in range(len(self.tables))]
        self.reach = max((leaf.offset + leaf.width for leaf in self.record_leaves), default=0)
        self.build_rows = _compile(f"[{body} for {_targets(names)} in _zip(*cols)]")

    # -- plan --------------------------------------------------------------
    def _group(self, item: Item, base: int, leaves: list[_Leaf], *, top: bool) -> str:
        parts = []
        for child in item.children:
            if not self.builder.needed(child):
                continue
            key = self.builder.output_key(child)
            expr = self._node(child, base + child.rel_offset, leaves, top=top)
            if key is not None:
                parts.append(f"{key!r}: {expr}")
        return "{" + ", ".join(parts) + "}"

    def _node(self, item: Item, offset: int, leaves: list[_Leaf], *, top: bool) -> str:
        if item.occurs:
            if not top:
                raise _Unsupported("a table inside a table")
            table = _Table(self, item, offset)
            self.tables.append(table)
            return f"t{len(self.tables) - 1}"
        if item.is_group:
            return self._group(item, offset, leaves, top=top)
        leaves.append(_Leaf(item, offset))
        return ("a" if top else "e") + str(len(leaves) - 1)

    # -- decode ------------------------------------------------------------
    def column(self, leaf: _Leaf, arr: np.ndarray[Any, Any], starts: np.ndarray[Any, Any]) -> list[Any]:
        width = leaf.width
        if len(starts) == 0:
            return []
        idx = (starts + leaf.offset)[:, None] + np.arange(width)
        raw = arr[idx].tobytes()
        values = self.columns.leaf_values(leaf.item, raw)
        return values if isinstance(values, list) else list(values)

    def decode_many(self, buf: bytes, starts: list[int], lengths: list[int]) -> list[Values | RecordDecodeError]:
        """The decoded values (or the record decoder's error) of each record ``buf[start:start + length]``."""
        try:
            return self._decode_many(buf, starts, lengths)
        except RecordDecodeError:
            # A converter refused a value (a strict option): the record decoder says which record.
            return [self._one(buf[s : s + n]) for s, n in zip(starts, lengths, strict=True)]

    def _one(self, data: bytes) -> Values | RecordDecodeError:
        try:
            return self.decoder.decode(data)
        except RecordDecodeError as exc:
            return exc

    def _decode_many(self, buf: bytes, starts: list[int], lengths: list[int]) -> list[Values | RecordDecodeError]:
        n = len(starts)
        # Columns are read for every record, also those too short for them (decoded one by one
        # afterwards): pad the buffer when such a read could run past its end.
        furthest = max(self.reach, *(t.reach for t in self.tables), 0) + max(starts, default=0)
        arr = np.frombuffer(buf if furthest <= len(buf) else buf + bytes(furthest - len(buf)), dtype=np.uint8)
        st = np.asarray(starts, dtype=np.int64)
        ln = np.asarray(lengths, dtype=np.int64)
        regular = ln >= self.reach
        cols: list[list[Any]] = [self.column(leaf, arr, st) for leaf in self.record_leaves]
        for table in self.tables:
            regular &= table.check(cols, ln)
        good = np.flatnonzero(regular)
        if len(good) < n:
            keep = good.tolist()
            cols = [[c[i] for i in keep] for c in cols]
        st_good, counts = st[good], [t.counts_of(good) for t in self.tables]
        cols += [t.values(arr, st_good, c) for t, c in zip(self.tables, counts, strict=True)]
        rows = self.build_rows(cols) if good.size else []
        if len(good) == n:
            return rows
        out: list[Values | RecordDecodeError] = []
        it = iter(rows)
        regular_list = regular.tolist()
        for i in range(n):
            out.append(next(it) if regular_list[i] else self._one(buf[starts[i] : starts[i] + lengths[i]]))
        return out


class _Table:
    """One table: its count per record (the builder's own rule) and its elements' columns."""

    def __init__(self, owner: BatchDecoder, item: Item, offset: int) -> None:
        self.owner = owner
        self.item = item
        self.offset = offset
        self.step = item.element_size
        self.count = owner.builder.count_of(item)
        self.leaves: list[_Leaf] = []
        if item.is_group:
            body = owner._group(item, 0, self.leaves, top=False)
        else:
            self.leaves.append(_Leaf(item, 0))
            body = "e0"
        names = [f"e{i}" for i in range(len(self.leaves))]
        self.build = _compile(f"[{body} for {_targets(names)} in _zip(*cols)]")
        counter = item.depending_on
        self.counter_column: int | None = None
        if counter is not None:
            matches = [i for i, leaf in enumerate(owner.record_leaves) if leaf.item is counter]
            if len(matches) != 1:
                raise _Unsupported("the counter is not a plain field of the record")
            self.counter_column = matches[0]
        self.reach = offset + item.size
        self.per_record: list[int] = []

    def check(self, cols: list[list[Any]], lengths: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Which records have a count the decoder accepts and all their elements inside the record."""
        count = self.count
        if self.counter_column is None:
            n = count({})
            self.per_record = [n] * len(lengths)
        else:
            index = self.item.depending_on.index  # type: ignore[union-attr]
            counts = []
            for value in cols[self.counter_column]:
                try:
                    counts.append(count({index: value}))
                except RecordDecodeError:
                    counts.append(-1)
            self.per_record = counts
        arr = np.asarray(self.per_record, dtype=np.int64)
        return (arr >= 0) & (self.offset + arr * self.step <= lengths)

    def counts_of(self, good: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        counts: np.ndarray[Any, Any] = np.asarray(self.per_record, dtype=np.int64)[good]
        return counts

    def values(
        self, arr: np.ndarray[Any, Any], starts: np.ndarray[Any, Any], counts: np.ndarray[Any, Any]
    ) -> list[Any]:
        total = int(counts.sum())
        bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
        if total:
            first = np.repeat(starts + self.offset, counts)
            k = np.arange(total, dtype=np.int64) - np.repeat(np.asarray(bounds[:-1], dtype=np.int64), counts)
            estarts = first + k * self.step
            cols = [self.owner.column(leaf, arr, estarts) for leaf in self.leaves]
            elements = self.build(cols)
        else:
            elements = []
        return [elements[a:b] for a, b in itertools.pairwise(bounds)]


class _Unsupported(Exception):
    pass


def _targets(names: list[str]) -> str:
    if not names:
        return "_"
    return "(" + ", ".join(names) + ",)"


def _compile(expr: str) -> Callable[[list[list[Any]]], list[Any]]:
    """Compile ``expr`` (made of dict keys by repr and generated names only) into ``f(cols)``."""
    env: dict[str, Any] = {"_zip": zip}
    source = f"def _rows(cols):\n    return {expr}\n"
    exec(compile(source, "<copybook batch>", "exec"), env)  # noqa: S102 - keys are repr()'d identifiers
    fn: Callable[[list[list[Any]]], list[Any]] = env["_rows"]
    return fn


def get_batch_decoder(layout: Layout, options: DecodeOptions) -> BatchDecoder | None:
    """The cached batch decoder for ``layout``/``options``, or ``None`` when the layout is not supported."""
    key = ("batch", options)
    if key in layout._compiled:
        found: BatchDecoder | None = layout._compiled[key]
        return found
    batch: BatchDecoder | None = None
    if (
        len(layout.roots) == 1
        and layout.roots[0].is_group
        and options.segment_field is None
        and not options.segment_redefines
        and not options.variable_size_occurs
    ):
        try:
            batch = BatchDecoder(layout, options, get_decoder(layout, options))
        except _Unsupported:
            batch = None
    layout._compiled[key] = batch
    return batch
