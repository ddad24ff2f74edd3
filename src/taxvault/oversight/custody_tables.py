"""Tables of data custody: exports under grants, their canaries, destruction certificates.

Why here and not in the grants table: an export is a copy leaving the store, so it is
recorded with who asked, who approved (two people above the bulk threshold), what it
held (counts and field names only) and the canaries planted in it; canaries keep only
the store's keyed TIN hash (:mod:`taxvault.store.tins`), never a clear TIN. A
destruction certificate is kept whole (its signed JSON) so anyone can verify it later.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

EXPORT_STATES = ("pending", "produced", "refused", "shredded")

destruction_certificates = sa.Table(
    "destruction_certificates",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("what", sa.String(80), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("destroyed_by", sa.String(40), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Index(None, "what"),
)

exports = sa.Table(
    "exports",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("grant_id", Id, sa.ForeignKey("grants.id"), nullable=False),
    sa.Column("requested_by", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("dataset", sa.String(40), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("canaries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("approver_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("produced_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("file_sha256", sa.String(64), nullable=True),
    sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in EXPORT_STATES)})", name="state"),
    sa.CheckConstraint("approver_id <> requested_by", name="second_person"),
    sa.CheckConstraint("records >= 0", name="records"),
    sa.Index(None, "grant_id"),
    sa.Index(None, "requested_by", "created_at"),
)

export_canaries = sa.Table(
    "export_canaries",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("export_id", Id, sa.ForeignKey("exports.id"), nullable=False),
    sa.Column("recipient", sa.String(40), nullable=False),
    sa.Column("tin_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "export_id"),
)
