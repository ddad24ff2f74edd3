"""The synthetic population obeys the posting rules, and every module has a payoff in int cents."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import astuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.ledger.accruals import payoff
from taxvault.ledger.posting import Accept, Candidate, Posted, balance, check, load_posted
from taxvault.store.tables import tax_modules
from taxvault.synth.load import synthesize


def test_synthetic_modules_replay_cleanly_and_have_payoffs(db_engine: Engine) -> None:
    synthesize(db_engine, 200, seed=7)
    on = dt.date(2026, 6, 30)
    rejects: Counter[str] = Counter()
    with db_engine.connect() as conn:
        module_ids = [int(m) for m in conn.execute(sa.select(tax_modules.c.id)).scalars()]
        assert module_ids
        owing = 0
        for mid in module_ids:
            posted = load_posted(conn, mid)
            replayed: list[Posted] = []
            for p in posted:
                decision = check(replayed, Candidate(p.tc, p.amount_cents, p.posted_date, "x", "replay"))
                if not isinstance(decision, Accept):
                    rejects[decision.code.value] += 1
                replayed.append(p)
            total = balance(conn, mid)
            assert total == sum(p.amount_cents for p in posted)
            result = payoff(conn, mid, on)
            assert all(type(v) is int and v >= 0 for v in astuple(result))
            assert result.tax == max(0, total)
            owing += result.tax > 0
    assert not rejects, rejects
    assert owing > 0
