"""COPY statements, REPLACING and ``:TAG:`` placeholders: the compiler's text manipulation, on tokens.

Why: shops keep shared record parts in members pulled in with ``COPY member``
and write generic layouts with placeholders (``05 :PFX:-NAME PIC X(30).``)
that each program fills in with ``COPY ... REPLACING ==:PFX:== BY ==CUST==``.
A reader that stops at the first COPY, or keeps ``:PFX:`` in the field names,
cannot read those copybooks.

Rules (IBM Enterprise COBOL, as far as record copybooks use them):

* ``COPY name [OF|IN library] [SUPPRESS] [REPLACING op BY op ...] .`` is
  replaced by the member's tokens; members may COPY further members (a cycle
  or more than :data:`MAX_DEPTH` levels is an error).  A member is looked up
  in ``members`` (a mapping, names compared without case) and then in each
  directory of ``directories`` as ``name`` with the extensions of
  :data:`EXTENSIONS` (also ``library/name``), in that order.
* An operand is pseudo-text ``==...==``, a literal or a word.  A pseudo-text
  operand of one word containing a colon-delimited tag (``==:PFX:==``)
  replaces that tag inside every word (partial-word replacement); ``LEADING``
  / ``TRAILING`` replace the start or the end of words; otherwise the
  operand's token sequence is replaced where it occurs as whole tokens
  (words compared without case, literals exactly).
* ``replacing=`` of :func:`~taxvault.formats.copybook.parse_copybook` applies
  the same rules to the whole text, e.g. ``{":PFX:": "CUST"}``.
* The ``REPLACE op BY op ... .`` statement (pseudo-text operands, ``LEADING``
  / ``TRAILING`` too) applies its pairs to the text that follows it, after COPY
  members are expanded, until the next ``REPLACE`` statement (which takes over)
  or ``REPLACE OFF.``; ``REPLACE ALSO`` adds pairs to the ones in effect (IBM
  Enterprise COBOL 6).  The statements themselves are removed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CopybookSyntaxError
from .source import SourceFormat, Token, tokenize

MAX_DEPTH = 10
EXTENSIONS = ("", ".cpy", ".cob", ".cbl", ".copy", ".txt", ".CPY", ".COB", ".CBL")


@dataclass(frozen=True)
class Replacement:
    """One ``REPLACING a BY b`` pair; ``mode`` is ``tokens``, ``partial``, ``leading`` or ``trailing``."""

    old: tuple[str, ...]
    new: tuple[str, ...]
    mode: str = "tokens"


def replacements_from_mapping(mapping: Mapping[str, str]) -> list[Replacement]:
    """``{":PFX:": "CUST"}`` -> replacements (each key and value read as pseudo-text)."""
    out = []
    for old, new in mapping.items():
        old_tokens = tuple(t.text for t in tokenize(old, source_format="free"))
        new_tokens = tuple(t.text for t in tokenize(new, source_format="free"))
        if not old_tokens:
            raise CopybookSyntaxError(f"replacing: empty text to replace ({old!r})")
        out.append(_make(old_tokens, new_tokens, None))
    return out


def _make(old: tuple[str, ...], new: tuple[str, ...], position: str | None) -> Replacement:
    if position is not None:
        if len(old) != 1 or len(new) > 1:
            raise CopybookSyntaxError(f"REPLACING {position} needs one word on each side")
        return Replacement(old, new, position.lower())
    if len(old) == 1 and ":" in old[0] and old[0].count(":") >= 2 and len(new) <= 1:
        return Replacement(old, new, "partial")
    return Replacement(old, new, "tokens")


def apply_replacements(tokens: list[Token], replacements: Sequence[Replacement]) -> list[Token]:
    """Apply each replacement in turn to ``tokens`` (a replaced part is not replaced again by the same pair)."""
    for rep in replacements:
        tokens = _apply_one(tokens, rep)
    return tokens


def _apply_one(tokens: list[Token], rep: Replacement) -> list[Token]:
    if rep.mode in ("partial", "leading", "trailing"):
        old = rep.old[0].upper()
        new = rep.new[0] if rep.new else ""
        out = []
        for tok in tokens:
            text = tok.text
            if tok.is_literal or old not in text.upper():
                out.append(tok)
                continue
            if rep.mode == "partial":
                text = _replace_nocase(text, rep.old[0], new)
            elif rep.mode == "leading" and text.upper().startswith(old):
                text = new + text[len(old) :]
            elif rep.mode == "trailing" and text.upper().endswith(old):
                text = text[: len(text) - len(old)] + new
            if text:
                out.append(Token(text, tok.line))
        return out
    want = [_norm(t) for t in rep.old]
    out = []
    i = 0
    n = len(want)
    while i < len(tokens):
        if [_norm(t.text) for t in tokens[i : i + n]] == want:
            out.extend(Token(text, tokens[i].line) for text in rep.new)
            i += n
        else:
            out.append(tokens[i])
            i += 1
    return out


def _norm(text: str) -> str:
    return text if text[:1] in ("'", '"') else text.upper()


def _replace_nocase(text: str, old: str, new: str) -> str:
    upper, target = text.upper(), old.upper()
    out = []
    start = 0
    while (found := upper.find(target, start)) >= 0:
        out.append(text[start:found])
        out.append(new)
        start = found + len(target)
    out.append(text[start:])
    return "".join(out)


class MemberResolver:
    """Finds COPY members in a mapping and in directories."""

    def __init__(
        self,
        members: Mapping[str, str] | None = None,
        directories: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        self.members = {name.upper(): text for name, text in (members or {}).items()}
        self.directories = [Path(d) for d in (directories or [])]

    def text(self, name: str, library: str | None, line: int) -> str:
        found = self.members.get(name.upper())
        if found is not None:
            return found
        stems = [name, name.upper(), name.lower()]
        for folder in self.directories:
            bases = [folder] + ([folder / library, folder / library.lower()] if library else [])
            for base in bases:
                for stem in stems:
                    for ext in EXTENSIONS:
                        path = base / f"{stem}{ext}"
                        if path.is_file():
                            raw = path.read_bytes()
                            try:
                                return raw.decode("utf-8")
                            except UnicodeDecodeError:
                                return raw.decode("latin-1")
        where = "the given members" + (" or directories" if self.directories else "")
        raise CopybookSyntaxError(f"COPY {name}: member not found in {where}", line)


def expand_copies(
    tokens: list[Token],
    resolver: MemberResolver,
    *,
    source_format: SourceFormat = "auto",
    chain: tuple[str, ...] = (),
) -> list[Token]:
    """Replace every COPY statement in ``tokens`` by its member's tokens (recursively)."""
    if not any(t.upper == "COPY" and not t.is_literal for t in tokens):
        return tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.upper != "COPY" or tok.is_literal:
            out.append(tok)
            i += 1
            continue
        name, library, replacements, i = _copy_statement(tokens, i)
        if name.upper() in chain or len(chain) >= MAX_DEPTH:
            raise CopybookSyntaxError(f"COPY {name}: members copy each other ({' -> '.join(chain)})", tok.line)
        member = tokenize(resolver.text(name, library, tok.line), source_format=source_format)
        member = [Token(t.text, tok.line) for t in member]  # errors point at the COPY statement
        member = expand_copies(member, resolver, source_format=source_format, chain=(*chain, name.upper()))
        out.extend(apply_replacements(member, replacements))
    return out


def _copy_statement(tokens: list[Token], start: int) -> tuple[str, str | None, list[Replacement], int]:
    """Parse ``COPY ... .`` starting at ``tokens[start]``; return name, library, pairs and the next index."""
    line = tokens[start].line
    i = start + 1

    def take(what: str) -> Token:
        nonlocal i
        if i >= len(tokens):
            raise CopybookSyntaxError(f"COPY statement ends before {what}", line)
        i += 1
        return tokens[i - 1]

    name = take("the member name").text.strip("'\"")
    library = None
    if i < len(tokens) and tokens[i].upper in ("OF", "IN"):
        i += 1
        library = take("the library name").text.strip("'\"")
    if i < len(tokens) and tokens[i].upper == "SUPPRESS":
        i += 1
    replacements: list[Replacement] = []
    if i < len(tokens) and tokens[i].upper == "REPLACING":
        i += 1
        while i < len(tokens) and not tokens[i].is_period:
            position = None
            if tokens[i].upper in ("LEADING", "TRAILING"):
                position = tokens[i].upper
                i += 1
            old, i = _operand(tokens, i, line)
            if i >= len(tokens) or tokens[i].upper != "BY":
                raise CopybookSyntaxError("COPY ... REPLACING: expected BY", line)
            new, i = _operand(tokens, i + 1, line)
            replacements.append(_make(old, new, position))
    if i >= len(tokens) or not tokens[i].is_period:
        raise CopybookSyntaxError("COPY statement is not terminated by a period", line)
    return name, library, replacements, i + 1


def _operand(tokens: list[Token], i: int, line: int) -> tuple[tuple[str, ...], int]:
    if i >= len(tokens) or tokens[i].is_period:
        raise CopybookSyntaxError("COPY ... REPLACING: missing operand", line)
    if tokens[i].text != "==":
        return (tokens[i].text,), i + 1
    j = i + 1
    while j < len(tokens) and tokens[j].text != "==":
        j += 1
    if j >= len(tokens):
        raise CopybookSyntaxError("COPY ... REPLACING: pseudo-text is not closed by ==", line)
    return tuple(t.text for t in tokens[i + 1 : j]), j + 1


def apply_replace_statements(tokens: list[Token]) -> list[Token]:
    """Carry out ``REPLACE ... .`` / ``REPLACE OFF.`` statements on the (COPY-expanded) tokens.

    Why: shops write ``REPLACE ==:TAG:== BY ==CUST==.`` at the top of a copybook
    instead of asking every program to say ``COPY ... REPLACING``.  REPLACE is a
    reserved word (never a data name), so a statement is recognised wherever
    the word stands outside a literal, as COBOL allows.
    """
    if not any(t.upper == "REPLACE" and not t.is_literal for t in tokens):
        return tokens
    out: list[Token] = []
    active: list[Replacement] = []
    segment: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.upper != "REPLACE" or tok.is_literal:
            segment.append(tok)
            i += 1
            continue
        out.extend(apply_replacements(segment, active))
        segment = []
        pairs, also, i = _replace_statement(tokens, i)
        active = [*active, *pairs] if also else pairs
    out.extend(apply_replacements(segment, active))
    return out


def _replace_statement(tokens: list[Token], start: int) -> tuple[list[Replacement], bool, int]:
    """Parse ``REPLACE [ALSO] op BY op ... .`` or ``REPLACE [LAST] OFF .``; return pairs, ALSO and the next index."""
    line = tokens[start].line
    i = start + 1
    if i < len(tokens) and tokens[i].upper == "LAST":
        i += 1
    if i < len(tokens) and tokens[i].upper == "OFF":
        if i + 1 >= len(tokens) or not tokens[i + 1].is_period:
            raise CopybookSyntaxError("REPLACE OFF is not terminated by a period", line)
        return [], False, i + 2
    also = i < len(tokens) and tokens[i].upper == "ALSO"
    if also:
        i += 1
    pairs: list[Replacement] = []
    while i < len(tokens) and not tokens[i].is_period:
        position = None
        if tokens[i].upper in ("LEADING", "TRAILING"):
            position = tokens[i].upper
            i += 1
        if i >= len(tokens) or tokens[i].text != "==":
            raise CopybookSyntaxError("REPLACE: operands must be pseudo-text (==...==)", line)
        old, i = _operand(tokens, i, line)
        if not old:
            raise CopybookSyntaxError("REPLACE: the text to replace is empty", line)
        if i >= len(tokens) or tokens[i].upper != "BY":
            raise CopybookSyntaxError("REPLACE: expected BY", line)
        if i + 1 >= len(tokens) or tokens[i + 1].text != "==":
            raise CopybookSyntaxError("REPLACE: operands must be pseudo-text (==...==)", line)
        new, i = _operand(tokens, i + 1, line)
        pairs.append(_make(old, new, position))
    if i >= len(tokens):
        raise CopybookSyntaxError("REPLACE statement is not terminated by a period", line)
    if not pairs:
        raise CopybookSyntaxError("REPLACE statement without operands", line)
    return pairs, also, i + 1
