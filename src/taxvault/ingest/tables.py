"""The ingest domain's table: the quarantine of records that failed validation.

Why a table and not a reject file: bad input must lose nothing and stay
traceable. Each quarantined record keeps its file (``source_id`` -> the file's
``sources`` row, content hash unique), its record number, the first field
found bad, the reason, and the raw bytes, so it can be corrected and
re-submitted. It is written in the same transaction as the file's good records,
so loaded + quarantined = read holds after any crash.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

ingest_quarantine = sa.Table(
    "ingest_quarantine",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("source_id", Id, sa.ForeignKey("sources.id"), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("record_number", sa.BigInteger, nullable=False),
    sa.Column("record_type", sa.String(16), nullable=False),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "source_id", "record_number"),
)
