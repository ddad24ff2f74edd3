"""The posting cycle over a synthetic population: the whole notice series, stopped by payment or a hold, idempotent."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.audit import AuditLog
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import RATES_KNOWN_UNTIL, payoff
from taxvault.ledger.cycle import CycleError, run_cycle
from taxvault.ledger.posting import Candidate, post
from taxvault.notices.issue import field_collection, owing_modules
from taxvault.notices.series import MIN_INTERVAL_DAYS
from taxvault.store.tables import notices, sources, tax_modules, transactions

WEEK = dt.timedelta(days=7)


@pytest.fixture
def world(db_engine: Engine) -> Iterator[tuple[Engine, AuditLog]]:
    from taxvault.synth.load import synthesize

    synthesize(db_engine, 400, seed=23)
    with AuditLog(db_engine) as log:
        yield db_engine, log


def _series(engine: Engine, module_id: int) -> list[tuple[str, dt.date]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(notices.c.notice_type, notices.c.issued_date)
            .where(notices.c.module_id == module_id, notices.c.notice_type != "CP2000")
            .order_by(notices.c.issued_date, notices.c.id)
        )
        return [(str(t), d) for t, d in rows]


def _source(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                sources.insert()
                .values(kind="job", name="payments-test", created_at=dt.datetime.now(dt.UTC))
                .returning(sources.c.id)
            ).scalar_one()
        )


def _start(engine: Engine) -> dt.date:
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(transactions.c.posted_date))).scalar_one()
    return last + dt.timedelta(days=1)


def test_cycle_walks_the_series_payment_and_hold_stop_it_reruns_issue_nothing(world: tuple[Engine, AuditLog]) -> None:
    engine, log = world
    start = _start(engine)
    with engine.connect() as conn:
        owing = owing_modules(conn, start)
        entity_of = dict(conn.execute(sa.select(tax_modules.c.id, tax_modules.c.entity_id)).all())
        field = field_collection(conn, sorted({int(entity_of[m]) for m in owing}))
    assert len(owing) >= 6, "the synthetic population must have balance-due modules"
    walker, payer, held = owing[0], owing[1], owing[2]
    src = _source(engine)

    day = start
    paid_on: dt.date | None = None
    hold_on: dt.date | None = None
    released_on: dt.date | None = None
    while day <= RATES_KNOWN_UNTIL:
        first = run_cycle(engine, day, audit=log, underreporter=False)
        again = run_cycle(engine, day, audit=log, underreporter=False)
        assert again.notices_issued == 0 and again.posted == 0, "a re-run of the same date issues nothing twice"
        # The payer pays the full payoff once her CP501 is out.
        if paid_on is None and [t for t, _ in _series(engine, payer)][-1:] == ["CP501"]:
            with engine.begin() as conn:
                owed = payoff(conn, payer, day).total
                post(conn, payer, Candidate(670, -owed, day, "27670000000000", "payments"), source_id=src,
                     source_record=1)  # fmt: skip
            paid_on = day
        # The held module gets a TC 570 (through an adjustment the cycle posts) after its CP501,
        # and a TC 571 ten weeks later.
        if hold_on is None and [t for t, _ in _series(engine, held)][-1:] == ["CP501"]:
            with engine.begin() as conn:
                adjustments.request(conn, held, tc=570, amount_cents=0, reason_code=None, requested_by="E000001",
                                    request_id="t", within_authority=True)  # fmt: skip
            hold_on = day + WEEK  # posts at the next cycle
        if hold_on is not None and released_on is None and day >= hold_on + 10 * WEEK:
            with engine.begin() as conn:
                adjustments.request(conn, held, tc=571, amount_cents=0, reason_code=None, requested_by="E000001",
                                    request_id="t", within_authority=True)  # fmt: skip
            released_on = day + WEEK
        assert first.denied == 0
        day += WEEK

    final = "L1058" if int(entity_of[walker]) in field else "LT11"
    walked = _series(engine, walker)
    assert [t for t, _ in walked] == ["CP14", "CP501", "CP503", "CP504", final]
    for (_, a), (_, b) in itertools.pairwise(walked):
        assert (b - a).days >= MIN_INTERVAL_DAYS

    assert paid_on is not None
    paid = _series(engine, payer)
    assert [t for t, _ in paid] == ["CP14", "CP501"], "full payment stops the series"
    assert all(d <= paid_on for _, d in paid)

    assert hold_on is not None and released_on is not None
    held_series = _series(engine, held)
    assert not [d for _, d in held_series if hold_on <= d < released_on], "no notice while the TC 570 is open"
    assert [t for t, _ in held_series][:3] == ["CP14", "CP501", "CP503"], "the series resumes after the TC 571"
    assert any(d >= released_on for _, d in held_series)

    with pytest.raises(CycleError):
        run_cycle(engine, start, audit=log, underreporter=False)


def test_every_notice_is_audited_with_a_pdf_and_amounts_that_add_up(world: tuple[Engine, AuditLog]) -> None:
    engine, log = world
    day = _start(engine) + dt.timedelta(days=60)
    size_before = log.tree_head().tree_size
    report = run_cycle(engine, day, audit=log, underreporter=False)
    assert report.notices_issued > 0
    assert log.tree_head().tree_size == size_before + report.audit_events
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(notices, tax_modules.c.ref.label("module_ref"))
            .join(tax_modules, tax_modules.c.id == notices.c.module_id)
            .where(notices.c.issued_date == day)
        ).all()
    assert len(rows) == report.notices_issued
    events = [log.event(i) for i in range(size_before, size_before + report.audit_events)]
    audited = {e.resource for e in events if e.action.startswith("issue_notice:notices:")}
    for r in rows:
        assert r.pdf is not None and bytes(r.pdf).startswith(b"%PDF")
        assert r.amount_due_cents == r.tax_cents + r.penalty_cents + r.interest_cents
        assert r.amount_due_cents > 0 and r.respond_by > day
        assert r.module_ref in audited


def test_cycle_refuses_when_the_audit_log_cannot_append(world: tuple[Engine, AuditLog]) -> None:
    engine, _ = world
    day = _start(engine) + dt.timedelta(days=60)
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(notices)).scalar_one()

    class Broken(AuditLog):
        def append_many(self, events):  # type: ignore[no-untyped-def]
            raise RuntimeError("audit store unavailable")

    broken = Broken(engine)
    with pytest.raises(RuntimeError):
        run_cycle(engine, day, audit=broken, underreporter=False)
    with engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(notices)).scalar_one()
    assert after == before, "no audit, no notices (fail closed)"


def test_cp2000_for_under_reporters_once_with_the_recomputed_tax(world: tuple[Engine, AuditLog]) -> None:
    import io

    from pypdf import PdfReader

    from taxvault.notices.documents import format_money
    from taxvault.notices.underreporter import find_discrepancies

    engine, log = world
    day = _start(engine) + dt.timedelta(days=30)
    with engine.connect() as conn:
        found = {d.module_id: d for d in find_discrepancies(conn)}
    assert found, "the synthetic population has under-reporters"
    first = run_cycle(engine, day, audit=log)
    assert first.notices.get("CP2000") == len(found)
    again = run_cycle(engine, day + WEEK, audit=log)
    assert "CP2000" not in again.notices, "one CP2000 per module"
    with engine.connect() as conn:
        rows = conn.execute(sa.select(notices).where(notices.c.notice_type == "CP2000")).all()
    assert {r.module_id for r in rows} == set(found)
    for r in rows[:5]:
        d = found[r.module_id]
        assert r.tax_cents == d.proposed_increase_cents > 0
        assert r.amount_due_cents == r.tax_cents + r.interest_cents and r.penalty_cents == 0
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(bytes(r.pdf))).pages)
        assert format_money(d.proposed_increase_cents) in text
        assert format_money(d.omitted_cents) in text or all(
            format_money(i.reported_by_payers_cents) in text for i in d.items
        )


def test_a_module_whose_accruals_cannot_be_computed_is_skipped_and_named(world: tuple[Engine, AuditLog]) -> None:
    from ledger_seed import seed_module

    engine, log = world
    src = _source(engine)
    with engine.begin() as conn:  # tax year 2021: interest from April 2022, before the rate table starts
        old = seed_module(conn, src, tax_period=202112)
        post(conn, old, Candidate(150, 500_000, dt.date(2022, 5, 2), "29211105000000", "returns"), source_id=src,
             source_record=1)  # fmt: skip
        old_ref = conn.execute(sa.select(tax_modules.c.ref).where(tax_modules.c.id == old)).scalar_one()
    report = run_cycle(engine, _start(engine) + dt.timedelta(days=60), audit=log, underreporter=False)
    assert (old_ref, "RateNotPublished") in report.skipped
    assert report.notices_issued > 0, "the other modules still get their notices"
    assert _series(engine, old) == []
