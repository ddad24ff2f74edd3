"""The audit log's tables, on the store's shared metadata.

- ``audit_events``: one row per leaf: its index and canonical event bytes.
- ``audit_leaves``: the leaf hashes, 16 to a row (block index -> 512 bytes), kept
  apart from the events so an edited or renumbered event row is named exactly.
- ``audit_nodes``: every closed perfect subtree of level 5 and up, (level, index)
  -> hash. Written once when the right frontier closes them, so a proof reads
  O(log n) rows and nothing is rehashed (lower levels come from one leaf block).
- ``audit_tree``: a single row with the tree size, the compact frontier (plus the
  leaf hashes of the unfinished block) and the root; it is also the lock that
  serializes appends across processes.
- ``audit_sths``: signed tree heads, as issued.

Triggers added by the migration refuse UPDATE and DELETE on the log tables; an
administrator can drop them, which is why the verifier exists.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("leaf_index", Id, primary_key=True, autoincrement=False),
    sa.Column("event", sa.LargeBinary, nullable=False),
)

audit_leaves = sa.Table(
    "audit_leaves",
    metadata,
    sa.Column("block", Id, primary_key=True, autoincrement=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

audit_nodes = sa.Table(
    "audit_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

audit_tree = sa.Table(
    "audit_tree",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
)

audit_sths = sa.Table(
    "audit_sths",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("tree_size", sa.BigInteger, nullable=False, index=True),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("signature", sa.LargeBinary(64), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
)

audit_subjects = sa.Table(
    "audit_subjects",
    metadata,
    # The index by taxpayer (event v2 ``subject``) that the access report and oversight read:
    # written in the same transaction as the events, so a report never misses a committed one.
    sa.Column("subject", sa.String(40), primary_key=True),
    sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
