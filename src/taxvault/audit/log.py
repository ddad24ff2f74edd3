"""The audit log: durable appends, signed tree heads and proofs over the store.

This is the library the Gate calls on every request::

    log = AuditLog(engine)
    index = log.append(event)   # blocks until durable; raises AuditAppendError otherwise

Proofs read O(log n) stored subtree hashes; appends write each closed subtree
once; nothing rehashes the whole log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection, Engine

from taxvault.audit.errors import AuditAppendError, AuditProofError, AuditStoreError
from taxvault.audit.event import AuditEvent
from taxvault.audit.frontier import HASH_SIZE, LEAF_BLOCK_LEVEL, MIN_STORED_LEVEL, Frontier
from taxvault.audit.group_commit import GroupCommitWriter
from taxvault.audit.merkle import EMPTY_ROOT, consistency_path, inclusion_path, node_hash, subtree_hash_from
from taxvault.audit.signing import SignedTreeHead, TreeHeadSigner, load_or_create_key
from taxvault.audit.storage import LogStore, snapshot

_PLACEHOLDER = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class TreeHead:
    """An unsigned tree head: the size and root the store holds now."""

    tree_size: int
    root_hash: bytes


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf ``leaf_index`` (hash ``leaf_hash``) is in the tree of ``tree_size`` leaves with ``root_hash``."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    root_hash: bytes

    def to_json(self) -> dict[str, Any]:
        """Hex form for the CLI and API."""
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "inclusion_path": [h.hex() for h in self.path],
            "root_hash": self.root_hash.hex(),
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of ``old_size`` (``old_root``) is a prefix of the tree of ``new_size`` (``new_root``)."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: list[bytes]

    def to_json(self) -> dict[str, Any]:
        """Hex form for the CLI and API."""
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "consistency_path": [h.hex() for h in self.path],
        }


class _StoredHashes:
    """Evaluates RFC proof recursions against stored perfect subtrees in two passes.

    The shape of a proof does not depend on hash values, so a first pass with
    placeholders collects which (level, index) nodes and which leaf blocks are
    needed, two queries fetch them, and a second pass computes the real hashes.
    Subtrees below :data:`MIN_STORED_LEVEL` are rebuilt from one leaf block (the
    open block's leaves come with the tree state).
    """

    def __init__(self, state: Frontier) -> None:
        self.state = state
        self.open_block = state.size >> LEAF_BLOCK_LEVEL
        self.wanted: set[tuple[int, int]] = set()
        self.wanted_blocks: set[int] = set()
        self.found: dict[tuple[int, int], bytes] | None = None
        self.found_blocks: dict[int, bytes] = {}

    def fetch(self, store: LogStore, conn: Connection) -> None:
        self.found, self.found_blocks = store.nodes(conn, self.wanted, self.wanted_blocks)

    def _leaves(self, first: int, count: int) -> list[bytes]:
        block = first >> LEAF_BLOCK_LEVEL
        if block == self.open_block:
            data = b"".join(self.state.tail)
        else:
            try:
                data = self.found_blocks[block]
            except KeyError:
                raise AuditStoreError(f"stored leaf hash block {block} is missing") from None
        off = (first - (block << LEAF_BLOCK_LEVEL)) * HASH_SIZE
        if len(data) < off + count * HASH_SIZE:
            raise AuditStoreError(f"stored leaf hash block {block} is truncated")
        return [data[off + i * HASH_SIZE : off + (i + 1) * HASH_SIZE] for i in range(count)]

    def perfect(self, level: int, index: int) -> bytes:
        if level < MIN_STORED_LEVEL:  # not stored: rebuild from its block's leaf hashes
            first = index << level
            if self.found is None:
                if first >> LEAF_BLOCK_LEVEL != self.open_block:
                    self.wanted_blocks.add(first >> LEAF_BLOCK_LEVEL)
                return _PLACEHOLDER
            hashes = self._leaves(first, 1 << level)
            while len(hashes) > 1:
                hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
            return hashes[0]
        if self.found is None:
            self.wanted.add((level, index))
            return _PLACEHOLDER
        try:
            return self.found[(level, index)]
        except KeyError:
            raise AuditStoreError(f"stored subtree hash (level {level}, index {index}) is missing") from None

    def subtree(self, start: int, end: int) -> bytes:
        return subtree_hash_from(start, end, self.perfect)


class AuditLog:
    """Append-only, tamper-evident log of access events in the project's store."""

    def __init__(
        self,
        engine: Engine,
        *,
        signer: TreeHeadSigner | None = None,
        key_path: Path | None = None,
        max_batch: int = 5000,
        append_timeout: float = 60.0,
    ) -> None:
        self.store = LogStore(engine)
        self._signer = signer
        self._key_path = key_path
        self._timeout = append_timeout
        self._writer = GroupCommitWriter(self.store.append, max_batch=max_batch)

    # -- appends -------------------------------------------------------------------

    def append(self, event: AuditEvent) -> int:
        """Record one event; returns its leaf index once durable, raises AuditAppendError otherwise.

        Safe to call from many threads at once: concurrent calls share one commit.
        """
        future = self._writer.submit(event.to_bytes())
        try:
            return future.result(timeout=self._timeout)
        except TimeoutError:
            raise AuditAppendError(f"audit append not confirmed within {self._timeout} s") from None

    def append_in(self, conn: Connection, events: Sequence[AuditEvent]) -> range:
        """Record events inside the caller's open write transaction; durable when the caller commits.

        Raises AuditAppendError (the caller must then roll back: no write without its record).
        """
        if not events:
            return range(0)
        try:
            start = self.store.append_in(conn, [e.to_bytes() for e in events])
        except Exception as exc:
            raise AuditAppendError(f"audit append failed, nothing was recorded: {exc}") from exc
        return range(start, start + len(events))

    def append_many(self, events: Sequence[AuditEvent]) -> range:
        """Record a batch in one transaction (bulk path); returns the leaf indexes."""
        if not events:
            return range(0)
        data = [e.to_bytes() for e in events]
        return range(*self._append_bytes(data))

    def append_bytes(self, data: Sequence[bytes]) -> range:
        """Bulk path for events already in canonical bytes (imports, benchmarks)."""
        if not data:
            return range(0)
        return range(*self._append_bytes(data))

    def _append_bytes(self, data: Sequence[bytes]) -> tuple[int, int]:
        try:
            start = self.store.append(data)
        except Exception as exc:
            raise AuditAppendError(f"audit append failed, nothing was recorded: {exc}") from exc
        return start, start + len(data)

    # -- tree heads ----------------------------------------------------------------------

    @property
    def signer(self) -> TreeHeadSigner:
        """The STH signer (its key is loaded, or created, on first use)."""
        if self._signer is None:
            self._signer = TreeHeadSigner.from_path(self._key_path)
        return self._signer

    def public_key(self) -> Ed25519PublicKey:
        """The public half of the signing key, without creating a key that does not exist."""
        if self._signer is not None:
            return self._signer.public_key
        return load_or_create_key(self._key_path, create=False).public_key()

    def tree_head(self) -> TreeHead:
        """The current size and root (unsigned)."""
        frontier = self.store.state()
        return TreeHead(frontier.size, frontier.root())

    def sign_tree_head(self) -> SignedTreeHead:
        """Issue, store and return an STH for the current tree."""
        head = self.tree_head()
        sth = self.signer.sign(head.tree_size, head.root_hash, int(time.time() * 1000))
        self.store.save_sth(sth)
        return sth

    def signed_tree_heads(self) -> list[SignedTreeHead]:
        """Every STH issued so far, by size then time."""
        with self.store.engine.connect() as conn:
            return self.store.sths(conn)

    def latest_sth(self) -> SignedTreeHead | None:
        """The most recent STH, if any."""
        sths = self.signed_tree_heads()
        return max(sths, key=lambda s: (s.timestamp_ms, s.tree_size)) if sths else None

    # -- proofs ---------------------------------------------------------------------------

    def event(self, index: int) -> AuditEvent:
        """The event stored at leaf ``index``."""
        with self.store.engine.connect() as conn:
            data = self.store.event(conn, index)
        if data is None:
            raise AuditProofError(f"no audit event at index {index}")
        return AuditEvent.from_bytes(data)

    def _size(self, tree_size: int | None, current: int) -> int:
        size = current if tree_size is None else tree_size
        if not 0 <= size <= current:
            raise AuditProofError(f"tree size {size} is beyond the log's {current} events")
        return size

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        """Inclusion proof of leaf ``index`` in the tree of ``tree_size`` (default: now)."""
        with snapshot(self.store.engine) as conn:
            state = self.store.state(conn)
            size = self._size(tree_size, state.size)
            if not 0 <= index < size:
                raise AuditProofError(f"leaf index {index} is not in a tree of size {size}")
            hashes = _StoredHashes(state)
            for _ in range(2):
                leaf = hashes.perfect(0, index)
                path = inclusion_path(index, size, hashes.subtree)
                root = hashes.subtree(0, size)
                if hashes.found is None:
                    hashes.fetch(self.store, conn)
        return InclusionProof(index, size, leaf, path, root)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Consistency proof from ``old_size`` to ``new_size`` (default: now)."""
        with snapshot(self.store.engine) as conn:
            state = self.store.state(conn)
            size = self._size(new_size, state.size)
            if not 0 <= old_size <= size:
                raise AuditProofError(f"no consistency proof from size {old_size} to size {size}")
            hashes = _StoredHashes(state)
            for _ in range(2):
                path = consistency_path(old_size, size, hashes.subtree)
                old_root = hashes.subtree(0, old_size) if old_size else EMPTY_ROOT
                new_root = hashes.subtree(0, size) if size else EMPTY_ROOT
                if hashes.found is None:
                    hashes.fetch(self.store, conn)
        return ConsistencyProof(old_size, size, old_root, new_root, path)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Commit pending appends and stop the writer thread."""
        self._writer.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
