"""The query domain's table: plans proposed to a principal, so she runs exactly the plan she saw.

A proposal stores the normalised plan's canonical JSON and its hash (never the
question: it may hold a name or a TIN someone typed). Running by id re-reads the
JSON, checks its hash and that the runner is who it was proposed to.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import metadata

query_plans = sa.Table(
    "query_plans",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # "p" + random hex: the plan's id for the client
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=False),
    sa.Column("plan", sa.Text, nullable=False),  # canonical JSON
    sa.Column("translator", sa.String(16), nullable=False),  # offline | llm | given
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "principal_id", "created_at"),
)
