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
from .parser import Condition, Item, Renames, parse_items
from .picture import Kind
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
            label = f"{'  ' * depth}{item.level} {item.name}"
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
) -> Layout:
    """Parse COBOL copybook ``text`` into a :class:`Layout`.

    ``source_format``: ``auto`` (default: detects fixed, shifted, trimmed or
    free format, see :mod:`.source`), or one of them to force it;
    ``free_format=True``/``False`` is the older spelling of ``free``/``fixed``.
    ``replacing`` fills in placeholders, e.g. ``{":PFX:": "CUST"}``; COPY
    members are found in ``copy_members`` (name -> text) and then in
    ``copy_dirs``.  Raises :class:`CopybookSyntaxError`.
    """
    roots = parse_items(
        text,
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
        _measure(root)
        if root.size > MAX_RECORD_LENGTH:
            raise CopybookSyntaxError(
                f"record {root.name} would be {root.size} bytes (limit {MAX_RECORD_LENGTH})", root.line
            )
    for root in roots:
        root.offset = 0
        _place(root)
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
        before = [c for c in items if c.name == item.depending_on_name and position[id(c)] < position[id(item)]]
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
        if item.is_filler:
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
