"""The system principals the jobs act as, created by ``taxvault init``.

Jobs never act as a person: each acts through the door as its own named principal
(kind ``system``) whose narrow Cedar permits (``policies/system.cedar``) say exactly
what it may do. They exist in every store ``init`` made, whether or not a population
was synthesised, so ingest, the posting cycle and matching run on a fresh store.
Creating them is idempotent and never touches an existing row: a system principal
an administrator deactivated stays deactivated (its job is then refused, and audited).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.store.tables import principals

SYNTH = "sys-synth"
INGEST = "sys-ingest"
POSTING = "sys-posting"
MATCHING = "sys-matching"
NOTICES = "sys-notices"
OVERSIGHT = "sys-oversight"
GRANTS = "sys-grants"

SYSTEM_PRINCIPALS: tuple[tuple[str, str, str], ...] = (
    # id, display name, roles (the role after "system" is what system.cedar permits)
    (SYNTH, "Synthetic population generator", "system synth"),
    (INGEST, "Ingest pipeline", "system ingest"),
    (POSTING, "Posting cycle", "system posting"),
    (MATCHING, "Matching job", "system matching"),
    (NOTICES, "Notice issuance", "system notices"),
    (OVERSIGHT, "Oversight scan and alert queue", "system oversight"),
    (GRANTS, "Grant expiry and shredding", "system grants"),
)


def ensure_system_principals(conn: Connection, *, now: dt.datetime | None = None) -> list[str]:
    """Create the system principals that are missing; returns the ids created (none if all exist)."""
    ids = [p[0] for p in SYSTEM_PRINCIPALS]
    have = {str(i) for (i,) in conn.execute(sa.select(principals.c.id).where(principals.c.id.in_(ids)))}
    created_at = now or dt.datetime.now(dt.UTC)
    missing = [
        {
            "id": pid,
            "kind": "system",
            "display_name": name,
            "roles": roles,
            "unit": None,
            "entity_id": None,
            "manager_id": None,
            "dollar_limit_cents": 0,
            "active": True,
            "created_at": created_at,
        }
        for pid, name, roles in SYSTEM_PRINCIPALS
        if pid not in have
    ]
    if missing:
        conn.execute(principals.insert(), missing)
    return [pid for pid, _, _ in SYSTEM_PRINCIPALS if pid not in have]
