"""Audit events: one canonical byte string per event, no TINs, timezone-aware UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from taxvault.audit.errors import AuditEventError
from taxvault.audit.event import AuditEvent, Decision, canonical_json


def make(**over: object) -> AuditEvent:
    fields: dict[str, object] = {
        "time": dt.datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=dt.UTC),
        "principal": "emp-000042",
        "action": "read",
        "resource": "ent_9f8e7d6c5b4a3921",
        "decision": Decision.ALLOW,
        "request_id": "req-1",
        "purpose": "case-work",
        "policy": "caseworker-assigned",
        "fields": ("name", "address"),
    }
    fields.update(over)
    return AuditEvent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"purpose": None, "policy": None, "fields": ()},
        {"principal": 'emp "quoted" \\ back\tslash\n', "resource": "ent_ünïcødé_✓"},
        {"fields": ("z", "a", "a", "m"), "decision": "deny"},
        {"time": dt.datetime(2026, 3, 4, 0, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5)))},
    ],
)
def test_fast_encoding_is_canonical_json(over: dict[str, object]) -> None:
    event = make(**over)
    assert event.to_bytes() == canonical_json(event.to_dict())
    assert AuditEvent.from_bytes(event.to_bytes()) == event


def test_same_event_same_bytes_and_sorted_fields() -> None:
    a = make(fields=("b", "a"))
    b = make(fields=["a", "b", "a"])
    assert a.to_bytes() == b.to_bytes()
    assert b'"fields":["a","b"]' in a.to_bytes()
    assert a.to_bytes().startswith(b'{"action":"read","decision":"allow"')
    assert b'"time":"2026-03-04T05:06:07.000089Z","v":1}' in a.to_bytes()


def test_time_is_normalised_to_utc() -> None:
    event = make(time=dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert b'"time":"2026-01-01T00:00:00.000000Z"' in event.to_bytes()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"time": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"resource": "900-12-3456"}, "TIN"),
        ({"resource": "900123456"}, "TIN"),
        ({"principal": ""}, "non-empty"),
        ({"decision": "maybe"}, "decision"),
        ({"fields": ("x" * 500,)}, "longer"),
    ],
)
def test_invalid_events_are_refused(over: dict[str, object], message: str) -> None:
    with pytest.raises(AuditEventError, match=message):
        make(**over)


def test_non_canonical_bytes_are_refused() -> None:
    data = make().to_bytes()
    with pytest.raises(AuditEventError, match="canonical"):
        AuditEvent.from_bytes(data.replace(b'"v":1}', b'"v": 1}'))
    with pytest.raises(AuditEventError):
        AuditEvent.from_bytes(b"not json")
