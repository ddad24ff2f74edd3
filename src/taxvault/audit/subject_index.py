"""Events about one taxpayer, from the index by subject (not a scan of the log).

The index (``audit_subjects``) is written in the same transaction as the events it
points to (see :func:`taxvault.audit.storage.subjects_of`), so the leaves it lists are
exactly the committed events whose v2 ``subject`` is the taxpayer. Reading a page costs
an index range scan: report time does not grow with the size of the log.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.audit.tables import audit_events, audit_subjects


def leaves_about(conn: Connection, subject: str, *, before: int | None = None, limit: int = 1000) -> list[int]:
    """Leaf indexes of events about ``subject``, newest first (below ``before`` when paging)."""
    c = audit_subjects.c
    stmt = sa.select(c.leaf_index).where(c.subject == subject)
    if before is not None:
        stmt = stmt.where(c.leaf_index < before)
    return [int(i) for (i,) in conn.execute(stmt.order_by(c.leaf_index.desc()).limit(limit))]


def events_about(
    conn: Connection, subject: str, *, before: int | None = None, limit: int = 1000
) -> list[tuple[int, bytes]]:
    """(leaf index, canonical event bytes) about ``subject``, newest first."""
    leaves = leaves_about(conn, subject, before=before, limit=limit)
    if not leaves:
        return []
    rows = conn.execute(
        sa.select(audit_events.c.leaf_index, audit_events.c.event).where(audit_events.c.leaf_index.in_(leaves))
    )
    found = {int(i): bytes(e) for i, e in rows}
    return [(i, found[i]) for i in leaves if i in found]
