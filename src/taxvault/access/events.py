"""The one place that builds audit events.

Every access event (the door's reads, writes, denials and refusals, and the jobs
acting through the door) is made here, so each carries the same facts in the same
spelling. An architecture test fails if any module outside ``access/`` and
``audit/`` constructs an :class:`~taxvault.audit.AuditEvent` itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from taxvault.audit import AuditEvent, Decision


def event(
    *,
    principal: str,
    action: str,
    resource: str,
    allowed: bool,
    request_id: str,
    purpose: str | None = None,
    policy: str | None = None,
    fields: Iterable[str] = (),
    subject: str | None = None,
    channel: str | None = None,
    time: dt.datetime | None = None,
) -> AuditEvent:
    """An event stamped now: who did what to which (opaque) resource, why, what it disclosed.

    ``policy`` names the deciding policies, or ``refused:<reason>`` for a request refused
    before a decision; ``fields`` are names of disclosed fields (``name:masked`` when masked),
    never values. ``subject`` is the opaque ref of the taxpayer the resource belongs to
    (what oversight and the access report index by); ``time`` comes from the door's clock.
    """
    return AuditEvent.now(
        principal=principal,
        action=action,
        resource=resource,
        decision=Decision.ALLOW if allowed else Decision.DENY,
        request_id=request_id,
        purpose=purpose,
        policy=policy,
        fields=fields,
        subject=subject,
        channel=channel,
        time=time,
    )
