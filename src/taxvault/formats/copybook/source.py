"""Copybook source text -> tokens with line numbers.

Fixed-format COBOL puts a sequence number in columns 1-6, an indicator in
column 7 (``*`` or ``/`` = comment line) and the program text in columns
8-72; anything after column 72 is an identification area and must be ignored
(real copybooks often carry change tags there).  Tabs count as one column and
then become spaces; other control characters (e.g. a trailing Ctrl-Z from a
PC transfer) also become spaces.

A period ends an entry only when followed by a space or the end of the line,
so picture strings such as ``9(8).9(2)`` stay one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(r"\"(?:[^\"]|\"\")*\"?|'(?:[^']|'')*'?|[^\s\"']+")
_CONTROL = dict.fromkeys([*range(0x20), 0x7F], " ")


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
        return self.text[:1] in ("'", '"')


def program_text(line: str, *, free_format: bool) -> str:
    """The part of one source line that holds COBOL text ('' for comments)."""
    if free_format:
        text = line
        if text.lstrip()[:1] in ("*", "/"):
            return ""
    else:
        if len(line) >= 7 and line[6] in "*/dD":
            return ""
        text = line[7:72]
    cut = _inline_comment(text)
    return text[:cut].translate(_CONTROL)


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


def tokenize(text: str, *, free_format: bool = False) -> list[Token]:
    """Split copybook ``text`` into tokens (see the module docstring for the column rules)."""
    tokens: list[Token] = []
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        body = program_text(raw, free_format=free_format)
        for match in _TOKEN.finditer(body):
            word = match.group(0)
            if word[0] in "'\"":
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
