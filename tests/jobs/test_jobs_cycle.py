"""The posting cycle over a synthetic population: the whole notice series, stopped by payment or a hold, idempotent;
each phase one unit of work (decisions, writes and audit events commit together); refused job principals."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.audit import AuditLog
from taxvault.audit.errors import AuditAppendError
from taxvault.errors import Denied, Unauthenticated, Unavailable
from taxvault.jobs.cycle import CycleError, run_cycle
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import RATES_KNOWN_UNTIL, payoff
from taxvault.ledger.posting import Candidate, post
from taxvault.ledger.tables import cycle_runs, ledger_adjustments
from taxvault.notices.issue import field_collection, owing_modules
from taxvault.notices.series import MIN_INTERVAL_DAYS
from taxvault.store.tables import entities, notices, principals, sources, tax_modules, transactions

WEEK = dt.timedelta(days=7)
World = tuple[Engine, AuditLog, Door]


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    from taxvault.synth.load import synthesize

    synthesize(db_engine, 400, seed=23)
    with AuditLog(db_engine) as log:
        yield db_engine, log, Door(db_engine, log, PolicyEngine())


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
    assert isinstance(last, dt.date)
    return last + dt.timedelta(days=1)


def test_cycle_walks_the_series_payment_and_hold_stop_it_reruns_issue_nothing(world: World) -> None:
    engine, _, door = world
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
        first = run_cycle(door, day, underreporter=False)
        again = run_cycle(door, day, underreporter=False)
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
        run_cycle(door, start, underreporter=False)


def test_every_notice_is_audited_with_a_pdf_and_amounts_that_add_up(world: World) -> None:
    engine, log, door = world
    day = _start(engine) + dt.timedelta(days=60)
    size_before = log.tree_head().tree_size
    report = run_cycle(door, day, underreporter=False)
    assert report.notices_issued > 0
    assert log.tree_head().tree_size == size_before + report.audit_events
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(notices, tax_modules.c.ref.label("module_ref"), entities.c.ref.label("owner"))
            .join(tax_modules, tax_modules.c.id == notices.c.module_id)
            .join(entities, entities.c.id == tax_modules.c.entity_id)
            .where(notices.c.issued_date == day)
        ).all()
    assert len(rows) == report.notices_issued
    events = [log.event(i) for i in range(size_before, size_before + report.audit_events)]
    audited = {e.resource for e in events if e.action.startswith("issue_notice:notices:")}
    # Each notice's event names its taxpayer (event v2 subject): the job's access is in her report.
    subjects = {e.resource: e.subject for e in events if e.action.startswith("issue_notice:notices:")}
    assert {r.module_ref: r.owner for r in rows}.items() <= subjects.items()
    assert all(e.channel == "job" for e in events)
    for r in rows:
        assert r.pdf is not None and bytes(r.pdf).startswith(b"%PDF")
        assert r.amount_due_cents == r.tax_cents + r.penalty_cents + r.interest_cents
        assert r.amount_due_cents > 0 and r.respond_by > day
        assert r.module_ref in audited


class FailingLog(AuditLog):
    """A real audit log whose store goes down at the ``fail_at``-th in-transaction append (and stays down)."""

    def __init__(self, engine: Engine, fail_at: int) -> None:
        super().__init__(engine)
        self.calls, self.fail_at = 0, fail_at

    @property
    def down(self) -> bool:
        return self.calls >= self.fail_at

    def append_in(self, conn, events):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.down:
            raise AuditAppendError("audit store unavailable")
        return super().append_in(conn, events)

    def append(self, event):  # type: ignore[no-untyped-def]
        if self.down:
            raise AuditAppendError("audit store unavailable")
        return super().append(event)


def _state(engine: Engine) -> dict[str, int]:
    """What a cycle writes: postings, pending adjustments, notices, runs (finished or not)."""
    with engine.connect() as conn:

        def n(q: sa.Select[int]) -> int:
            return int(conn.execute(q).scalar_one())

        return {
            "transactions": n(sa.select(sa.func.count()).select_from(transactions)),
            "pending": n(sa.select(sa.func.count()).where(ledger_adjustments.c.state == "pending")),
            "notices": n(sa.select(sa.func.count()).select_from(notices)),
            "runs": n(sa.select(sa.func.count()).select_from(cycle_runs)),
            "finished": n(sa.select(sa.func.count()).where(cycle_runs.c.finished_at.is_not(None))),
        }


def _pending_adjustments(engine: Engine, day: dt.date, n: int = 2) -> None:
    with engine.begin() as conn:
        for module in owing_modules(conn, day)[:n]:
            adjustments.request(conn, module, tc=290, amount_cents=10_000, reason_code=51, requested_by="E000001",
                                request_id="t", within_authority=True)  # fmt: skip


def test_postings_and_their_audit_events_commit_together_or_not_at_all(
    world: World,
) -> None:
    engine, log, _ = world
    day = _start(engine) + dt.timedelta(days=60)
    _pending_adjustments(engine, day)
    before, size = _state(engine), log.tree_head().tree_size
    broken = FailingLog(engine, fail_at=1)  # the posting phase's append fails
    with pytest.raises(Unavailable):
        run_cycle(Door(engine, broken, PolicyEngine()), day, underreporter=False)
    broken.close()
    assert _state(engine) == before, "no audit, no posting, no run, no notice (fail closed)"
    assert log.tree_head().tree_size == size

    # The same date then runs whole: the postings carry their events.
    report = run_cycle(Door(engine, log, PolicyEngine()), day, underreporter=False)
    assert report.posted == 2 and report.notices_issued > 0
    events = [log.event(i) for i in range(size, log.tree_head().tree_size)]
    assert sum(e.action == "post:module_transcript" and e.decision.value == "allow" for e in events) == 2
    assert next(e.action for e in events if e.principal == "sys-posting") == "run_cycle:posting_cycle"


def test_a_failed_notice_phase_keeps_the_postings_with_their_events_and_no_notice(
    world: World,
) -> None:
    engine, log, _ = world
    day = _start(engine) + dt.timedelta(days=60)
    _pending_adjustments(engine, day)
    before, size = _state(engine), log.tree_head().tree_size
    broken = FailingLog(engine, fail_at=2)  # the notice phase's append fails
    with pytest.raises(Unavailable):
        run_cycle(Door(engine, broken, PolicyEngine()), day, underreporter=False)
    broken.close()
    after = _state(engine)
    assert after["notices"] == before["notices"], "no audit, no notice"
    assert after["pending"] == before["pending"] - 2 and after["transactions"] == before["transactions"] + 2
    assert after["runs"] == before["runs"] + 1 and after["finished"] == before["finished"], "the run is unfinished"
    events = [log.event(i) for i in range(size, log.tree_head().tree_size)]
    assert sorted({e.principal for e in events}) == ["sys-posting"], "only the committed phase's events"
    assert sum(e.action == "post:module_transcript" for e in events) == 2
    again = run_cycle(Door(engine, log, PolicyEngine()), day, underreporter=False)
    assert again.posted == 0 and again.notices_issued > 0, "the date runs again and issues what is due"


@pytest.mark.parametrize("job", ["sys-posting", "sys-notices"])
def test_a_deactivated_job_principal_is_refused_audited_and_writes_nothing(world: World, job: str) -> None:
    engine, log, door = world
    day = _start(engine) + dt.timedelta(days=60)
    _pending_adjustments(engine, day)
    before, size = _state(engine), log.tree_head().tree_size
    with engine.begin() as conn:
        conn.execute(principals.update().where(principals.c.id == job).values(active=False))
    with pytest.raises(Unauthenticated):
        run_cycle(door, day, underreporter=False)
    assert _state(engine) == before
    [refusal] = [log.event(i) for i in range(size, log.tree_head().tree_size)]
    assert refusal.principal == job and refusal.decision.value == "deny"
    assert refusal.policy == "refused:principal-inactive-or-unknown"


def test_a_job_principal_without_its_permit_is_refused_audited_and_writes_nothing(
    world: World,
) -> None:
    engine, log, door = world
    day = _start(engine) + dt.timedelta(days=60)
    _pending_adjustments(engine, day)
    before, size = _state(engine), log.tree_head().tree_size
    with engine.begin() as conn:  # sys-posting loses its "posting" role: no system permit applies
        conn.execute(principals.update().where(principals.c.id == "sys-posting").values(roles="system"))
    with pytest.raises(Denied):
        run_cycle(door, day, underreporter=False)
    assert _state(engine) == before
    [denial] = [log.event(i) for i in range(size, log.tree_head().tree_size)]
    assert (denial.principal, denial.action) == ("sys-posting", "run_cycle:posting_cycle")
    assert denial.decision.value == "deny"


def test_cp2000_for_under_reporters_once_with_the_recomputed_tax(world: World) -> None:
    import io

    from pypdf import PdfReader

    from taxvault.notices.documents import format_money
    from taxvault.notices.underreporter import find_discrepancies

    engine, _, door = world
    day = _start(engine) + dt.timedelta(days=30)
    with engine.connect() as conn:
        found = {d.module_id: d for d in find_discrepancies(conn)}
    assert found, "the synthetic population has under-reporters"
    first = run_cycle(door, day)
    assert first.notices.get("CP2000") == len(found)
    again = run_cycle(door, day + WEEK)
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


def test_a_module_whose_accruals_cannot_be_computed_is_skipped_and_named(world: World) -> None:
    from ledger_seed import seed_module

    engine, _, door = world
    src = _source(engine)
    with engine.begin() as conn:  # tax year 2021: interest from April 2022, before the rate table starts
        old = seed_module(conn, src, tax_period=202112)
        post(conn, old, Candidate(150, 500_000, dt.date(2022, 5, 2), "29211105000000", "returns"), source_id=src,
             source_record=1)  # fmt: skip
        old_ref = conn.execute(sa.select(tax_modules.c.ref).where(tax_modules.c.id == old)).scalar_one()
    report = run_cycle(door, _start(engine) + dt.timedelta(days=60), underreporter=False)
    assert (old_ref, "RateNotPublished") in report.skipped
    assert report.notices_issued > 0, "the other modules still get their notices"
    assert _series(engine, old) == []
