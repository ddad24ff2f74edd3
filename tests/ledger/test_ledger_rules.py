"""Pure posting rules: each rule by example, and the invariants by hypothesis (no database)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from taxvault.ledger.codes import CODES, Sign, code, sign_ok
from taxvault.ledger.posting import (
    Accept,
    Candidate,
    Posted,
    Reject,
    UnpostableCode,
    balance_of,
    check,
    notices_allowed,
)

DAY = dt.date(2025, 4, 15)


def cand(tc: int, amount: int, reverses_id: int | None = None, day: dt.date = DAY) -> Candidate:
    return Candidate(tc, amount, day, "18245105000025", "tester", reverses_id=reverses_id)


class Module:
    """An in-memory module applying check() the way post() does."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.unpostable: list[tuple[Candidate, Reject]] = []

    def submit(self, c: Candidate) -> Accept | Reject:
        d = check(self.posted, c)
        if isinstance(d, Accept):
            self.posted.append(Posted(len(self.posted) + 1, c.tc, c.amount_cents, c.posted_date, d.reverses_id))
        else:
            self.unpostable.append((c, d))
        return d


def rejected(d: Accept | Reject, why: UnpostableCode) -> bool:
    return isinstance(d, Reject) and d.code is why


def test_table_covers_the_codes_the_issue_names() -> None:
    needed = {150, 290, 291, 300, 301, 420, 421, 570, 571, 610, 611, 670, 671, 706, 766, 767, 806, 807}
    needed |= {826, 846, 898, 971, 976, 650, 651, 430}
    assert needed <= set(CODES)
    for c in CODES.values():
        for target in c.reverses:
            assert target in CODES
            # A reversal moves money the other way from what it reverses (or both carry none).
            if c.sign is Sign.ZERO:
                assert CODES[target].sign is Sign.ZERO
            else:
                assert CODES[target].sign not in (c.sign, Sign.ZERO)


def test_signs() -> None:
    assert sign_ok(code(150), 0) and sign_ok(code(150), 100) and not sign_ok(code(150), -1)
    assert sign_ok(code(670), -1) and not sign_ok(code(670), 0) and not sign_ok(code(670), 5)
    assert sign_ok(code(570), 0) and not sign_ok(code(570), 1)


def test_one_original_return_then_976() -> None:
    m = Module()
    assert rejected(m.submit(cand(976, 0)), UnpostableCode.NO_ORIGINAL_RETURN)
    assert isinstance(m.submit(cand(150, 10_000)), Accept)
    assert rejected(m.submit(cand(150, 10_000)), UnpostableCode.DUPLICATE_RETURN)
    assert isinstance(m.submit(cand(976, 0)), Accept)


def test_unknown_code_and_wrong_sign() -> None:
    m = Module()
    assert rejected(m.submit(cand(999, 1)), UnpostableCode.UNKNOWN_TC)
    assert rejected(m.submit(cand(670, 500)), UnpostableCode.WRONG_SIGN)
    assert rejected(m.submit(cand(420, 5)), UnpostableCode.WRONG_SIGN)


def test_reversal_must_match_and_not_exceed() -> None:
    m = Module()
    m.submit(cand(150, 10_000))
    assert rejected(m.submit(cand(671, 100)), UnpostableCode.NO_MATCHING_TRANSACTION)
    m.submit(cand(670, -4_000))
    assert rejected(m.submit(cand(671, 4_001)), UnpostableCode.REVERSAL_EXCEEDS)
    assert m.submit(cand(671, 4_000)) == Accept(2)
    assert rejected(m.submit(cand(671, 1)), UnpostableCode.NO_MATCHING_TRANSACTION)  # already reversed
    # Partial abatements add up to the assessment, not beyond.
    assert m.submit(cand(291, -6_000)) == Accept(1)
    assert rejected(m.submit(cand(291, -4_001)), UnpostableCode.REVERSAL_EXCEEDS)
    assert m.submit(cand(291, -4_000)) == Accept(1)
    assert rejected(m.submit(cand(291, -1)), UnpostableCode.NO_MATCHING_TRANSACTION)
    # A reversal cannot predate what it reverses.
    m.submit(cand(670, -500, day=DAY + dt.timedelta(days=10)))
    assert rejected(m.submit(cand(671, 500, day=DAY)), UnpostableCode.REVERSAL_BEFORE_ORIGINAL)
    assert rejected(m.submit(cand(671, 500, reverses_id=len(m.posted))), UnpostableCode.REVERSAL_BEFORE_ORIGINAL)
    # Naming the wrong kind of transaction, or reversing with a non-reversal code.
    assert rejected(m.submit(cand(807, 10, reverses_id=1)), UnpostableCode.NO_MATCHING_TRANSACTION)
    assert rejected(m.submit(cand(670, -10, reverses_id=1)), UnpostableCode.NOT_A_REVERSAL)


def test_hold_stops_refunds_and_notices_until_released() -> None:
    m = Module()
    m.submit(cand(150, 1_000))
    m.submit(cand(806, -3_000))
    assert notices_allowed(m.posted)
    m.submit(cand(570, 0))
    assert not notices_allowed(m.posted)
    assert rejected(m.submit(cand(846, 2_000)), UnpostableCode.HOLD)
    assert isinstance(m.submit(cand(571, 0)), Accept)
    assert rejected(m.submit(cand(571, 0)), UnpostableCode.NO_MATCHING_TRANSACTION)
    assert notices_allowed(m.posted)
    assert rejected(m.submit(cand(846, 2_001)), UnpostableCode.REFUND_EXCEEDS_CREDIT)
    assert isinstance(m.submit(cand(846, 2_000)), Accept)
    assert balance_of(m.posted) == 0


# --- invariants -----------------------------------------------------------------

ORIGINALS = [tc for tc, c in CODES.items() if not c.is_reversal]


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    tc = draw(st.sampled_from([*CODES, 999]))
    c = CODES.get(tc)
    magnitude = draw(st.integers(0, 10**9))
    if c is None or c.sign is Sign.ZERO:
        amount = draw(st.sampled_from([0, 0, 0, magnitude]))
    else:
        sign = 1 if c.sign is Sign.DEBIT else -1
        amount = draw(st.sampled_from([sign * magnitude, sign * magnitude, -sign * magnitude]))
    day = DAY + dt.timedelta(days=draw(st.integers(0, 900)))
    rev = draw(st.one_of(st.none(), st.integers(1, 30)))
    return Candidate(tc, amount, day, "18245105000025", "prop", reverses_id=rev)


@given(st.lists(candidates(), max_size=40))
@settings(max_examples=300)
def test_nothing_lost_and_balance_is_the_sum(cands: list[Candidate]) -> None:
    m = Module()
    for c in cands:
        m.submit(c)
    assert len(m.posted) + len(m.unpostable) == len(cands)
    assert balance_of(m.posted) == sum(p.amount_cents for p in m.posted)
    assert sum(p.tc == 150 for p in m.posted) <= 1
    for p in m.posted:
        assert sign_ok(CODES[p.tc], p.amount_cents)
        if p.reverses_id is not None:
            target = m.posted[p.reverses_id - 1]
            assert target.tc in CODES[p.tc].reverses
            assert target.posted_date <= p.posted_date
    # No original is reversed beyond itself.
    for t in m.posted:
        total = t.amount_cents + sum(p.amount_cents for p in m.posted if p.reverses_id == t.id)
        assert total == 0 or (total > 0) == (t.amount_cents > 0)


@given(
    st.lists(candidates(), max_size=25),
    st.sampled_from([tc for tc in ORIGINALS if any(tc in c.reverses for c in CODES.values())]),
    st.integers(1, 10**9),
)
@settings(max_examples=300)
def test_posting_then_its_reversal_restores_the_balance(history: list[Candidate], tc: int, magnitude: int) -> None:
    m = Module()
    for c in history:
        m.submit(c)
    orig = CODES[tc]
    amount = 0 if orig.sign is Sign.ZERO else (magnitude if orig.sign is Sign.DEBIT else -magnitude)
    before = balance_of(m.posted)
    d = m.submit(cand(tc, amount))
    if isinstance(d, Reject):  # e.g. a second TC 150 or a frozen refund: nothing changed
        assert balance_of(m.posted) == before
        return
    new_id = len(m.posted)
    reverser = next(c for c in CODES.values() if tc in c.reverses)
    r = m.submit(cand(reverser.tc, -amount, reverses_id=new_id))
    assert r == Accept(new_id)
    assert balance_of(m.posted) == before
