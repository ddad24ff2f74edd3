"""Shared builders for the audit tests (imported by file path-free name; unique module name)."""

from __future__ import annotations

import datetime as dt

from taxvault.audit.event import AuditEvent, Decision

BASE = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def event(i: int, principal: str = "emp-000007") -> AuditEvent:
    """A distinct, deterministic event number ``i``."""
    return AuditEvent(
        time=BASE + dt.timedelta(seconds=i),
        principal=principal,
        action="read" if i % 3 else "search",
        resource=f"ent_{i:016x}",
        decision=Decision.DENY if i % 7 == 0 else Decision.ALLOW,
        request_id=f"req-{i:08d}",
        purpose="case-work",
        policy="caseworker-assigned",
        fields=("name",) if i % 2 else ("name", "balance"),
    )
