"""Single-byte code pages: EBCDIC tables that match Cobrix, plus ASCII and any Python charmap codec.

Why not just ``bytes.decode("cp037")``?  Mainframe extracts routinely carry
binary bytes inside text columns (a ``PIC X`` that REDEFINES a ``COMP`` field,
low-values padding, ...).  Cobrix, the reference reader whose output we must
reproduce, turns such bytes into spaces and swaps CR/LF relative to IBM's
tables.  Each code page is therefore materialised once as a 256-character
decoding table used with :func:`codecs.charmap_decode` (C speed, never fails),
and as a faithful Python encoding map for the writer.

Names understood by :func:`get_code_page`:

``common``
    Cobrix's default EBCDIC table: cp037 restricted to the EBCDIC invariant
    characters, everything else a space.
``cp037``, ``cp273``, ``cp500``, ``cp1140``, ``cp1141``, ``cp1148``
    Cobrix's named tables (C1 controls -> space; 0x15 -> NEL, 0x0D -> LF,
    0x25 -> CR; plain cp037 also blanks C0 controls).
``cp037_extended``
    cp037 keeping the C0 control characters.
``ascii``
    7-bit ASCII; bytes 0x80-0xFF decode to U+FFFD (as Java does).
any other single-byte Python codec (``latin-1``, ``cp1252``, ``cp875`` ...)
    Used as is; the numeric family (EBCDIC or ASCII) is detected from the digit '0'.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from .errors import UnsupportedEncodingError

if TYPE_CHECKING:
    from _codecs import _EncodingMap

_EBCDIC_INVARIANT = set(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .<(+|&!$*);-/¦,%_>?:#@'=\"~^[]{}\\`"
)


@dataclass(frozen=True)
class CodePage:
    """A materialised single-byte character set.

    ``decoding_table`` has exactly 256 characters (byte value -> character);
    ``encoding_map`` is the table used to write text; ``ebcdic`` tells which
    zone convention DISPLAY numbers use (0xF0-0xF9 digits vs 0x30-0x39);
    ``space`` is the byte used to pad text fields.
    """

    name: str
    decoding_table: str
    encoding_table: str
    ebcdic: bool

    @property
    def space(self) -> int:
        return 0x40 if self.ebcdic else 0x20

    def decode(self, data: bytes) -> str:
        return codecs.charmap_decode(data, "strict", self.decoding_table)[0]

    def encode(self, text: str) -> bytes:
        """Encode ``text``; raises ``UnicodeEncodeError`` for characters the page lacks."""
        return codecs.charmap_encode(text, "strict", _encoding_map(self.encoding_table))[0]


@lru_cache(maxsize=32)
def _encoding_map(table: str) -> dict[int, int] | _EncodingMap:
    return codecs.charmap_build(table)


def _python_table(codec: str) -> list[str]:
    return [bytes([b]).decode(codec, errors="replace") for b in range(256)]


def _cobrix_named(codec: str, *, blank_c0: bool, euro_at_9f: bool = False) -> tuple[str, str]:
    """Build (decoding table, encoding table) following the Cobrix recipe in the conformance README."""
    raw = _python_table(codec)
    if codec == "cp273":
        raw[0xBC] = "\u00af"  # Cobrix uses MACRON where Python has OVERLINE
    if euro_at_9f:
        raw[0x9F] = "\u20ac"
    encoding = list(raw)
    table = ["\u0020" if 0x80 <= ord(ch) <= 0x9F else ch for ch in raw]
    if blank_c0:
        table = [" " if (ord(ch) < 0x20 or ord(ch) == 0x7F) else ch for ch in table]
    table[0x15] = "\u0085"
    table[0x0D] = "\n"
    table[0x25] = "\r"
    return "".join(table), _unique_encoding_table(encoding)


def _unique_encoding_table(table: list[str]) -> str:
    """Make a table usable by ``charmap_build`` (each character once; later duplicates undefined)."""
    seen: set[str] = set()
    out = []
    for ch in table:
        if ch in seen or ch == "\ufffd":
            out.append("\ufffe")  # charmap 'undefined' marker
        else:
            seen.add(ch)
            out.append(ch)
    return "".join(out)


def _common() -> tuple[str, str]:
    raw = _python_table("cp037")
    table = [ch if ch in _EBCDIC_INVARIANT else " " for ch in raw]
    table[0xCA] = "-"
    table[0x0D] = "\n"
    table[0x25] = "\r"
    return "".join(table), _unique_encoding_table(raw)


def _ascii() -> tuple[str, str]:
    table = [chr(b) if b < 0x80 else "\ufffd" for b in range(256)]
    return "".join(table), _unique_encoding_table(table)


_ALIASES = {
    "cobrix_common": "common",
    "ebcdic": "common",
    "cp037_ext": "cp037_extended",
    "us-ascii": "ascii",
    "ibm037": "cp037",
    "ibm500": "cp500",
    "ibm273": "cp273",
}


@lru_cache(maxsize=64)
def get_code_page(name: str) -> CodePage:
    """Return the code page called ``name`` (see the module docstring for the names)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "common":
        dec, enc = _common()
        return CodePage(key, dec, enc, ebcdic=True)
    if key == "ascii":
        dec, enc = _ascii()
        return CodePage(key, dec, enc, ebcdic=False)
    named = {
        "cp037": ("cp037", True, False),
        "cp037_extended": ("cp037", False, False),
        "cp273": ("cp273", False, False),
        "cp500": ("cp500", False, False),
        "cp1140": ("cp1140", False, False),
        "cp1141": ("cp273", False, True),
        "cp1148": ("cp500", False, True),
    }
    if key in named:
        codec, blank_c0, euro = named[key]
        dec, enc = _cobrix_named(codec, blank_c0=blank_c0, euro_at_9f=euro)
        return CodePage(key, dec, enc, ebcdic=True)
    try:
        info = codecs.lookup(key)
    except LookupError:
        raise UnsupportedEncodingError(f"unknown code page {name!r}") from None
    try:
        raw = _python_table(info.name)
    except (UnicodeError, TypeError, ValueError):
        raise UnsupportedEncodingError(f"code page {name!r} is not a byte codec") from None
    if any(len(ch) != 1 for ch in raw) or b"\xc3\xa9".decode(info.name, errors="replace") != "".join(
        raw[0xC3] + raw[0xA9]
    ):
        raise UnsupportedEncodingError(f"code page {name!r} is not a single-byte character set")
    if raw[0xF0] == "0":
        ebcdic = True
    elif raw[0x30] == "0":
        ebcdic = False
    else:
        raise UnsupportedEncodingError(f"code page {name!r} has no recognisable digits")
    return CodePage(key, "".join(raw), _unique_encoding_table(raw), ebcdic=ebcdic)
