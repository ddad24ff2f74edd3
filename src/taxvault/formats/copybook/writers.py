"""Decoded records -> JSON Lines, CSV or Parquet, streaming, in files only the owner can read.

Why: ``taxvault copybook decode`` turns a mainframe extract into something
any tool can open.  Each writer takes records one at a time (files larger
than memory) and its columns come from the copybook, not from the data, so
the first record cannot decide a column's type or a later record add one.

Representation:

* JSON Lines: one object per record, the decoder's nesting (groups are
  objects, OCCURS are arrays); decimals are strings ("123.45") so no digit
  is lost to binary floating point.
* CSV: one column per elementary item outside tables, dotted paths
  (``MOD_KEY.MOD_TIN``); a table is one column holding its JSON.
* Parquet: the CSV columns, typed from the pictures (string, int64,
  decimal128 with the picture's scale, float64); tables as JSON strings.

The files hold decoded values, so taxpayer data: they are created 0600.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from taxvault.files import open_private

from .decoder import _Builder
from .layout import Layout
from .options import DecodeOptions
from .parser import Item
from .picture import Kind, Usage

FORMATS = ("jsonl", "csv", "parquet")
RECORD_TYPE = "_record_type"


def output_format(path: Path) -> str:
    """The writer for ``path`` by its suffix (``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``)."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "parquet"):
        return suffix
    raise ValueError(f"cannot tell the output format from {path.name!r}: use .jsonl, .csv or .parquet")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write a {type(value).__name__}")


def to_json(value: object) -> str:
    """Compact JSON with decimals as strings."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


class Column:
    """One flat output column: its dotted name, the keys leading to it, and its item (for its type)."""

    def __init__(self, name: str, path: tuple[str, ...], item: Item | None) -> None:
        self.name = name
        self.path = path
        self.item = item
        self.table = item is not None and (item.occurs or item.is_group)

    def get(self, values: dict[str, Any]) -> Any:
        value: Any = values
        for key in self.path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value


def columns(layouts: Iterable[Layout], options: DecodeOptions, *, record_type: bool = False) -> list[Column]:
    """The flat columns of the decoded records of ``layouts`` (their union, in order, for several types)."""
    out: dict[str, Column] = {}
    if record_type:
        out[RECORD_TYPE] = Column(RECORD_TYPE, (RECORD_TYPE,), None)
    for layout in layouts:
        builder = _Builder(layout, options, generate=False)
        roots = layout.roots
        collapse = (options.root == "collapse" and len(roots) == 1) or roots[0].synthetic

        def walk(item: Item, path: tuple[str, ...], builder: _Builder = builder) -> None:
            if item.is_group and not item.occurs:
                for child in item.children:
                    key = builder.output_key(child)
                    if key is not None:
                        walk(child, (*path, key))
                return
            name = ".".join(path)
            out.setdefault(name, Column(name, path, item))

        for root in roots:
            if collapse and root.is_group:
                walk(root, ())
            else:
                walk(root, (root.key,))
    return list(out.values())


class Writer:
    """Base: ``write(values, record_type)`` per record, then ``close()``."""

    def write(self, values: dict[str, Any], record_type: str | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class JsonLinesWriter(Writer):
    def __init__(self, path: Path) -> None:
        self.file: IO[str] = open_private(path, "w", encoding="utf-8")

    def write(self, values: dict[str, Any], record_type: str | None = None) -> None:
        if record_type is not None:
            values = {RECORD_TYPE: record_type, **values}
        self.file.write(to_json(values) + "\n")

    def close(self) -> None:
        self.file.close()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return to_json(value)
    return value


class CsvWriter(Writer):
    def __init__(self, path: Path, cols: list[Column]) -> None:
        self.file: IO[str] = open_private(path, "w", encoding="utf-8")
        self.cols = cols
        self.csv = csv.writer(self.file, lineterminator="\n")
        self.csv.writerow([c.name for c in cols])

    def write(self, values: dict[str, Any], record_type: str | None = None) -> None:
        if record_type is not None:
            values = {RECORD_TYPE: record_type, **values}
        self.csv.writerow([_cell(c.get(values)) for c in self.cols])

    def close(self) -> None:
        self.file.close()


def _arrow_type(item: Item | None) -> tuple[Any, Callable[[Any], Any]]:
    """The Parquet type of a column and how a decoded value becomes a value of that type."""
    import pyarrow as pa

    def same(v: Any) -> Any:
        return v

    def as_text(v: Any) -> Any:
        return None if v is None else (to_json(v) if isinstance(v, (list, dict)) else str(v))

    def as_decimal(v: Any) -> Any:
        return None if v is None else Decimal(v)

    if item is None or item.occurs or item.is_group or item.ftype is None:
        return pa.string(), as_text
    ftype = item.ftype
    if ftype.kind is Kind.FLOAT:
        return pa.float64(), same
    if ftype.kind is not Kind.NUMBER or ftype.edited or ftype.explicit_point:
        return pa.string(), as_text
    if ftype.scale > 0:
        return pa.decimal128(38, min(ftype.scale, 38)), same
    if ftype.usage is Usage.BINARY:
        fits = ftype.size <= 4 or (ftype.signed and ftype.size <= 8)
        return (pa.int64(), same) if fits else (pa.decimal128(38, 0), as_decimal)
    digits = ftype.digits - min(ftype.scale, 0)
    if digits <= 18:
        return pa.int64(), same
    if digits <= 38:
        return pa.decimal128(38, 0), as_decimal
    return pa.string(), as_text


class ParquetWriter(Writer):
    BATCH = 5000

    def __init__(self, path: Path, cols: list[Column]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.cols = cols
        typed = [_arrow_type(c.item) for c in cols]
        self.schema = pa.schema([pa.field(c.name, t) for c, (t, _) in zip(cols, typed, strict=True)])
        self.convert = [f for _, f in typed]
        self.file = open_private(path, "wb")
        self.writer = pq.ParquetWriter(self.file, self.schema)
        self.pending: list[list[Any]] = [[] for _ in cols]
        self.count = 0

    def write(self, values: dict[str, Any], record_type: str | None = None) -> None:
        if record_type is not None:
            values = {RECORD_TYPE: record_type, **values}
        for column, convert, out in zip(self.cols, self.convert, self.pending, strict=True):
            out.append(convert(column.get(values)))
        self.count += 1
        if self.count >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.count:
            arrays = [self.pa.array(v, type=f.type) for v, f in zip(self.pending, self.schema, strict=True)]
            self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))
            self.pending = [[] for _ in self.cols]
            self.count = 0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.writer.close()
            self.file.close()


def open_writer(path: Path, layouts: list[Layout], options: DecodeOptions, *, record_type: bool) -> Writer:
    """The writer for ``path``'s format; raises ``ValueError`` for an unknown suffix."""
    kind = output_format(path)
    if kind == "jsonl":
        return JsonLinesWriter(path)
    cols = columns(layouts, options, record_type=record_type)
    if kind == "csv":
        return CsvWriter(path, cols)
    return ParquetWriter(path, cols)
