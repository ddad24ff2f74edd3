"""Posting: validity rules per transaction code, the unpostable queue, balances.

Two layers, on purpose. :func:`check` is pure: given a module's posted
transactions and a candidate it decides post-or-unpostable, so every rule can be
property-tested without a database. :func:`post` is the database layer: it
serialises postings per module (a row lock on PostgreSQL), loads the posted
transactions, asks :func:`check`, and inserts into ``transactions`` or
``ledger_unpostables``. It flushes but never commits: the request or job that
calls it owns the transaction, so a posting and whatever caused it commit or
roll back together.

Rules (after Document 6209 and IRM 21.5 unpostable practice; the codes below
are this system's own, not IRS unpostable code numbers):

* the code must be one the ledger handles, its amount signed as the code says;
* one original return (TC 150) per module; a second return is a TC 976;
* a TC 976 posts only where a TC 150 exists;
* a reversal must match an unreversed transaction of a code it reverses, in the
  same module, dated no later than itself, and not exceed what is left of it
  (partial abatements add up);
* an open hold (TC 570 not yet released by TC 571) stops refunds (TC 826, 846,
  898) and notices (:func:`notices_allowed`);
* a refund never takes more than the module's credit balance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.ledger.codes import (
    CODES,
    DUPLICATE_RETURN_TC,
    HOLD_TC,
    ORIGINAL_RETURN_TC,
    REFUND_CODES,
    Sign,
    sign_ok,
)
from taxvault.ledger.tables import ledger_unpostables
from taxvault.store.tables import tax_modules, transactions


class LedgerError(Exception):
    """Base of the ledger's own errors."""


class ModuleNotFound(LedgerError):
    """A posting or balance names a module that does not exist."""


class UnpostableCode(StrEnum):
    """Why a transaction did not post."""

    UNKNOWN_TC = "unknown_tc"
    WRONG_SIGN = "wrong_sign"
    DUPLICATE_RETURN = "duplicate_return"
    NO_ORIGINAL_RETURN = "no_original_return"
    NO_MATCHING_TRANSACTION = "no_matching_transaction"
    REVERSAL_EXCEEDS = "reversal_exceeds_original"
    REVERSAL_BEFORE_ORIGINAL = "reversal_before_original"
    NOT_A_REVERSAL = "not_a_reversal"
    HOLD = "hold_tc570"
    REFUND_EXCEEDS_CREDIT = "refund_exceeds_credit"


@dataclass(frozen=True, slots=True)
class Posted:
    """What the rules need to know of a transaction already posted to the module."""

    id: int
    tc: int
    amount_cents: int
    posted_date: dt.date
    reverses_id: int | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A transaction submitted for posting. ``reverses_id`` may be left to the engine."""

    tc: int
    amount_cents: int
    posted_date: dt.date
    dln: str
    posted_by: str
    reason_code: int | None = None
    reverses_id: int | None = None


@dataclass(frozen=True, slots=True)
class Accept:
    """The candidate posts; ``reverses_id`` is the transaction it reverses, if any."""

    reverses_id: int | None


@dataclass(frozen=True, slots=True)
class Reject:
    """The candidate goes to the unpostable queue for ``code``, explained by ``reason``."""

    code: UnpostableCode
    reason: str


Decision = Accept | Reject


def remaining(posted: Sequence[Posted], target: Posted) -> int:
    """What is left of ``target`` after the reversals already posted against it (same sign as it)."""
    return target.amount_cents + sum(p.amount_cents for p in posted if p.reverses_id == target.id)


def _fully_reversed(posted: Sequence[Posted], target: Posted) -> bool:
    reversals = [p for p in posted if p.reverses_id == target.id]
    if CODES[target.tc].sign is Sign.ZERO or target.amount_cents == 0:
        return bool(reversals)
    return remaining(posted, target) == 0


def open_holds(posted: Sequence[Posted]) -> list[Posted]:
    """The TC 570 holds not yet released by a TC 571."""
    return [p for p in posted if p.tc == HOLD_TC and not _fully_reversed(posted, p)]


def notices_allowed(posted: Sequence[Posted]) -> bool:
    """Notices wait while a TC 570 hold is open (the liability is not settled yet)."""
    return not open_holds(posted)


def balance_of(posted: Sequence[Posted], as_of: dt.date | None = None) -> int:
    """The balance the posted transactions make (positive: owed), as of a date if given."""
    return sum(p.amount_cents for p in posted if as_of is None or p.posted_date <= as_of)


def check(posted: Sequence[Posted], cand: Candidate) -> Decision:
    """Decide whether ``cand`` may post to a module holding ``posted``. Pure."""
    tcode = CODES.get(cand.tc)
    if tcode is None:
        return Reject(UnpostableCode.UNKNOWN_TC, f"TC {cand.tc} is not handled by the ledger")
    if not sign_ok(tcode, cand.amount_cents):
        return Reject(UnpostableCode.WRONG_SIGN, f"TC {cand.tc} is a {tcode.sign.value} code")
    has_150 = any(p.tc == ORIGINAL_RETURN_TC for p in posted)
    if cand.tc == ORIGINAL_RETURN_TC and has_150:
        return Reject(UnpostableCode.DUPLICATE_RETURN, "module already has a TC 150: post a TC 976")
    if cand.tc == DUPLICATE_RETURN_TC and not has_150:
        return Reject(UnpostableCode.NO_ORIGINAL_RETURN, "TC 976 needs a TC 150 on the module")
    if cand.tc in REFUND_CODES:
        if open_holds(posted):
            return Reject(UnpostableCode.HOLD, "refund frozen by an open TC 570")
        if balance_of(posted) + cand.amount_cents > 0:
            return Reject(UnpostableCode.REFUND_EXCEEDS_CREDIT, "refund exceeds the module's credit balance")
    if not tcode.is_reversal:
        if cand.reverses_id is not None:
            return Reject(UnpostableCode.NOT_A_REVERSAL, f"TC {cand.tc} reverses nothing")
        return Accept(None)
    return _match_reversal(posted, cand, tcode.reverses)


def _match_reversal(posted: Sequence[Posted], cand: Candidate, targets: frozenset[int]) -> Decision:
    def fits(t: Posted) -> bool:
        if t.tc not in targets or _fully_reversed(posted, t):
            return False
        if cand.amount_cents == 0:
            return CODES[t.tc].sign is Sign.ZERO or t.amount_cents == 0
        left = remaining(posted, t)
        return (left > 0) != (cand.amount_cents > 0) and abs(cand.amount_cents) <= abs(left)

    if cand.reverses_id is not None:
        named = next((p for p in posted if p.id == cand.reverses_id), None)
        if named is None or named.tc not in targets or _fully_reversed(posted, named):
            return Reject(
                UnpostableCode.NO_MATCHING_TRANSACTION,
                f"TC {cand.tc} names no unreversed TC {'/'.join(map(str, sorted(targets)))} on this module",
            )
        if named.posted_date > cand.posted_date:
            return Reject(UnpostableCode.REVERSAL_BEFORE_ORIGINAL, "reversal dated before the original")
        if not fits(named):
            return Reject(UnpostableCode.REVERSAL_EXCEEDS, "reversal exceeds what is left of the original")
        return Accept(named.id)
    # Not named: the most recent unreversed original it fits (the IDRS reversal of "the" 670).
    for t in sorted(posted, key=lambda p: (p.posted_date, p.id), reverse=True):
        if t.posted_date <= cand.posted_date and fits(t):
            return Accept(t.id)
    open_targets = [t for t in posted if t.tc in targets and not _fully_reversed(posted, t)]
    if any(t.posted_date <= cand.posted_date for t in open_targets):
        return Reject(UnpostableCode.REVERSAL_EXCEEDS, "reversal exceeds what is left of any original")
    if open_targets:
        return Reject(UnpostableCode.REVERSAL_BEFORE_ORIGINAL, "reversal dated before any original it could reverse")
    return Reject(
        UnpostableCode.NO_MATCHING_TRANSACTION,
        f"TC {cand.tc} found no unreversed TC {'/'.join(map(str, sorted(targets)))} on this module",
    )


# --- database layer ----------------------------------------------------------------


def posting_cycle(day: dt.date) -> int:
    """Posting cycle YYYYWW: the year and the 7-day week of the year (as the synthetic loader stamps)."""
    return day.year * 100 + (day.timetuple().tm_yday - 1) // 7 + 1


@dataclass(frozen=True, slots=True)
class PostResult:
    """Where a submitted transaction went: ``transaction_id`` or ``unpostable_id`` (exactly one)."""

    decision: Decision
    transaction_id: int | None = None
    unpostable_id: int | None = None

    @property
    def posted(self) -> bool:
        return self.transaction_id is not None


def load_posted(conn: Connection, module_id: int) -> list[Posted]:
    """The module's posted transactions, oldest first."""
    t = transactions.c
    rows = conn.execute(
        sa.select(t.id, t.tc, t.amount_cents, t.posted_date, t.reverses_id)
        .where(t.module_id == module_id)
        .order_by(t.posted_date, t.id)
    )
    return [Posted(int(r.id), int(r.tc), int(r.amount_cents), r.posted_date, r.reverses_id) for r in rows]


def _lock_module(conn: Connection, module_id: int) -> None:
    # Check-then-insert must not interleave with another posting to the same module.
    found = conn.execute(
        sa.select(tax_modules.c.id).where(tax_modules.c.id == module_id).with_for_update()
    ).scalar_one_or_none()
    if found is None:
        raise ModuleNotFound(module_id)


def post(
    conn: Connection,
    module_id: int,
    cand: Candidate,
    *,
    source_id: int,
    source_record: int,
    now: dt.datetime | None = None,
) -> PostResult:
    """Post ``cand`` to the module, or queue it as unpostable. Never commits.

    ``source_id``/``source_record`` are the provenance of the submission (the file
    and record it came from, or the request that made it): every row says where
    it came from, posted or not.
    """
    _lock_module(conn, module_id)
    posted = load_posted(conn, module_id)
    decision = check(posted, cand)
    common = {
        "module_id": module_id,
        "tc": cand.tc,
        "amount_cents": cand.amount_cents,
        "posted_date": cand.posted_date,
        "cycle": posting_cycle(cand.posted_date),
        "dln": cand.dln,
        "reason_code": cand.reason_code,
        "posted_by": cand.posted_by,
        "source_id": source_id,
        "source_record": source_record,
    }
    if isinstance(decision, Accept):
        new_id = conn.execute(
            transactions.insert().values(**common, reverses_id=decision.reverses_id).returning(transactions.c.id)
        ).scalar_one()
        return PostResult(decision, transaction_id=int(new_id))
    when = now or dt.datetime.now(dt.UTC)
    new_id = conn.execute(
        ledger_unpostables.insert()
        .values(
            **common,
            reverses_id=cand.reverses_id,
            unpostable_code=decision.code.value,
            reason=decision.reason[:200],
            status="open",
            created_at=when,
        )
        .returning(ledger_unpostables.c.id)
    ).scalar_one()
    return PostResult(decision, unpostable_id=int(new_id))


def balance(conn: Connection, module_id: int, as_of: dt.date | None = None) -> int:
    """The module balance in cents from posted transactions only (positive: owed). Never stored."""
    t = transactions.c
    total = sa.cast(sa.func.coalesce(sa.func.sum(t.amount_cents), 0), sa.BigInteger)
    q = sa.select(total).where(t.module_id == module_id)
    if as_of is not None:
        q = q.where(t.posted_date <= as_of)
    return int(conn.execute(q).scalar_one())


def open_unpostables(conn: Connection, module_id: int | None = None) -> list[dict[str, object]]:
    """The unpostable queue (open items), oldest first, optionally for one module."""
    u = ledger_unpostables.c
    q = sa.select(ledger_unpostables).where(u.status == "open").order_by(u.created_at, u.id)
    if module_id is not None:
        q = q.where(u.module_id == module_id)
    return [dict(r._mapping) for r in conn.execute(q)]
