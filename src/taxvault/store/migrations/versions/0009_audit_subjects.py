"""audit subjects: the index of audit events by taxpayer (event v2 ``subject``)

The access report and the oversight detectors read events about one taxpayer from
this index instead of scanning the log. Events already in the store (version 1, no
``subject`` field) are indexed here by resolving their resource ref: an entity's own
ref, or the owning entity of a tax module.

Revision ID: 0009
Revises: 0001
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("audit_index",)
depends_on: str | Sequence[str] | None = ("0002",)

_BATCH = 20_000


def upgrade() -> None:
    op.create_table(
        "audit_subjects",
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject", "leaf_index", name=op.f("pk_audit_subjects")),
        sqlite_with_rowid=False,
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Index the events already stored (resource -> owning taxpayer), a batch at a time."""
    events = sa.table("audit_events", sa.column("leaf_index"), sa.column("event"))
    entities = sa.table("entities", sa.column("id"), sa.column("ref"))
    modules = sa.table("tax_modules", sa.column("ref"), sa.column("entity_id"))
    index = sa.table("audit_subjects", sa.column("subject"), sa.column("leaf_index"))
    last = -1
    while True:
        rows = conn.execute(
            sa.select(events.c.leaf_index, events.c.event)
            .where(events.c.leaf_index > last)
            .order_by(events.c.leaf_index)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        last = int(rows[-1][0])
        found: dict[int, str] = {}
        for leaf, data in rows:
            try:
                obj = json.loads(bytes(data))
            except ValueError:
                continue  # the verifier names it; the index only skips it
            if isinstance(obj, dict):
                subject = obj.get("subject") or obj.get("resource")
                if isinstance(subject, str):
                    found[int(leaf)] = subject
        refs = sorted(set(found.values()))
        owner: dict[str, str] = {}
        for i in range(0, len(refs), 500):
            chunk = refs[i : i + 500]
            owner.update(
                (str(r), str(r)) for (r,) in conn.execute(sa.select(entities.c.ref).where(entities.c.ref.in_(chunk)))
            )
            owner.update(
                (str(m), str(e))
                for m, e in conn.execute(
                    sa.select(modules.c.ref, entities.c.ref)
                    .select_from(modules.join(entities, entities.c.id == modules.c.entity_id))
                    .where(modules.c.ref.in_(chunk))
                )
            )
        values = [{"subject": owner[r], "leaf_index": leaf} for leaf, r in found.items() if r in owner]
        if values:
            conn.execute(index.insert(), values)


def downgrade() -> None:
    op.drop_table("audit_subjects")
