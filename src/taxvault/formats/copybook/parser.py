"""Tokens -> a tree of data description entries (:class:`Item`).

Only the DATA DIVISION subset that appears in record copybooks is
understood: level numbers 01-49 and 77, REDEFINES, PIC, USAGE, SIGN, OCCURS
[DEPENDING ON], VALUE, JUSTIFIED, BLANK WHEN ZERO and SYNC.  Level-88
condition names become :class:`Condition` metadata of the item they follow
and level-66 RENAMES become :class:`Renames` metadata of their record: neither
takes bytes nor appears in decoded records.  SYNC is recorded here; the
layout pass inserts the slack bytes (:mod:`.layout`); JUSTIFIED RIGHT is
recorded for writers; BLANK WHEN ZERO makes an all-blank field read as zero.
Anything else is a :class:`CopybookSyntaxError` carrying the line number,
never a silent guess.  COPY statements and REPLACING are expanded first
(:mod:`.copy_members`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from .copy_members import (
    MemberResolver,
    apply_replace_statements,
    apply_replacements,
    expand_copies,
    replacements_from_mapping,
)
from .errors import CopybookSyntaxError
from .picture import (
    FIXED_BINARY,
    FieldType,
    Kind,
    PictureError,
    Usage,
    expand_picture,
    field_type,
    usage_from_word,
)
from .source import SourceFormat, Token, literal_prefix, tokenize

_NAME = re.compile(r"[A-Za-z0-9_$#@][A-Za-z0-9_$#@-]*")
_INTEGER = re.compile(r"\d+")
_IGNORED_ENTRIES = {"EJECT", "SKIP1", "SKIP2", "SKIP3"}
_CLAUSE_WORDS = {
    "REDEFINES",
    "PIC",
    "PICTURE",
    "USAGE",
    "SIGN",
    "LEADING",
    "TRAILING",
    "SEPARATE",
    "OCCURS",
    "VALUE",
    "VALUES",
    "JUSTIFIED",
    "JUST",
    "BLANK",
    "SYNCHRONIZED",
    "SYNC",
    "GLOBAL",
    "EXTERNAL",
    "IS",
    "INDEXED",
    "ASCENDING",
    "DESCENDING",
    "DEPENDING",
    "TIMES",
    "GROUP-USAGE",
    "DATE",
    "VOLATILE",
    "BYTE-LENGTH",
}
# Usages without a PIC: bytes taken and, for SYNC, the boundary (IBM: 31-bit pointers are fullwords).
POINTER_USAGES = {
    "INDEX": 4,
    "POINTER": 4,
    "POINTER-32": 4,
    "FUNCTION-POINTER": 4,
    "PROCEDURE-POINTER": 8,
    "POINTER-64": 8,
}
_FIGURATIVE = {
    "ZERO",
    "ZEROS",
    "ZEROES",
    "SPACE",
    "SPACES",
    "HIGH-VALUE",
    "HIGH-VALUES",
    "LOW-VALUE",
    "LOW-VALUES",
    "QUOTE",
    "QUOTES",
    "NULL",
    "NULLS",
    "ALL",
    "THRU",
    "THROUGH",
}
MAX_OCCURS = 1_000_000
_FIGURATIVE_VALUES: dict[str, Any] = {
    "ZERO": 0,
    "ZEROS": 0,
    "ZEROES": 0,
    "SPACE": " ",
    "SPACES": " ",
    "HIGH-VALUE": b"\xff",
    "HIGH-VALUES": b"\xff",
    "LOW-VALUE": b"\x00",
    "LOW-VALUES": b"\x00",
    "NULL": b"\x00",
    "NULLS": b"\x00",
    "QUOTE": '"',
    "QUOTES": '"',
}


@dataclass(frozen=True)
class Condition:
    """A level-88 condition name: true when its item holds one of ``values``.

    Each value is ``(low, high)``; ``high`` is ``None`` unless written with
    THRU.  Values are ``str`` (alphanumeric literals, SPACE, QUOTE), ``int`` or
    ``Decimal`` (numeric literals, ZERO) or ``bytes`` (``X'..'`` literals,
    HIGH-VALUE, LOW-VALUE).
    """

    name: str
    line: int
    values: tuple[tuple[Any, Any], ...]


@dataclass
class Renames:
    """A level-66 RENAMES entry: another name for the bytes from ``first`` through ``thru``.

    ``offset`` and ``size`` are filled in by the layout pass.
    """

    name: str
    line: int
    first_name: str
    thru_name: str | None = None
    offset: int = 0
    size: int = 0
    first: Item | None = None
    thru: Item | None = None


@dataclass(eq=False)
class Item:
    """One data description entry of the copybook, with its subordinate entries.

    The storage facts (``ftype``, ``size``, ``offset`` ...) are filled in by
    :mod:`taxvault.formats.copybook.layout` once the whole tree is known.
    """

    level: int
    name: str
    line: int
    parent: Item | None = None
    children: list[Item] = field(default_factory=list)
    picture: str | None = None
    usage: Usage | None = None
    usage_word: str | None = None
    sign_leading: bool = False
    sign_separate: bool = False
    sign_clause: bool = False
    occurs_min: int | None = None
    occurs_max: int | None = None
    depending_on_name: str | None = None
    depending_on_qualifiers: tuple[str, ...] = ()  # DEPENDING ON N OF G IN H: the groups that hold N
    redefines_name: str | None = None
    # Filled in by the layout pass.
    ftype: FieldType | None = None
    redefines: Item | None = None
    depending_on: Item | None = None
    is_counter: bool = False
    element_size: int = 0
    offset: int = 0  # absolute offset of the first occurrence (max-size layout)
    rel_offset: int = 0  # offset inside the parent's element
    key: str = ""
    filler_key_all: str = ""  # key of a FILLER group when value fillers are kept
    has_data: bool = True
    index: int = 0  # position in document order (stable identity for decoders)
    synthetic: bool = False  # the implicit record wrapping a copybook that has no 01 level
    conditions: list[Condition] = field(default_factory=list)  # level-88 entries under this item
    renames: list[Renames] = field(default_factory=list)  # level-66 entries (on the 01 record)
    value: tuple[str, ...] = ()  # the VALUE clause's tokens as written
    justified: bool = False
    blank_when_zero: bool = False
    sync: bool = False
    binary_unsigned: bool = False  # BINARY-CHAR/SHORT/LONG/DOUBLE UNSIGNED
    slack: bool = False  # slack bytes inserted by the layout for SYNCHRONIZED items (IBM rules)
    byte_length: int | None = None  # PIC U BYTE-LENGTH n: a UTF-8 item of n bytes

    @property
    def is_group(self) -> bool:
        return bool(self.children)

    @property
    def is_filler(self) -> bool:
        return self.name.upper() == "FILLER"

    @property
    def occurs(self) -> bool:
        return self.occurs_max is not None

    @property
    def count_max(self) -> int:
        return self.occurs_max if self.occurs_max is not None else 1

    @property
    def size(self) -> int:
        """Bytes taken by the item including all its occurrences (maximum for OCCURS DEPENDING ON)."""
        return self.element_size * self.count_max

    @property
    def path(self) -> str:
        names = []
        node: Item | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return ".".join(reversed(names))

    def walk(self) -> list[Item]:
        """This item and every subordinate item in document order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


class _Entries:
    """Cursor over the tokens of one entry (up to its terminating period)."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str, line: int) -> Token:
        tok = self.peek()
        if tok is None:
            raise CopybookSyntaxError(f"expected {what} before the end of the entry", line)
        self.pos += 1
        return tok

    def accept(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.upper in words:
            self.pos += 1
            return True
        return False


def _split_entries(tokens: list[Token]) -> list[list[Token]]:
    entries: list[list[Token]] = []
    current: list[Token] = []
    for tok in tokens:
        if tok.is_period:
            if current:
                entries.append(current)
            current = []
        else:
            current.append(tok)
    if current:
        last = current[-1].line
        raise CopybookSyntaxError("entry is not terminated by a period", last)
    return entries


def _integer(tok: Token, what: str) -> int:
    if not _INTEGER.fullmatch(tok.text):
        raise CopybookSyntaxError(f"expected {what}, got {tok.text!r}", tok.line)
    value = int(tok.text)
    if value > MAX_OCCURS:
        raise CopybookSyntaxError(f"{what} {value} is larger than {MAX_OCCURS}", tok.line)
    return value


def _name(tok: Token, what: str) -> str:
    if tok.is_literal or not _NAME.fullmatch(tok.text):
        raise CopybookSyntaxError(f"expected {what}, got {tok.text!r}", tok.line)
    return tok.text.upper()


def _is_clause_start(tok: Token) -> bool:
    return tok.upper in _CLAUSE_WORDS or usage_from_word(tok.upper) is not None


def _parse_entry(tokens: list[Token]) -> Item | Condition | Renames | None:
    cur = _Entries(tokens)
    first = cur.next("a level number", tokens[0].line)
    if first.upper in _IGNORED_ENTRIES:
        return None
    if not _INTEGER.fullmatch(first.text):
        raise CopybookSyntaxError(f"expected a level number, got {first.text!r}", first.line)
    level = int(first.text)
    if level == 88:
        return _parse_condition(cur, first.line)
    if level == 66:
        return _parse_renames(cur, first.line)
    if level == 78:
        return None  # a Micro Focus named constant (78 NAME VALUE ...): no storage
    if not (1 <= level <= 49 or level == 77):
        raise CopybookSyntaxError(f"invalid level number {level}", first.line)
    name = "FILLER"
    tok = cur.peek()
    if tok is not None and not _is_clause_start(tok):
        name = _name(cur.next("a data name", first.line), "a data name")
    item = Item(level=level, name=name, line=first.line)
    while (tok := cur.peek()) is not None:
        _parse_clause(cur, item, tok)
    return item


def _parse_clause(cur: _Entries, item: Item, tok: Token) -> None:
    word = tok.upper
    line = tok.line
    cur.pos += 1
    if word == "REDEFINES":
        item.redefines_name = _name(cur.next("the redefined name", line), "the redefined name")
    elif word in ("PIC", "PICTURE"):
        cur.accept("IS")
        pic = cur.next("a picture string", line)
        if pic.is_literal:
            raise CopybookSyntaxError(f"invalid picture string {pic.text!r}", pic.line)
        if item.picture is not None:
            raise CopybookSyntaxError("more than one PIC clause", line)
        item.picture = pic.text.upper()
    elif word == "USAGE":
        cur.accept("IS")
        usage_tok = cur.next("a usage", line)
        usage = usage_from_word(usage_tok.upper)
        if usage is None:
            raise CopybookSyntaxError(f"unsupported USAGE {usage_tok.text!r}", usage_tok.line)
        item.usage, item.usage_word = usage, usage_tok.upper
        _binary_sign(cur, item)
    elif usage_from_word(word) is not None:
        item.usage, item.usage_word = usage_from_word(word), word
        _binary_sign(cur, item)
    elif word in ("SIGN", "LEADING", "TRAILING"):
        if word == "SIGN":
            cur.accept("IS")
            where = cur.next("LEADING or TRAILING", line)
            word = where.upper
            if word not in ("LEADING", "TRAILING"):
                raise CopybookSyntaxError(f"expected LEADING or TRAILING, got {where.text!r}", where.line)
        item.sign_clause = True
        item.sign_leading = word == "LEADING"
        if cur.accept("SEPARATE"):
            item.sign_separate = True
            cur.accept("CHARACTER")
    elif word == "SEPARATE":
        item.sign_separate = True
        cur.accept("CHARACTER")
    elif word == "OCCURS":
        _parse_occurs(cur, item, line)
    elif word in ("VALUE", "VALUES"):
        cur.accept("IS", "ARE")
        start = cur.pos
        while (nxt := cur.peek()) is not None and not (_is_clause_start(nxt) and nxt.upper != "IS"):
            cur.pos += 1
        item.value = tuple(t.text for t in cur.tokens[start : cur.pos])
        if not item.value:
            raise CopybookSyntaxError("VALUE without a value", line)
    elif word in ("JUSTIFIED", "JUST"):
        cur.accept("RIGHT")
        item.justified = True
    elif word == "BLANK":
        cur.accept("WHEN")
        if not cur.accept("ZERO", "ZEROS", "ZEROES"):
            raise CopybookSyntaxError("expected BLANK WHEN ZERO", line)
        item.blank_when_zero = True
    elif word in ("SYNCHRONIZED", "SYNC"):
        cur.accept("LEFT", "RIGHT")
        item.sync = True
    elif word == "BYTE-LENGTH":
        cur.accept("IS")
        item.byte_length = _integer(cur.next("a byte length", line), "a byte length")
    elif word in ("GLOBAL", "EXTERNAL", "IS", "VOLATILE"):
        pass
    elif word == "DATE":
        # DATE FORMAT IS pattern (IBM's millennium language extensions): documentary for reading.
        if not cur.accept("FORMAT"):
            raise CopybookSyntaxError("expected DATE FORMAT", line)
        cur.accept("IS")
        cur.next("a date pattern", line)
    elif word == "GROUP-USAGE":
        cur.accept("IS")
        cur.accept("NATIONAL")
    else:
        raise CopybookSyntaxError(f"unexpected word {tok.text!r} in the entry for {item.name}", line)


def _binary_sign(cur: _Entries, item: Item) -> None:
    """``BINARY-LONG [SIGNED|UNSIGNED]`` (COBOL 2002 usages are signed unless said otherwise)."""
    if item.usage_word in FIXED_BINARY and cur.accept("UNSIGNED"):
        item.binary_unsigned = True
    elif item.usage_word in FIXED_BINARY:
        cur.accept("SIGNED")


def _parse_occurs(cur: _Entries, item: Item, line: int) -> None:
    if item.occurs_max is not None:
        raise CopybookSyntaxError("more than one OCCURS clause", line)
    first = _integer(cur.next("an OCCURS count", line), "an OCCURS count")
    if cur.accept("TO"):
        high = _integer(cur.next("an OCCURS maximum", line), "an OCCURS maximum")
        if high < first:
            raise CopybookSyntaxError(f"OCCURS {first} TO {high}: maximum below minimum", line)
        item.occurs_min, item.occurs_max = first, high
    else:
        item.occurs_min, item.occurs_max = (0 if _depends_follows(cur) else first), first
    cur.accept("TIMES")
    if cur.accept("DEPENDING"):
        cur.accept("ON")
        item.depending_on_name = _name(cur.next("the DEPENDING ON name", line), "the DEPENDING ON name")
        qualifiers = []
        while cur.accept("OF", "IN"):
            qualifiers.append(_name(cur.next("a qualifying group name", line), "a qualifying group name"))
        item.depending_on_qualifiers = tuple(qualifiers)
    elif item.occurs_max == 0:
        raise CopybookSyntaxError("OCCURS 0 TIMES without DEPENDING ON", line)
    while (tok := cur.peek()) is not None and tok.upper in ("ASCENDING", "DESCENDING", "INDEXED"):
        cur.pos += 1
        cur.accept("KEY", "BY")
        cur.accept("IS")
        while (nxt := cur.peek()) is not None and not _is_clause_start(nxt):
            cur.pos += 1


def _parse_condition(cur: _Entries, line: int) -> Condition:
    name = _name(cur.next("a condition name", line), "a condition name")
    if not cur.accept("VALUE", "VALUES"):
        raise CopybookSyntaxError(f"condition {name} has no VALUE clause", line)
    cur.accept("IS", "ARE")
    values: list[tuple[Any, Any]] = []
    while cur.peek() is not None:
        low = _literal_value(cur, line)
        high = None
        if cur.accept("THRU", "THROUGH"):
            high = _literal_value(cur, line)
        values.append((low, high))
    if not values:
        raise CopybookSyntaxError(f"condition {name} has no values", line)
    return Condition(name, line, tuple(values))


def _literal_value(cur: _Entries, line: int) -> Any:
    tok = cur.next("a literal", line)
    if tok.upper == "ALL":
        tok = cur.next("a literal after ALL", line)
    text = tok.text
    if tok.is_literal:
        prefix = text[: literal_prefix(text)].upper()
        body = text[len(prefix) :]
        quote = body[0]
        if len(body) < 2 or body[-1] != quote:
            raise CopybookSyntaxError(f"unterminated literal {text!r}", tok.line)
        inner = body[1:-1].replace(quote * 2, quote)
        if prefix in ("X", "NX", "UX"):
            try:
                return bytes.fromhex(inner)
            except ValueError:
                raise CopybookSyntaxError(f"invalid hexadecimal literal {text!r}", tok.line) from None
        return inner
    if tok.upper in _FIGURATIVE_VALUES:
        return _FIGURATIVE_VALUES[tok.upper]
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CopybookSyntaxError(f"expected a literal, got {text!r}", tok.line) from None
    return int(number) if number == number.to_integral_value() and "." not in text else number


def _parse_renames(cur: _Entries, line: int) -> Renames:
    name = _name(cur.next("a RENAMES name", line), "a RENAMES name")
    if not cur.accept("RENAMES"):
        raise CopybookSyntaxError(f"level-66 {name} has no RENAMES clause", line)
    first = _name(cur.next("the renamed item", line), "the renamed item")
    thru = None
    if cur.accept("THRU", "THROUGH"):
        thru = _name(cur.next("the last renamed item", line), "the last renamed item")
    if cur.peek() is not None:
        extra = cur.peek()
        assert extra is not None
        raise CopybookSyntaxError(f"unexpected word {extra.text!r} in the RENAMES entry {name}", line)
    return Renames(name, line, first, thru)


def _depends_follows(cur: _Entries) -> bool:
    rest = [t.upper for t in cur.tokens[cur.pos : cur.pos + 2]]
    return "DEPENDING" in rest


def parse_items(
    text: str,
    *,
    free_format: bool | None = None,
    source_format: SourceFormat = "auto",
    replacing: Mapping[str, str] | None = None,
    copy_members: Mapping[str, str] | None = None,
    copy_dirs: Sequence[str | os.PathLike[str]] | None = None,
    decimal_point_comma: bool = False,
) -> list[Item]:
    """Parse copybook ``text`` into its top-level items (usually 01 records).

    ``decimal_point_comma``: the program said ``DECIMAL-POINT IS COMMA``, so
    pictures (and the data) use ``,`` as the decimal point and ``.`` as the
    grouping character (``PIC ZZ.ZZ9,99``).

    ``source_format`` (or the older ``free_format``) selects the column rules
    (:mod:`.source`); COPY members come from ``copy_members`` / ``copy_dirs``;
    ``replacing`` fills in placeholders in the whole text (:mod:`.copy_members`).
    Raises :class:`CopybookSyntaxError` with the line number on any problem.
    """
    if free_format is not None:
        source_format = "free" if free_format else "fixed"
    tokens = tokenize(text, source_format=source_format)
    tokens = expand_copies(tokens, MemberResolver(copy_members, copy_dirs), source_format="auto")
    tokens = apply_replace_statements(tokens)
    tokens = _drop_listing_directives(tokens)
    if replacing:
        tokens = apply_replacements(tokens, replacements_from_mapping(replacing))
    roots: list[Item] = []
    stack: list[Item] = []
    last: Item | None = None
    for entry in _split_entries(tokens):
        item = _parse_entry(entry)
        if item is None:
            continue
        if isinstance(item, Condition):
            if last is None:
                raise CopybookSyntaxError(f"condition {item.name} does not follow a data item", item.line)
            last.conditions.append(item)
            continue
        if isinstance(item, Renames):
            if not stack:
                raise CopybookSyntaxError(f"RENAMES {item.name} does not follow a record", item.line)
            stack[0].renames.append(item)
            continue
        last = item
        if item.level in (1, 77):
            stack.clear()
        while stack and stack[-1].level >= item.level:
            stack.pop()
        if stack:
            parent = stack[-1]
            if parent.level == 77:
                raise CopybookSyntaxError("a level-77 item cannot have subordinate items", item.line)
            item.parent = parent
            parent.children.append(item)
        else:
            if roots and (roots[0].level in (1, 77)) != (item.level in (1, 77)):
                raise CopybookSyntaxError(f"level {item.level} item {item.name} has no parent record", item.line)
            roots.append(item)
        stack.append(item)
    if not roots:
        raise CopybookSyntaxError("the copybook contains no data description entries")
    swap = str.maketrans(".,", ",.")
    for root in roots:
        if decimal_point_comma:
            for node in root.walk():
                node.picture = node.picture.translate(swap) if node.picture else node.picture
        _check_tree(root, inherited=None, inherited_word=None)
        if decimal_point_comma:
            for node in root.walk():
                ftype = node.ftype
                if ftype is not None and ftype.kind is Kind.NUMBER and ftype.edited:
                    node.ftype = replace(ftype, decimal_comma=True, picture=ftype.picture.translate(swap))
    return roots


def _comp_x(pic: str, item: Item) -> FieldType:
    """Micro Focus COMP-X: unsigned big-endian binary; PIC X(n) takes n bytes, PIC 9(n) the bytes 10**n - 1 needs."""
    try:
        body = expand_picture(pic)
    except PictureError as exc:
        raise CopybookSyntaxError(f"{item.name}: {exc}", item.line) from None
    if body and set(body) <= {"X"}:
        size = len(body)
        digits = len(str(256**size - 1))
    elif body and set(body) <= {"9"}:
        digits = len(body)
        size = max(1, ((10**digits - 1).bit_length() + 7) // 8)
    else:
        raise CopybookSyntaxError(f"{item.name}: COMP-X needs PIC X(n) or PIC 9(n), got {pic}", item.line)
    return FieldType(Kind.NUMBER, Usage.BINARY, size, digits, 0, False, picture=pic)


def _drop_listing_directives(tokens: list[Token]) -> list[Token]:
    """Remove EJECT / SKIPn (listing control, written with or without a period)."""
    out: list[Token] = []
    skip_period = False
    for tok in tokens:
        if skip_period and tok.is_period:
            skip_period = False
            continue
        skip_period = False
        if tok.upper in _IGNORED_ENTRIES and not tok.is_literal and (not out or out[-1].is_period):
            skip_period = True
            continue
        out.append(tok)
    return out


def _check_tree(item: Item, inherited: Usage | None, inherited_word: str | None) -> None:
    """Validate clause combinations and derive each elementary item's storage type."""
    if item.usage is None and inherited is not None:
        item.usage, item.usage_word = inherited, inherited_word
    if item.is_group:
        if item.picture is not None:
            raise CopybookSyntaxError(f"group item {item.name} has a PIC clause", item.line)
        passed = item.usage if item.usage is not Usage.DISPLAY else None
        for child in item.children:
            _check_tree(child, passed, item.usage_word if passed is not None else None)
        return
    pic = item.picture
    if pic is None and item.usage_word in FIXED_BINARY:
        size, digits = FIXED_BINARY[item.usage_word]
        signed = not item.binary_unsigned
        item.ftype = FieldType(Kind.NUMBER, Usage.BINARY, size, digits, 0, signed, picture=item.usage_word, native=True)
        item.element_size = size
        return
    if pic is None and item.usage_word in POINTER_USAGES:
        pic = "S9(9)" if POINTER_USAGES[item.usage_word] == 4 else "S9(18)"
    if pic is None and item.usage not in (Usage.FLOAT, Usage.DOUBLE):
        raise CopybookSyntaxError(f"elementary item {item.name} has no PIC clause", item.line)
    if pic is not None and item.usage_word in ("COMP-X", "COMPUTATIONAL-X"):
        item.ftype = _comp_x(pic, item)
        item.element_size = item.ftype.size
        return
    try:
        item.ftype = field_type(
            pic,
            item.usage,
            sign_leading=item.sign_leading,
            sign_separate=item.sign_separate,
            sign_clause=item.sign_clause,
        )
    except PictureError as exc:
        raise CopybookSyntaxError(f"{item.name}: {exc}", item.line) from None
    if item.blank_when_zero:
        if item.ftype.kind is not Kind.NUMBER or item.ftype.usage is not Usage.DISPLAY:
            raise CopybookSyntaxError(f"BLANK WHEN ZERO on {item.name}, which is not a numeric DISPLAY item", item.line)
        item.ftype = replace(item.ftype, blank_when_zero=True)
    if item.usage_word in ("COMP-5", "COMPUTATIONAL-5"):
        item.ftype = replace(item.ftype, native=True)
    if item.byte_length is not None:
        if item.ftype.usage is not Usage.UTF8 or item.ftype.size != 4:
            raise CopybookSyntaxError(f"BYTE-LENGTH on {item.name} needs PIC U (one position)", item.line)
        item.ftype = replace(item.ftype, size=item.byte_length)
    item.element_size = item.ftype.size
