"""Shared machinery for fixed-width legacy record formats (Pub 1220, EFW2).

Why one module: both formats are files of equal-length ASCII records, optionally
separated by CR/LF, with blank-or-zero-filled numeric fields. The framing, the
problem types, and the numeric codecs are the same, and the hot paths (millions of
payee / employee records) must be vectorised with numpy rather than looped in
Python, so the column helpers live here once.

Error policy (DESIGN.md, Conventions):

* a file that is not what it claims (empty, truncated, wrong record length, junk,
  wrong first record, records out of order) raises :class:`FormatError` with a one
  line message naming record numbers and field names, never field values;
* a bad individual record is reported as a :class:`RecordProblem` (record number,
  field, reason, raw bytes) so ingest can quarantine it while the rest loads;
* a control total that disagrees with the records it closes is a
  :class:`ControlProblem`.

TINs must never reach an exception message or a ``repr``: problems carry the raw
record only in a field excluded from ``repr``, and messages name fields, not values.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

_SPACE = 0x20
_NUL = 0x00
_ZERO = 0x30


class FormatError(ValueError):
    """The file is not a well-formed file of the format it claims to be.

    The message is one line and never contains a field value (TINs in particular);
    it names record numbers (1-based) and field names instead.
    """


class ControlTotalsError(FormatError):
    """Raised by strict reads when the file's own control totals disagree with its records."""

    def __init__(self, message: str, problems: list[ControlProblem]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class RecordProblem:
    """One bad field in one record; the record is quarantined, the rest of the file loads.

    ``raw`` holds the whole record so the quarantine can keep it; it is left out of
    ``repr`` because it may contain a TIN.
    """

    record_number: int
    record_type: str
    field: str
    reason: str
    raw: bytes = dataclasses.field(repr=False, compare=False)


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class ControlProblem:
    """A control total (count or amount) that does not match the records it summarises.

    ``severity`` is ``"error"`` for totals the publication makes mandatory (payee
    counts, per-amount-code totals, RW counts) and ``"warning"`` for advisory
    checks (optional state/local totals, sequence numbers, record order quirks).
    """

    check: str
    message: str
    record_number: int | None = None
    stated: int | None = None
    computed: int | None = None
    severity: Severity = "error"


# --------------------------------------------------------------------------- framing


def refuse_inconsistent(format_name: str, controls: Sequence[ControlProblem]) -> None:
    """Strict reads: raise :class:`ControlTotalsError` when any control total is an error."""
    errors = [c for c in controls if c.severity == "error"]
    if errors:
        raise ControlTotalsError(
            f"{format_name}: {len(errors)} control total(s) disagree with the records, first: {errors[0].message}",
            errors,
        )


def frame_records(data: bytes, record_length: int, format_name: str) -> U8:
    """Return a zero-copy ``(n, record_length)`` uint8 view of the records in ``data``.

    Accepts records back to back, or each followed by the same line end (CR LF, LF
    or CR), the last one optionally without it; a single trailing line end or
    DOS end-of-file byte after back-to-back records is tolerated. Anything else
    (truncated file, a line of the wrong length) is a :class:`FormatError`.
    """
    size = len(data)
    if size == 0:
        raise FormatError(f"{format_name}: empty file")
    if size < record_length:
        raise FormatError(
            f"{format_name}: file holds {size} bytes, less than one {record_length}-byte record "
            "(truncated or wrong record length)"
        )
    after = data[record_length : record_length + 2]
    sep = b""
    if after[:1] in (b"\r", b"\n"):
        sep = b"\r\n" if after == b"\r\n" else after[:1]
    stride = record_length + len(sep)
    if sep:
        if size % stride == 0:
            count = size // stride
            checked = count
        elif (size + len(sep)) % stride == 0:
            count = (size + len(sep)) // stride
            checked = count - 1
        else:
            raise FormatError(
                f"{format_name}: file size {size} is not a whole number of {record_length}-byte "
                "records with line ends (truncated or wrong record length)"
            )
    else:
        count, rest = divmod(size, record_length)
        if rest and data[count * record_length :] not in (b"\r\n", b"\n", b"\r", b"\x1a"):
            raise FormatError(
                f"{format_name}: file size {size} is not a multiple of {record_length} "
                f"(record {count + 1} is truncated or the record length is wrong)"
            )
        checked = 0
    buf = np.frombuffer(data, dtype=np.uint8)
    mat: U8 = np.lib.stride_tricks.as_strided(buf, shape=(count, record_length), strides=(stride, 1), writeable=False)
    if checked:
        ends: U8 = np.lib.stride_tricks.as_strided(
            buf[record_length:], shape=(checked, len(sep)), strides=(stride, 1), writeable=False
        )
        bad = np.flatnonzero((ends != np.frombuffer(sep, dtype=np.uint8)).any(axis=1))
        if bad.size:
            raise FormatError(
                f"{format_name}: record {int(bad[0]) + 1} is not {record_length} bytes followed by the "
                "line end used by the first record (wrong record length)"
            )
    return mat


def check_order(
    kinds: str,
    pattern: re.Pattern[str],
    transitions: dict[str, dict[str, str]],
    accepting: set[str],
    names: dict[str, str],
    format_name: str,
) -> None:
    """Check the sequence of record types; raise :class:`FormatError` at the first misplaced one.

    ``kinds`` has one character per record. The regex decides quickly on the
    normal path; only when it fails does the small state machine walk the records
    to name the first one out of place.
    """
    if pattern.fullmatch(kinds):
        return
    state = "start"
    for index, kind in enumerate(kinds):
        if kind not in names:
            raise FormatError(f"{format_name}: record {index + 1} has an unknown record type")
        nxt = transitions.get(state, {}).get(kind)
        if nxt is None:
            expected = " or ".join(names[k] for k in transitions.get(state, {}))
            raise FormatError(
                f"{format_name}: record {index + 1} is a {names[kind]} record where "
                f"{expected or 'nothing'} was expected"
            )
        state = nxt
    if state not in accepting:
        raise FormatError(f"{format_name}: file ends after record {len(kinds)} without its closing records")
    raise FormatError(f"{format_name}: records are out of order")  # pragma: no cover - regex and machine agree


# --------------------------------------------------------------------------- decoding


def text(raw: bytes) -> str:
    """Decode an alphanumeric field: NULs count as blanks, trailing blanks dropped.

    Latin-1 never fails, so junk bytes decode to something visible instead of
    raising; the publications specify ASCII, and writers only emit ASCII.
    """
    return raw.replace(b"\x00", b" ").decode("latin-1").rstrip()


def is_blank(raw: bytes) -> bool:
    """True when a field holds only blanks or NULs (an absent value)."""
    return not raw.strip(b" \x00")


def unsigned(raw: bytes) -> int | None:
    """Parse a zero-filled unsigned numeric field; blank -> 0; anything else -> None."""
    stripped = raw.strip(b" \x00")
    if not stripped:
        return 0
    if not stripped.isdigit():
        return None
    return int(stripped)


_POSITIVE_OVERPUNCH = {ord("{"): 0, **{ord("A") + i: i + 1 for i in range(9)}}
_NEGATIVE_OVERPUNCH = {ord("}"): 0, **{ord("J") + i: i + 1 for i in range(9)}}


def signed_amount(raw: bytes) -> int | None:
    """Parse a money field that Pub 1220 allows to carry a sign; ``None`` if malformed.

    Accepted forms (Pub 1220, "Payment Amount" fields of the B record and the
    C/K control totals): zero-filled digits; a ``+`` or ``-`` in the left-most
    position followed by digits; or digits whose units position is an
    overpunch (``{``/``A``-``I`` positive, ``}``/``J``-``R`` negative). Blank -> 0.
    """
    stripped = raw.strip(b" \x00")
    if not stripped:
        return 0
    sign = 1
    head = stripped[:1]
    if head in (b"-", b"+"):
        sign = -1 if head == b"-" else 1
        body = stripped[1:].lstrip(b" ")
        if not body or not body.isdigit():
            return None
        return sign * int(body)
    last = stripped[-1]
    if last in _NEGATIVE_OVERPUNCH or last in _POSITIVE_OVERPUNCH:
        digit = _NEGATIVE_OVERPUNCH.get(last, _POSITIVE_OVERPUNCH.get(last, 0))
        sign = -1 if last in _NEGATIVE_OVERPUNCH else 1
        body = stripped[:-1]
        if body and not body.isdigit():
            return None
        return sign * (int(body or b"0") * 10 + digit)
    if not stripped.isdigit():
        return None
    return int(stripped)


# --------------------------------------------------------------------------- columns


def text_column(rows: U8, start: int, end: int) -> npt.NDArray[np.bytes_]:
    """Fixed-width bytes column for 1-based inclusive positions ``start``-``end``.

    Returns a numpy ``S{width}`` array (one bytes value per record, no Python object
    per row) with NULs replaced by blanks, so it can go straight to pyarrow.
    """
    width = end - start + 1
    block = np.ascontiguousarray(rows[:, start - 1 : end])
    if (block == _NUL).any():
        block = np.where(block == _NUL, np.uint8(_SPACE), block)
    return block.view(f"S{width}").reshape(len(block))


def digit_block(rows: U8, start: int, width: int, count: int) -> tuple[I64, BoolArr, BoolArr]:
    """Decode ``count`` adjacent unsigned numeric fields of ``width`` digits each.

    Returns ``(values, ok, blank)`` of shape ``(n, count)``: ``ok`` where every
    byte is a digit, ``blank`` where every byte is a blank or NUL (value 0). Fields
    that are neither go to a slow per-field path (signs, overpunch, junk).

    Speed matters here (millions of B/RW records): the common all-digits case is
    detected with one reduction, and digits are combined pairwise in small
    integer types before the few int64 multiply-adds.
    """
    n = rows.shape[0]
    block = rows[:, start - 1 : start - 1 + width * count].reshape(n, count, width)
    digits = block - np.uint8(_ZERO)
    bad = digits > 9
    if bad.any():
        ok: BoolArr = np.asarray(~bad.any(axis=2))
        blank: BoolArr = np.asarray(((block == _SPACE) | (block == _NUL)).all(axis=2))
        digits = np.where(bad, np.uint8(0), digits)
    else:
        ok = np.ones((n, count), dtype=bool)
        blank = np.zeros((n, count), dtype=bool)
    values = _combine_digits(digits)
    values[~ok] = 0
    return values, ok, blank


def sparse_digit_block(rows: U8, start: int, width: int, count: int) -> tuple[I64, BoolArr, BoolArr]:
    """:func:`digit_block` for wide runs of amount fields that are mostly zero.

    A B record carries 18 twelve-digit amounts of which a form uses two or
    three; comparing each field with ``b"000...0"`` as a fixed-width bytes value
    is one cheap pass, and only the non-zero fields are decoded digit by digit.
    """
    n = rows.shape[0]
    region = np.ascontiguousarray(rows[:, start - 1 : start - 1 + width * count])
    if width % 4 == 0:  # compare four bytes at a time, OR-ing the words of a field (no short-axis reduce)
        words = region.view(np.uint32).reshape(n, count, width // 4)
        zeros = np.uint32(0x30303030)
        acc = words[:, :, 0] ^ zeros
        for k in range(1, width // 4):
            acc |= words[:, :, k] ^ zeros
        nonzero = np.flatnonzero(acc)
    else:
        fields = region.view(f"S{width}").reshape(n * count)
        nonzero = np.flatnonzero(fields != b"0" * width)
    values: I64 = np.zeros((n, count), dtype=np.int64)
    ok: BoolArr = np.ones((n, count), dtype=bool)
    blank: BoolArr = np.zeros((n, count), dtype=bool)
    if nonzero.size:
        picked = region.reshape(n * count, width)[nonzero]
        sub_values, sub_ok, sub_blank = digit_block(picked, 1, width, 1)
        values.ravel()[nonzero] = sub_values[:, 0]
        ok.ravel()[nonzero] = sub_ok[:, 0]
        blank.ravel()[nonzero] = sub_blank[:, 0]
    return values, ok, blank


def _combine_digits(digits: U8) -> I64:
    """``(n, count, width)`` digit values 0-9 -> ``(n, count)`` int64 numbers."""
    n, count, width = digits.shape
    if width % 2:
        digits = np.concatenate([np.zeros((n, count, 1), dtype=np.uint8), digits], axis=2)
    pairs = digits[..., 0::2] * np.uint8(10) + digits[..., 1::2]  # 0..99 fits uint8
    parts: npt.NDArray[np.unsignedinteger[Any]] = pairs
    base = 100
    if pairs.shape[2] % 2 == 0:
        parts = pairs[..., 0::2].astype(np.uint16) * np.uint16(100) + pairs[..., 1::2]
        base = 10_000
    values: I64 = np.zeros((n, count), dtype=np.int64)
    for k in range(parts.shape[2]):
        values *= base
        values += parts[..., k]
    return values


def bad_digit_rows(rows: U8, start: int, end: int) -> npt.NDArray[np.intp]:
    """Indices of rows whose field ``start``-``end`` is neither all digits nor all blank."""
    span = rows[:, start - 1 : end]
    bad = (span - np.uint8(_ZERO)) > 9
    if not bad.any():
        return np.zeros(0, dtype=np.intp)
    blank = ((span == _SPACE) | (span == _NUL)).all(axis=1)
    return np.flatnonzero(bad.any(axis=1) & ~blank)


# --------------------------------------------------------------------------- encoding


def to_ascii(value: str, field_name: str) -> str:
    """Make a text value writable: strip accents, refuse control characters.

    Why: the publications allow only printable ASCII; a generator may hand us
    ``"José"``, which becomes ``"Jose"`` rather than an unreadable file.
    """
    if value.isascii() and value.isprintable():
        return value
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in folded):
        raise ValueError(f"{field_name}: control characters are not allowed")
    return folded


def alpha(value: str, width: int, field_name: str) -> bytes:
    """Left-justify and blank-fill a text field, truncating to ``width`` (publication rule)."""
    return to_ascii(value, field_name)[:width].ljust(width).encode("ascii")


def digits_field(value: str, width: int, field_name: str, *, allow_blank: bool = True) -> bytes:
    """A field that must hold exactly ``width`` digits (TINs, ZIPs as given), or blanks."""
    if value == "" and allow_blank:
        return b" " * width
    if len(value) != width or not value.isdigit() or not value.isascii():
        raise ValueError(f"{field_name}: expected {width} digits")
    return value.encode("ascii")


def number(value: int, width: int, field_name: str) -> bytes:
    """Right-justify and zero-fill a non-negative integer; overflow is an error."""
    if value < 0:
        raise ValueError(f"{field_name}: negative values are not allowed")
    out = str(value)
    if len(out) > width:
        raise ValueError(f"{field_name}: value does not fit in {width} digits")
    return out.rjust(width, "0").encode("ascii")


def signed_number(value: int, width: int, field_name: str) -> bytes:
    """Zero-filled amount with a ``-`` in the left-most position when negative (Pub 1220)."""
    if value >= 0:
        return number(value, width, field_name)
    out = str(-value)
    if len(out) > width - 1:
        raise ValueError(f"{field_name}: value does not fit in {width - 1} digits after the sign")
    return b"-" + out.rjust(width - 1, "0").encode("ascii")


class RecordBuilder:
    """A blank record into which fields are placed by 1-based inclusive positions."""

    def __init__(self, length: int, record_type: bytes) -> None:
        self._buf = bytearray(b" " * length)
        self.put(1, len(record_type), record_type)

    def put(self, start: int, end: int, value: bytes) -> None:
        if len(value) != end - start + 1:
            raise AssertionError(f"field {start}-{end} given {len(value)} bytes")
        self._buf[start - 1 : end] = value

    def bytes(self) -> bytes:
        return bytes(self._buf)
