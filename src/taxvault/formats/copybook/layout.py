"""Item tree -> record layout: sizes, offsets, REDEFINES areas, ODO counters and output keys.

Everything that depends only on the copybook is computed here exactly once,
so the decoders compiled from a :class:`Layout` work with plain integers.
Offsets are those of the maximum-size record (every OCCURS DEPENDING ON at its
maximum), which is how fixed-length files reserve space; the "variable size
occurs" decoder recomputes positions from the actual counters instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import CopybookSyntaxError
from .parser import Item, parse_items
from .picture import Kind

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
        return "\n".join(lines)


def parse_copybook(text: str, *, free_format: bool = False, source_name: str | None = None) -> Layout:
    """Parse COBOL copybook ``text`` into a :class:`Layout`.

    ``free_format=True`` reads the text without the fixed-format column rules
    (no sequence area, no column-72 cut).  Raises :class:`CopybookSyntaxError`.
    """
    roots = parse_items(text, free_format=free_format)
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
    return Layout(roots, source_name)


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
