"""PICTURE strings and USAGE clauses -> the storage facts a decoder needs.

A PIC string is only parsed here, once, while the copybook is compiled; the
resulting :class:`FieldType` says how many bytes the item occupies and how its
bytes turn into a value, so that decoding never has to look at the PIC again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from enum import Enum

_REPEAT = re.compile(r"(.)\((\d+)\)")
_MAX_REPEAT = 100_000


class Usage(Enum):
    """How the bytes of an elementary item are stored."""

    DISPLAY = "display"  # one character per position (text or zoned decimal)
    PACKED = "packed"  # COMP-3 / PACKED-DECIMAL: two digits per byte, sign nibble last
    BINARY = "binary"  # COMP, COMP-0, COMP-4, COMP-5, BINARY: big-endian two's complement
    FLOAT = "float"  # COMP-1: 4-byte float
    DOUBLE = "double"  # COMP-2: 8-byte float
    NATIONAL = "national"  # PIC N: UTF-16 big-endian, 2 bytes per position
    PACKED_UNSIGNED = "packed-unsigned"  # COMP-6 (Micro Focus, RM): BCD digits, no sign nibble
    UTF8 = "utf-8"  # PIC U (Enterprise COBOL 6.3+): UTF-8, 4 bytes per character position unless BYTE-LENGTH
    DBCS = "dbcs"  # PIC G, or PIC N with USAGE DISPLAY-1: EBCDIC DBCS, 2 bytes per character


_USAGE_WORDS = {
    "DISPLAY": Usage.DISPLAY,
    "COMP": Usage.BINARY,
    "COMPUTATIONAL": Usage.BINARY,
    "COMP-0": Usage.BINARY,
    "COMPUTATIONAL-0": Usage.BINARY,
    "COMP-4": Usage.BINARY,
    "COMPUTATIONAL-4": Usage.BINARY,
    "COMP-5": Usage.BINARY,
    "COMPUTATIONAL-5": Usage.BINARY,
    "BINARY": Usage.BINARY,
    "COMP-3": Usage.PACKED,
    "COMPUTATIONAL-3": Usage.PACKED,
    "PACKED-DECIMAL": Usage.PACKED,
    "COMP-6": Usage.PACKED_UNSIGNED,
    "COMPUTATIONAL-6": Usage.PACKED_UNSIGNED,
    "COMP-1": Usage.FLOAT,
    "COMPUTATIONAL-1": Usage.FLOAT,
    "COMP-2": Usage.DOUBLE,
    "COMPUTATIONAL-2": Usage.DOUBLE,
    "NATIONAL": Usage.NATIONAL,
    "DISPLAY-1": Usage.DBCS,
    "UTF-8": Usage.UTF8,
    "INDEX": Usage.BINARY,
    "COMP-X": Usage.BINARY,
    "COMPUTATIONAL-X": Usage.BINARY,
    "POINTER": Usage.BINARY,
    "POINTER-32": Usage.BINARY,
    "POINTER-64": Usage.BINARY,
    "PROCEDURE-POINTER": Usage.BINARY,
    "FUNCTION-POINTER": Usage.BINARY,
    "BINARY-CHAR": Usage.BINARY,
    "BINARY-SHORT": Usage.BINARY,
    "BINARY-LONG": Usage.BINARY,
    "BINARY-DOUBLE": Usage.BINARY,
    "FLOAT-SHORT": Usage.FLOAT,
    "FLOAT-LONG": Usage.DOUBLE,
}
# COBOL 2002 fixed-size binary usages (no PIC): bytes and the digits a value of that size can have.
FIXED_BINARY = {"BINARY-CHAR": (1, 3), "BINARY-SHORT": (2, 5), "BINARY-LONG": (4, 10), "BINARY-DOUBLE": (8, 19)}


def usage_from_word(word: str) -> Usage | None:
    """Map a USAGE keyword (``COMP-3``, ``BINARY`` ...) to :class:`Usage`, or ``None`` if it is not one."""
    return _USAGE_WORDS.get(word.upper())


class Kind(Enum):
    """What a decoded value looks like."""

    TEXT = "text"  # str
    NUMBER = "number"  # int or Decimal
    EDITED_TEXT = "edited_text"  # numeric-edited picture kept as its printed text (str)
    FLOAT = "float"  # float (COMP-1 / COMP-2)


@dataclass(frozen=True)
class FieldType:
    """Storage description of an elementary item.

    ``size``       bytes occupied.
    ``digits``     digit positions stored (9, Z, * ...; P and V excluded).
    ``scale``      value = stored integer * 10**-scale; negative for trailing P
                   scaling (``9(5)PPP`` has scale -3, ``PPP9(5)`` has scale 8).
    ``signed``     a sign is stored (S, SIGN SEPARATE, or an editing sign).
    ``sign_leading`` / ``sign_separate``  SIGN clause (DISPLAY only).
    ``explicit_point``  the picture contains an actual '.' character.
    ``edited``     a numeric-edited DISPLAY picture (+ - Z . in it).
    ``picture``    the PIC string as written (for error messages and layouts).
    ``blank_when_zero``  the BLANK WHEN ZERO clause (numeric DISPLAY items only).
    """

    kind: Kind
    usage: Usage
    size: int
    digits: int = 0
    scale: int = 0
    signed: bool = False
    sign_leading: bool = False
    sign_separate: bool = False
    explicit_point: bool = False
    edited: bool = False
    picture: str = ""
    edit_mask: str = ""  # expanded numeric-edited picture, used by the writer
    blank_when_zero: bool = False  # BLANK WHEN ZERO: an all-blank field is zero (and zero is written blank)
    native: bool = False  # COMP-5 / BINARY-CHAR..DOUBLE: the machine's byte order (DecodeOptions.native_binary)
    edit_generic: bool = False  # an edited picture read and written by position (:mod:`.edited`)
    decimal_comma: bool = False  # DECIMAL-POINT IS COMMA: ',' and '.' swap roles in the picture and the data


class PictureError(ValueError):
    """The PIC string or its combination with USAGE/SIGN is invalid (turned into a syntax error)."""


def expand_picture(pic: str) -> str:
    """Expand repetition counts: ``S9(4)V9(2)`` -> ``S9999V99``."""

    def repl(m: re.Match[str]) -> str:
        count = int(m.group(2))
        if count <= 0 or count > _MAX_REPEAT:
            raise PictureError(f"bad repetition count ({count}) in PIC {pic}")
        return m.group(1) * count

    expanded = _REPEAT.sub(repl, pic.upper())
    if "(" in expanded or ")" in expanded:
        raise PictureError(f"unbalanced parentheses in PIC {pic}")
    return expanded


def binary_width(digits: int) -> int:
    """Bytes of a COMP/BINARY item with ``digits`` digits (Cobrix rule above 18 digits)."""
    if digits <= 4:
        return 2
    if digits <= 9:
        return 4
    if digits <= 18:
        return 8
    return math.ceil((digits * math.log2(10) + 1) / 8)


_TEXT_CHARS = set("XA9")
_EXTERNAL_FLOAT = re.compile(r"[+-](?:9+(?:[.V]9*)?|[.V]9+)E[+-]99")
_PLAIN_NUMERIC = set("S9VP")
_EDITED_NUMERIC = set("S9VPZ.+-")
_ALL_EDIT = set("9VPZ.+-*$,B0/CRDS")


def _scale_of(body: str) -> tuple[int, int]:
    """(digits, scale) of a numeric picture body without S; P handling per COBOL rules."""
    digits = sum(1 for ch in body if ch in "9Z*")
    p_count = body.count("P")
    point = "V" if "V" in body else "."
    frac_part = body.partition(point)[2]
    frac_digits = sum(1 for ch in frac_part if ch in "9Z*")
    if p_count:
        # P positions are implied zeros: before the digits they sit right of the
        # assumed decimal point (value shrinks), after them left of it (value grows).
        first_digit = min((body.index(ch) for ch in "9Z*" if ch in body), default=len(body))
        if "P" in body[:first_digit]:
            return digits, digits + p_count
        return digits, -p_count
    return digits, frac_digits


def field_type(
    pic: str | None,
    usage: Usage | None,
    *,
    sign_leading: bool = False,
    sign_separate: bool = False,
    sign_clause: bool = False,
) -> FieldType:
    """Derive the :class:`FieldType` of an elementary item from its PIC, USAGE and SIGN clauses."""
    if usage in (Usage.FLOAT, Usage.DOUBLE):
        size = 4 if usage is Usage.FLOAT else 8
        return FieldType(Kind.FLOAT, usage, size, signed=True, picture=pic or "")
    if pic is None:
        raise PictureError("elementary item has no PIC clause")
    body = expand_picture(pic)
    if not body:
        raise PictureError("empty PIC")
    usage = usage or Usage.DISPLAY
    if usage is Usage.UTF8 or "U" in body:
        if not set(body) <= {"U"}:
            raise PictureError(f"a UTF-8 item needs PIC U, got {pic}")
        if usage not in (Usage.UTF8, Usage.DISPLAY):
            raise PictureError(f"PIC {pic} must be USAGE UTF-8")
        return FieldType(Kind.TEXT, Usage.UTF8, 4 * len(body), picture=pic)
    if usage is Usage.DBCS or "G" in body:
        # DBCS: each G (or N under DISPLAY-1) and each B (a DBCS space) takes 2 bytes.
        if not (set(body) <= set("GB") or set(body) <= set("NB")) or body.count("B") == len(body):
            raise PictureError(f"a DBCS item needs PIC G or N (with B), got {pic}")
        if usage not in (Usage.DBCS, Usage.DISPLAY):
            raise PictureError(f"PIC {pic} must be USAGE DISPLAY-1")
        return FieldType(Kind.TEXT, Usage.DBCS, 2 * len(body), picture=pic)
    if set(body) <= set("N"):
        return FieldType(Kind.TEXT, Usage.NATIONAL, 2 * len(body), picture=pic)
    if usage is Usage.NATIONAL:
        # National decimal (PIC 9 ... USAGE NATIONAL): the DISPLAY number's characters in UTF-16BE.
        if "X" in body or "A" in body:
            raise PictureError(f"USAGE NATIONAL needs PIC N or a numeric picture, got {pic}")
        shown = field_type(
            pic, Usage.DISPLAY, sign_leading=sign_leading, sign_separate=sign_separate, sign_clause=sign_clause
        )
        if shown.kind is not Kind.NUMBER:
            raise PictureError(f"PIC {pic} USAGE NATIONAL is not supported")
        return replace(shown, usage=Usage.NATIONAL, size=2 * shown.size)
    if "X" in body or "A" in body:
        # Alphanumeric-edited (X with B 0 /) is still text; its width is its positions.
        if not set(body) <= _TEXT_CHARS | set("B0/"):
            raise PictureError(f"unsupported characters in PIC {pic}")
        if usage is not Usage.DISPLAY:
            raise PictureError(f"PIC {pic} must be USAGE DISPLAY")
        return FieldType(Kind.TEXT, usage, len(body), picture=pic)
    if body[0] in "+-" and "E" in body and _EXTERNAL_FLOAT.fullmatch(body):
        # External floating point: sign, mantissa, E, exponent sign, two exponent digits (IBM).
        if usage is not Usage.DISPLAY:
            raise PictureError(f"external floating-point PIC {pic} must be USAGE DISPLAY")
        size = sum(1 for ch in body if ch != "V")
        return FieldType(Kind.FLOAT, usage, size, signed=True, picture=pic, edit_mask=body, edited=True)
    if not set(body) <= _ALL_EDIT:
        raise PictureError(f"unsupported characters in PIC {pic}")
    signed = body.startswith("S")
    if "S" in body[1:]:
        raise PictureError(f"S must be the first character of PIC {pic}")
    unsigned_body = body[1:] if signed else body
    if body.count("V") > 1 or body.count(".") > 1 or ("V" in body and "." in body):
        raise PictureError(f"more than one decimal point in PIC {pic}")
    if set(body) <= _PLAIN_NUMERIC:
        digits, scale = _scale_of(unsigned_body)
        if digits == 0:
            raise PictureError(f"PIC {pic} has no digit positions")
        if sign_separate or sign_clause:
            signed = True
        if usage is Usage.PACKED_UNSIGNED:
            if signed:
                raise PictureError(f"COMP-6 is unsigned, got PIC {pic}")
            size = (digits + 1) // 2
        elif usage is Usage.PACKED:
            size = digits // 2 + 1
        elif usage is Usage.BINARY:
            size = binary_width(digits)
        else:
            size = digits + (1 if sign_separate else 0)
        return FieldType(
            Kind.NUMBER,
            usage,
            size,
            digits,
            scale,
            signed,
            sign_leading,
            sign_separate,
            picture=pic,
        )
    # Numeric-edited DISPLAY picture.
    if usage is not Usage.DISPLAY:
        raise PictureError(f"edited PIC {pic} must be USAGE DISPLAY")
    expanded = unsigned_body.replace("CR", "c").replace("DB", "d")
    # CR and DB take two character positions (IBM), the other symbols one; V, P and S none.
    size = sum(2 if ch in "cd" else 1 for ch in expanded if ch not in "VPS") + (1 if sign_separate else 0)
    decodable = set(body) <= _EDITED_NUMERIC and expanded.count("+") + expanded.count("-") <= 1
    digits, scale = _scale_of(unsigned_body)
    if decodable and digits:
        has_sign = signed or "+" in body or "-" in body
        return FieldType(
            Kind.NUMBER,
            usage,
            size,
            digits,
            scale,
            has_sign,
            False,
            False,
            explicit_point="." in body,
            edited=True,
            picture=pic,
            edit_mask=unsigned_body,
        )
    plain = expanded.replace("c", "").replace("d", "")
    slots = sum(1 for ch in plain if ch in "9Z*") + sum(plain.count(s) - 1 for s in "$+-" if plain.count(s) > 1)
    if slots and "P" not in plain and body.count(".") <= 1:
        # $ , B 0 / * CR DB and floating strings: read and written by position (edited.py).
        has_sign = "+" in body or "-" in body or "c" in expanded or "d" in expanded
        return FieldType(
            Kind.NUMBER,
            usage,
            size,
            slots,
            scale,
            has_sign,
            explicit_point="." in body,
            edited=True,
            picture=pic,
            edit_mask=unsigned_body,
            edit_generic=True,
        )
    return FieldType(Kind.EDITED_TEXT, usage, size, digits, scale, picture=pic, edited=True)
