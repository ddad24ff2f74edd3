"""Copybook source text -> tokens with line numbers, in the reference formats real copybooks come in.

Source formats (``source_format``):

``fixed``    the IBM reference format: sequence area in columns 1-6, indicator
             in column 7 (``*`` or ``/`` comment, ``-`` continuation, ``D``
             debugging line, ignored), program text in columns 8-72;
             anything after column 72 is the identification area and is
             ignored (real copybooks carry change tags there).
``shifted``  the same with one extra leading column (a carriage-control or
             blank byte added by a transfer): indicator in column 8, text 9-73.
``trimmed``  the sequence area was cut off: indicator in column 1, text in
             columns 2-66 (the column-72 limit moved left by six).
``free``     no columns: a line whose first non-blank character is ``*`` or
             ``/`` is a comment, nothing is cut at the end of a line.
``auto``     (default) ``fixed`` unless some line cannot be fixed format (a
             character other than blank, ``*``, ``/``, ``-``, ``D`` in column 7,
             or two words in columns 1-6); then ``shifted``, ``trimmed`` (only
             when some line has ``*`` or ``/`` in column 1) or ``free``, the
             first that fits every line.

A line with a blank sequence area whose text starts in the indicator column
(hand-edited copybooks often start ``01`` in column 7) keeps that character
as text; IBM compilers would reject such a line, dropping the character
would silently change it.

In every format ``*>`` starts a comment that runs to the end of the line
(outside literals).  Tabs count as one column and then become spaces; other
control characters (e.g. a trailing Ctrl-Z from a PC transfer) also become
spaces.  A continuation line (``-`` in the indicator column) continues the
previous line: an unterminated literal goes on after the quote that opens the
continuation text (the previous line's literal runs to the end of its text
area, trailing spaces included); otherwise the word is joined.

A period ends an entry only when followed by a space or the end of the line,
so picture strings such as ``9(8).9(2)`` stay one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import CopybookSyntaxError

SourceFormat = Literal["auto", "fixed", "shifted", "trimmed", "free"]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(
    r"(?:(?:[NnUu][Xx]|[XxNnGgZzBbUu])(?=[\"']))?(?:\"(?:[^\"]|\"\")*\"?|'(?:[^']|'')*'?)|==|(?:[^\s\"'=]|=(?!=))+",
)
_CONTROL = dict.fromkeys([*range(0x20), 0x7F], " ")
_INDICATORS = " *-/dD"
# Indicator column and text-area end (0-based, exclusive) per column format.
_COLUMNS = {"fixed": (6, 72), "shifted": (7, 73), "trimmed": (0, 66)}


def literal_prefix(word: str) -> int:
    """Length of a literal's prefix (0 for 'abc', 1 for X'C1' N'..' G'..', 2 for NX'..'), -1 if not a literal."""
    for n in range(3):
        if len(word) > n and word[n] in "'\"":
            return n if n == 0 or word[:n].isalpha() else -1
    return -1


@dataclass(frozen=True)
class Token:
    """One word, literal or entry terminator (``.``) with its 1-based source line."""

    text: str
    line: int

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def is_period(self) -> bool:
        return self.text == "."

    @property
    def is_literal(self) -> bool:
        return literal_prefix(self.text) >= 0


@dataclass(frozen=True)
class SourceLine:
    """The program text of one logical line (continuations merged) and its first physical line number."""

    text: str
    line: int


def detect_format(text: str) -> str:
    """Which column format ``text`` is written in (see the module docstring for the rule).

    A line with a sequence number (one word in the sequence area, then a valid
    indicator) is evidence for a column format; a line that cannot be read in
    it (a word where the indicator must be) is evidence against.  A format is
    taken when it has no evidence against, or more for than against (so one
    odd line in a numbered file does not turn the whole file free-form).
    """
    lines = [raw for raw in _LINE_BREAK.split(text.removeprefix("\ufeff")) if raw.strip()]
    numbered6, misfits6 = _evidence(lines, 6)
    if misfits6 == 0 or numbered6 > misfits6:
        return "fixed"
    numbered7, misfits7 = _evidence(lines, 7)
    if numbered7 and (misfits7 == 0 or numbered7 > misfits7):
        return "shifted"
    if any(raw[:1] in ("*", "/") for raw in lines) and _evidence(lines, 0)[1] == 0:
        return "trimmed"
    return "free"


def _evidence(lines: list[str], column: int) -> tuple[int, int]:
    """(lines with a sequence number before ``column``, lines that cannot have their indicator there)."""
    numbered = misfits = 0
    for raw in lines:
        words = raw[:column].split()
        fits = len(words) <= 1 and (len(raw) <= column or raw[column] in _INDICATORS + "\t")
        if not fits:
            misfits += 1
        elif words and len(words[0]) >= 3 and words[0][:1] not in ("*", "/"):  # not a level number
            numbered += 1
    return numbered, misfits


def _indicator_and_text(raw: str, fmt: str) -> tuple[str, str]:
    """(indicator, program text) of one physical line; indicator ``*`` for comments."""
    if fmt == "free":
        stripped = raw.lstrip()
        if stripped[:1] in ("*", "/") and stripped[:2] != "*>":
            return "*", ""
        return " ", raw
    column, end = _COLUMNS[fmt]
    indicator = raw[column : column + 1] or " "
    if indicator in "*/":
        return "*", ""
    if indicator in "dD":
        return "*", ""  # debugging lines are compiled only WITH DEBUGGING MODE
    if indicator not in _INDICATORS and not raw[:column].strip():
        return " ", raw[column:end]  # no sequence number and text from the indicator column: keep it all
    return indicator, raw[column + 1 : end]


def _inline_comment(text: str) -> int:
    """Index of a ``*>`` floating comment outside quotes, or len(text)."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "*" and text[i + 1 : i + 2] == ">":
            return i
    return len(text)


def _open_quote(text: str) -> str:
    """The quote character of a literal left open at the end of ``text`` ('' if none)."""
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
    return quote


def source_lines(text: str, *, source_format: SourceFormat | None = "auto") -> list[SourceLine]:
    """The logical program-text lines of ``text`` (comments dropped, continuations merged)."""
    text = text.removeprefix("\ufeff")  # a byte order mark would shift every column of line 1
    fmt = detect_format(text) if source_format in ("auto", None) else source_format
    if fmt not in ("fixed", "shifted", "trimmed", "free"):
        raise CopybookSyntaxError(f"unknown source format {fmt!r}")
    out: list[SourceLine] = []
    width = _COLUMNS[fmt][1] - _COLUMNS[fmt][0] - 1 if fmt in _COLUMNS else 0
    segment_start = 0  # where the last physical line's text starts inside out[-1].text
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        indicator, body = _indicator_and_text(raw.translate(_CONTROL), fmt)
        if indicator == "*":
            continue
        body = body[: _inline_comment(body)]
        if indicator != "-":
            out.append(SourceLine(body, number))
            segment_start = 0
            continue
        if not out:
            raise CopybookSyntaxError("continuation line without a line to continue", number)
        prev = out.pop()
        rest = body.lstrip()
        quote = _open_quote(prev.text)
        if quote:
            if rest[:1] != quote:
                raise CopybookSyntaxError("a continued literal must go on after a quote", number)
            head = prev.text.ljust(segment_start + width)
            rest = rest[1:]
        else:
            head = prev.text.rstrip()
        segment_start = len(head)
        out.append(SourceLine(head + rest, prev.line))
    return out


def tokenize_lines(lines: list[SourceLine]) -> list[Token]:
    """Split logical lines into tokens (words, literals, ``==`` and entry-ending periods)."""
    tokens: list[Token] = []
    for source in lines:
        number = source.line
        for match in _TOKEN.finditer(source.text):
            word = match.group(0)
            prefix = literal_prefix(word)
            if prefix >= 0:
                body = word[prefix:]
                if len(body) < 2 or body[-1] != body[0] or _open_quote(body):
                    raise CopybookSyntaxError(f"literal is not closed on its line: {word[:20]}", number)
                tokens.append(Token(word, number))
                continue
            trailing_period = False
            while word and word[-1] in ".,;":
                if word[-1] == ".":
                    trailing_period = True
                word = word[:-1]
                if trailing_period:
                    break
            if word:
                tokens.append(Token(word, number))
            if trailing_period:
                tokens.append(Token(".", number))
    return tokens


def tokenize(text: str, *, free_format: bool | None = None, source_format: SourceFormat = "auto") -> list[Token]:
    """Split copybook ``text`` into tokens (see the module docstring for the column rules).

    ``free_format=True``/``False`` is the older spelling of ``source_format="free"``/``"fixed"``.
    """
    if free_format is not None:
        source_format = "free" if free_format else "fixed"
    return tokenize_lines(source_lines(text, source_format=source_format))
