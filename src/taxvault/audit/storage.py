"""Reading and writing the audit tables, with the lock that serializes appends.

Appends hold the tree lock for one transaction: SQLite ``BEGIN IMMEDIATE`` (one
writer at a time across processes, ``synchronous=FULL`` so a commit survives power
loss), PostgreSQL ``SELECT ... FOR UPDATE`` on the single ``audit_tree`` row with
``synchronous_commit = on``. The current size and frontier are re-read under the
lock, so two processes never assign the same leaf index. Hot paths use the DBAPI
directly: executemany on SQLite, binary COPY on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.audit.errors import AuditStoreError
from taxvault.audit.frontier import HASH_SIZE, Block, Frontier, Node, leaf_hashes
from taxvault.audit.signing import SignedTreeHead
from taxvault.audit.tables import audit_events, audit_leaves, audit_sths, audit_tree

PAGE = 50_000


_SUBJECT = b'"subject":"'


def subjects_of(events: Sequence[bytes], start: int) -> list[tuple[str, int]]:
    """(subject, leaf index) of the events that name a taxpayer (event v2), for the index.

    Read from the canonical bytes without parsing: inside a JSON string every quote is
    escaped, so the key pattern can only match the ``subject`` member itself.
    """
    found: list[tuple[str, int]] = []
    for i, data in enumerate(events):
        at = data.find(_SUBJECT)
        if at < 0:
            continue
        at += len(_SUBJECT)
        end = data.find(b'"', at)
        value = data[at:end]
        if end > at and b"\\" not in value:
            found.append((value.decode("ascii", "replace"), start + i))
    return found


def _raw(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only with exotic pools
        raise AuditStoreError("the store connection has no DBAPI connection")
    return raw


def _missing_tables(exc: Exception) -> AuditStoreError:
    return AuditStoreError(f"the audit tables are missing or damaged (run `taxvault init`): {exc}")


class LogStore:
    """The audit log's rows in one store (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"

    # -- appends -----------------------------------------------------------------

    def append(self, events: Sequence[bytes]) -> int:
        """Append canonical event bytes in one durable transaction; returns the first leaf index."""
        hashes = leaf_hashes(events)  # needs no lock
        with self.engine.connect() as conn:
            raw = _raw(conn)
            try:
                start = self._write(raw, self._lock(raw), events, hashes)
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                if not self.is_postgres:
                    raw.execute("PRAGMA synchronous=NORMAL")
        return start

    def append_in(self, conn: Connection, events: Sequence[bytes]) -> int:
        """Append inside the caller's open write transaction (the caller commits); first leaf index.

        The unit of work of a write: its data and its audit events commit together or
        not at all. On SQLite the caller already holds the write lock (``BEGIN
        IMMEDIATE``); on PostgreSQL the tree row is locked here ``FOR UPDATE`` until
        the caller's commit, which is made durable with ``synchronous_commit = on``.
        """
        hashes = leaf_hashes(events)
        raw = _raw(conn)
        if self.is_postgres:
            frontier = self._lock(raw)
        else:
            if not raw.in_transaction:
                raise AuditStoreError("append_in needs an open write transaction (BEGIN IMMEDIATE)")
            row = raw.execute("SELECT tree_size, frontier FROM audit_tree WHERE id = 1").fetchone()
            if row is None:
                raise AuditStoreError("the audit tree state row is missing (run `taxvault init`)")
            frontier = Frontier.from_bytes(int(row[0]), bytes(row[1]))
        return self._write(raw, frontier, events, hashes)

    def _write(self, raw: Any, frontier: Frontier, events: Sequence[bytes], hashes: list[bytes]) -> int:
        """Insert the events, their closed leaf blocks and subtree nodes, and the new tree state."""
        start = frontier.size
        nodes: list[Node] = []
        blocks: list[Block] = []
        frontier.extend(hashes, nodes, blocks)
        rows = zip(range(start, start + len(events)), events, strict=False)
        about = subjects_of(events, start)
        if self.is_postgres:
            self._copy_pg(raw, rows, blocks, nodes)
            if about:
                with raw.cursor() as cur:
                    cur.executemany("INSERT INTO audit_subjects (subject, leaf_index) VALUES (%s, %s)", about)
        else:
            raw.executemany("INSERT INTO audit_events (leaf_index, event) VALUES (?, ?)", rows)
            if about:
                raw.executemany("INSERT INTO audit_subjects (subject, leaf_index) VALUES (?, ?)", about)
            if blocks:
                raw.executemany("INSERT INTO audit_leaves (block, hashes) VALUES (?, ?)", blocks)
            if nodes:
                raw.executemany("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
        self._save_state(raw, frontier)
        return start

    def _lock(self, raw: Any) -> Frontier:
        sql = "SELECT tree_size, frontier FROM audit_tree WHERE id = 1"
        try:
            if self.is_postgres:
                cur = raw.cursor()
                cur.execute("SET LOCAL synchronous_commit = on")
                cur.execute(sql + " FOR UPDATE")
                row = cur.fetchone()
            else:
                raw.execute("PRAGMA synchronous=FULL")
                raw.execute("BEGIN IMMEDIATE")
                row = raw.execute(sql).fetchone()
        except Exception as exc:
            if "audit_tree" in str(exc):
                raise _missing_tables(exc) from exc
            raise
        if row is None:
            raise AuditStoreError("the audit tree state row is missing (run `taxvault init`)")
        try:
            return Frontier.from_bytes(int(row[0]), bytes(row[1]))
        except ValueError as exc:
            raise AuditStoreError(f"the audit tree state is damaged: {exc}") from None

    @staticmethod
    def _copy_pg(raw: Any, rows: Any, blocks: list[Block], nodes: list[Node]) -> None:
        with raw.cursor() as cur:
            with cur.copy("COPY audit_events (leaf_index, event) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "bytea"])
                for row in rows:
                    cp.write_row(row)
            if blocks:
                with cur.copy("COPY audit_leaves (block, hashes) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["int8", "bytea"])
                    for block in blocks:
                        cp.write_row(block)
            if nodes:
                with cur.copy("COPY audit_nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["int2", "int8", "bytea"])
                    for node in nodes:
                        cp.write_row(node)

    def _save_state(self, raw: Any, frontier: Frontier) -> None:
        params = (frontier.size, frontier.to_bytes(), frontier.root())
        if self.is_postgres:
            with raw.cursor() as cur:
                cur.execute("UPDATE audit_tree SET tree_size = %s, frontier = %s, root_hash = %s WHERE id = 1", params)
        else:
            raw.execute("UPDATE audit_tree SET tree_size = ?, frontier = ?, root_hash = ? WHERE id = 1", params)

    # -- reads ---------------------------------------------------------------------

    def state(self, conn: Connection | None = None) -> Frontier:
        """The committed tree size and frontier."""
        if conn is None:
            with self.engine.connect() as own:
                return self.state(own)
        try:
            row = conn.execute(sa.select(audit_tree.c.tree_size, audit_tree.c.frontier)).first()
        except sa.exc.DBAPIError as exc:
            raise _missing_tables(exc) from None
        if row is None:
            raise AuditStoreError("the audit tree state row is missing (run `taxvault init`)")
        try:
            return Frontier.from_bytes(int(row[0]), bytes(row[1]))
        except ValueError as exc:
            raise AuditStoreError(f"the audit tree state is damaged: {exc}") from None

    @staticmethod
    def nodes(
        conn: Connection, keys: set[tuple[int, int]], blocks: set[int] | None = None
    ) -> tuple[dict[tuple[int, int], bytes], dict[int, bytes]]:
        """Stored perfect-subtree hashes for ``(level, index)`` keys and leaf-hash blocks (one query)."""
        blocks = blocks or set()
        if not keys and not blocks:
            return {}, {}
        # One point lookup per key, glued with UNION ALL: each arm is a primary-key
        # search on both stores (a row-value IN or a wide OR can fall back to a scan).
        # Leaf blocks come back as level -1.
        ordered = sorted(keys)
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        node_arm = f"SELECT level, idx, hash FROM audit_nodes WHERE level = {mark} AND idx = {mark}"  # noqa: S608
        block_arm = f"SELECT -1, block, hashes FROM audit_leaves WHERE block = {mark}"  # noqa: S608
        sql = " UNION ALL ".join([node_arm] * len(ordered) + [block_arm] * len(blocks))
        params = tuple(v for key in ordered for v in key) + tuple(sorted(blocks))
        found: dict[tuple[int, int], bytes] = {}
        found_blocks: dict[int, bytes] = {}
        for lv, ix, h in conn.exec_driver_sql(sql, params):
            if int(lv) < 0:
                found_blocks[int(ix)] = bytes(h)
            else:
                found[(int(lv), int(ix))] = bytes(h)
        return found, found_blocks

    @staticmethod
    def event(conn: Connection, index: int) -> bytes | None:
        """The stored bytes of leaf ``index``."""
        value = conn.execute(sa.select(audit_events.c.event).where(audit_events.c.leaf_index == index)).scalar()
        return None if value is None else bytes(value)

    @staticmethod
    def iter_events(conn: Connection, below: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Every stored (leaf index, event bytes) in index order, paged by key."""
        c = audit_events.c
        last = -1
        while True:
            q = sa.select(c.leaf_index, c.event).where(c.leaf_index > last)
            if below is not None:
                q = q.where(c.leaf_index < below)
            page = conn.execute(q.order_by(c.leaf_index).limit(PAGE)).all()
            for index, data in page:
                yield int(index), bytes(data)
            if len(page) < PAGE:
                return
            last = int(page[-1][0])

    def iter_leaf_hashes(self, conn: Connection) -> Iterator[bytes]:
        """The stored leaf hashes in index order: full blocks, then the open block's leaves."""
        c = audit_leaves.c
        last = -1
        while True:
            page = conn.execute(
                sa.select(c.block, c.hashes).where(c.block > last).order_by(c.block).limit(PAGE // 16)
            ).all()
            for _, data in page:
                data = bytes(data)
                for i in range(0, len(data) - HASH_SIZE + 1, HASH_SIZE):
                    yield data[i : i + HASH_SIZE]
            if len(page) < PAGE // 16:
                break
            last = int(page[-1][0])
        yield from self.state(conn).tail

    # -- signed tree heads -----------------------------------------------------------

    def save_sth(self, sth: SignedTreeHead) -> None:
        """Record an issued STH."""
        with self.engine.begin() as conn:
            conn.execute(
                audit_sths.insert().values(
                    tree_size=sth.tree_size,
                    timestamp_ms=sth.timestamp_ms,
                    root_hash=sth.root_hash,
                    signature=sth.signature,
                    key_id=sth.key_id,
                )
            )

    @staticmethod
    def sths(conn: Connection) -> list[SignedTreeHead]:
        """Every stored STH, by tree size then time."""
        c = audit_sths.c
        rows = conn.execute(
            sa.select(c.tree_size, c.timestamp_ms, c.root_hash, c.signature, c.key_id).order_by(
                c.tree_size, c.timestamp_ms, c.id
            )
        )
        return [SignedTreeHead(int(s), int(t), bytes(r), bytes(sig), str(k)) for s, t, r, sig, k in rows]


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection that sees one consistent state across many queries."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        else:
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()
