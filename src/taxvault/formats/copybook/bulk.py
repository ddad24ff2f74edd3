"""Bulk paths: many records in one call, for the synthetic population and the ingest pipeline.

Why: per-record calls pay for argument handling, cache look-ups and (when
reading) one Python dict per record.  :func:`encode_records` writes a whole
file image with the generated encoder in one loop.  :func:`decode_columns`
reads a fixed-length file image column by column: each text column is
decoded with one C call over all its bytes and cut into values, each plain
DISPLAY integer column is converted with numpy digit arithmetic, and every
other column runs its field converter over the column's slices -- the
same converters as the record decoder, so the values are identical to
``decode_record(layout, record)[...]`` for every record.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from .decoder import RecordDecoder, _Builder, get_decoder
from .encoder import encode_record_plain, get_encoder
from .errors import FileFormatError
from .fastpath import ENCODER_REFUSALS, STATS
from .field_decoders import JAVA_WHITESPACE
from .layout import Layout
from .options import DecodeOptions
from .parser import Item
from .picture import Kind, Usage
from .records import rdw_header

Column = list[Any] | np.ndarray[Any, Any]


def encode_records(
    layout: Layout,
    rows: Iterable[Mapping[str, Any]],
    *,
    encoding: str = "cp037",
    variable_size_occurs: bool = False,
    root: str = "collapse",
    float_format: str = "ieee754",
    rdw: bool = False,
    rdw_big_endian: bool = True,
    rdw_adjustment: int = 0,
) -> bytes:
    """Encode every row (as :func:`encode_record` would) and return the concatenated file image.

    ``rdw=True`` puts a Record Descriptor Word before each record (a ``V``
    file; see :func:`rdw_header` for ``rdw_big_endian`` / ``rdw_adjustment``).
    Errors are those of :func:`encode_record`, for the first bad row.  For
    files larger than memory, call it on batches of rows and write each result.
    """
    fast = get_encoder(
        layout, encoding, variable_size_occurs=variable_size_occurs, root=root, float_format=float_format
    )
    out: list[bytes] = []
    append = out.append
    for values in rows:
        record = None
        if fast is not None:
            try:
                record = fast(values)
            except ENCODER_REFUSALS:  # not sure: the plain writer decides and raises the precise error
                STATS.encoder_fallbacks += 1
        if record is None:
            record = encode_record_plain(
                layout,
                values,
                encoding=encoding,
                variable_size_occurs=variable_size_occurs,
                root=root,
                float_format=float_format,
            )
        if rdw:
            append(rdw_header(len(record), big_endian=rdw_big_endian, adjustment=rdw_adjustment))
        append(record)
    return b"".join(out)


def decode_columns(
    layout: Layout,
    data: bytes,
    *,
    encoding: str | None = None,
    options: DecodeOptions | None = None,
    record_length: int | None = None,
    numpy: bool = False,
) -> dict[str, Column]:
    """Decode a fixed-length file image into columns.

    Keys are the dotted paths of the decoded dicts (``"ENT_NAME.ENT_LAST_NAME"``;
    with ``root="keep"`` the 01 name comes first); each column holds the value
    of every record, exactly as :func:`decode_record` gives it.  A table
    (OCCURS) is one column of lists, taken from the record decoder.  With
    ``numpy=True`` integer DISPLAY columns without nulls come back as int64
    arrays, every other column as a list.

    Records must have a fixed shape: ``variable_size_occurs`` with OCCURS
    DEPENDING ON, and segment-gated REDEFINES, raise ``ValueError`` (use
    :func:`iter_records`).  A trailing partial record raises
    :class:`FileFormatError` as :func:`iter_records` does.
    """
    options = options or DecodeOptions()
    if encoding is not None and encoding != options.encoding:
        options = options.but(encoding=encoding)
    decoder = get_decoder(layout, options)
    if decoder.variable or options.segment_redefines or options.segment_field is not None:
        raise ValueError("decode_columns needs fixed-shape records; use iter_records")
    length = record_length or layout.record_length
    if length <= 0:
        raise FileFormatError("fixed-length records need a positive record length")
    data = bytes(data)
    count, partial = divmod(len(data), length)
    if partial:
        raise FileFormatError(
            f"the file ends with a partial record of {partial} bytes (record length {length})",
            offset=count * length,
        )
    return _Columns(layout, options, decoder, data, length, count, numpy).run()


class _Columns:
    def __init__(
        self,
        layout: Layout,
        options: DecodeOptions,
        decoder: RecordDecoder,
        data: bytes,
        length: int,
        count: int,
        as_numpy: bool,
    ) -> None:
        self.layout = layout
        self.options = options
        self.decoder = decoder
        self.builder = _Builder(layout, options, generate=False)
        self.data = data
        self.length = length
        self.count = count
        self.as_numpy = as_numpy
        self.rows = np.frombuffer(data, dtype=np.uint8).reshape(count, length) if count else None
        self.records: list[dict[str, Any]] | None = None
        self.out: dict[str, Column] = {}
        self.converters: dict[int, Any] = {}
        self.text_setup: tuple[bytes, bytes | None] | None = None
        self.digits: bytes | None = None

    def converter_of(self, item: Item) -> Any:
        convert = self.converters.get(item.index)
        if convert is None:
            convert = self.converters[item.index] = self.builder.converter(item)
        return convert

    def run(self) -> dict[str, Column]:
        roots = self.layout.roots
        collapse = (self.options.root == "collapse" and len(roots) == 1) or roots[0].synthetic
        for root in roots:
            if collapse and root.is_group:
                self.walk(root, ())
            else:
                self.walk(root, (root.key,))
        return self.out

    def walk(self, item: Item, path: tuple[str, ...]) -> None:
        if item.is_group and not item.occurs:
            for child in item.children:
                key = self.builder.output_key(child)
                if key is not None:
                    self.walk(child, (*path, key))
            return
        name = ".".join(path)
        if item.occurs or item.is_group:
            self.out[name] = self.from_records(path)
        elif item.offset + item.size > self.length:
            self.out[name] = self.from_records(path)  # cut by a short record length: the decoder's rules
        else:
            self.out[name] = self.leaf(item)

    def from_records(self, path: tuple[str, ...]) -> list[Any]:
        """The column taken from fully decoded records (tables, and anything not column-shaped)."""
        if self.records is None:
            decode, data, length = self.decoder.decode, self.data, self.length
            self.records = [decode(data[o : o + length]) for o in range(0, self.count * length, length)]
        column = []
        for record in self.records:
            value: Any = record
            for key in path:
                value = value[key]
            column.append(value)
        return column

    def column_bytes(self, item: Item) -> bytes:
        if self.rows is None:
            return b""
        return self.rows[:, item.offset : item.offset + item.size].tobytes()

    def leaf(self, item: Item) -> Column:
        return self.leaf_values(item, self.column_bytes(item))

    def leaf_values(self, item: Item, raw: bytes) -> Column:
        """The values of ``item`` for each ``item.ftype.size`` bytes of ``raw`` (one field of many records)."""
        ftype = item.ftype
        assert ftype is not None
        width = ftype.size
        convert = self.converter_of(item)
        if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT) and ftype.usage not in (Usage.NATIONAL, Usage.DBCS, Usage.UTF8):
            return self.text(raw, width, convert)
        if (
            ftype.kind is Kind.NUMBER
            and ftype.usage is Usage.DISPLAY
            and ftype.scale == 0
            and not ftype.edited
            and not ftype.sign_separate  # the converter checks the sign position (copybook-parse)
            and width <= 18
        ):
            return self.integers(raw, width, convert)
        if (
            ftype.usage is Usage.PACKED
            and ftype.kind is Kind.NUMBER
            and not ftype.edited
            and ftype.scale >= 0
            and not (self.options.strict_packed_spare_digit and ftype.digits % 2 == 0)
        ):
            return self.packed(raw, width, ftype.scale, ftype.signed, convert)
        return [convert(raw[o : o + width]) for o in range(0, len(raw), width)]

    def packed(self, raw: bytes, width: int, scale: int, signed: bool, convert: Any) -> list[Any]:
        """COMP-3 with the canonical signs (C/D signed, F unsigned) in numpy; any other row by its converter.

        The canonical-sign values are the same under every packed rule (digits,
        then the sign); zero is never negative.  With decimals the value is
        built as the text ``±digitsE-scale`` for the whole column at once.
        """
        if not raw:
            return []
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)
        high, low = rows >> 4, rows & 0x0F
        sign = low[:, -1]
        digits = np.empty((rows.shape[0], 2 * width - 1), dtype=np.uint8)
        digits[:, 0::2] = high
        digits[:, 1::2] = low[:, :-1]
        ok = (digits <= 9).all(axis=1)
        negative = sign == 0x0D
        ok &= ((sign == 0x0C) | negative) if signed else (sign == 0x0F)
        negative &= digits.any(axis=1)  # a negative zero is zero
        if not bool(ok.all()):
            digits[~ok] = 0  # those rows are decoded by the converter below
        if scale == 0 and digits.shape[1] <= 18:
            powers = 10 ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
            values = digits.astype(np.int64) @ powers
            column: list[Any] = np.where(negative, -values, values).tolist()
        else:
            text = np.empty((rows.shape[0], digits.shape[1] + 1), dtype=np.uint8)
            text[:, 0] = np.where(negative, ord("-"), ord("+"))
            text[:, 1:] = digits + ord("0")
            size = digits.shape[1] + 1
            joined = text.tobytes().decode("ascii")
            if scale:
                suffix = f"E-{scale}"
                column = list(map(Decimal, [joined[o : o + size] + suffix for o in range(0, len(joined), size)]))
            else:
                column = [int(joined[o : o + size]) for o in range(0, len(joined), size)]
        if not bool(ok.all()):
            for row in np.flatnonzero(~ok).tolist():
                column[row] = convert(raw[row * width : (row + 1) * width])
        return column

    def text(self, raw: bytes, width: int, convert: Any) -> list[Any]:
        """One decode for the whole column; ``str.strip()`` where it provably equals Java's trim."""
        trimming = self.options.string_trimming
        if self.text_setup is None:
            table = self.builder.code_page.decoding_table
            java = set(JAVA_WHITESPACE)
            disagree = {ch for ch in set(table) | java if ch.isspace() != (ch in java)}
            special = bytes(b for b in range(256) if table[b] in disagree)
            if self.options.improved_null_detection:
                special += b"\x00"
            latin1 = bytes(ord(ch) for ch in table) if all(ord(ch) < 256 for ch in table) else None
            self.text_setup = (special, latin1)
        special, latin1 = self.text_setup
        if trimming != "none" and len(raw.translate(None, special)) != len(raw):
            return [convert(raw[o : o + width]) for o in range(0, len(raw), width)]
        if self.options.improved_null_detection and b"\x00" in raw:
            return [convert(raw[o : o + width]) for o in range(0, len(raw), width)]
        if latin1 is not None:
            text = raw.translate(latin1).decode("latin-1")
        else:
            text = codecs.charmap_decode(raw, "strict", self.builder.code_page.decoding_table)[0]
        bounds = range(0, len(text), width)
        if trimming == "both":
            return [text[o : o + width].strip() for o in bounds]
        if trimming == "left":
            return [text[o : o + width].lstrip() for o in bounds]
        if trimming == "right":
            return [text[o : o + width].rstrip() for o in bounds]
        return [text[o : o + width] for o in bounds]

    def integers(self, raw: bytes, width: int, convert: Any) -> Column:
        """Unscaled DISPLAY integers: digit arithmetic in numpy for rows that are all digits."""
        if self.digits is None:
            from .field_decoders import numeric_table

            self.digits = numeric_table(self.builder.code_page)
        translated = raw.translate(self.digits)
        digits = np.frombuffer(translated, dtype=np.uint8).reshape(-1, width).astype(np.int64) - 48
        valid = ((digits >= 0) & (digits <= 9)).all(axis=1)
        powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        values = digits @ powers
        if bool(valid.all()):
            return values if self.as_numpy else values.tolist()
        column: list[Any] = values.tolist()
        for row in np.flatnonzero(~valid).tolist():
            column[row] = convert(raw[row * width : (row + 1) * width])
        return column
