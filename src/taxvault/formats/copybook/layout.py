"""Item tree -> record layout: sizes, offsets, REDEFINES areas, ODO counters and output keys.

Everything that depends only on the copybook is computed here exactly once,
so the decoders compiled from a :class:`Layout` work with plain integers.
Offsets are those of the maximum-size record (every OCCURS DEPENDING ON at its
maximum), which is how fixed-length files reserve space; the "variable size
occurs" decoder recomputes positions from the actual counters instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .errors import CopybookSyntaxError
from .parser import POINTER_USAGES, Condition, Item, Renames, parse_items
from .picture import FIXED_BINARY, FieldType, Kind, Usage
from .source import SourceFormat

MAX_RECORD_LENGTH = 1 << 30  # a larger "record" is a copybook error, not data


def output_key(name: str) -> str:
    """Key used in decoded dictionaries: upper case, ``-`` -> ``_`` (the Cobrix / Spark convention)."""
    return name.upper().replace("-", "_")


class Layout:
    """A compiled copybook: the record description every decoder and encoder is built from.

    ``roots`` are the 01-level records (several 01 levels describe the same
    record area, as in a COBOL FD); ``record_length`` is the size of the
    largest one with every OCCURS at its maximum, which is the record length
    of a fixed-length file.
    """

    def __init__(self, roots: list[Item], source_name: str | None = None) -> None:
        self.roots: tuple[Item, ...] = tuple(roots)
        self.source_name = source_name
        self.items: tuple[Item, ...] = tuple(item for root in roots for item in root.walk())
        for number, item in enumerate(self.items):
            item.index = number
        self.record_length: int = max(root.size for root in roots)
        self.has_depending_on: bool = any(item.depending_on is not None for item in self.items)
        # Metadata that takes no bytes: level-66 RENAMES and level-88 condition names.
        self.renames: tuple[Renames, ...] = tuple(r for item in self.items for r in item.renames)
        self.conditions: dict[str, tuple[Item, Condition]] = {
            output_key(c.name): (item, c) for item in self.items for c in item.conditions
        }
        self._compiled: dict[Any, Any] = {}

    def __repr__(self) -> str:
        names = ", ".join(root.name for root in self.roots)
        return f"<Layout {names} record_length={self.record_length} items={len(self.items)}>"

    def item(self, name: str) -> Item:
        """The item called ``name`` (COBOL name or output key, or a dotted path to disambiguate)."""
        wanted = output_key(name)
        matches = [
            it
            for it in self.items
            if output_key(it.name) == wanted or output_key(it.path) == wanted or it.key == wanted
        ]
        if not matches:
            matches = [it for it in self.items if output_key(it.path).endswith("." + wanted)]
        if len(matches) != 1:
            raise KeyError(f"{name!r} matches {len(matches)} items")
        return matches[0]

    def fields(self) -> Iterator[Item]:
        """Elementary items in document order."""
        return (item for item in self.items if not item.is_group)

    def describe(self) -> str:
        """A layout table (level, name, 1-based start/end, length) for people and for tests."""
        lines = [f"{'LEVEL/NAME':<40} {'PIC/USAGE':<24} {'START':>6} {'END':>6} {'LENGTH':>7}"]
        for item in self.items:
            if item.synthetic:
                continue
            depth = 0
            node = item.parent
            while node is not None and not node.synthetic:
                depth += 1
                node = node.parent
            label = f"{'  ' * depth}{item.level} {'SLACK BYTES' if item.slack else item.name}"
            if item.occurs:
                label += f" [{item.occurs_min}..{item.occurs_max}]"
            kind = ""
            if item.ftype is not None:
                kind = f"{item.ftype.picture} {item.ftype.usage.value}".strip()
            start = item.offset + 1
            lines.append(f"{label:<40} {kind:<24} {start:>6} {item.offset + item.size:>6} {item.size:>7}")
            for cond in item.conditions:
                shown = ", ".join(_show(lo) + ("" if hi is None else f" THRU {_show(hi)}") for lo, hi in cond.values)
                lines.append(f"{'  ' * (depth + 1)}88 {cond.name}  VALUE {shown}")
        for ren in self.renames:
            label = f"66 {ren.name}"
            span = ren.first_name + (f" THRU {ren.thru_name}" if ren.thru_name else "")
            end = ren.offset + ren.size
            lines.append(f"{label:<40} {'RENAMES ' + span:<24} {ren.offset + 1:>6} {end:>6} {ren.size:>7}")
        return "\n".join(lines)


def parse_copybook(
    text: str,
    *,
    free_format: bool | None = None,
    source_name: str | None = None,
    source_format: SourceFormat = "auto",
    replacing: Mapping[str, str] | None = None,
    copy_members: Mapping[str, str] | None = None,
    copy_dirs: Sequence[str | os.PathLike[str]] | None = None,
    honor_sync: bool = True,
    decimal_point_comma: bool = False,
) -> Layout:
    """Parse COBOL copybook ``text`` into a :class:`Layout`.

    ``source_format``: ``auto`` (default: detects fixed, shifted, trimmed or
    free format, see :mod:`.source`), or one of them to force it;
    ``free_format=True``/``False`` is the older spelling of ``free``/``fixed``.
    ``replacing`` fills in placeholders, e.g. ``{":PFX:": "CUST"}``; COPY
    members are found in ``copy_members`` (name -> text) and then in
    ``copy_dirs``.  ``honor_sync`` (default): SYNCHRONIZED binary, COMP-1,
    COMP-2, INDEX and POINTER items are aligned as IBM Enterprise COBOL aligns
    them, with slack bytes (:func:`_align_sync`); ``False`` ignores SYNC, for
    files written by tools that did not align (Cobrix's and JRecord's option).
    ``decimal_point_comma``: the program said ``DECIMAL-POINT IS COMMA``
    (``PIC ZZ.ZZ9,99``; ``,`` is the decimal point in pictures and data).
    Raises :class:`CopybookSyntaxError`.
    """
    roots = parse_items(
        text,
        decimal_point_comma=decimal_point_comma,
        free_format=free_format,
        source_format=source_format,
        replacing=replacing,
        copy_members=copy_members,
        copy_dirs=copy_dirs,
    )
    if roots[0].level not in (1, 77):
        wrapper = Item(level=1, name="RECORD", line=roots[0].line, synthetic=True)
        for root in roots:
            root.parent = wrapper
        wrapper.children = roots
        roots = [wrapper]
    all_items = [item for root in roots for item in root.walk()]
    _resolve_redefines(roots, parent=None)
    for root in roots:
        if honor_sync:
            _align_sync(root)
        _measure(root)
        if root.size > MAX_RECORD_LENGTH:
            raise CopybookSyntaxError(
                f"record {root.name} would be {root.size} bytes (limit {MAX_RECORD_LENGTH})", root.line
            )
    for root in roots:
        root.offset = 0
        _place(root)
    all_items = [item for root in roots for item in root.walk()]  # with the slack bytes inserted
    _resolve_counters(all_items)
    _assign_keys(roots, all_items)
    for root in roots:
        _resolve_renames(root)
    return Layout(roots, source_name)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _resolve_renames(root: Item) -> None:
    """Give each level-66 entry of ``root`` its byte range (COBOL: no OCCURS, first before thru)."""
    entries = [r for item in root.walk() for r in item.renames]
    if not entries:
        return
    items = [it for it in root.walk() if not it.synthetic]
    by_name: dict[str, list[Item]] = {}
    for it in items:
        by_name.setdefault(it.name, []).append(it)

    def find(name: str, ren: Renames) -> Item:
        found = by_name.get(name, [])
        if len(found) != 1:
            raise CopybookSyntaxError(
                f"RENAMES {ren.name}: {name} matches {len(found)} items of record {root.name}", ren.line
            )
        item = found[0]
        if item.level in (1, 77) or any(a.occurs for a in [item, *_ancestors(item)]):
            raise CopybookSyntaxError(f"RENAMES {ren.name}: {name} is a record or inside an OCCURS table", ren.line)
        return item

    for ren in entries:
        first = find(ren.first_name, ren)
        last = find(ren.thru_name, ren) if ren.thru_name else first
        end = last.offset + last.size
        if last.offset < first.offset or end <= first.offset:
            raise CopybookSyntaxError(f"RENAMES {ren.name}: {ren.thru_name} does not follow {ren.first_name}", ren.line)
        ren.first, ren.thru = first, last
        ren.offset = first.offset
        ren.size = max(end, first.offset + first.size) - first.offset


def _resolve_redefines(siblings: list[Item], parent: Item | None) -> None:
    area_base: Item | None = None
    members: list[Item] = []
    for item in siblings:
        if item.redefines_name is None:
            area_base, members = item, [item]
        else:
            target = next((m for m in members if m.name == item.redefines_name), None)
            if target is None:
                owner = parent.name if parent is not None else "the copybook"
                raise CopybookSyntaxError(
                    f"{item.name} REDEFINES {item.redefines_name}, which is not the item just before it in {owner}",
                    item.line,
                )
            if item.level != target.level:
                raise CopybookSyntaxError(
                    f"{item.name} (level {item.level}) redefines {target.name} of level {target.level}",
                    item.line,
                )
            item.redefines = area_base
            members.append(item)
        if item.children:
            _resolve_redefines(item.children, item)


def _measure(item: Item) -> None:
    """Compute element sizes bottom-up; a REDEFINES area is as large as its largest member."""
    if item.is_group:
        area_start = 0
        area_size = 0
        for child in item.children:
            _measure(child)
            if child.redefines is None:
                area_start += area_size
                area_size = child.size
            else:
                area_size = max(area_size, child.size)
            child.rel_offset = area_start
        item.element_size = area_start + area_size
    if item.occurs and item.level == 1:
        raise CopybookSyntaxError(f"OCCURS is not allowed on 01-level item {item.name}", item.line)


def sync_boundary(item: Item) -> int:
    """The boundary (m) a SYNCHRONIZED elementary item is aligned on; 1 when SYNC has no effect.

    IBM Enterprise COBOL (Language Reference, "Slack bytes within records"):
    m = 2 for binary items of 1-4 digits, 4 for binary items of 5 or more
    digits, COMP-1, INDEX and POINTER (31-bit), 8 for COMP-2.  SYNC on a group
    applies to its elementary items; DISPLAY, PACKED-DECIMAL and NATIONAL items
    are not moved.  COBOL 2002 BINARY-CHAR/SHORT/LONG/DOUBLE: their size.
    """
    if item.is_group or item.ftype is None or item.slack:
        return 1
    node: Item | None = item
    while node is not None and not node.sync:
        node = node.parent
    if node is None:
        return 1
    ftype = item.ftype
    if ftype.usage is Usage.FLOAT:
        return 4
    if ftype.usage is Usage.DOUBLE:
        return 8
    if ftype.usage is not Usage.BINARY:
        return 1
    if item.usage_word in POINTER_USAGES:
        return 8 if item.usage_word == "POINTER-64" else 4
    if item.usage_word in FIXED_BINARY:
        return ftype.size
    return 2 if ftype.digits <= 4 else 4


def _slack_item(size: int, level: int, parent: Item, line: int) -> Item:
    picture = f"X({size})"
    return Item(
        level=level,
        name="FILLER",
        line=line,
        parent=parent,
        picture=picture,
        ftype=FieldType(Kind.TEXT, Usage.DISPLAY, size, picture=picture),
        element_size=size,
        slack=True,
    )


def _align_sync(root: Item) -> None:
    """Insert IBM's slack bytes for the SYNCHRONIZED items of ``root`` (a 01 record, doubleword aligned).

    One pass in storage order with absolute offsets (alignment counts from the
    record start): a SYNC item whose offset is not a multiple of its boundary
    m gets m - r slack bytes before it; a table (OCCURS group) holding SYNC
    items whose element size is not a multiple of the largest m inside it gets
    inter-occurrence slack bytes at the end of each element, so every
    occurrence is aligned like the first.  Where the slack goes: after the
    elementary item that precedes the SYNC item, at that item's level (IBM's
    rule), when that item ends plain groups; otherwise just before the SYNC
    item, or before the group or table it starts.  An item that REDEFINES
    another is not moved (COBOL requires the redefined item to be aligned).
    """
    if any(sync_boundary(it) > 1 for it in root.walk()):
        _lay_aligned(root, 0)


def _lay_aligned(group: Item, start: int) -> int:
    """Lay ``group``'s children out from absolute offset ``start``, adding slack; return the largest m inside."""
    area_start, area_size = start, 0
    largest = 1
    i = 0
    while i < len(group.children):
        child = group.children[i]
        if child.redefines is None:
            area_start += area_size
            area_size = 0
            m = sync_boundary(_leading_item(child))
            if m > 1 and area_start % m:
                pad = m - area_start % m
                if _put_slack(group, i, pad):
                    i += 1
                area_start += pad
        if child.is_group:
            inner = _lay_aligned(child, area_start)
            if child.occurs and inner > 1 and child.element_size % inner:
                pad = inner - child.element_size % inner  # inter-occurrence slack bytes
                child.children.append(_slack_item(pad, child.children[-1].level, child, child.children[-1].line))
                child.element_size += pad
            largest = max(largest, inner)
        else:
            largest = max(largest, sync_boundary(child))
        area_size = max(area_size, child.size)
        i += 1
    group.element_size = area_start + area_size - start
    return largest


def _leading_item(item: Item) -> Item:
    """The elementary item a group (or table) starts with: slack for it goes before the group."""
    while item.is_group and item.children:
        item = item.children[0]
    return item


def _put_slack(group: Item, index: int, size: int) -> bool:
    """Slack bytes before ``group.children[index]``; ``True`` when inserted there (not into an earlier group).

    IBM: the slack follows the preceding elementary item, at its level.  When the
    item before is a plain group (no OCCURS, no REDEFINES inside), the bytes go
    at the end of the innermost such group that ends with that elementary item.
    """
    following = group.children[index]
    chain: list[Item] = []
    node = group.children[index - 1] if index > 0 else None
    while (
        node is not None
        and node.is_group
        and not node.occurs
        and node.redefines is None
        and not any(c.redefines is not None for c in node.children)
    ):
        chain.append(node)
        node = node.children[-1]
    if chain:
        deepest = chain[-1]
        deepest.children.append(_slack_item(size, deepest.children[-1].level, deepest, following.line))
        for owner in chain:
            owner.element_size += size
        return False
    group.children.insert(index, _slack_item(size, following.level, group, following.line))
    return True


def _place(item: Item) -> None:
    for child in item.children:
        child.offset = item.offset + child.rel_offset
        _place(child)


def _ancestors(item: Item) -> list[Item]:
    out = []
    node = item.parent
    while node is not None:
        out.append(node)
        node = node.parent
    return out


def _resolve_counters(items: list[Item]) -> None:
    position = {id(it): n for n, it in enumerate(items)}
    for item in items:
        if item.depending_on_name is None:
            continue
        before = [
            c
            for c in items
            if c.name == item.depending_on_name
            and position[id(c)] < position[id(item)]
            and set(item.depending_on_qualifiers) <= {a.name for a in _ancestors(c)}
        ]
        if not before:
            raise CopybookSyntaxError(
                f"DEPENDING ON {item.depending_on_name}: no such item before {item.name}", item.line
            )
        item_chain = _ancestors(item)
        # Closest counter: the one sharing the deepest common ancestor.
        best = max(before, key=lambda c: sum(1 for a in _ancestors(c) if a in item_chain))
        if best.is_group or best.ftype is None or best.ftype.kind is not Kind.NUMBER or best.ftype.scale != 0:
            raise CopybookSyntaxError(
                f"DEPENDING ON {best.name}: the counter must be an integer elementary item", item.line
            )
        outside = [a for a in _ancestors(best) if a.occurs and a not in item_chain]
        if best.occurs or outside:
            raise CopybookSyntaxError(
                f"DEPENDING ON {best.name}: the counter is inside a table that {item.name} is not in",
                item.line,
            )
        if item is best or best in item.walk():
            raise CopybookSyntaxError(f"{item.name} depends on an item inside itself", item.line)
        item.depending_on = best
        best.is_counter = True


def _assign_keys(roots: list[Item], items: list[Item]) -> None:
    for item in reversed(items):
        item.has_data = (not item.is_filler) if not item.is_group else any(c.has_data for c in item.children)
    # FILLER groups are numbered children first, as Cobrix renames them: ``key`` counts the
    # groups that hold named data (value fillers dropped, the default), ``filler_key_all``
    # every FILLER group (value fillers kept, so every group has something to show).
    counts = [0, 0]

    def number_groups(item: Item) -> None:
        for child in item.children:
            number_groups(child)
        if item.is_group and item.is_filler:
            counts[1] += 1
            item.filler_key_all = f"FILLER_{counts[1]}"
            if item.has_data:
                counts[0] += 1
                item.key = f"FILLER_{counts[0]}"
            else:
                item.key = "FILLER"

    for root in roots:
        number_groups(root)
    value_fillers = 0
    for item in items:
        if item.slack:
            item.key = "FILLER"  # never output; not numbered among the copybook's own FILLERs
        elif item.is_filler:
            if not item.is_group:
                value_fillers += 1
                item.key = f"FILLER_P{value_fillers}"
        else:
            item.key = output_key(item.name)
    for parent_children in [roots, *(it.children for it in items if it.is_group)]:
        seen: dict[str, Item] = {}
        for child in parent_children:
            if child.is_filler:
                continue
            if child.key in seen and child.parent is not None:
                raise CopybookSyntaxError(f"duplicate name {child.name} in group {child.parent.name}", child.line)
            seen[child.key] = child
