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
    blocks, each with a 4-byte Block Descriptor Word (big-endian length in
    bytes 0-1 including the BDW) holding RDW records.

The stream is read ``chunk_size`` bytes at a time, so files far larger than
memory can be processed; framing problems raise :class:`FileFormatError`
with the byte offset, since no later record can be trusted after one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from .decoder import RecordDecoder, get_decoder
from .errors import FileFormatError, RecordDecodeError
from .layout import Layout
from .options import DecodeOptions

RecordFormat = Literal["F", "FB", "V", "VB"]
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
    """A decoded record; ``values`` is ``None`` and ``error`` set when it could not be decoded."""

    index: int
    offset: int
    data: bytes
    values: dict[str, Any] | None
    error: RecordDecodeError | None = None


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


def iter_raw_records(
    stream: BinaryIO,
    *,
    record_format: RecordFormat = "F",
    record_length: int | None = None,
    rdw_big_endian: bool = True,
    rdw_adjustment: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    sizer: RecordDecoder | None = None,
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
            bdw = buf.take(4)
            block_len = int.from_bytes(bdw, "big") & 0x7FFFFFFF if bdw[0] & 0x80 else int.from_bytes(bdw[:2], "big")
            if block_len < 4:
                raise FileFormatError(f"BDW {bdw.hex()} gives a block shorter than its header", offset=block_offset)
            for raw in _iter_rdw(buf, rdw_big_endian, rdw_adjustment, limit=block_len - 4, start_index=index):
                index += 1
                yield raw
        if buf.available:
            raise FileFormatError("the file ends inside a block descriptor", offset=buf.offset)
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
            raise FileFormatError(f"record {index} runs past the end of its block", offset=header_offset)
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
    chunk_size: int = DEFAULT_CHUNK,
    errors: Errors = "raise",
) -> Iterator[DecodedRecord]:
    """Decode every record of a binary stream.

    ``errors="raise"`` stops at the first record that cannot be decoded
    (:class:`RecordDecodeError` with its index and offset); ``"collect"``
    yields it with ``values=None`` and the error, so a loader can quarantine
    it and go on.  Framing errors always raise :class:`FileFormatError`.
    """
    options = options or DecodeOptions()
    if encoding is not None and encoding != options.encoding:
        options = options.but(encoding=encoding)
    decoder = get_decoder(layout, options)
    decode = decoder.decode
    length = record_length or layout.record_length
    if record_format in ("F", "FB") and not decoder.variable and length > 0:
        yield from _decode_fixed(stream, length, max(chunk_size, 1), decode, errors)
        return
    for raw in iter_raw_records(
        stream,
        record_format=record_format,
        record_length=record_length or layout.record_length,
        rdw_big_endian=rdw_big_endian,
        rdw_adjustment=rdw_adjustment,
        chunk_size=chunk_size,
        sizer=decoder,
    ):
        try:
            values = decode(raw.data)
        except RecordDecodeError as exc:
            located = exc.located(raw.index, raw.offset)
            if errors == "raise":
                raise located from None
            yield DecodedRecord(raw.index, raw.offset, raw.data, None, located)
            continue
        yield DecodedRecord(raw.index, raw.offset, raw.data, values)


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
    return rec


def _decode_fixed(
    stream: BinaryIO, length: int, chunk_size: int, decode: Callable[[bytes], dict[str, Any]], errors: Errors
) -> Iterator[DecodedRecord]:
    """Fixed-length records straight from the chunks: the ``F`` path of :func:`iter_records`.

    Same records, offsets and errors as splitting with :func:`iter_raw_records`,
    without a :class:`RawRecord` and a buffer call per record.
    """
    index = 0
    base = 0  # file offset of data[0]
    rest = b""
    want = max(chunk_size, length)
    while True:
        chunk = stream.read(want)
        if not chunk:
            break
        data = rest + chunk if rest else chunk
        usable = len(data) - len(data) % length
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
