"""The compact right frontier of a Merkle tree: append in O(1) amortized, root in O(log n).

A tree of n leaves is a left-to-right sequence of perfect subtrees, one per set
bit of n. Appending a leaf merges equal-sized neighbours; every merge closes a
perfect subtree whose hash never changes again, which is what the store keeps so
proofs read O(log n) rows and nothing is ever rehashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from taxvault.audit.merkle import EMPTY_ROOT

HASH_SIZE = 32
MIN_STORED_LEVEL = 4
"""Interior subtrees below this level are not stored: a proof rebuilds one from at most
2**(MIN_STORED_LEVEL - 1) stored leaf hashes, and appends write ~1.07 rows per event
instead of 2."""

Node = tuple[int, int, bytes]
"""A closed perfect subtree: (level, index at that level, hash); level 0 is a leaf."""


@dataclass(slots=True)
class Frontier:
    """Tree size and the hashes of its perfect subtrees, largest (leftmost) first."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def extend(self, leaf_hashes: Iterable[bytes], nodes: list[Node] | None = None) -> None:
        """Append leaves (by hash); record every closed subtree in ``nodes`` if given."""
        sha = hashlib.sha256
        hashes = self.hashes
        size = self.size
        record = nodes.append if nodes is not None else None
        for h in leaf_hashes:
            if record is not None:
                record((0, size, h))
            s, level, idx = size, 0, size
            while s & 1:
                h = sha(b"\x01" + hashes.pop() + h).digest()
                s >>= 1
                level += 1
                idx >>= 1
                if record is not None and level >= MIN_STORED_LEVEL:
                    record((level, idx, h))
            hashes.append(h)
            size += 1
        self.size = size

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
        """The frontier hashes concatenated (the size is stored beside them)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild from a stored size and concatenated hashes; checks they agree."""
        count = bin(size).count("1")
        if len(data) != count * HASH_SIZE:
            raise ValueError(f"frontier of a tree of size {size} needs {count} hashes")
        return cls(size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    def copy(self) -> Frontier:
        """An independent copy (appends are tried on a copy, kept only after commit)."""
        return Frontier(self.size, list(self.hashes))
