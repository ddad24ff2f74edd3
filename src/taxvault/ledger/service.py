"""The ledger's service functions over the door: what both the ``/v1`` router and the console call.

Why a module of its own: an adjustment's view and a manager's decision are the ledger's
answers, whatever the transport. The API (:mod:`taxvault.ledger.router`) and the console's
manager pages (:mod:`taxvault.web.pages.manager`) call the same functions here, so the
decision (the two-person rule and "manages the requester", read inside the write's own
transaction and answered by the policies) and what a caller sees of an adjustment cannot
drift apart. Nothing here knows HTTP; errors are those of :mod:`taxvault.errors`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from taxvault.access.door import Access, Target, WriteFacts
from taxvault.errors import Conflict, Denied, Invalid, NotFound, TaxvaultError
from taxvault.ledger import adjustments

DECISION_FIELDS = ["adjustment", "tc", "amount_cents"]
"""What the audit event of an approval or rejection names."""


def adjustment_view(adj: adjustments.Adjustment, module_ref: str) -> dict[str, Any]:
    """What a caller sees of an adjustment (the module by its opaque ref; dates ISO 8601)."""

    def iso(v: dt.date | dt.datetime | None) -> str | None:
        return None if v is None else v.isoformat()

    return {
        "id": adj.ref,
        "module_id": module_ref,
        "tc": adj.tc,
        "amount_cents": adj.amount_cents,
        "reason_code": adj.reason_code,
        "state": adj.state,
        "within_authority": adj.within_authority,
        "requested_by": adj.requested_by,
        "requested_at": iso(adj.requested_at),
        "decided_by": adj.decided_by,
        "decided_at": iso(adj.decided_at),
        "posted_on": iso(adj.posted_on),
    }


def adjustment_error(exc: adjustments.AdjustmentError) -> TaxvaultError:
    """The error of the tree that an adjustment error means to a caller."""
    if isinstance(exc, adjustments.AdjustmentNotFound):
        return NotFound(str(exc))
    if isinstance(exc, adjustments.SelfApproval):
        return Denied(str(exc), code="forbidden")
    if isinstance(exc, adjustments.WrongState):
        return Conflict(str(exc))
    return Invalid(str(exc))


def decide(access: Access, adjustment_ref: str, approve: bool, note: str | None) -> dict[str, Any]:
    """Approve or reject an adjustment awaiting approval, as one audited write of the door.

    The amount and the requester are read inside the write's own transaction: they decide
    who may approve (a second person, her manager, within his authority), and the policy
    answers. Returns the decided adjustment's view.
    """

    def facts(conn: Connection, target: Target) -> WriteFacts:
        try:
            adj = adjustments.get(conn, adjustment_ref)
        except adjustments.AdjustmentError as exc:
            raise adjustment_error(exc) from None
        if adj.module_id != target.module_id:
            raise NotFound("no such adjustment on this module")
        return WriteFacts(
            abs(adj.amount_cents),
            second_person=adj.requested_by != access.caller.id,
            manages_requester=adjustments.manages(conn, access.caller.id, adj.requested_by),
        )

    def perform(conn: Connection, target: Target) -> dict[str, Any]:
        try:
            if approve:
                done = adjustments.approve(conn, adjustment_ref, approver=access.caller.id, note=note)
            else:
                done = adjustments.reject(conn, adjustment_ref, by=access.caller.id, note=note)
        except adjustments.AdjustmentError as exc:
            raise adjustment_error(exc) from None
        return adjustment_view(done, target.ref)

    return access.write(0, perform, DECISION_FIELDS, "approve_adjustment", facts=facts)


def approval_queue(conn: Connection, manager_id: str, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """Views of the adjustments awaiting the manager's approval, oldest first (at most ``limit``)."""
    found = adjustments.awaiting_approval_for(conn, manager_id, limit=limit, offset=offset)
    refs = adjustments.module_refs(conn, [a.module_id for a in found])
    return [adjustment_view(a, refs[a.module_id]) for a in found]
