"""Posting through the store (SQLite and PostgreSQL): rows land where the rules say, nothing lost."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_seed import count, seed_module, seed_source
from sqlalchemy.engine import Engine

from taxvault.ledger.posting import (
    Candidate,
    ModuleNotFound,
    UnpostableCode,
    balance,
    open_unpostables,
    post,
)
from taxvault.ledger.tables import ledger_unpostables
from taxvault.store.tables import transactions

DAY = dt.date(2025, 4, 15)


def cand(tc: int, amount: int, day: dt.date = DAY, reverses_id: int | None = None) -> Candidate:
    return Candidate(tc, amount, day, "18245105000025", "E000001", reverses_id=reverses_id)


def test_post_balance_and_unpostable_queue(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        src = seed_source(conn)
        mod = seed_module(conn, src)
        r150 = post(conn, mod, cand(150, 500_000), source_id=src, source_record=1)
        assert r150.posted and r150.transaction_id is not None
        post(conn, mod, cand(806, -300_000), source_id=src, source_record=2)
        pay = post(conn, mod, cand(670, -50_000, DAY + dt.timedelta(days=40)), source_id=src, source_record=3)
        dup = post(conn, mod, cand(150, 500_000), source_id=src, source_record=4)
        assert not dup.posted and dup.unpostable_id is not None
        bounced = post(conn, mod, cand(671, 50_000, DAY + dt.timedelta(days=50)), source_id=src, source_record=5)
        assert bounced.posted
        assert balance(conn, mod) == 200_000
        assert balance(conn, mod, as_of=DAY) == 200_000
        assert balance(conn, mod, as_of=DAY + dt.timedelta(days=45)) == 150_000
        assert balance(conn, mod, as_of=DAY - dt.timedelta(days=1)) == 0
        queue = open_unpostables(conn, mod)
        assert [q["unpostable_code"] for q in queue] == [UnpostableCode.DUPLICATE_RETURN.value]
        assert queue[0]["amount_cents"] == 500_000 and queue[0]["source_record"] == 4
        rev = conn.execute(transactions.select().where(transactions.c.id == bounced.transaction_id)).one()
        assert rev.reverses_id == pay.transaction_id
        assert rev.cycle == 202523  # 2025-06-04: day 155 of the year, week 23
        assert isinstance(balance(conn, mod), int)


def test_unknown_module_raises(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        src = seed_source(conn)
        with pytest.raises(ModuleNotFound):
            post(conn, 12345, cand(150, 1), source_id=src, source_record=0)


def test_post_never_commits(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        src = seed_source(conn)
        mod = seed_module(conn, src)
    conn = db_engine.connect()
    try:
        post(conn, mod, cand(150, 1_000), source_id=src, source_record=0)
        post(conn, mod, cand(150, 1_000), source_id=src, source_record=1)
        conn.rollback()
        assert balance(conn, mod) == 0
        assert count(conn, ledger_unpostables) == 0
    finally:
        conn.close()


_TCS = [150, 290, 291, 570, 571, 610, 611, 670, 671, 806, 807, 846, 976, 999]


@given(st.lists(st.tuples(st.sampled_from(_TCS), st.integers(-(10**7), 10**7), st.integers(0, 400)), max_size=20))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_posted_plus_unpostable_is_submitted(db_engine: Engine, subs: list[tuple[int, int, int]]) -> None:
    with db_engine.begin() as conn:
        src = seed_source(conn)
        mod = seed_module(conn, src)
        before_t, before_u = count(conn, transactions), count(conn, ledger_unpostables)
        expected = 0
        for i, (tc, amount, days) in enumerate(subs):
            res = post(conn, mod, cand(tc, amount, DAY + dt.timedelta(days=days)), source_id=src, source_record=i)
            assert (res.transaction_id is None) != (res.unpostable_id is None)
            if res.posted:
                expected += amount
        assert count(conn, transactions) - before_t + count(conn, ledger_unpostables) - before_u == len(subs)
        assert balance(conn, mod) == expected


def test_payoff_from_the_store_matches_the_pure_engine(db_engine: Engine) -> None:
    from dataclasses import fields

    from taxvault.ledger.accruals import Terms, accrue, payoff
    from taxvault.ledger.posting import load_posted

    due = dt.date(2025, 4, 15)
    with db_engine.begin() as conn:
        src = seed_source(conn)
        mod = seed_module(conn, src, tax_period=202412)
        late = dt.date(2025, 7, 1)  # filed late: TC 150 posted then, no return row
        post(conn, mod, cand(150, 812_345, late), source_id=src, source_record=0)
        post(conn, mod, cand(806, -400_000, late), source_id=src, source_record=1)
        post(conn, mod, cand(670, -100_000, dt.date(2025, 9, 3)), source_id=src, source_record=2)
        on = dt.date(2026, 2, 28)
        got = payoff(conn, mod, on)
        assert got == accrue(load_posted(conn, mod), Terms(due, late), on)
        assert got.tax == 312_345 and got.penalty_ftf > 0 and got.penalty_ftp > 0 and got.interest > 0
        for f in fields(got):
            assert type(getattr(got, f.name)) is int
        assert payoff(conn, mod, dt.date(2025, 6, 30)).total == 0  # nothing posted yet on that date


def test_concurrent_returns_post_once(db_engine: Engine) -> None:
    """Two postings racing on one module: the row lock serialises them, the loser goes unpostable."""
    import threading

    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers itself; the row lock is PostgreSQL's")
    with db_engine.begin() as conn:
        src = seed_source(conn)
        mod = seed_module(conn, src)
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def submit(i: int) -> None:
        with db_engine.begin() as conn:
            barrier.wait()
            results.append(post(conn, mod, cand(150, 1_000), source_id=src, source_record=i).posted)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    with db_engine.connect() as conn:
        assert balance(conn, mod) == 1_000
        assert count(conn, ledger_unpostables) == 1
