"""Browsing the audit log newest first, with filters, in bounded work per page (the console's log browser).

Why here: events are canonical bytes only ``audit/`` parses (one event builder and reader).
Why bounded: the log has no index by principal or time, so a filtered page reads from its
keyset bound (``before`` downward or ``after`` upward) at most ten events per row it may show
and says which leaves it read; the next page continues there. A page therefore costs the same
on a log of a thousand events or of a hundred million.
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


PAGE_SIZES = (50, 100, 500)
READ_PER_ROW = 10
"""A filtered page reads at most this many events per row it may show (1,000 for a page of 100)."""


def page(
    conn: Connection,
    flt: EventFilter,
    *,
    size: int = 100,
    before: int | None = None,
    after: int | None = None,
    budget: int | None = None,
) -> dict[str, Any]:
    """Up to ``size`` matching events, newest first, keyset-paged on the leaf index (never an offset).

    ``before``: the events below that leaf, read downward (neither: from the newest);
    ``after``: the events above that leaf, read upward (the *newer* page). A page reads at
    most ``budget`` events (default: ``size`` unfiltered, ``READ_PER_ROW * size`` filtered),
    so its cost does not grow with the log; ``low``/``high`` are the leaves it read between.
    ``older_before`` / ``newer_after`` continue the search (None: that end of the log).
    """
    c = audit_events.c
    upward = after is not None
    budget = budget or (size if flt == EventFilter() else READ_PER_ROW * size)
    items: list[dict[str, Any]] = []
    bound = after if upward else before
    scanned = 0
    seen: list[int] = []
    end = False
    while len(items) < size and scanned < budget and not end:
        want = min(CHUNK, budget - scanned)
        q = sa.select(c.leaf_index, c.event)
        if upward:
            q = q.where(c.leaf_index > bound).order_by(c.leaf_index.asc())
        elif bound is not None:
            q = q.where(c.leaf_index < bound).order_by(c.leaf_index.desc())
        else:
            q = q.order_by(c.leaf_index.desc())
        rows = conn.execute(q.limit(want)).all()
        end = len(rows) < want
        for index, data in rows:
            bound = int(index)
            seen.append(bound)
            scanned += 1
            raw = bytes(data)
            if flt.may_match(raw):
                event = event_json(bound, raw)
                if flt.matches(event):
                    items.append(event)
                    if len(items) == size:
                        end = end and bound == int(rows[-1][0])  # stopped early: more may follow
                        break
    low, high = (min(seen), max(seen)) if seen else (None, None)
    last = conn.execute(sa.select(sa.func.max(c.leaf_index))).scalar()
    newest = -1 if last is None else int(last)
    if after is not None:  # read upward: show newest first like every page
        items.reverse()
        older = after + 1 if after >= 0 and newest >= 0 else None
        newer = None if end or high is None or high >= newest else high
    else:
        older = None if end or low is None or low == 0 else low
        top = None if before is None else before - 1
        newer = top if top is not None and newest > top else None
    return {
        "items": items,
        "scanned": scanned,
        "low": low,
        "high": high,
        "older_before": older,
        "newer_after": newer,
    }


def event_bytes(conn: Connection, index: int) -> bytes | None:
    """The stored bytes of leaf ``index`` (the Merkle leaf)."""
    value = conn.execute(sa.select(audit_events.c.event).where(audit_events.c.leaf_index == index)).scalar()
    return None if value is None else bytes(value)
