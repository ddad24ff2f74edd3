"""The stored hashes as the verifier reads them: leaf hashes, subtree nodes, tree state.

``verify`` recomputes every hash the store keeps from the events, so these readers
take the rows as they are (no parsing that could refuse a damaged row before the
verifier can name it): a missing node reads as 32 zero bytes, the open block's
leaf hashes are whatever follows the frontier's subtree hashes in ``audit_tree``.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.audit.frontier import HASH_SIZE
from taxvault.audit.tables import audit_leaves, audit_nodes, audit_tree
from taxvault.audit.verifier import MIN_STORED_LEVEL, NodeReader, StoredTree

PAGE = 4096
_ZERO = b"\x00" * HASH_SIZE


def tree_row(conn: Connection) -> tuple[int, bytes, bytes] | None:
    """``(tree_size, frontier bytes, root hash)`` of ``audit_tree``, unparsed; None when the row is gone."""
    c = audit_tree.c
    row = conn.execute(sa.select(c.tree_size, c.frontier, c.root_hash)).first()
    return None if row is None else (int(row[0]), bytes(row[1]), bytes(row[2]))


def open_leaves(size: int, frontier: bytes) -> bytes:
    """The open block's leaf hashes: what follows the subtree hashes in the stored frontier."""
    return frontier[HASH_SIZE * bin(size).count("1") :]


def iter_leaf_hashes(conn: Connection, tail: bytes) -> Iterator[bytes]:
    """Every stored leaf hash in order: the blocks as stored (by block number), then ``tail``."""
    c = audit_leaves.c
    last = -1
    while True:
        page = conn.execute(sa.select(c.block, c.hashes).where(c.block > last).order_by(c.block).limit(PAGE)).all()
        for _, data in page:
            data = bytes(data)
            for i in range(0, len(data) - HASH_SIZE + 1, HASH_SIZE):
                yield data[i : i + HASH_SIZE]
        if len(page) < PAGE:
            break
        last = int(page[-1][0])
    for i in range(0, len(tail) - HASH_SIZE + 1, HASH_SIZE):
        yield tail[i : i + HASH_SIZE]


def leaf_hash_count(conn: Connection, tail: bytes) -> int:
    """How many leaf hashes the store holds (blocks and open leaves)."""
    total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(audit_leaves.c.hashes)), 0))).scalar()
    return int(total or 0) // HASH_SIZE + len(tail) // HASH_SIZE


def node_reader(conn: Connection) -> NodeReader:
    """Stored subtree hashes ``[first, first + count)`` of one level, a missing one as zero bytes."""
    c = audit_nodes.c

    def read(level: int, first: int, count: int) -> bytes:
        rows = conn.execute(
            sa.select(c.idx, c.hash).where(c.level == level, c.idx >= first, c.idx < first + count).order_by(c.idx)
        )
        found = {int(i): bytes(h) for i, h in rows}
        return b"".join(found.get(first + k, _ZERO) for k in range(count))

    return read


def node_extents(conn: Connection) -> list[tuple[int, int]]:
    """``(level, highest index)`` per stored level: what the verifier needs to see nodes past the events."""
    c = audit_nodes.c
    return [(int(lv), int(ix)) for lv, ix in conn.execute(sa.select(c.level, sa.func.max(c.idx)).group_by(c.level))]


def stored_tree(conn: Connection) -> tuple[StoredTree, bytes]:
    """The stored tree (state, node reader, node extents, leaf-hash count) and the open leaves."""
    row = tree_row(conn)
    size, frontier, root = row if row is not None else (0, b"", b"")
    tail = open_leaves(size, frontier)
    tree = StoredTree(
        tree_size=size,
        frontier=frontier,
        root_hash=root,
        nodes=node_reader(conn),
        extra_nodes=node_extents(conn),
        leaf_hash_count=leaf_hash_count(conn, tail),
    )
    return tree, tail


def export_nodes(conn: Connection, events: int) -> tuple[list[list[int]], list[tuple[int, int]], Iterator[bytes]]:
    """The node layout for ``events`` events, the stored nodes outside it, and the hashes to write.

    Level by level from :data:`MIN_STORED_LEVEL`, ``events >> level`` hashes each (a
    missing one as zero bytes); rows at other levels or past the events are listed
    apart (at most 100) so the verifier reports them.
    """
    levels = [lv for lv in range(MIN_STORED_LEVEL, max(events.bit_length(), MIN_STORED_LEVEL)) if events >> lv]
    layout = [[lv, events >> lv] for lv in levels]
    c = audit_nodes.c
    conds = [c.level < MIN_STORED_LEVEL, c.level >= MIN_STORED_LEVEL + len(levels)]
    conds += [sa.and_(c.level == lv, c.idx >= n) for lv, n in layout]
    outside = conn.execute(sa.select(c.level, c.idx).where(sa.or_(*conds)).order_by(c.level, c.idx).limit(100))
    extra = [(int(lv), int(ix)) for lv, ix in outside]

    def hashes() -> Iterator[bytes]:
        for lv, count in layout:
            expect = 0
            last = -1
            while expect < count:
                rows = conn.execute(
                    sa.select(c.idx, c.hash)
                    .where(c.level == lv, c.idx > last, c.idx < count)
                    .order_by(c.idx)
                    .limit(PAGE * 16)
                ).all()
                if not rows:
                    break
                for ix, h in rows:
                    ix = int(ix)
                    while expect < ix:
                        yield _ZERO
                        expect += 1
                    yield bytes(h)
                    expect += 1
                last = int(rows[-1][0])
            while expect < count:
                yield _ZERO
                expect += 1

    return layout, extra, hashes()
