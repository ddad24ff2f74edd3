"""Splitting a question into tokens, keeping the ones that carry meaning whole.

Why not ``str.split``: "$10,000", "1099-NEC", "W-2s", "2.5k" and "D.C." must
reach the tagger as single tokens, and punctuation a parser does not read
(``;``, ``=``, ``*``, quotes around instructions) must reach it at all, so that
an unknown symbol makes the question unsupported instead of vanishing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<money>\$\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:k|mm|m|bn|b)?(?![a-z0-9]))
  | (?P<form>(?:\d{3,4}(?:-[a-z]{1,4})+(?:'?s)?|\d{3,4}'?s)(?![a-z0-9]))
  | (?P<number>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:k|mm|m|bn|b)?(?![a-z0-9]))
  | (?P<ordinal>\d+(?:st|nd|rd|th)(?![a-z0-9]))
  | (?P<word>[a-z][a-z0-9]*(?:[-.'][a-z0-9]+)*\.?)
  | (?P<op>>=|<=|!=|==|[<>=])
  | (?P<punct>[?,.!:;()"'/&%+*\[\]{}\\|`~^#@_-])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)

_YEAR_PREFIX = re.compile(r"^(ty|fy|cy)'?(\d{4}|\d{2})$")
"""``TY2024``, ``FY2024``, ``CY2025``, ``FY24``: a year word glued to its year, read as the two words."""

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})

MAX_QUESTION_CHARS = 500
"""Longer text is not a question we parse (and a prompt-injection attempt is usually long)."""


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its lower-case text, its kind, and its text as written (for state codes)."""

    text: str
    kind: str
    raw: str


def normalise(question: str) -> str:
    """NFKC, straight quotes and dashes, collapsed whitespace."""
    text = unicodedata.normalize("NFKC", question).translate(_QUOTES)
    text = text.replace("_", " ")  # column-style names ("balance_due", "tax_year") read as words
    return " ".join(text.split())


def tokenize(question: str) -> list[Token]:
    """The tokens of ``question`` (no whitespace tokens). Never raises."""
    text = normalise(question)
    out: list[Token] = []
    lower = text.lower()
    for m in _TOKEN.finditer(lower):
        kind = m.lastgroup or "other"
        if kind == "space":
            continue
        raw = text[m.start() : m.end()]
        value = m.group(0).replace(" ", "")
        glued = _YEAR_PREFIX.match(value) if kind == "word" else None
        if glued is not None:
            out.append(Token(glued.group(1), "word", raw[:2]))
            year = glued.group(2) if len(glued.group(2)) == 4 else "20" + glued.group(2)  # FY24: 2024
            out.append(Token(year, "number", glued.group(2)))
            continue
        if kind == "word":
            value = value.rstrip(".") if value.count(".") == 1 else value
            if value.endswith("'s") or value.endswith("s'"):
                value = value[:-2] if value.endswith("'s") else value[:-1]
            if not value:
                continue
        if kind == "form" and value.endswith("'s"):
            value = value[:-2] + "s"
        out.append(Token(value, kind, raw))
    return out
