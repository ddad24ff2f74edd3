"""The compact right frontier of a Merkle tree: append in O(1) amortized, root in O(log n).

A tree of n leaves is a left-to-right sequence of perfect subtrees, one per set
bit of n. Appending leaves merges equal-sized neighbours; every merge closes a
perfect subtree whose hash never changes again, which is what the store keeps so
proofs read O(log n) rows and nothing is ever rehashed.

Leaf hashes are kept in blocks of :data:`LEAF_BLOCK` (one row per block, not one
per leaf); the leaves of the unfinished last block ride along in the frontier
(``tail``) until the block closes. Interior subtrees below :data:`MIN_STORED_LEVEL`
are rebuilt from one block when a proof needs them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from taxvault.audit.merkle import EMPTY_ROOT

HASH_SIZE = 32
LEAF_BLOCK_LEVEL = 4
LEAF_BLOCK = 1 << LEAF_BLOCK_LEVEL
"""Leaf hashes per stored block row."""
MIN_STORED_LEVEL = LEAF_BLOCK_LEVEL + 1
"""Interior subtrees below this level are not stored: a proof rebuilds one from the
(at most 16) leaf hashes of one block, so appends write ~1.09 rows per event (the
event, 1/16 of a leaf block, 1/32 + 1/64 + ... of a node) instead of 2."""

Node = tuple[int, int, bytes]
"""A closed perfect subtree: (level, index at that level, hash)."""
Block = tuple[int, bytes]
"""A full block of leaf hashes: (block index, LEAF_BLOCK concatenated hashes)."""


_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_NODE = b"\x01"
_LEAF = b"\x00"


def leaf_hashes(events: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes of event bytes; the loop runs in C (maps over constructor and digest)."""
    return list(map(_digest, map(_sha256, map(_LEAF.__add__, events))))


def _levels(size: int) -> list[int]:
    """The levels of the perfect subtrees of a tree of ``size`` leaves, largest first."""
    return [lv for lv in range(size.bit_length() - 1, -1, -1) if size >> lv & 1]


@dataclass(slots=True)
class Frontier:
    """Tree size, the hashes of its perfect subtrees (largest first), and the open block's leaves."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)

    def extend(
        self,
        leaf_hashes: Sequence[bytes],
        nodes: list[Node] | None = None,
        blocks: list[Block] | None = None,
    ) -> None:
        """Append leaves (by hash); record closed subtrees in ``nodes`` and full leaf blocks in ``blocks``.

        Works level by level over the whole batch (one list comprehension per level),
        so a batch of m leaves costs m - 1 + O(log n) hashes and little interpreter time.
        """
        m = len(leaf_hashes)
        if not m:
            return
        old, new = self.size, self.size + m
        # Leaf blocks: the open block's leaves, then the new ones, cut in LEAF_BLOCK pieces.
        leaves = self.tail + list(leaf_hashes) if self.tail else list(leaf_hashes)
        full = len(leaves) // LEAF_BLOCK
        if blocks is not None and full:
            first = old >> LEAF_BLOCK_LEVEL
            blocks.extend((first + j, b"".join(leaves[j * LEAF_BLOCK : (j + 1) * LEAF_BLOCK])) for j in range(full))
        self.tail = leaves[full * LEAF_BLOCK :]
        # Interior nodes, level by level.
        by_level = dict(zip(_levels(old), self.hashes, strict=True))
        new_by_level: dict[int, bytes] = {}
        cur = list(leaf_hashes)
        level = 0
        while cur:
            if old >> level & 1:  # the old frontier's subtree at this level is the left sibling
                cur.insert(0, by_level[level])
            if len(cur) & 1:
                new_by_level[level] = cur.pop()
            if not cur:
                level += 1
                break
            pairs = map(_NODE.__add__, map(bytes.__add__, cur[0::2], cur[1::2]))
            cur = list(map(_digest, map(_sha256, pairs)))
            level += 1
            if nodes is not None and level >= MIN_STORED_LEVEL:
                start = old >> level
                nodes.extend((level, start + j, h) for j, h in enumerate(cur))
        for lv, h in by_level.items():  # untouched higher levels keep their subtrees
            if lv >= level:
                new_by_level[lv] = h
        self.hashes = [new_by_level[lv] for lv in _levels(new)]
        self.size = new

    def root(self) -> bytes:
        """MTH of the whole tree: fold the frontier from the right (RFC 9162 split)."""
        if not self.hashes:
            return EMPTY_ROOT
        sha = hashlib.sha256
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = sha(b"\x01" + h + r).digest()
        return r

    def to_bytes(self) -> bytes:
        """The frontier hashes, then the open block's leaf hashes (the size is stored beside them)."""
        return b"".join(self.hashes) + b"".join(self.tail)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild from a stored size and concatenated hashes; checks they agree."""
        count = bin(size).count("1")
        open_leaves = size % LEAF_BLOCK
        if len(data) != (count + open_leaves) * HASH_SIZE:
            raise ValueError(f"frontier of a tree of size {size} needs {count} subtree and {open_leaves} leaf hashes")
        hashes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        return cls(size, hashes[:count], hashes[count:])

    def copy(self) -> Frontier:
        """An independent copy (appends are tried on a copy, kept only after commit)."""
        return Frontier(self.size, list(self.hashes), list(self.tail))
