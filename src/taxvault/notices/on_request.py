"""A notice a caseworker issues on request: the series rule says which, the cycle's code writes it.

Why not any type she picks: a notice is a legal document. The balance-due series
(CP14 -> CP501 -> CP503 -> CP504 -> LT11/Letter 1058, :mod:`taxvault.notices.series`)
has an order, intervals and respond-by periods, and its final notices carry the
CDP rights of IRC 6330. A caseworker may send today the notice the rule says is
due for the module's state (the one the next posting cycle would send), rendered
and stored exactly as the cycle does (:func:`taxvault.notices.issue.store`); any
other type is refused with :class:`~taxvault.errors.Invalid` naming what is due.
CP2000 proposals come from the underreporter job only.

One notice per module, type and day (the ``notices`` unique index): asking again
answers the notice already issued (``created`` false). Nothing here commits; the
caller's door unit does, with the audit event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.errors import Conflict, Invalid, NotFound
from taxvault.ledger.accruals import RateNotPublished, accrual_invalid
from taxvault.notices import issue, service
from taxvault.notices.documents import NoticeType
from taxvault.store.tables import notices, sources, tax_modules

REQUEST_FIELDS = ["notice_type", "amount_due_cents", "respond_by"]
"""What the audit event of an issued notice names (the PDF carries name, address and the masked TIN)."""


def parse_type(text: str) -> NoticeType:
    """``"cp14"`` -> CP14; Invalid for a type the service does not know."""
    try:
        return NoticeType(text.strip().upper())
    except ValueError:
        known = ", ".join(t.value for t in NoticeType)
        raise Invalid(f"unknown notice type; the notice types are {known}") from None


def issuable(conn: Connection, module_id: int, on: dt.date) -> tuple[NoticeType, ...]:
    """The notice types a caseworker may issue on the module on ``on`` (empty or one: the series' next)."""
    if _mft(conn, module_id) not in issue.SERIES_MFTS:
        return ()
    return tuple(p.notice_type for p in issue.plan_modules(conn, [module_id], on))


def issue_on_request(
    conn: Connection, module_id: int, notice_type: NoticeType, on: dt.date, *, request_id: str
) -> dict[str, Any]:
    """Issue the notice (or answer the one already issued today): its list item plus ``created``."""
    found = _issued_on(conn, module_id, notice_type, on)
    if found is not None:
        return {**_item(conn, module_id, found), "created": False}
    if _mft(conn, module_id) not in issue.SERIES_MFTS:
        raise Invalid("balance-due notices are modelled for individual (Form 1040) modules only")
    skipped: list[tuple[str, str]] = []
    planned = issue.plan_modules(conn, [module_id], on, skipped)
    if skipped:
        reason = skipped[0][1]
        hint = accrual_invalid(RateNotPublished(on.isoformat())).hint if reason == RateNotPublished.__name__ else None
        raise Invalid(f"the module's amounts cannot be computed on {on.isoformat()} ({reason})", hint=hint)
    due = [p for p in planned if p.notice_type is notice_type]
    if not due:
        now = planned[0].notice_type.value if planned else None
        why = f"the notice due is {now}" if now else "no balance-due notice is due for the module's state"
        raise Invalid(f"{notice_type.value} cannot be issued on this module on {on.isoformat()}: {why}")
    source_id = conn.execute(
        sources.insert()
        .values(kind="api", name=f"notice on request {request_id}"[:255], created_at=dt.datetime.now(dt.UTC))
        .returning(sources.c.id)
    ).scalar_one()
    try:
        (made,) = issue.store(conn, due, on, source_id=int(source_id))
    except sa.exc.IntegrityError:  # a concurrent request issued it first (PostgreSQL)
        raise Conflict("this notice was issued on this module today by another request") from None
    return {**_item(conn, module_id, made.ref), "created": True}


def _mft(conn: Connection, module_id: int) -> int:
    mft = conn.execute(sa.select(tax_modules.c.mft).where(tax_modules.c.id == module_id)).scalar()
    if mft is None:
        raise NotFound("no such module")
    return int(mft)


def _issued_on(conn: Connection, module_id: int, notice_type: NoticeType, on: dt.date) -> str | None:
    n = notices.c
    ref = conn.execute(
        sa.select(n.ref).where(n.module_id == module_id, n.notice_type == notice_type.value, n.issued_date == on)
    ).scalar()
    return None if ref is None else str(ref)


def _item(conn: Connection, module_id: int, ref: str) -> dict[str, Any]:
    return next(i for i in service.notice_list(conn, module_id)["items"] if i["id"] == ref)
