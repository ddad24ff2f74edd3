"""Values -> record bytes: the inverse of the decoder, used to write synthetic master-file extracts.

The input has the shape the decoder produces (one dict per group, one list
per OCCURS, keys as output keys).  Rules chosen so that bad data is never
written silently:

* a missing key or ``None`` leaves the field at its initial value (spaces for
  text, zero for numbers);
* an unknown key, a text too long for its field, a number with more digits or
  decimals than the picture allows, or a negative number in an unsigned field
  raises :class:`RecordEncodeError` (no truncation, no rounding);
* an OCCURS DEPENDING ON counter is written from the length of its list (a
  counter value given explicitly must agree with it).

REDEFINES: the first description of an area is initialised; a redefining item
is written only when its key is present.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .codepages import CodePage, get_code_page
from .edited import render_edited, render_external_float
from .errors import RecordEncodeError
from .fastpath import ENCODER_REFUSALS, STATS
from .layout import Layout
from .parser import Item
from .picture import FieldType, Kind, Usage


def encode_record(
    layout: Layout,
    values: Mapping[str, Any],
    *,
    encoding: str = "cp037",
    variable_size_occurs: bool = False,
    root: str = "collapse",
    float_format: str = "ieee754",
) -> bytes:
    """Encode ``values`` as one record of ``layout``.

    Fixed-size (``variable_size_occurs=False``): the result is exactly
    ``layout.record_length`` bytes, OCCURS DEPENDING ON tables padded to their
    maximum.  Variable size: tables take only their actual occurrences.

    The record is written by the encoder generated once per layout and
    settings (:mod:`.encode_codegen`) when there is one; whenever that
    encoder is unsure of a value it hands the record to the plain writer
    below, which defines the output and the errors (counted in
    :data:`.fastpath.STATS`).
    """
    fast = get_encoder(
        layout, encoding, variable_size_occurs=variable_size_occurs, root=root, float_format=float_format
    )
    if fast is not None:
        try:
            return fast(values)
        except ENCODER_REFUSALS:  # not sure: the plain writer decides (any other exception is a bug)
            STATS.encoder_fallbacks += 1
    return encode_record_plain(
        layout,
        values,
        encoding=encoding,
        variable_size_occurs=variable_size_occurs,
        root=root,
        float_format=float_format,
    )


def get_encoder(
    layout: Layout,
    encoding: str = "cp037",
    *,
    variable_size_occurs: bool = False,
    root: str = "collapse",
    float_format: str = "ieee754",
) -> Callable[[Mapping[str, Any]], bytes] | None:
    """The cached generated encoder for these settings, or ``None`` when the layout needs the plain writer.

    The generated encoder raises on any value it is not sure about (it never
    produces different bytes from the plain writer); :func:`encode_record`
    wraps it with that fallback, so call that unless you handle it yourself.
    """
    key = ("encode", encoding, variable_size_occurs, root, float_format)
    try:
        return layout._compiled[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    from .encode_codegen import build_encoder

    roots = layout.roots
    collapse = (root == "collapse" and len(roots) == 1) or roots[0].synthetic
    fast = None
    if collapse:
        fast = build_encoder(layout, get_code_page(encoding), variable=variable_size_occurs, float_format=float_format)
    layout._compiled[key] = fast
    return fast


def encode_record_plain(
    layout: Layout,
    values: Mapping[str, Any],
    *,
    encoding: str = "cp037",
    variable_size_occurs: bool = False,
    root: str = "collapse",
    float_format: str = "ieee754",
) -> bytes:
    """The reference writer that walks the item tree (the definition the generated encoder must match)."""
    writer = _Writer(layout, get_code_page(encoding), variable_size_occurs, float_format)
    roots = layout.roots
    collapse = (root == "collapse" and len(roots) == 1) or roots[0].synthetic
    length = 0
    if collapse:
        (only,) = roots
        if only.is_group:
            length = writer.group(only, values, 0, initialise=True)
        else:
            writer.check_keys(values, [only], only.name)
            length = writer.item(only, values.get(only.key), 0, initialise=True)
    else:
        writer.check_keys(values, list(roots), "the record")
        for number, record in enumerate(roots):
            present = record.key in values
            if number == 0 or present:
                used = writer.item(record, values.get(record.key), 0, initialise=number == 0)
                length = max(length, used)
    if not variable_size_occurs:
        length = layout.record_length
    return bytes(writer.buf[:length])


class _Writer:
    def __init__(self, layout: Layout, code_page: CodePage, variable: bool, float_format: str) -> None:
        self.layout = layout
        self.cp = code_page
        self.variable = variable
        self.float_format = float_format
        self.buf = bytearray(layout.record_length)
        self.counter_at: dict[int, int] = {}
        self.counter_given: dict[int, Any] = {}

    def check_keys(self, values: Mapping[str, Any], items: list[Item], owner: str) -> None:
        known = {child.key for child in items}
        unknown = [key for key in values if key not in known]
        if unknown:
            raise RecordEncodeError(f"unknown key(s) {', '.join(map(str, unknown))} in {owner}")

    def item(self, item: Item, value: Any, pos: int, *, initialise: bool) -> int:
        """Write ``item`` (all its occurrences) at ``pos``; return the bytes it takes."""
        if not item.occurs:
            return self.single(item, value, pos, initialise=initialise)
        if value is None:
            value = []
        if not isinstance(value, list | tuple):
            raise RecordEncodeError(f"{item.path}: expected a list for OCCURS, got {type(value).__name__}")
        count = len(value)
        low = item.occurs_min or 0
        if count > item.count_max or (item.depending_on is not None and count < low):
            raise RecordEncodeError(f"{item.path}: {count} occurrences, allowed {low}..{item.count_max}")
        if item.depending_on is None and count not in (0, item.count_max):
            raise RecordEncodeError(f"{item.path}: needs exactly {item.count_max} occurrences, got {count}")
        if item.depending_on is not None:
            self.write_counter(item, count)
        cur = pos
        for element in value:
            cur += self.single(item, element, cur, initialise=True)
        if self.variable and item.depending_on is not None:
            return cur - pos
        # Fixed layout: unused occurrences are initialised too.
        step = item.element_size
        for i in range(count, item.count_max):
            self.single(item, None, pos + i * step, initialise=initialise)
        return item.size

    def single(self, item: Item, value: Any, pos: int, *, initialise: bool) -> int:
        if item.is_group:
            if value is not None and not isinstance(value, Mapping):
                raise RecordEncodeError(f"{item.path}: expected a dict for a group, got {type(value).__name__}")
            return self.group(item, value or {}, pos, initialise=initialise)
        ftype = item.ftype
        assert ftype is not None
        if item.is_counter:
            self.counter_at[item.index] = pos
            self.counter_given[item.index] = value
        if value is None:
            if initialise:
                self.put(pos, initial_bytes(ftype, self.cp))
            return ftype.size
        self.put(pos, encode_value(ftype, value, self.cp, self.float_format, item.path, justified=item.justified))
        return ftype.size

    def group(self, item: Item, values: Mapping[str, Any], pos: int, *, initialise: bool) -> int:
        self.check_keys(values, item.children, item.path)
        area_start = pos
        area_size = 0
        for child in item.children:
            if child.redefines is None:
                area_start += area_size
                area_size = 0
                used = self.item(child, values.get(child.key), area_start, initialise=initialise)
            elif child.key in values and not child.is_filler:
                used = self.item(child, values.get(child.key), area_start, initialise=False)
            else:
                used = child.size if not self.variable else 0
            area_size = max(area_size, used)
        if not self.variable:
            return item.element_size
        return area_start + area_size - pos

    def write_counter(self, table: Item, count: int) -> None:
        counter = table.depending_on
        assert counter is not None
        assert counter.ftype is not None
        pos = self.counter_at.get(counter.index)
        if pos is None:
            raise RecordEncodeError(f"{table.path}: counter {counter.name} was not written before the table")
        given = self.counter_given.get(counter.index)
        if given is not None and given != count:
            raise RecordEncodeError(f"{table.path}: counter {counter.name} = {given} but the list has {count} elements")
        self.put(pos, encode_value(counter.ftype, count, self.cp, self.float_format, counter.path))

    def put(self, pos: int, data: bytes) -> None:
        end = pos + len(data)
        if end > len(self.buf):
            self.buf.extend(bytes(end - len(self.buf)))
        self.buf[pos:end] = data


def initial_bytes(ftype: FieldType, cp: CodePage) -> bytes:
    """What an unset field holds: spaces for text, zero for numbers."""
    if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT):
        if ftype.usage is Usage.NATIONAL:
            return " ".encode("utf-16-be") * (ftype.size // 2)
        if ftype.usage is Usage.DBCS:
            return b"\x40\x40" * (ftype.size // 2)
        if ftype.usage is Usage.UTF8:
            return b" " * ftype.size
        return bytes([cp.space]) * ftype.size
    if ftype.kind is Kind.FLOAT and ftype.usage is Usage.DISPLAY:
        return encode_value(ftype, 0, cp, "ieee754", "")
    if ftype.kind is Kind.FLOAT:
        return bytes(ftype.size)
    return encode_value(ftype, 0, cp, "ieee754", "")


def encode_value(
    ftype: FieldType, value: Any, cp: CodePage, float_format: str, name: str, *, justified: bool = False
) -> bytes:
    """Bytes of one elementary value (``justified``: JUSTIFIED RIGHT text is padded on the left)."""
    if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT):
        return _text(ftype, value, cp, name, justified)
    if ftype.kind is Kind.FLOAT and ftype.usage is Usage.DISPLAY:  # external floating point
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise RecordEncodeError(f"{name}: expected a number, got {type(value).__name__}")
        text = render_external_float(ftype, float(value))
        if text is None:
            raise RecordEncodeError(f"{name}: {value} cannot be shown in PIC {ftype.picture}")
        return cp.encode(text)
    if ftype.kind is Kind.FLOAT:
        return _float(ftype, value, float_format, name)
    if ftype.usage is Usage.NATIONAL:  # national decimal: the DISPLAY characters in UTF-16BE
        shown = dataclasses.replace(ftype, usage=Usage.DISPLAY, size=ftype.size // 2)
        ascii_page = get_code_page("ascii")
        return encode_value(shown, value, ascii_page, float_format, name).decode("ascii").encode("utf-16-be")
    unscaled = _unscaled(ftype, value, name)
    if ftype.usage is Usage.PACKED_UNSIGNED:
        if unscaled < 0:
            raise RecordEncodeError(f"{name}: COMP-6 cannot hold a negative value")
        return bytes.fromhex(str(unscaled).rjust(2 * ftype.size, "0"))
    if ftype.usage is Usage.PACKED:
        digits = str(abs(unscaled)).rjust(ftype.digits, "0")
        if len(digits) % 2 == 0:
            digits = "0" + digits
        sign = ("d" if unscaled < 0 else "c") if ftype.signed else "f"
        return bytes.fromhex(digits + sign)
    if ftype.usage is Usage.BINARY:
        try:
            return unscaled.to_bytes(ftype.size, "big", signed=ftype.signed)
        except OverflowError:
            raise RecordEncodeError(f"{name}: {value} does not fit in {ftype.size} bytes") from None
    if ftype.blank_when_zero and unscaled == 0:
        return bytes([cp.space]) * ftype.size  # BLANK WHEN ZERO: zero is written as spaces
    if ftype.decimal_comma:  # DECIMAL-POINT IS COMMA: write with '.', then swap the two characters
        plain = dataclasses.replace(ftype, decimal_comma=False)
        return encode_value(plain, value, cp, float_format, name).translate(
            bytes.maketrans(cp.encode(".,"), cp.encode(",."))
        )
    if ftype.edit_generic:
        text = render_edited(ftype, unscaled)
        if text is None:
            raise RecordEncodeError(f"{name}: PIC {ftype.picture} cannot show {value}")
        return cp.encode(text)
    if ftype.edited:
        return _edited(ftype, unscaled, cp, name)
    return _zoned(ftype, unscaled, cp)


def _text(ftype: FieldType, value: Any, cp: CodePage, name: str, justified: bool = False) -> bytes:
    if not isinstance(value, str):
        raise RecordEncodeError(f"{name}: expected str, got {type(value).__name__}")
    try:
        if ftype.usage is Usage.NATIONAL:
            data = value.encode("utf-16-be")
            pad = " ".encode("utf-16-be")
        elif ftype.usage is Usage.DBCS:
            data = _dbcs_bytes(value, name)  # the decoder's default (hex) form
            pad = b"\x40\x40"
        elif ftype.usage is Usage.UTF8:
            data = value.encode("utf-8")
            pad = b" "
        else:
            data = cp.encode(value)
            pad = bytes([cp.space])
    except UnicodeEncodeError as exc:
        raise RecordEncodeError(f"{name}: character {exc.object[exc.start]!r} is not in {cp.name}") from None
    if len(data) > ftype.size:
        raise RecordEncodeError(f"{name}: {len(value)} characters do not fit in {ftype.size} bytes")
    fill = pad * ((ftype.size - len(data)) // len(pad))
    return fill + data if justified else data + fill


def _float(ftype: FieldType, value: Any, float_format: str, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise RecordEncodeError(f"{name}: expected a number, got {type(value).__name__}")
    number = float(value)
    if float_format == "ibm":
        return _ibm_float(number, ftype.size)
    try:
        return struct.pack(">f" if ftype.usage is Usage.FLOAT else ">d", number)
    except OverflowError:
        raise RecordEncodeError(f"{name}: {value} is out of range for COMP-1") from None


def _ibm_float(number: float, size: int) -> bytes:
    if number == 0 or math.isnan(number):
        return bytes(size)
    sign = 0x80 if number < 0 else 0
    number = abs(number)
    exponent = 0
    while number >= 1:
        number /= 16
        exponent += 1
    while number < 1 / 16:
        number *= 16
        exponent -= 1
    bits = size * 8 - 8
    fraction = int(number * (1 << bits))
    return bytes([sign | ((exponent + 64) & 0x7F)]) + fraction.to_bytes(size - 1, "big")


def _unscaled(ftype: FieldType, value: Any, name: str) -> int:
    """The stored integer (value * 10**scale), refusing anything that would lose information."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise RecordEncodeError(f"{name}: expected int or Decimal, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RecordEncodeError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise RecordEncodeError(f"{name}: {value!r} is not a finite number")
    scaled = number.scaleb(ftype.scale) if ftype.scale else number
    if scaled != scaled.to_integral_value():
        raise RecordEncodeError(f"{name}: {value} has more decimal places than PIC {ftype.picture}")
    unscaled = int(scaled)
    if unscaled < 0 and not ftype.signed:
        raise RecordEncodeError(f"{name}: negative value {value} in unsigned PIC {ftype.picture}")
    if ftype.usage is not Usage.BINARY and len(str(abs(unscaled))) > ftype.digits:
        raise RecordEncodeError(f"{name}: {value} has more digits than PIC {ftype.picture}")
    return unscaled


def _zoned(ftype: FieldType, unscaled: int, cp: CodePage) -> bytes:
    digits = str(abs(unscaled)).rjust(ftype.digits, "0")
    negative = unscaled < 0
    if cp.ebcdic:
        zone, plus, minus, pos_zone, neg_zone = 0xF0, 0x4E, 0x60, 0xC0, 0xD0
        body = bytearray(zone | int(d) for d in digits)
    else:
        plus, minus = 0x2B, 0x2D
        body = bytearray(digits.encode("ascii"))
    if not ftype.signed:
        return bytes(body)
    if ftype.sign_separate:
        sign = minus if negative else plus
        return bytes([sign]) + bytes(body) if ftype.sign_leading else bytes(body) + bytes([sign])
    at = 0 if ftype.sign_leading else len(body) - 1
    digit = int(digits[at])
    if cp.ebcdic:
        body[at] = (neg_zone if negative else pos_zone) | digit
    else:
        body[at] = ord("}JKLMNOPQR"[digit]) if negative else ord("{ABCDEFGHI"[digit])
    return bytes(body)


def _edited(ftype: FieldType, unscaled: int, cp: CodePage, name: str) -> bytes:
    """Render a simple numeric-edited picture (9 Z . V + -) as text."""
    mask = ftype.edit_mask
    positions = [ch for ch in mask if ch in "9Z"]
    digits = str(abs(unscaled)).rjust(len(positions), "0")
    out = []
    di = 0
    significant = False
    negative = unscaled < 0
    for ch in mask:
        if ch in "9Z":
            d = digits[di]
            di += 1
            significant = significant or d != "0" or ch == "9" or di > len(positions) - ftype.scale
            out.append(d if significant else " ")
        elif ch == ".":
            out.append(".")
        elif ch == "+":
            out.append("-" if negative else "+")
        elif ch == "-":
            out.append("-" if negative else " ")
        elif ch in "VP":
            continue
        else:
            raise RecordEncodeError(f"{name}: cannot write edited PIC {ftype.picture}")
    if negative and "+" not in mask and "-" not in mask:
        raise RecordEncodeError(f"{name}: PIC {ftype.picture} cannot show a negative value")
    return cp.encode("".join(out))


def _dbcs_bytes(value: str, name: str) -> bytes:
    """A DBCS value in the decoder's default form (4 hex digits per character) -> its bytes."""
    problem = f"{name}: a DBCS value is written from its hex form (4 hex digits a character)"
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise RecordEncodeError(problem) from None
    if len(data) % 2:
        raise RecordEncodeError(problem)
    return data
