"""What the stats tests share: sessions and reading the audit log's newest events."""

from __future__ import annotations

from taxvault.access.door import Door, Session
from taxvault.audit import AuditEvent


def session_of(door: Door, principal: str, purpose: str = "research") -> Session:
    return door.session(door.caller(principal), purpose, channel="cli")


def events(door: Door) -> list[AuditEvent]:
    return [door.audit.event(i) for i in range(door.audit.tree_head().tree_size)]
