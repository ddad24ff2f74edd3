"""The access domain's tables: the break-glass review queue, the idempotency keys of API writes."""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

break_glass_reviews = sa.Table(
    "break_glass_reviews",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("leaf_index", sa.BigInteger, nullable=False),  # the audit event of the access
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(64), nullable=False),  # opaque ref
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("justification", sa.String(1000), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(10), nullable=False, server_default="pending"),
    sa.Column("reviewer_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.String(1000), nullable=True),  # the reviewer's (migration 0010)
    sa.CheckConstraint("state IN ('pending', 'upheld', 'referred')", name="state"),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "principal_id"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",  # migration 0018; see taxvault.access.idempotency
    metadata,
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("key_hash", sa.String(64), primary_key=True),  # keyed hash of the client's key, never the key
    sa.Column("fingerprint", sa.String(64), nullable=False),  # keyed hash of method, path, body: never the body
    sa.Column("request_id", sa.String(64), nullable=False),  # the request that applied the write
    sa.Column("status", sa.Integer, nullable=True),  # the response, stored in the write's own transaction
    sa.Column("content_type", sa.String(100), nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("action", sa.String(100), nullable=True),  # the write's audit event, for the replay's event
    sa.Column("resource", sa.String(64), nullable=True),
    sa.Column("subject", sa.String(64), nullable=True),
    sa.Column("fields", sa.String(2000), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "expires_at"),
)
