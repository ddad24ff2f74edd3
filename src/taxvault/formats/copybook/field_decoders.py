"""Byte-string -> value converters for one elementary item, built once per field.

Each factory returns a small closure specialised for the item's type, code
page and options, so decoding a record is a sequence of slice + call with no
PIC interpretation left.  The converters follow the Cobrix rules spelled out
in ``tests/conformance/cobrix/README.md``: a field whose bytes are not a valid
value decodes to ``None`` (the ingest layer decides what a null means), it
never raises.

Numbers come back as ``int`` when the picture has no decimal places and as
``decimal.Decimal`` with exactly the picture's scale otherwise; only COMP-1 and
COMP-2 produce ``float``.
"""

from __future__ import annotations

import codecs
import dataclasses
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from .codepages import CodePage, get_code_page
from .errors import RecordDecodeError
from .picture import FieldType, Kind, Usage

Converter = Callable[[bytes], Any]

JAVA_WHITESPACE = "".join(chr(c) for c in range(0x21))  # what Java String.trim() removes

# Internal alphabet for DISPLAY numbers: '0'-'9' digits, 'A'-'J' positive
# overpunched 0-9, 'K'-'T' negative overpunched 0-9, ' ' skipped, '+' '-' '.' ','
# and '?' for anything invalid.
_POS_OVERPUNCH = 0x41  # 'A'
_NEG_OVERPUNCH = 0x4B  # 'K'


def _numeric_table(ebcdic: bool) -> bytes:
    table = bytearray(b"?" * 256)
    if ebcdic:
        for d in range(10):
            table[0xF0 + d] = 0x30 + d
            table[0xC0 + d] = _POS_OVERPUNCH + d
            table[0xD0 + d] = _NEG_OVERPUNCH + d
        table[0x40] = table[0x00] = 0x20
        table[0x4E], table[0x60], table[0x4B], table[0x6B] = 0x2B, 0x2D, 0x2E, 0x2C
    else:
        for d in range(10):
            table[0x30 + d] = 0x30 + d
        table[ord("{")] = _POS_OVERPUNCH
        table[ord("}")] = _NEG_OVERPUNCH
        for d in range(1, 10):
            table[ord("A") + d - 1] = _POS_OVERPUNCH + d
            table[ord("J") + d - 1] = _NEG_OVERPUNCH + d
        for d in range(10):
            table[ord("p") + d] = _NEG_OVERPUNCH + d  # Micro Focus negative zone
        table[0x20] = table[0x00] = 0x20
        for ch in b"+-.,":
            table[ch] = ch
    return bytes(table)


_EBCDIC_NUMERIC = _numeric_table(True)
_ASCII_NUMERIC = _numeric_table(False)


def numeric_table(code_page: CodePage) -> bytes:
    return _EBCDIC_NUMERIC if code_page.ebcdic else _ASCII_NUMERIC


def scaler(scale: int) -> Callable[[int], Any]:
    """Turn the stored integer into the field's value (int for scale <= 0, exact Decimal otherwise)."""
    if scale == 0:
        return _identity
    if scale < 0:
        factor = 10 ** (-scale)
        return lambda v: v * factor
    suffix = f"E-{scale}"
    return lambda v: Decimal(f"{v}{suffix}")


def _identity(v: int) -> int:
    return v


DBCS_SPACE = b"\x40\x40"
_SWAP_POINT = str.maketrans(".,", ",.")


def _strip_dbcs(b: bytes, trimming: str) -> bytes:
    """Drop DBCS spaces (X'4040', whole characters only) from the ends ``trimming`` names."""
    start, end = 0, len(b) - len(b) % 2
    if trimming in ("both", "left"):
        while start < end and b[start : start + 2] == DBCS_SPACE:
            start += 2
    if trimming in ("both", "right"):
        while end > start and b[end - 2 : end] == DBCS_SPACE:
            end -= 2
    return b[start:end] + (b[len(b) - len(b) % 2 :] if end == len(b) - len(b) % 2 else b"")


def dbcs_converter(
    ftype: FieldType, rule: str, trimming: str, improved_nulls: bool, field: str | None = None
) -> Converter:
    """PIC G / PIC N DISPLAY-1 (see ``DecodeOptions.dbcs``): hex text, a Python codec, or refused.

    Why hex by default: Python has no IBM DBCS code page, and a guessed table
    would be silently wrong; the hex keeps every byte, so nothing is lost and a
    later step with the right table can decode it.
    """
    if rule == "refuse":
        reason = "DBCS item (PIC G / DISPLAY-1): no DBCS code page is set (DecodeOptions.dbcs)"

        def refuse(b: bytes) -> str:
            raise RecordDecodeError(reason, field=field)

        return refuse
    if rule == "hex":

        def to_hex(b: bytes) -> str | None:
            if improved_nulls and b and b.count(0) == len(b):
                return None
            return _strip_dbcs(b, trimming).hex().upper()

        return to_hex
    try:
        codecs.lookup(rule)
    except LookupError:
        raise ValueError(f"DecodeOptions.dbcs: {rule!r} is not 'hex', 'refuse' or a Python codec") from None
    reason = f"DBCS item (PIC G / DISPLAY-1) does not decode with {rule}"
    ws = JAVA_WHITESPACE + "\u3000"  # U+3000: the DBCS (ideographic) space

    def decode(b: bytes) -> str | None:
        if improved_nulls and b and b.count(0) == len(b):
            return None
        try:
            text = b.decode(rule)
        except UnicodeDecodeError:
            raise RecordDecodeError(reason, field=field) from None
        if trimming == "both":
            return text.strip(ws)
        if trimming == "left":
            return text.lstrip(ws)
        return text.rstrip(ws) if trimming == "right" else text

    return decode


def _unicode_text_converter(encoding: str, trimming: str, improved_nulls: bool) -> Converter:
    """Text in a Unicode encoding; bytes that do not decode are null (never a U+FFFD guess)."""
    ws = JAVA_WHITESPACE

    def convert(b: bytes) -> str | None:
        if improved_nulls and b and b.count(0) == len(b):
            return None
        try:
            text = b.decode(encoding)
        except UnicodeDecodeError:
            return None
        if trimming == "both":
            return text.strip(ws)
        if trimming == "left":
            return text.lstrip(ws)
        return text.rstrip(ws) if trimming == "right" else text

    return convert


def national_text_converter(trimming: str, improved_nulls: bool) -> Converter:
    """PIC N (USAGE NATIONAL): UTF-16BE; bytes that are not UTF-16 (a lone surrogate) are null."""
    return _unicode_text_converter("utf-16-be", trimming, improved_nulls)


def utf8_text_converter(trimming: str, improved_nulls: bool) -> Converter:
    """PIC U (USAGE UTF-8): UTF-8 padded with spaces; bytes that are not UTF-8 are null."""
    return _unicode_text_converter("utf-8", trimming, improved_nulls)


def text_converter(
    ftype: FieldType,
    code_page: CodePage,
    trimming: str,
    improved_nulls: bool,
    *,
    dbcs: str = "hex",
    field: str | None = None,
) -> Converter:
    """PIC X / A / N (and numeric-edited pictures kept as text)."""
    table = code_page.decoding_table
    charmap_decode = codecs.charmap_decode
    if ftype.usage is Usage.DBCS:
        return dbcs_converter(ftype, dbcs, trimming, improved_nulls, field)
    if ftype.usage is Usage.NATIONAL:
        return national_text_converter(trimming, improved_nulls)
    if ftype.usage is Usage.UTF8:
        return utf8_text_converter(trimming, improved_nulls)

    def raw(b: bytes) -> str:
        return charmap_decode(b, "strict", table)[0]

    ws = JAVA_WHITESPACE
    trim: Callable[[str], str]
    if trimming == "both":

        def trim(s: str) -> str:
            return s.strip(ws)
    elif trimming == "left":

        def trim(s: str) -> str:
            return s.lstrip(ws)
    elif trimming == "right":

        def trim(s: str) -> str:
            return s.rstrip(ws)
    else:

        def trim(s: str) -> str:
            return s

    if improved_nulls:

        def convert(b: bytes) -> str | None:
            if b and b[0] == 0 and b.count(0) == len(b):
                return None
            return trim(raw(b))

        return convert

    def convert_plain(b: bytes) -> str:
        return trim(raw(b))

    return convert_plain


def display_converter(
    ftype: FieldType,
    code_page: CodePage,
    *,
    improved_nulls: bool,
    strict_overpunch: bool,
) -> Converter:
    """Zoned decimal, overpunched or separate sign, implied/explicit point, simple numeric editing."""
    table = numeric_table(code_page)
    to_value = scaler(ftype.scale)
    signed = ftype.signed
    scale = ftype.scale
    allow_point = ftype.explicit_point
    allow_comma = "," in ftype.picture
    blank_is_zero = not improved_nulls and scale > 0
    zero = to_value(0)
    overpunch_ok = signed or not strict_overpunch

    def slow(t: bytes) -> Any:
        negative = False
        digits = bytearray()
        point = False
        frac = 0
        for c in t:
            if 0x30 <= c <= 0x39:
                digits.append(c)
            elif c == 0x20:
                continue
            elif _POS_OVERPUNCH <= c < _POS_OVERPUNCH + 10:
                if not overpunch_ok:
                    return None
                digits.append(c - _POS_OVERPUNCH + 0x30)
            elif _NEG_OVERPUNCH <= c < _NEG_OVERPUNCH + 10:
                if not overpunch_ok:
                    return None
                digits.append(c - _NEG_OVERPUNCH + 0x30)
                negative = True
            elif c == 0x2D:
                negative = True
                continue
            elif c == 0x2B:
                continue
            elif c == 0x2E and allow_point and not point:
                point = True
                continue
            elif c == 0x2C and allow_comma:
                continue
            else:
                return None
            if point:
                frac += 1
        if not digits:
            return zero if blank_is_zero else None
        if negative and not signed:
            return None
        value = int(digits)
        if negative:
            value = -value
        if allow_point:
            if frac == scale:
                return to_value(value)
            if frac < scale:
                return to_value(value * 10 ** (scale - frac))
            return Decimal(f"{value}E-{frac}")
        return to_value(value)

    def convert(b: bytes) -> Any:
        t = b.translate(table)
        if t.isdigit():
            return to_value(int(t))
        return slow(t)

    space = 0x40 if code_page.ebcdic else 0x20
    if ftype.sign_separate and not ftype.edited:
        # SIGN SEPARATE: the sign position must hold '+' or '-' (a blank field keeps the blank rules).
        at = 0 if ftype.sign_leading else ftype.size - 1
        size = ftype.size
        inner = convert

        def convert(b: bytes) -> Any:
            if len(b) == size and table[b[at]] not in (0x2B, 0x2D) and b.count(space) + b.count(0) != size:
                return None
            return inner(b)

    if not ftype.blank_when_zero:
        return convert

    def convert_blank_when_zero(b: bytes) -> Any:
        if b and b.count(space) == len(b):
            return zero  # BLANK WHEN ZERO: a zero value is stored as spaces
        return convert(b)

    return convert_blank_when_zero


def national_number_converter(ftype: FieldType, *, improved_nulls: bool, strict_overpunch: bool) -> Converter:
    """National decimal: UTF-16BE characters of a DISPLAY number, read by the ASCII DISPLAY rules."""
    shown = dataclasses.replace(ftype, usage=Usage.DISPLAY, size=ftype.size // 2)
    inner = make_converter(
        shown,
        get_code_page("ascii"),
        trimming="both",
        improved_nulls=improved_nulls,
        strict_overpunch=strict_overpunch,
        float_format="ieee754",
    )

    def convert(b: bytes) -> Any:
        try:
            text = b.decode("utf-16-be")
        except UnicodeDecodeError:
            return None
        if not text.isascii() or len(text) != shown.size:
            return None
        return inner(text.encode("ascii"))

    return convert


def packed_converter(ftype: FieldType, *, strict_spare: bool = False, field: str | None = None) -> Converter:
    """COMP-3: BCD digits, last nibble C/F positive, D negative; anything else is null.

    With ``strict_spare`` an even-digit item whose spare high-order nibble is not
    zero raises :class:`RecordDecodeError` (the record is reported, never the value).
    """
    if strict_spare and ftype.digits % 2 == 0:
        plain = packed_converter(ftype)
        reason = f"packed decimal PIC {ftype.picture} has a non-zero spare high-order digit"

        def convert_strict(b: bytes) -> Any:
            if b and b[0] >> 4:
                raise RecordDecodeError(reason, field=field)
            return plain(b)

        return convert_strict
    to_value = scaler(ftype.scale)
    signed = ftype.signed
    if ftype.scale > 0:
        # Build the Decimal straight from the hex digits: exact, and no int round trip.
        suffix = f"E-{ftype.scale}"

        def convert_decimal(b: bytes) -> Decimal | None:
            h = b.hex()
            digits = h[:-1]
            if not digits.isdigit():
                return None
            sign = h[-1]
            if sign == "c" or sign == "f":
                return Decimal(digits + suffix)
            if sign == "d" and signed:
                return Decimal(("-" if digits.strip("0") else "") + digits + suffix)
            return None

        return convert_decimal

    def convert(b: bytes) -> Any:
        h = b.hex()
        digits = h[:-1]
        if not digits.isdigit():
            return None
        sign = h[-1]
        if sign == "c" or sign == "f":
            return to_value(int(digits))
        if sign == "d":
            return to_value(-int(digits)) if signed else None
        return None

    return convert


def binary_converter(
    ftype: FieldType, *, strict_digits: bool = False, field: str | None = None, byte_order: str = "big"
) -> Converter:
    """COMP/COMP-4/COMP-5/BINARY: big-endian two's complement, or unsigned when the PIC has no S.

    One rule for every width: the value is what the bytes hold, over their
    whole range (``PIC 9(9) COMP`` in 4 bytes reads 0..4294967295, ``PIC S9(4)
    COMP`` -32768..32767), as JRecord and LegStar read it; the PIC digits do
    not cut it.  With ``strict_digits`` a value with more digits than the PIC
    raises :class:`RecordDecodeError` (never the value itself in the message).
    ``byte_order="little"`` reads native binary items (COMP-5 ...) written on x86.
    """
    to_value = scaler(ftype.scale)
    signed = ftype.signed
    from_bytes = int.from_bytes
    order: Literal["big", "little"] = "little" if byte_order == "little" and ftype.native else "big"
    if not strict_digits:

        def convert(b: bytes) -> Any:
            return to_value(from_bytes(b, order, signed=signed))

        return convert

    bound = 10**ftype.digits
    reason = f"binary value has more digits than PIC {ftype.picture} allows ({ftype.digits})"

    def convert_strict(b: bytes) -> Any:
        v = from_bytes(b, order, signed=signed)
        if -bound < v < bound:
            return to_value(v)
        raise RecordDecodeError(reason, field=field)

    return convert_strict


def ibm_hex_float(b: bytes) -> float:
    """IBM System/360 hexadecimal floating point (4 or 8 bytes) -> float."""
    raw = int.from_bytes(b, "big")
    bits = len(b) * 8
    sign = -1.0 if raw >> (bits - 1) else 1.0
    exponent = ((raw >> (bits - 8)) & 0x7F) - 64
    fraction = raw & ((1 << (bits - 8)) - 1)
    if fraction == 0:
        return 0.0 * sign
    return sign * fraction / float(1 << (bits - 8)) * 16.0**exponent


def float_converter(ftype: FieldType, float_format: str) -> Converter:
    """COMP-1 / COMP-2 in IEEE 754 big-endian (default) or IBM hexadecimal floating point."""
    if float_format == "ibm":

        def convert_ibm(b: bytes) -> float | None:
            try:
                return ibm_hex_float(b)
            except OverflowError:
                return None

        return convert_ibm
    unpack = struct.Struct(">f" if ftype.usage is Usage.FLOAT else ">d").unpack

    def convert(b: bytes) -> float:
        return float(unpack(b)[0])

    return convert


def make_converter(
    ftype: FieldType,
    code_page: CodePage,
    *,
    trimming: str,
    improved_nulls: bool,
    strict_overpunch: bool,
    float_format: str,
    strict_binary_digits: bool = False,
    field: str | None = None,
    native_binary: str = "big",
    strict_packed_spare: bool = False,
    dbcs: str = "hex",
) -> Converter:
    """Pick the converter for ``ftype`` (``field``: the item's path, for error reports)."""
    if ftype.decimal_comma:
        # DECIMAL-POINT IS COMMA: swap ',' and '.' in the data, then read it by the usual rules.
        inner = make_converter(
            dataclasses.replace(ftype, decimal_comma=False, picture=ftype.picture.translate(_SWAP_POINT)),
            code_page,
            trimming=trimming,
            improved_nulls=improved_nulls,
            strict_overpunch=strict_overpunch,
            float_format=float_format,
            field=field,
        )
        swap = bytes.maketrans(code_page.encode(".,"), code_page.encode(",."))

        def swapped(b: bytes) -> Any:
            return inner(b.translate(swap))

        return swapped
    if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT):
        return text_converter(ftype, code_page, trimming, improved_nulls, dbcs=dbcs, field=field)
    if ftype.kind is Kind.FLOAT and ftype.usage is Usage.DISPLAY:
        from .edited import external_float_converter  # edited builds on this module

        chars = code_page.decoding_table
        return external_float_converter(ftype, lambda b: codecs.charmap_decode(b, "strict", chars)[0])
    if ftype.kind is Kind.FLOAT:
        return float_converter(ftype, float_format)
    if ftype.usage is Usage.PACKED_UNSIGNED:
        to_value = scaler(ftype.scale)

        def unsigned_packed(b: bytes) -> Any:
            h = b.hex()
            return to_value(int(h)) if h.isdigit() else None  # every nibble a digit, no sign nibble

        return unsigned_packed
    if ftype.usage is Usage.PACKED:
        return packed_converter(ftype, strict_spare=strict_packed_spare, field=field)
    if ftype.usage is Usage.BINARY:
        return binary_converter(ftype, strict_digits=strict_binary_digits, field=field, byte_order=native_binary)
    if ftype.usage is Usage.NATIONAL:
        return national_number_converter(ftype, improved_nulls=improved_nulls, strict_overpunch=strict_overpunch)
    if ftype.edit_generic:
        from .edited import edited_converter  # edited builds on this module

        chars = code_page.decoding_table
        return edited_converter(ftype, lambda b: codecs.charmap_decode(b, "strict", chars)[0])
    return display_converter(
        ftype,
        code_page,
        improved_nulls=improved_nulls,
        strict_overpunch=strict_overpunch,
    )
