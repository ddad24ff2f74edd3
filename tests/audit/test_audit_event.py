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
        {"subject": "e0123456789abcdef", "channel": "http"},
        {"subject": "e0123456789abcdef", "channel": "job", "version": 2},
        {"version": 1},
        {"version": 1, "purpose": None, "fields": ("z", "a")},
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
    assert a.to_bytes().startswith(b'{"action":"read","channel":null,"decision":"allow"')
    assert b'"subject":null,"time":"2026-03-04T05:06:07.000089Z","v":2}' in a.to_bytes()


def test_version_1_events_still_parse_and_keep_their_bytes() -> None:
    """A log written before event v2 verifies unchanged: v1 bytes parse back to the same bytes."""
    old = make(version=1)
    data = old.to_bytes()
    assert b'"subject"' not in data and b'"channel"' not in data and data.endswith(b'"v":1}')
    back = AuditEvent.from_bytes(data)
    assert back.version == 1 and back.subject is None and back.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (lambda b: b.replace(b'"v":2}', b'"v":3}'), "version"),
        (lambda b: b.replace(b'"subject":null,', b""), "field set"),  # v2 without its new field
        (lambda b: b.replace(b'"v":2}', b'"v":1}'), "field set"),  # v1 claimed with v2 fields
    ],
)
def test_versions_are_strict(data: object, message: str) -> None:
    raw = make().to_bytes()
    with pytest.raises(AuditEventError, match=message):
        AuditEvent.from_bytes(data(raw))  # type: ignore[operator]


def test_v2_subject_and_channel_are_checked() -> None:
    with pytest.raises(AuditEventError, match="channel"):
        make(channel="carrier-pigeon")
    with pytest.raises(AuditEventError, match="TIN"):
        make(subject="900-12-3456")
    with pytest.raises(AuditEventError, match="version-1"):
        make(version=1, subject="e0123456789abcdef")


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
        AuditEvent.from_bytes(data.replace(b'"v":2}', b'"v": 2}'))
    with pytest.raises(AuditEventError):
        AuditEvent.from_bytes(b"not json")
