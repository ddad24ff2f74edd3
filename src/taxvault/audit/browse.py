"""Browsing the audit log newest first, with filters, in bounded work per page (the console's log browser).

Why here: events are canonical bytes only ``audit/`` parses (one event builder and reader).
Why bounded: the log has no index by principal or time, so a filtered page scans back from
``before`` at most ``scan`` events and says where it stopped; the next page continues there.
A page therefore costs the same on a log of a thousand events or of a hundred million.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.audit.event import AuditEvent, canonical_json
from taxvault.audit.tables import audit_events

CHUNK = 500
SCAN = 5000


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events to show: a principal id, a resource (ref, kind or taxpayer ref), a UTC day range."""

    principal: str | None = None
    resource: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def matches(self, event: dict[str, Any]) -> bool:
        if self.principal and event["principal"] != self.principal:
            return False
        if self.resource:
            kind = str(event["action"]).rpartition(":")[2]
            if self.resource not in (event["resource"], kind, event.get("subject")):
                return False
        return self._day_ok(str(event["time"])[:10])

    def _day_ok(self, day: str) -> bool:
        if self.since and day < self.since.isoformat():
            return False
        return not (self.until and day > self.until.isoformat())

    def may_match(self, data: bytes) -> bool:
        """A cheap test on the canonical bytes (sorted keys, no spaces): False only when it cannot match.

        Why: a filtered page may read thousands of events; parsing only the candidates keeps
        the page's cost to the bytes read.
        """
        if self.principal and b'"principal":' + canonical_json(self.principal) not in data:
            return False
        if self.resource:
            value = canonical_json(self.resource)
            if not any(n in data for n in (b'"resource":' + value, b'"subject":' + value, b":" + value[1:])):
                return False
        if self.since or self.until:
            at = data.find(b'"time":"')
            if at >= 0 and not self._day_ok(data[at + 8 : at + 18].decode("ascii", "replace")):
                return False
        return True


def event_json(index: int, data: bytes) -> dict[str, Any]:
    """One stored event as the API shows it (``leaf_index`` first, no version field)."""
    body = AuditEvent.from_bytes(data).to_dict()
    body.pop("v", None)
    return {"leaf_index": index, **body}


def newest_first(
    conn: Connection, flt: EventFilter, *, before: int | None = None, limit: int = 50, scan: int = SCAN
) -> dict[str, Any]:
    """Up to ``limit`` matching events below leaf ``before`` (default: the end), newest first.

    ``next_before`` continues the search (None: the start of the log was reached);
    ``scanned_from`` is the oldest leaf this page looked at.
    """
    c = audit_events.c
    items: list[dict[str, Any]] = []
    upper = before
    scanned = 0
    lowest: int | None = None
    exhausted = False
    while len(items) < limit and scanned < scan:
        want = min(CHUNK, scan - scanned)
        q = sa.select(c.leaf_index, c.event).order_by(c.leaf_index.desc()).limit(want)
        if upper is not None:
            q = q.where(c.leaf_index < upper)
        rows = conn.execute(q).all()
        read = 0
        for index, data in rows:
            read += 1
            lowest = int(index)
            raw = bytes(data)
            if not flt.may_match(raw):
                continue
            event = event_json(lowest, raw)
            if flt.matches(event):
                items.append(event)
                if len(items) == limit:
                    break
        scanned += read
        upper = lowest
        if read == len(rows) and len(rows) < want:  # the start of the log
            exhausted = True
            break
    done = exhausted or lowest == 0
    return {
        "items": items,
        "scanned": scanned,
        "scanned_from": lowest,
        "next_before": None if done or lowest is None else lowest,
    }


def event_bytes(conn: Connection, index: int) -> bytes | None:
    """The stored bytes of leaf ``index`` (the Merkle leaf)."""
    value = conn.execute(sa.select(audit_events.c.event).where(audit_events.c.leaf_index == index)).scalar()
    return None if value is None else bytes(value)
