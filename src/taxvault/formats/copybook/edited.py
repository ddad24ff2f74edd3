"""Numeric-edited pictures with insertion and floating symbols (``$$,$$9.99CR``, ``***9.99DB``, ``99/99/99``).

Why: report-style extracts carry amounts printed through edit masks.  The
simple masks (``9 Z . + -``) are read by the DISPLAY converter; the others were
kept as text, so a reader could not get the amount.  This module reads and
writes them by position, as IBM Enterprise COBOL's editing rules place each
character (Language Reference, "PICTURE clause editing"):

* ``9`` a digit; ``Z`` and ``*`` a digit or, left of the first significant
  digit, a space or ``*``;
* ``$``, ``+``, ``-`` written more than once form a floating string: the first
  symbol is only a place for the symbol, the others are digit positions; when
  the value is shorter, the symbol is written just left of its first digit and
  the positions before it are spaces;
* a single ``+``/``-`` is a sign position (``+``/``-``, or space/``-``); ``CR``
  and ``DB`` are two characters, shown only for a negative value; a single
  ``$`` is the currency sign;
* ``.`` the decimal point, ``,`` ``B`` (space) ``0`` ``/`` insertion
  characters (spaces, ``*`` or the floating symbol where zeros are suppressed).

Reading is lenient with insertion characters (any character that is not a
digit is accepted there, since suppression replaces them) and strict with
digit and sign positions: anything else makes the value ``None`` (the rule for
invalid field contents).  A field of spaces only is ``None`` (a blank field),
zero under BLANK WHEN ZERO.  ``DECIMAL-POINT IS COMMA`` is not supported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .field_decoders import scaler
from .picture import FieldType

# Position kinds: one per byte of the field.
DIGIT, SIGN, CURRENCY, POINT, INSERT, CREDIT = "d", "s", "$", ".", "i", "c"


def edit_positions(ftype: FieldType) -> list[tuple[str, str]]:
    """``(kind, picture character)`` for every byte of an edited field (``CR``/``DB`` give two)."""
    mask = ftype.edit_mask.upper().replace("CR", "c").replace("DB", "d")
    counts = {sym: mask.count(sym) for sym in "$+-"}
    seen = dict.fromkeys("$+-", 0)
    out: list[tuple[str, str]] = []
    for ch in mask:
        if ch in "VPS":
            continue
        if ch in "9Z*":
            out.append((DIGIT, ch))
        elif ch in "$+-":
            seen[ch] += 1
            if counts[ch] > 1 and seen[ch] > 1:
                out.append((DIGIT, ch))  # a digit position of a floating string
            else:
                out.append((CURRENCY if ch == "$" else SIGN, ch))
        elif ch == ".":
            out.append((POINT, ch))
        elif ch in ",B0/":
            out.append((INSERT, ch))
        elif ch in "cd":
            out.append((CREDIT, ch))
            out.append((CREDIT, ch))
        else:
            raise ValueError(f"unsupported character {ch!r} in edited PIC {ftype.picture}")
    return out


def edited_converter(ftype: FieldType, decode_text: Callable[[bytes], str]) -> Callable[[bytes], Any]:
    """Bytes of an edited field -> ``int``/``Decimal`` (see the module rules), ``None`` when invalid or blank."""
    positions = edit_positions(ftype)
    to_value = scaler(ftype.scale)
    zero = to_value(0)
    blank_is_zero = ftype.blank_when_zero
    size = len(positions)
    floating = {ch for kind, ch in positions if kind == DIGIT and ch in "$+-"}

    def convert(b: bytes) -> Any:
        text = decode_text(b)
        if len(text) != size:
            return None
        if not text.strip(" "):
            return zero if blank_is_zero else None
        digits: list[str] = []
        negative = False
        credit = ""
        for (kind, pic), ch in zip(positions, text, strict=True):
            if kind == DIGIT:
                if "0" <= ch <= "9":
                    digits.append(ch)
                elif ch == " " or ch == "*" or (ch in floating and pic in "$+-"):
                    digits.append("0")
                    negative = negative or (ch == "-" and pic == "-")
                elif (ch == "+" and pic == "+") or (ch == "-" and pic in "+-"):
                    digits.append("0")
                    negative = negative or ch == "-"
                else:
                    return None
            elif kind == SIGN:
                if ch == "-":
                    negative = True
                elif ch not in "+ ":
                    return None
            elif kind == CREDIT:
                credit += ch
            elif kind == POINT:
                if ch not in ". *":
                    return None
            elif "0" <= ch <= "9" and not (pic == "0" and ch == "0"):
                return None  # a digit where the mask inserts a character: not this picture's layout
        if credit:
            mark = credit.strip()
            if mark in ("CR", "DB"):
                negative = True
            elif mark:
                return None
        value = int("".join(digits)) if digits else 0
        return to_value(-value if negative else value)

    return convert


def render_edited(ftype: FieldType, unscaled: int) -> str | None:
    """The characters IBM editing writes for ``unscaled`` (``None``: the mask cannot show the value)."""
    positions = edit_positions(ftype)
    slots = [i for i, (kind, _) in enumerate(positions) if kind == DIGIT]
    negative = unscaled < 0
    digits = str(abs(unscaled))
    if len(digits) > len(slots):
        return None
    has_sign = any(kind in (SIGN, CREDIT) or ch in "+-" for kind, ch in positions)
    if negative and not has_sign:
        return None
    digits = digits.rjust(len(slots), "0")
    point = next((i for i, (kind, _) in enumerate(positions) if kind == POINT), len(positions))
    # The first significant position: the first non-zero digit, a '9', or the first digit after the point.
    first = len(positions)
    for n, i in enumerate(slots):
        if digits[n] != "0" or positions[i][1] == "9" or i > point:
            first = i
            break
    all_suppressed = first == len(positions) and all(positions[i][1] in "Z" for i in slots)
    if all_suppressed and unscaled == 0 and not any(ch == "*" for _, ch in positions):
        return " " * len(positions)  # IBM: a zero value in an all-Z mask is all spaces
    out: list[str] = []
    float_symbol = next((ch for kind, ch in positions if kind == DIGIT and ch in "$+-"), None)
    n = 0
    for i, (kind, ch) in enumerate(positions):
        if kind == DIGIT:
            digit = digits[n]
            n += 1
            if i >= first:
                out.append(digit)
            else:
                out.append("*" if ch == "*" else " ")
        elif kind == SIGN and ch == float_symbol:
            out.append(" ")  # the first place of a floating sign string: the symbol is placed below
        elif kind == SIGN:
            out.append("-" if negative else ("+" if ch == "+" else " "))
        elif kind == CURRENCY:
            out.append(" " if float_symbol == "$" else "$")
        elif kind == CREDIT:
            second = i > 0 and positions[i - 1][0] == CREDIT
            out.append(("CR" if ch == "c" else "DB")[1 if second else 0] if negative else " ")
        elif kind == POINT:
            out.append(".")
        else:
            inserted = " " if ch == "B" else ch
            out.append(inserted if i > first else ("*" if "*" in ftype.edit_mask else " "))
    if float_symbol is not None:
        # The floating symbol goes just left of the first significant position (or on its own first place).
        symbol = "-" if float_symbol in "+-" and negative else float_symbol
        if float_symbol == "-" and not negative:
            symbol = " "
        start = next(i for i, (kind, ch) in enumerate(positions) if ch == float_symbol)
        place = start
        for i in range(start, min(first, len(positions))):
            if positions[i][1] == float_symbol or positions[i][0] == INSERT:
                place = i
        out[place] = symbol
    return "".join(out)


# -- external floating point (PIC +9(3).9(4)E+99) -----------------------------------------------


def external_float_parts(picture_body: str) -> tuple[int, int, bool]:
    """(integer digits, fraction digits, point written) of an external floating-point picture's mantissa."""
    mantissa = picture_body[1 : picture_body.index("E")]
    point = "." if "." in mantissa else "V"
    whole, _, fraction = mantissa.partition(point)
    return whole.count("9"), fraction.count("9"), point == "."


def external_float_converter(ftype: FieldType, decode_text: Callable[[bytes], str]) -> Callable[[bytes], Any]:
    """IBM external floating point: sign, mantissa (``.`` written or ``V`` implied), ``E``, sign, 2 digits -> float.

    The sign positions hold ``+`` or ``-`` (a ``-`` picture shows a positive
    sign as a space); anything else makes the value ``None``.
    """
    whole, fraction, point = external_float_parts(ftype.edit_mask)
    mantissa_len = whole + fraction + (1 if point else 0)
    size = ftype.size

    def convert(b: bytes) -> float | None:
        text = decode_text(b)
        if len(text) != size or text[0] not in "+- " or text[1 + mantissa_len] != "E" or text[-3] not in "+-":
            return None
        mantissa = text[1 : 1 + mantissa_len]
        digits = mantissa.replace(".", "", 1) if point else mantissa
        exponent = text[-2:]
        if not (digits.isdigit() and digits.isascii() and exponent.isdigit() and exponent.isascii()):
            return None
        if point and mantissa[whole] != ".":
            return None
        value = float(f"{digits[:whole] or '0'}.{digits[whole:] or '0'}E{text[-3]}{exponent}")
        return -value if text[0] == "-" else value

    return convert


def render_external_float(ftype: FieldType, number: float) -> str | None:
    """The characters of ``number`` in an external floating-point picture (``None``: it cannot be shown)."""
    whole, fraction, point = external_float_parts(ftype.edit_mask)
    digits = whole + fraction
    sign = "-" if number < 0 else ("+" if ftype.edit_mask[0] == "+" else " ")
    magnitude = abs(number)
    if magnitude == 0:
        mantissa, exponent = 0, 0
    else:
        # Normalise so the mantissa's integer part has exactly ``whole`` digits (leading digit non-zero).
        text = f"{magnitude:.{max(digits - 1, 0)}e}"
        lead, _, exp = text.partition("e")
        mantissa = int(lead.replace(".", ""))
        exponent = int(exp) - (whole - 1)  # the value is (mantissa read as whole.fraction) * 10**exponent
    body = str(mantissa).rjust(digits, "0")
    if len(body) > digits or abs(exponent) > 99:
        return None
    shown = body[:whole] + ("." if point else "") + body[whole:]
    return f"{sign}{shown}E{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
