"""Adjustments: an employee's request to post a transaction, with a second person above her authority.

The flow (IRM 21.5 account adjustments, simplified):

* an employee requests an adjustment (TC, amount, reason code) on a module of her
  case. Whether it is within her dollar authority is the policy's answer, handed
  in as ``within_authority``; this module never looks at roles or limits;
* within authority it is ``pending``: the next posting cycle posts it;
* above it, it is ``awaiting_approval`` until a manager approves (``pending``) or
  rejects it. The approver is never the requester: refused here
  (:class:`SelfApproval`), by the Cedar policy, and by a CHECK in the store;
* the cycle posts ``pending`` adjustments through :func:`taxvault.ledger.posting.post`;
  each ends ``posted`` or ``unpostable`` (then it sits in the unpostable queue).

Amounts arrive unsigned and take the sign of the code (a TC 291 abatement of
$500 is -50000 cents on the module), so a request cannot carry the wrong sign.
Functions flush, never commit: the request or job that calls them owns the
transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.ledger.codes import CODES, Sign
from taxvault.ledger.posting import Candidate, LedgerError, PostResult, post
from taxvault.ledger.tables import ledger_adjustments, ledger_unpostables
from taxvault.store.tables import principals, tax_modules

ADJUSTABLE_CODES: frozenset[int] = frozenset({290, 291, 300, 301, 420, 421, 570, 571, 670, 671, 971})
"""Codes an employee may request. Returns (150/976), refunds (846 and offsets) and
withholding credits come from returns processing and the refund job, never by hand."""


class AdjustmentError(LedgerError):
    """Base of the adjustment errors (each message is safe to show: no TIN in it)."""


class AdjustmentNotFound(AdjustmentError):
    """No adjustment has that reference."""


class NotAdjustable(AdjustmentError):
    """The code may not be requested by an employee, or the amount does not fit it."""


class WrongState(AdjustmentError):
    """The adjustment is not in the state the action needs (e.g. approving a posted one)."""


class SelfApproval(AdjustmentError):
    """The requester tried to decide her own adjustment: a second person must."""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One adjustment request and where it stands."""

    id: int
    ref: str
    module_id: int
    tc: int
    amount_cents: int  # signed as posted
    reason_code: int | None
    requested_by: str
    requested_at: dt.datetime
    within_authority: bool
    state: str
    decided_by: str | None
    decided_at: dt.datetime | None
    transaction_id: int | None
    unpostable_id: int | None
    posted_on: dt.date | None


def signed_amount(tc: int, amount_cents: int) -> int:
    """The module-signed amount for an unsigned request amount (NotAdjustable if it can't be)."""
    if tc not in ADJUSTABLE_CODES:
        raise NotAdjustable(f"TC {tc} cannot be requested as an adjustment")
    if amount_cents < 0:
        raise NotAdjustable("give the amount unsigned: the transaction code decides its sign")
    sign = CODES[tc].sign
    if sign is Sign.ZERO:
        if amount_cents != 0:
            raise NotAdjustable(f"TC {tc} carries no amount")
        return 0
    if amount_cents == 0 and not CODES[tc].zero_ok:
        raise NotAdjustable(f"TC {tc} needs an amount")
    return amount_cents if sign is Sign.DEBIT else -amount_cents


def _row(r: sa.Row[tuple[object, ...]]) -> Adjustment:
    m = r._mapping
    return Adjustment(
        id=int(m["id"]),
        ref=str(m["ref"]),
        module_id=int(m["module_id"]),
        tc=int(m["tc"]),
        amount_cents=int(m["amount_cents"]),
        reason_code=m["reason_code"],
        requested_by=str(m["requested_by"]),
        requested_at=m["requested_at"],
        within_authority=bool(m["within_authority"]),
        state=str(m["state"]),
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        transaction_id=m["transaction_id"],
        unpostable_id=m["unpostable_id"],
        posted_on=m["posted_on"],
    )


def request(
    conn: Connection,
    module_id: int,
    *,
    tc: int,
    amount_cents: int,
    reason_code: int | None,
    requested_by: str,
    request_id: str,
    within_authority: bool,
    now: dt.datetime | None = None,
) -> Adjustment:
    """Record a request: ``pending`` if within authority, else ``awaiting_approval``."""
    signed = signed_amount(tc, amount_cents)
    found = conn.execute(sa.select(tax_modules.c.id).where(tax_modules.c.id == module_id)).scalar_one_or_none()
    if found is None:
        raise AdjustmentNotFound("no such module")
    values = {
        "ref": "a" + secrets.token_hex(10),
        "module_id": module_id,
        "tc": tc,
        "amount_cents": signed,
        "reason_code": reason_code,
        "requested_by": requested_by,
        "requested_at": now or dt.datetime.now(dt.UTC),
        "request_id": request_id[:64],
        "within_authority": within_authority,
        "state": "pending" if within_authority else "awaiting_approval",
    }
    new_id = conn.execute(ledger_adjustments.insert().values(**values).returning(ledger_adjustments.c.id)).scalar_one()
    return get_by_id(conn, int(new_id))


def get_by_id(conn: Connection, adjustment_id: int) -> Adjustment:
    row = conn.execute(sa.select(ledger_adjustments).where(ledger_adjustments.c.id == adjustment_id)).first()
    if row is None:
        raise AdjustmentNotFound("no such adjustment")
    return _row(row)


def get(conn: Connection, ref: str) -> Adjustment:
    """The adjustment with opaque reference ``ref``."""
    row = conn.execute(sa.select(ledger_adjustments).where(ledger_adjustments.c.ref == ref)).first()
    if row is None:
        raise AdjustmentNotFound("no such adjustment")
    return _row(row)


def manages(conn: Connection, manager_id: str, principal_id: str) -> bool:
    """Does ``principal_id`` report to ``manager_id`` (principals.manager_id)? A fact for the policy."""
    found = conn.execute(sa.select(principals.c.manager_id).where(principals.c.id == principal_id)).scalar_one_or_none()
    return found is not None and found == manager_id


def _decide(
    conn: Connection, ref: str, *, by: str, state: str, note: str | None, now: dt.datetime | None
) -> Adjustment:
    adj = get(conn, ref)
    if adj.requested_by == by:
        raise SelfApproval("an adjustment is decided by a second person, never by its requester")
    if adj.state != "awaiting_approval":
        raise WrongState(f"the adjustment is {adj.state}, not awaiting approval")
    c = ledger_adjustments.c
    done = conn.execute(
        ledger_adjustments.update()
        .where(c.id == adj.id, c.state == "awaiting_approval")
        .values(state=state, decided_by=by, decided_at=now or dt.datetime.now(dt.UTC), decision_note=note)
    )
    if done.rowcount != 1:  # decided concurrently by someone else
        raise WrongState("the adjustment was decided meanwhile")
    return get_by_id(conn, adj.id)


def approve(
    conn: Connection, ref: str, *, approver: str, note: str | None = None, now: dt.datetime | None = None
) -> Adjustment:
    """Approve an adjustment awaiting approval: it posts at the next cycle."""
    return _decide(conn, ref, by=approver, state="pending", note=note, now=now)


def reject(
    conn: Connection, ref: str, *, by: str, note: str | None = None, now: dt.datetime | None = None
) -> Adjustment:
    """Reject an adjustment awaiting approval: it never posts."""
    return _decide(conn, ref, by=by, state="rejected", note=note, now=now)


def awaiting_approval_for(conn: Connection, manager_id: str, *, limit: int = 100, offset: int = 0) -> list[Adjustment]:
    """The approval queue of a manager: requests by the people who report to her, oldest first."""
    c = ledger_adjustments.c
    team = sa.select(principals.c.id).where(principals.c.manager_id == manager_id)
    rows = conn.execute(
        sa.select(ledger_adjustments)
        .where(c.state == "awaiting_approval", c.requested_by.in_(team))
        .order_by(c.requested_at, c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_row(r) for r in rows]


def module_refs(conn: Connection, module_ids: Collection[int]) -> dict[int, str]:
    """Opaque refs of modules, by id."""
    rows = conn.execute(sa.select(tax_modules.c.id, tax_modules.c.ref).where(tax_modules.c.id.in_(list(module_ids))))
    return {int(i): str(r) for i, r in rows}


def for_module(conn: Connection, module_id: int) -> list[Adjustment]:
    """Every adjustment requested on a module, newest first."""
    c = ledger_adjustments.c
    rows = conn.execute(sa.select(ledger_adjustments).where(c.module_id == module_id).order_by(c.id.desc()))
    return [_row(r) for r in rows]


def adjustment_dln(adj_id: int, on: dt.date) -> str:
    """A 14-digit DLN for an adjustment: file location 29 (synthetic campus), tax class 2, doc code 54
    (IDRS adjustment), Julian date, block and serial from the adjustment id, list year digit."""
    julian = on.timetuple().tm_yday
    return f"292{54:02d}{julian:03d}{adj_id % 1000:03d}{(adj_id // 1000) % 100:02d}{on.year % 10}"


def post_pending(
    conn: Connection, on: dt.date, *, source_id: int, posted_by: str, only: Collection[int] | None = None
) -> list[tuple[Adjustment, PostResult]]:
    """Post the ``pending`` adjustments dated ``on``; each ends posted or unpostable. Never commits.

    ``only``: the adjustment ids the posting job was authorised (and audited) for; any
    other stays pending.
    """
    c = ledger_adjustments.c
    pending = [
        a
        for a in (
            _row(r) for r in conn.execute(sa.select(ledger_adjustments).where(c.state == "pending").order_by(c.id))
        )
        if only is None or a.id in only
    ]
    done: list[tuple[Adjustment, PostResult]] = []
    for adj in pending:
        cand = Candidate(
            tc=adj.tc,
            amount_cents=adj.amount_cents,
            posted_date=on,
            dln=adjustment_dln(adj.id, on),
            posted_by=posted_by,
            reason_code=adj.reason_code,
        )
        result = post(conn, adj.module_id, cand, source_id=source_id, source_record=adj.id)
        conn.execute(
            ledger_adjustments.update()
            .where(c.id == adj.id)
            .values(
                state="posted" if result.posted else "unpostable",
                transaction_id=result.transaction_id,
                unpostable_id=result.unpostable_id,
                posted_on=on,
            )
        )
        done.append((get_by_id(conn, adj.id), result))
    return done


# --- the unpostable queue ------------------------------------------------------------


class UnpostableNotFound(AdjustmentError):
    """No open unpostable has that id."""


def resolve_unpostable(
    conn: Connection,
    unpostable_id: int,
    *,
    action: str,
    by: str,
    on: dt.date,
    source_id: int,
    amount_cents: int | None = None,
    now: dt.datetime | None = None,
) -> PostResult | None:
    """Work an unpostable: ``void`` it (it never posts) or ``repost`` it dated ``on``, optionally corrected.

    A repost that breaks a rule again stays in the queue as a new unpostable (the
    old one is resolved with that outcome), so nothing is ever lost. Returns the
    posting result of a repost, None for a void.
    """
    u = ledger_unpostables.c
    row = conn.execute(sa.select(ledger_unpostables).where(u.id == unpostable_id, u.status == "open")).first()
    if row is None:
        raise UnpostableNotFound("no open unpostable has that id")
    when = now or dt.datetime.now(dt.UTC)
    if action == "void":
        conn.execute(
            ledger_unpostables.update()
            .where(u.id == unpostable_id)
            .values(status="resolved", resolution="voided", resolved_by=by, resolved_at=when)
        )
        return None
    if action != "repost":
        raise AdjustmentError("action is repost or void")
    m = row._mapping
    cand = Candidate(
        tc=int(m["tc"]),
        amount_cents=int(m["amount_cents"] if amount_cents is None else amount_cents),
        posted_date=on,
        dln=str(m["dln"]),
        posted_by=by,
        reason_code=m["reason_code"],
        reverses_id=m["reverses_id"],
    )
    result = post(conn, int(m["module_id"]), cand, source_id=source_id, source_record=unpostable_id, now=when)
    conn.execute(
        ledger_unpostables.update()
        .where(u.id == unpostable_id)
        .values(
            status="resolved",
            resolution="reposted",
            resolved_by=by,
            resolved_at=when,
            resolved_transaction_id=result.transaction_id,
        )
    )
    return result
