"""Split a binary stream into records and decode them, reading in chunks.

Record formats:

``F`` / ``FB``
    fixed length (``layout.record_length`` unless ``record_length`` is given).
    With ``variable_size_occurs`` the records sit back to back and each one is
    as long as its OCCURS DEPENDING ON counters make it (no header).
``V``
    every record starts with a 4-byte Record Descriptor Word.  Big-endian
    RDWs hold the length in bytes 0-1; "little-endian" RDWs (the Cobrix
    default, from PC transfers) hold it in bytes 2-3, low byte first.  The
    length normally covers the payload only; when it includes the 4-byte
    header (IBM's own convention) pass ``rdw_adjustment=-4``.
``VB``
    blocks, each with a Block Descriptor Word holding RDW records.  A
    standard BDW is 4 bytes, the block length (including the BDW) in bytes
    0-1 and zeros in bytes 2-3; an *extended* BDW (high bit of byte 0 set)
    holds a 31-bit length in all four bytes.  ``bdw_big_endian=False`` reads
    the length from bytes 2-3, low byte first (PC transfers), and
    ``bdw_adjustment`` is added to the announced length as ``rdw_adjustment``
    is (``+4`` for files whose BDW counts only the records after it).
``text``
    ASCII extracts: one record per line, ended by LF or CRLF (the ending is
    not part of the record; a last line without one is a record too).

The stream is read ``chunk_size`` bytes at a time, so files far larger than
memory can be processed; framing problems raise :class:`FileFormatError`
with the byte offset, since no later record can be trusted after one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from .decoder import RecordDecoder, get_decoder
from .errors import FileFormatError, RecordDecodeError
from .layout import Layout
from .options import DecodeOptions
from .segments import SegmentDecoder, SegmentMap

if TYPE_CHECKING:
    from .batch import BatchDecoder

RecordFormat = Literal["F", "FB", "V", "VB", "text"]
RECORD_FORMATS: tuple[str, ...] = ("F", "FB", "V", "VB", "text")
Errors = Literal["raise", "collect"]
DEFAULT_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record's bytes and where it came from (0-based index, byte offset of its payload)."""

    index: int
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A decoded record; ``values`` is ``None`` and ``error`` set when it could not be decoded.

    ``data`` is the record's bytes.  Records of the fixed-length batch path
    make it from their read chunk when it is read (:class:`_ChunkRecord`).
    """

    index: int
    offset: int
    data: bytes
    values: dict[str, Any] | None
    error: RecordDecodeError | None = None
    record_type: str | None = None  # the 01 layout that decoded it, when a segment map chose it


def _fields(rec: DecodedRecord) -> tuple[Any, ...]:
    return (rec.index, rec.offset, rec.data, rec.values, rec.error, rec.record_type)


class _ChunkRecord(DecodedRecord):
    """A :class:`DecodedRecord` whose ``data`` is cut from its read chunk only when asked for.

    Why: the fixed-length batch path decodes 4 KB tax-module records at over
    100k/s, and copying every record into its own ``bytes`` (which most
    callers never read) was about a twentieth of that time.  ``data`` is still
    ``bytes`` (a new copy per access); the record keeps its chunk alive instead.
    It equals, hashes, pickles and ``dataclasses.replace``-s like a plain one.
    """

    __slots__ = ("_chunk", "_start", "_stop")
    _chunk: bytes
    _start: int
    _stop: int

    def __init__(
        self,
        index: int,
        offset: int,
        data: bytes,
        values: dict[str, Any] | None,
        error: RecordDecodeError | None = None,
        record_type: str | None = None,
    ) -> None:
        for name, value in (
            ("index", index),
            ("offset", offset),
            ("values", values),
            ("error", error),
            ("record_type", record_type),
            ("_chunk", data),
            ("_start", 0),
            ("_stop", len(data)),
        ):
            object.__setattr__(self, name, value)

    @property
    def data(self) -> bytes:
        return self._chunk[self._start : self._stop]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DecodedRecord):
            return NotImplemented
        return _fields(self) == _fields(other)

    def __hash__(self) -> int:
        return hash(_fields(self))

    def __reduce__(self) -> tuple[type[DecodedRecord], tuple[Any, ...]]:
        return DecodedRecord, _fields(self)

    def __repr__(self) -> str:
        return repr(DecodedRecord(*_fields(self)))


class _Buffer:
    """A sliding window over the stream: ``need(n)`` makes sure n bytes are buffered if the file has them."""

    def __init__(self, stream: BinaryIO, chunk_size: int) -> None:
        self.stream = stream
        self.chunk_size = max(chunk_size, 1)
        self.data = b""
        self.pos = 0  # read position inside data
        self.base = 0  # file offset of data[0]
        self.eof = False

    def need(self, n: int) -> bool:
        while len(self.data) - self.pos < n and not self.eof:
            chunk = self.stream.read(max(self.chunk_size, n))
            if not chunk:
                self.eof = True
                break
            self.data = self.data[self.pos :] + chunk
            self.base += self.pos
            self.pos = 0
        return len(self.data) - self.pos >= n

    @property
    def available(self) -> int:
        return len(self.data) - self.pos

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def rdw_length(header: bytes, *, big_endian: bool, adjustment: int, offset: int) -> int:
    """Payload length announced by a 4-byte RDW (after ``adjustment``)."""
    if big_endian:
        length, spare = struct.unpack(">HH", header)
    else:
        spare, length = struct.unpack(">HH", header)
        length = ((length & 0xFF) << 8) | (length >> 8)
    length = int(length)
    if spare:
        raise FileFormatError(
            f"RDW {header.hex()} has non-zero bytes where none are expected (wrong RDW endianness, or spanned records)",
            offset=offset,
        )
    length += adjustment
    if length < 0:
        raise FileFormatError(f"RDW {header.hex()} gives a negative length after adjustment", offset=offset)
    return length


def bdw_length(header: bytes, *, big_endian: bool, adjustment: int, offset: int) -> int:
    """Bytes of records announced by a 4-byte BDW (after ``adjustment``), not counting the BDW itself."""
    if big_endian and header[0] & 0x80:
        length = int.from_bytes(header, "big") & 0x7FFFFFFF  # extended BDW: a 31-bit length
    elif big_endian:
        if header[2:4] != b"\0\0":
            raise FileFormatError(
                f"BDW {header.hex()} has non-zero bytes 2-3 (not a block descriptor, or little-endian)",
                offset=offset,
            )
        length = int.from_bytes(header[:2], "big")
    else:
        if header[:2] != b"\0\0":
            raise FileFormatError(
                f"BDW {header.hex()} has non-zero bytes 0-1 (not a little-endian block descriptor)",
                offset=offset,
            )
        length = int.from_bytes(header[2:4], "little")
    length += adjustment
    if length < 4:
        raise FileFormatError(
            f"BDW {header.hex()} gives a block of {length} bytes, shorter than its own 4-byte descriptor"
            " (if the length excludes the descriptor, use a BDW adjustment of +4)",
            offset=offset,
        )
    return length - 4


def _iter_lines(buf: _Buffer) -> Iterator[RawRecord]:
    """Text records: LF or CRLF line ends; the end of line is not part of the record."""
    index = 0
    while buf.need(1):
        scanned = 0  # bytes after the read position already searched for a line end
        while True:
            end = buf.data.find(b"\n", buf.pos + scanned)
            if end >= 0:
                length, ending = end - buf.pos, 1
                break
            scanned = buf.available
            if not buf.need(scanned + 1):  # the file ends: its last line has no line end
                length, ending = buf.available, 0
                break
        offset = buf.offset
        line = buf.take(length)
        buf.take(ending)
        yield RawRecord(index, offset, line[:-1] if line.endswith(b"\r") else line)
        index += 1


def iter_raw_records(
    stream: BinaryIO,
    *,
    record_format: RecordFormat = "F",
    record_length: int | None = None,
    rdw_big_endian: bool = True,
    rdw_adjustment: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    sizer: RecordDecoder | None = None,
    bdw_big_endian: bool = True,
    bdw_adjustment: int = 0,
) -> Iterator[RawRecord]:
    """Yield the records of ``stream`` without decoding them.

    ``sizer`` (a variable-size-occurs decoder) is needed only for records that
    carry no length of their own (``F`` with ``variable_size_occurs``).
    """
    buf = _Buffer(stream, chunk_size)
    index = 0
    if record_format in ("F", "FB"):
        if sizer is not None and sizer.variable:
            yield from _iter_sized(buf, sizer)
            return
        if record_length is None or record_length <= 0:
            raise FileFormatError("fixed-length records need a positive record length")
        while buf.need(record_length):
            offset = buf.offset
            yield RawRecord(index, offset, buf.take(record_length))
            index += 1
        if buf.available:
            raise FileFormatError(
                f"the file ends with a partial record of {buf.available} bytes (record length {record_length})",
                offset=buf.offset,
            )
        return
    if record_format == "V":
        yield from _iter_rdw(buf, rdw_big_endian, rdw_adjustment, limit=None, start_index=0)
        return
    if record_format == "VB":
        while buf.need(4):
            block_offset = buf.offset
            payload = bdw_length(buf.take(4), big_endian=bdw_big_endian, adjustment=bdw_adjustment, offset=block_offset)
            if not buf.need(payload):
                raise FileFormatError(
                    f"block announces {payload} bytes after its descriptor but only {buf.available} remain",
                    offset=block_offset,
                )
            for raw in _iter_rdw(buf, rdw_big_endian, rdw_adjustment, limit=payload, start_index=index):
                index += 1
                yield raw
        if buf.available:
            raise FileFormatError(f"{buf.available} trailing bytes do not form a block descriptor", offset=buf.offset)
        return
    if record_format == "text":
        yield from _iter_lines(buf)
        return
    raise FileFormatError(f"unknown record format {record_format!r}")


def _iter_rdw(
    buf: _Buffer,
    big_endian: bool,
    adjustment: int,
    *,
    limit: int | None,
    start_index: int,
) -> Iterator[RawRecord]:
    index = start_index
    consumed = 0
    while (limit is None or consumed < limit) and buf.need(4):
        header_offset = buf.offset
        length = rdw_length(buf.take(4), big_endian=big_endian, adjustment=adjustment, offset=header_offset)
        if not buf.need(length):
            raise FileFormatError(
                f"record {index} announces {length} bytes but only {buf.available} remain",
                offset=header_offset,
            )
        consumed += 4 + length
        if limit is not None and consumed > limit:
            raise FileFormatError(
                f"record {index} runs past the end of its block"
                " (if the BDW length excludes the descriptor, use a BDW adjustment of +4)",
                offset=header_offset,
            )
        offset = buf.offset
        yield RawRecord(index, offset, buf.take(length))
        index += 1
    if limit is None and buf.available:
        raise FileFormatError(f"{buf.available} trailing bytes do not form an RDW", offset=buf.offset)
    if limit is not None and consumed < limit:
        raise FileFormatError("the file ends inside a block", offset=buf.offset)


def _iter_sized(buf: _Buffer, decoder: RecordDecoder) -> Iterator[RawRecord]:
    longest = decoder.layout.record_length
    index = 0
    while buf.need(1):
        buf.need(longest)
        offset = buf.offset
        window = buf.data[buf.pos : buf.pos + longest]
        try:
            _, length = decoder.decode_at(window, 0)
        except RecordDecodeError as exc:
            raise FileFormatError(f"record {index}: cannot size the record: {exc.reason}", offset=offset) from None
        if length <= 0 or length > len(window):
            raise FileFormatError(
                f"record {index} needs {length} bytes but only {len(window)} remain",
                offset=offset,
            )
        yield RawRecord(index, offset, buf.take(length))
        index += 1


def iter_records(
    layout: Layout,
    stream: BinaryIO,
    *,
    record_format: RecordFormat = "F",
    encoding: str | None = None,
    options: DecodeOptions | None = None,
    record_length: int | None = None,
    rdw_big_endian: bool = True,
    rdw_adjustment: int = 0,
    bdw_big_endian: bool = True,
    bdw_adjustment: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    errors: Errors = "raise",
    segments: SegmentMap | None = None,
) -> Iterator[DecodedRecord]:
    """Decode every record of a binary stream.

    ``errors="raise"`` stops at the first record that cannot be decoded
    (:class:`RecordDecodeError` with its index and offset); ``"collect"``
    yields it with ``values=None`` and the error, so a loader can quarantine
    it and go on.  Framing errors always raise :class:`FileFormatError`.
    ``segments`` decodes each record with the 01 layout its key field names
    (``record_type`` says which); a record with an unknown key is an error
    record as above.
    """
    options = options or DecodeOptions()
    if encoding is not None and encoding != options.encoding:
        options = options.but(encoding=encoding)
    if record_format not in RECORD_FORMATS:
        raise FileFormatError(f"unknown record format {record_format!r} (one of {', '.join(RECORD_FORMATS)})")
    decoder = get_decoder(layout, options)
    length = record_length or layout.record_length
    framing: dict[str, Any] = {
        "record_format": record_format,
        "record_length": length,
        "rdw_big_endian": rdw_big_endian,
        "rdw_adjustment": rdw_adjustment,
        "bdw_big_endian": bdw_big_endian,
        "bdw_adjustment": bdw_adjustment,
        "chunk_size": chunk_size,
    }
    if segments is not None:
        if record_format in ("F", "FB") and decoder.variable:
            raise FileFormatError("records of several types need a length of their own with variable-size tables")
        chooser = SegmentDecoder(layout, segments, options)
        for raw in iter_raw_records(stream, **framing):
            try:
                name, values = chooser.decode(raw.data)
            except RecordDecodeError as exc:
                located = exc.located(raw.index, raw.offset)
                if errors == "raise":
                    raise located from None
                yield DecodedRecord(raw.index, raw.offset, raw.data, None, located)
                continue
            yield DecodedRecord(raw.index, raw.offset, raw.data, values, None, name)
        return
    decode = _record_decoder(layout, options, record_format)
    batch = _batch_decoder(layout, options, record_format, decode)
    if record_format in ("F", "FB") and not decoder.variable and length > 0:
        yield from _decode_fixed(stream, length, max(chunk_size, 1), decode, errors, batch)
        return
    raws = iter_raw_records(stream, sizer=decoder, **framing)
    if batch is not None:
        yield from _decode_batches(raws, batch, errors)
        return
    for raw in raws:
        try:
            values = decode(raw.data)
        except RecordDecodeError as exc:
            located = exc.located(raw.index, raw.offset)
            if errors == "raise":
                raise located from None
            yield DecodedRecord(raw.index, raw.offset, raw.data, None, located)
            continue
        yield _decoded(raw.index, raw.offset, raw.data, values)


BATCH = 2048


def _batch_decoder(
    layout: Layout, options: DecodeOptions, record_format: str, decode: Callable[[bytes], dict[str, Any]]
) -> BatchDecoder | None:
    """The column-wise decoder for the same values as ``decode`` (see :mod:`.batch`), when it applies."""
    from .batch import get_batch_decoder  # bulk (which batch builds on) imports this module

    used = getattr(decode, "__self__", None)
    if not isinstance(used, RecordDecoder) or used.variable:
        return None
    if not any(item.occurs for item in layout.items):
        # Without tables the generated record decoder is faster (IMF entity: ~228k/s against ~159k/s
        # CPU); columns pay off when a record holds many table elements (modules: ~122k/s against 82k/s).
        return None
    return get_batch_decoder(layout, used.options)


def _decode_batches(raws: Iterator[RawRecord], batch: BatchDecoder, errors: Errors) -> Iterator[DecodedRecord]:
    """Records from ``raws``, decoded ``BATCH`` at a time (same values and errors as one at a time)."""
    pending: list[RawRecord] = []
    for raw in raws:
        pending.append(raw)
        if len(pending) == BATCH:
            yield from _flush(pending, batch, errors)
            pending = []
    yield from _flush(pending, batch, errors)


def _flush(pending: list[RawRecord], batch: BatchDecoder, errors: Errors) -> Iterator[DecodedRecord]:
    if not pending:
        return
    lengths = [len(r.data) for r in pending]
    starts = [0] * len(pending)
    pos = 0
    for i, n in enumerate(lengths):
        starts[i] = pos
        pos += n
    results = batch.decode_many(b"".join([r.data for r in pending]), starts, lengths)
    for raw, result in zip(pending, results, strict=True):
        if isinstance(result, RecordDecodeError):
            located = result.located(raw.index, raw.offset)
            if errors == "raise":
                raise located
            yield DecodedRecord(raw.index, raw.offset, raw.data, None, located)
        else:
            yield _decoded(raw.index, raw.offset, raw.data, result)


def _record_decoder(layout: Layout, options: DecodeOptions, record_format: str) -> Callable[[bytes], dict[str, Any]]:
    """The decode function for records whose length the file gives (V, VB, text) or fixes (F).

    Why: with ``variable_size_occurs`` the decoder must walk the record
    position by position.  When the only variable-size table is the last
    thing in a single 01 record (IMF tax modules: a header and then the
    transactions), every field sits where the fixed layout puts it, so the
    fixed-shape decoder -- generated code, one comprehension per table --
    gives the same values; only the record's length (which the file already
    gives) differs.  ``test_copybook_records`` checks both agree.
    """
    if (
        record_format not in ("F", "FB")
        and options.variable_size_occurs
        and options.segment_field is None
        and _trailing_table_only(layout)
    ):
        return get_decoder(layout, options.but(variable_size_occurs=False)).decode
    return get_decoder(layout, options).decode


def _trailing_table_only(layout: Layout) -> bool:
    """One 01 group whose only OCCURS DEPENDING ON is its last child, with nothing after or over it."""
    if len(layout.roots) != 1 or not layout.roots[0].is_group:
        return False
    root = layout.roots[0]
    tables = [item for item in layout.items if item.depending_on is not None]
    if len(tables) != 1 or tables[0].parent is not root or tables[0].redefines is not None:
        return False
    table = tables[0]
    inner = table.walk()
    if any(item.occurs for item in inner if item is not table):
        return False
    return all(
        child is table or (child.rel_offset + child.size <= table.rel_offset and child.redefines is not table)
        for child in root.children
    )


_new = object.__new__
_set = object.__setattr__


def _decoded(index: int, offset: int, data: bytes, values: dict[str, Any]) -> DecodedRecord:
    """``DecodedRecord(index, offset, data, values)`` without the frozen dataclass ``__init__``.

    That ``__init__`` costs more than decoding a small record; this sets the
    same slots directly (the instance is equal to, and as frozen as, one made
    by the constructor).
    """
    rec: DecodedRecord = _new(DecodedRecord)
    _set(rec, "index", index)
    _set(rec, "offset", offset)
    _set(rec, "data", data)
    _set(rec, "values", values)
    _set(rec, "error", None)
    _set(rec, "record_type", None)
    return rec


def _decoded_in(index: int, offset: int, chunk: bytes, start: int, stop: int, values: dict[str, Any]) -> DecodedRecord:
    """As :func:`_decoded`, for the record ``chunk[start:stop]`` without copying it (see :class:`_ChunkRecord`)."""
    rec: DecodedRecord = _new(_ChunkRecord)
    _set(rec, "index", index)
    _set(rec, "offset", offset)
    _set(rec, "_chunk", chunk)
    _set(rec, "_start", start)
    _set(rec, "_stop", stop)
    _set(rec, "values", values)
    _set(rec, "error", None)
    _set(rec, "record_type", None)
    return rec


def _decode_fixed(
    stream: BinaryIO,
    length: int,
    chunk_size: int,
    decode: Callable[[bytes], dict[str, Any]],
    errors: Errors,
    batch: BatchDecoder | None = None,
) -> Iterator[DecodedRecord]:
    """Fixed-length records straight from the chunks: the ``F`` path of :func:`iter_records`.

    Same records, offsets and errors as splitting with :func:`iter_raw_records`,
    without a :class:`RawRecord` and a buffer call per record; with ``batch``,
    each chunk's records are decoded column-wise in one call.
    """
    index = 0
    base = 0  # file offset of data[0]
    rest = b""
    # Column-wise batches pay a fixed cost per column: read whole batches even for long records.
    want = max(chunk_size, length * (BATCH if batch is not None else 1))
    while True:
        chunk = stream.read(want)
        if not chunk:
            break
        data = rest + chunk if rest else chunk
        usable = len(data) - len(data) % length
        if batch is not None and usable:
            for first in range(0, usable, BATCH * length):
                last = min(usable, first + BATCH * length)
                starts = list(range(first, last, length))
                results = batch.decode_many(data, starts, [length] * len(starts))
                for off, result in zip(range(first, last, length), results, strict=True):
                    if isinstance(result, RecordDecodeError):
                        located = result.located(index, base + off)
                        if errors == "raise":
                            raise located
                        yield DecodedRecord(index, base + off, data[off : off + length], None, located)
                    else:
                        yield _decoded_in(index, base + off, data, off, off + length, result)
                    index += 1
            rest = data[usable:]
            base += usable
            continue
        for off in range(0, usable, length):
            raw = data[off : off + length]
            try:
                values = decode(raw)
            except RecordDecodeError as exc:
                located = exc.located(index, base + off)
                if errors == "raise":
                    raise located from None
                yield DecodedRecord(index, base + off, raw, None, located)
                index += 1
                continue
            yield _decoded(index, base + off, raw, values)
            index += 1
        rest = data[usable:]
        base += usable
    if rest:
        raise FileFormatError(
            f"the file ends with a partial record of {len(rest)} bytes (record length {length})",
            offset=base,
        )


def rdw_header(length: int, *, big_endian: bool = True, adjustment: int = 0) -> bytes:
    """The 4-byte RDW for a payload of ``length`` bytes (inverse of the reader's rule)."""
    value = length - adjustment
    if not 0 <= value <= 0xFFFF:
        raise FileFormatError(f"record length {length} does not fit in an RDW")
    if big_endian:
        return struct.pack(">HH", value, 0)
    return bytes([0, 0, value & 0xFF, value >> 8])
