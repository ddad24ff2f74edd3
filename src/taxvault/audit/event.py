"""The audit event and its canonical serialization.

The leaf of the Merkle log is the event's canonical bytes, so the same event must
always give the same bytes: JSON with sorted keys, no whitespace, UTF-8, a fixed
field set and a format version. Events never carry a TIN (the resource is an opaque
id) nor disclosed values (only field names), so the log itself is not sensitive.

Version 2 adds what oversight needs without guessing from free text: ``subject``,
the opaque ref of the taxpayer whose data the resource is (a module's or notice's
owner; null when there is none, e.g. a look-up that found nothing), and ``channel``
(``http``, ``cli``, ``job`` or ``web``). Version-1 events still parse and re-serialize as
version 1, so an old log verifies unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from taxvault.audit.errors import AuditEventError

EVENT_VERSION = 2
_FIELDS_V1 = frozenset(
    {"v", "time", "principal", "action", "resource", "purpose", "fields", "decision", "policy", "request_id"}
)
_FIELDS = {1: _FIELDS_V1, 2: _FIELDS_V1 | {"subject", "channel"}}
CHANNELS = ("http", "cli", "job", "web")
# A value that is exactly an SSN/ITIN/EIN shape is refused: the caller passed a TIN
# where an opaque id belongs. (Only whole values: random ids may contain digit runs.)
_TIN_SHAPE = re.compile(r"\d{3}-?\d{2}-?\d{4}|\d{2}-\d{7}")
_MAX_TEXT = 200
_TIME = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
"""format_time for a datetime already in UTC (the hot path): the fastest spelling."""
# The string encoder json.dumps(ensure_ascii=False) itself uses (C-accelerated).
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


class Decision(StrEnum):
    """What the Gate decided for the request."""

    ALLOW = "allow"
    DENY = "deny"


def _text(name: str, value: str | None, *, required: bool) -> None:
    if value is None:
        if required:
            raise AuditEventError(f"audit event field {name!r} is required")
        return
    if not isinstance(value, str) or (required and not value):
        raise AuditEventError(f"audit event field {name!r} must be a non-empty string")
    if len(value) > _MAX_TEXT:
        raise AuditEventError(f"audit event field {name!r} is longer than {_MAX_TEXT} characters")
    if _TIN_SHAPE.fullmatch(value.strip()):
        raise AuditEventError(f"audit event field {name!r} looks like a TIN; use an opaque id")


def format_time(when: dt.datetime) -> str:
    """UTC, microseconds, trailing Z: one spelling per instant."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One access decision: who did what to which resource, why, and what was disclosed."""

    time: dt.datetime
    principal: str
    action: str
    resource: str
    decision: Decision
    request_id: str
    purpose: str | None = None
    policy: str | None = None
    fields: tuple[str, ...] = field(default=())
    subject: str | None = None
    channel: str | None = None
    version: int = EVENT_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.time, dt.datetime) or self.time.utcoffset() is None:
            raise AuditEventError("audit event time must be a timezone-aware datetime")
        object.__setattr__(self, "time", self.time.astimezone(dt.UTC))
        try:
            object.__setattr__(self, "decision", Decision(self.decision))
        except ValueError:
            raise AuditEventError(f"audit event decision must be one of {[d.value for d in Decision]}") from None
        for name in ("principal", "action", "resource", "request_id"):
            _text(name, getattr(self, name), required=True)
        _text("purpose", self.purpose, required=False)
        _text("policy", self.policy, required=False)
        if self.version not in _FIELDS:
            raise AuditEventError(f"unsupported audit event version {self.version!r}")
        if self.version == 1 and (self.subject is not None or self.channel is not None):
            raise AuditEventError("a version-1 audit event has no subject or channel")
        _text("subject", self.subject, required=False)
        if self.channel is not None and self.channel not in CHANNELS:
            raise AuditEventError(f"audit event channel must be one of {list(CHANNELS)}")
        names = tuple(sorted(set(self.fields)))
        for name in names:
            _text("fields", name, required=True)
        object.__setattr__(self, "fields", names)

    @classmethod
    def now(
        cls,
        *,
        principal: str,
        action: str,
        resource: str,
        decision: Decision | str,
        request_id: str,
        purpose: str | None = None,
        policy: str | None = None,
        fields: Iterable[str] = (),
        subject: str | None = None,
        channel: str | None = None,
        time: dt.datetime | None = None,
    ) -> AuditEvent:
        """An event stamped with the current UTC time (or ``time``, for a simulated clock)."""
        return cls(
            time=time or dt.datetime.now(dt.UTC),
            principal=principal,
            action=action,
            resource=resource,
            decision=Decision(decision),
            request_id=request_id,
            purpose=purpose,
            policy=policy,
            fields=tuple(fields),
            subject=subject,
            channel=channel,
        )

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON object that is hashed (every field present, nulls included)."""
        obj: dict[str, Any] = {
            "action": self.action,
            "decision": self.decision.value,
            "fields": list(self.fields),
            "policy": self.policy,
            "principal": self.principal,
            "purpose": self.purpose,
            "request_id": self.request_id,
            "resource": self.resource,
            "time": format_time(self.time),
            "v": self.version,
        }
        if self.version >= 2:
            obj["subject"] = self.subject
            obj["channel"] = self.channel
        return obj

    def to_bytes(self) -> bytes:
        """Canonical bytes: sorted keys, no whitespace, UTF-8. This is the Merkle leaf.

        Spelled out field by field for speed (it runs on every request); a test holds
        it byte-identical to :func:`canonical_json` of :meth:`to_dict`.
        """
        policy, purpose, t, subject, channel = self.policy, self.purpose, self.time, self.subject, self.channel
        if self.version == 1:
            return (
                f'{{"action":{_encode_str(self.action)},"decision":"{self.decision._value_}",'
                f'"fields":[{",".join(map(_encode_str, self.fields))}],'
                f'"policy":{"null" if policy is None else _encode_str(policy)},'
                f'"principal":{_encode_str(self.principal)},'
                f'"purpose":{"null" if purpose is None else _encode_str(purpose)},'
                f'"request_id":{_encode_str(self.request_id)},"resource":{_encode_str(self.resource)},'
                f'"time":"{_TIME % (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)}",'
                '"v":1}'
            ).encode()
        return (
            f'{{"action":{_encode_str(self.action)},'
            f'"channel":{"null" if channel is None else _encode_str(channel)},'
            f'"decision":"{self.decision._value_}",'
            f'"fields":[{",".join(map(_encode_str, self.fields))}],'
            f'"policy":{"null" if policy is None else _encode_str(policy)},'
            f'"principal":{_encode_str(self.principal)},'
            f'"purpose":{"null" if purpose is None else _encode_str(purpose)},'
            f'"request_id":{_encode_str(self.request_id)},"resource":{_encode_str(self.resource)},'
            f'"subject":{"null" if subject is None else _encode_str(subject)},'
            f'"time":"{_TIME % (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)}",'
            f'"v":{self.version}}}'
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditEvent:
        """Parse canonical bytes back; refuses anything that would not re-serialize identically."""
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AuditEventError(f"audit event is not UTF-8 JSON: {exc}") from None
        if not isinstance(obj, dict) or "v" not in obj:
            raise AuditEventError("audit event is not an object with a version")
        version = obj["v"]
        if type(version) is not int or version not in _FIELDS:
            raise AuditEventError(f"unsupported audit event version {version!r}")
        if set(obj) != _FIELDS[version]:
            raise AuditEventError(f"audit event does not have exactly the version-{version} field set")
        try:
            when = dt.datetime.strptime(obj["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        except (TypeError, ValueError):
            raise AuditEventError("audit event time is not canonical UTC") from None
        if not isinstance(obj["fields"], list):
            raise AuditEventError("audit event fields must be a list of names")
        event = cls(
            time=when,
            principal=obj["principal"],
            action=obj["action"],
            resource=obj["resource"],
            decision=obj["decision"],
            request_id=obj["request_id"],
            purpose=obj["purpose"],
            policy=obj["policy"],
            fields=tuple(obj["fields"]),
            subject=obj.get("subject"),
            channel=obj.get("channel"),
            version=version,
        )
        if event.to_bytes() != data:
            raise AuditEventError("audit event bytes are not in canonical form")
        return event


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 (control characters escaped)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
