"""A taxpayer's access report: who read her records, when, why, and which fields.

Employees are pseudonymised (a keyed hash of their id, stable per employee), so
the taxpayer can see that the same person looked twice without learning who.
Scans the log (fine for the embedded store; an index by resource is the path at scale).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.audit.event import AuditEvent
from taxvault.audit.storage import LogStore
from taxvault.keys import load_or_create_secret
from taxvault.store.tables import principals, tax_modules

_RESOURCE = b'"resource":"'


def pseudonym(principal_id: str, key: bytes) -> str:
    """A stable pseudonym of an employee for one deployment."""
    return "employee-" + hmac.new(key, principal_id.encode("utf-8"), hashlib.sha256).hexdigest()[:10]


def access_report(
    conn: Connection, entity_id: int, entity_ref: str, *, exclude_principal: str, limit: int, offset: int
) -> dict[str, Any]:
    """Allowed accesses to the entity's records by others, newest first."""
    refs = {entity_ref.encode("ascii")}
    refs.update(
        r.encode("ascii")
        for (r,) in conn.execute(sa.select(tax_modules.c.ref).where(tax_modules.c.entity_id == entity_id))
    )
    hits: list[AuditEvent] = []
    for _, data in LogStore.iter_events(conn):
        start = data.find(_RESOURCE)
        if start < 0:
            continue
        start += len(_RESOURCE)
        if data[start : data.find(b'"', start)] not in refs:
            continue
        event = AuditEvent.from_bytes(data)
        if event.decision.value != "allow" or event.principal == exclude_principal or not event.fields:
            continue
        hits.append(event)
    hits.reverse()
    page = hits[offset : offset + limit + 1]
    who = {e.principal for e in page}
    info = {
        r.id: (r.kind, r.unit, r.roles)
        for r in conn.execute(
            sa.select(principals.c.id, principals.c.kind, principals.c.unit, principals.c.roles).where(
                principals.c.id.in_(who)
            )
        )
    } if who else {}  # fmt: skip
    key = load_or_create_secret("access-report-pseudonyms")
    items = []
    for e in page[:limit]:
        kind, unit, roles = info.get(e.principal, ("unknown", None, ""))
        items.append(
            {
                "time": e.time.isoformat().replace("+00:00", "Z"),
                "accessor": e.principal if kind == "system" else pseudonym(e.principal, key),
                "unit": unit,
                "role": (roles or "").split()[0] if roles else None,
                "purpose": e.purpose,
                "action": e.action,
                "fields": list(e.fields),
                "break_glass": "break-glass" in (e.policy or "").split(","),
            }
        )
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(page) > limit else None,
    }
