"""The posting cycle: ``taxvault cycle run --date D``.

One run, for one date, as two named system principals acting through the door:

1. ``sys-posting`` opens the run and posts the pending adjustments (approved, or
   within the requester's authority), each to the module or to the unpostable queue;
2. ``sys-notices`` issues the notices due: the balance-due series (CP14 ... LT11 /
   Letter 1058, :mod:`taxvault.notices.series`) and CP2000 where information
   returns show income the return left out (:mod:`taxvault.notices.underreporter`).

Each phase is one unit of work (:meth:`taxvault.access.door.Door.unit`): its Cedar
decisions (the jobs' own narrow permits; a denied module is skipped and the denial
audited), its writes and its audit events commit in one transaction, or none of
them does. If the audit append fails, nothing of that phase is stored (fail
closed); a failed notice phase leaves the postings of its run (with their events)
and the run unfinished, so the date may be run again.

Re-running a date issues nothing twice: the rules look at what was already
issued and posted, so a second run of the same date finds nothing due. Dates may
not go backwards (a run dated before the latest finished run is refused), since
notices issued "in the past" would break the series intervals.

Why here and not in ``ledger/``: the cycle strings the ledger (postings) and the
notices (which themselves read the ledger) together; a domain must not import
another domain's orchestration, so the orchestration lives above both.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Session, Target, Unit
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.access.system_principals import NOTICES, POSTING
from taxvault.errors import Conflict
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import RATES_FILE_ENV, AccrualError, module_terms, published_rates
from taxvault.ledger.posting import load_posted, open_holds
from taxvault.ledger.tables import cycle_runs, ledger_adjustments
from taxvault.notices import issue
from taxvault.notices.documents import NoticeType, UnreportedItem
from taxvault.notices.underreporter import find_discrepancies
from taxvault.store.tables import entities, notices, sources, tax_modules

POSTING_PRINCIPAL = POSTING
NOTICE_PRINCIPAL = NOTICES
PURPOSE = "posting_cycle"
POST_FIELDS = ["tc", "amount_cents", "reason_code"]
NOTICE_FIELDS = ["name", "address", "tin:masked", "tax_period", "amount_due_cents", "notice_type"]

AUR_MIN_DAYS_AFTER_DUE = 180
"""The under-reporter match waits for payer data: information returns are due by
January 31 / March 31 and take months to post, so a return is matched only from
about six months after its due date (IRS AUR works a year 12-18 months after
filing; the exact start is not published: a model choice)."""


class CycleError(Conflict):
    """The run cannot proceed for that date (a clear, TIN-free message)."""


@dataclass(slots=True)
class CycleReport:
    """What one run did."""

    run_date: dt.date
    posted: int = 0
    unpostable: int = 0
    notices: dict[str, int] = field(default_factory=dict)
    denied: int = 0
    audit_events: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (module ref, why): accruals not computable

    @property
    def notices_issued(self) -> int:
        return sum(self.notices.values())


def run_cycle(
    door: Door,
    on: dt.date,
    *,
    underreporter: bool = True,
    now: dt.datetime | None = None,
) -> CycleReport:
    """Run the posting cycle for ``on`` (see the module docstring).

    Two units, postings then notices (a hold or payment posted by this cycle
    counts for its notices). Both sessions open first, so a job principal that is
    unknown or deactivated stops the run before anything is written (the refusal
    is audited, :class:`taxvault.errors.Unauthenticated`).
    """
    now = now or dt.datetime.now(dt.UTC)
    report = CycleReport(on)
    _, rates_until = published_rates()
    if on > rates_until:
        raise CycleError(
            f"no published underpayment rate covers {on.isoformat()} (the table ends {rates_until.isoformat()})",
            code="rate-not-published",
            hint=f"add the quarter to the file named by {RATES_FILE_ENV}",
        )
    run_tag = f"cycle-{on.isoformat()}-{secrets.token_hex(4)}"
    posting = door.system_session(POSTING_PRINCIPAL, PURPOSE, request_id=run_tag)
    issuing = door.system_session(NOTICE_PRINCIPAL, PURPOSE, request_id=run_tag)
    run_id, source_id = _post_phase(door, posting, on, now, report, run_tag)
    _notice_phase(door, issuing, on, report, run_id, source_id, underreporter)
    return report


def _audit(
    unit: Unit,
    report: CycleReport,
    action: str,
    resource: Resource | str,
    ref: str,
    decision: PolicyDecision,
    fields: list[str],
    subject: str | None = None,
) -> None:
    """Queue one event of the unit (appended inside its transaction, before COMMIT) and count it.

    ``subject`` is the taxpayer the module belongs to: the job's access is in her report too.
    """
    unit.audit(action, resource, ref, decision, fields, subject=subject)
    report.audit_events += 1


def _post_phase(
    door: Door, session: Session, on: dt.date, now: dt.datetime, report: CycleReport, run_tag: str
) -> tuple[int, int]:
    """Open the run and post what is pending: one unit (decisions, postings, events)."""
    with door.unit(session, write=True) as unit:
        conn = unit.conn
        latest = conn.execute(
            sa.select(sa.func.max(cycle_runs.c.run_date)).where(cycle_runs.c.finished_at.is_not(None))
        ).scalar_one()
        if latest is not None and on < latest:
            raise CycleError(
                f"a cycle already ran for {latest.isoformat()}; runs may not go back in time", code="cycle-date"
            )
        opened = unit.authorize(Resource.POSTING_CYCLE, Target(run_tag), "run_cycle")
        run_id = conn.execute(
            cycle_runs.insert()
            .values(run_date=on, principal_id=POSTING_PRINCIPAL, started_at=now)
            .returning(cycle_runs.c.id)
        ).scalar_one()
        source_id = _job_source(conn, on, now)
        _audit(unit, report, "run_cycle", Resource.POSTING_CYCLE, run_tag, opened.decision, ["run_date"])

        pending = conn.execute(
            sa.select(ledger_adjustments.c.id, ledger_adjustments.c.module_id)
            .where(ledger_adjustments.c.state == "pending")
            .order_by(ledger_adjustments.c.id)
        ).all()
        flags = _module_flags(conn, sorted({int(m) for _, m in pending}))
        allowed_ids: list[int] = []
        for adj_id, mid in pending:
            ref, restricted, employee, owner = flags[int(mid)]
            target = Target(ref, module_id=int(mid), restricted=restricted, employee=employee, subject=owner)
            decision = door.decide(conn, unit.session, "post", Resource.MODULE_TRANSCRIPT, target).decision
            fields = POST_FIELDS if decision.allowed else []
            _audit(unit, report, "post", Resource.MODULE_TRANSCRIPT, ref, decision, fields, owner)
            if decision.allowed:
                allowed_ids.append(int(adj_id))
            else:
                report.denied += 1
        results = adjustments.post_pending(conn, on, source_id=source_id, posted_by=POSTING_PRINCIPAL, only=allowed_ids)
        for _, result in results:
            report.posted += int(result.posted)
            report.unpostable += int(not result.posted)
    return int(run_id), source_id


def _notice_phase(
    door: Door,
    session: Session,
    on: dt.date,
    report: CycleReport,
    run_id: int,
    source_id: int,
    underreporter: bool,
) -> None:
    """Plan, decide, issue and finish the run: one unit (decisions, notices, events)."""
    with door.unit(session, write=True) as unit:
        conn = unit.conn
        planned = issue.plan_balance_due(conn, on, report.skipped)
        if underreporter:
            planned += _plan_cp2000(conn, on, report.skipped)
        allowed: list[issue.Planned] = []
        for p in planned:
            target = Target(p.facts.module_ref, restricted=p.facts.restricted, employee=p.facts.employee)
            decision = door.decide(conn, unit.session, "issue_notice", Resource.NOTICES, target).decision
            kind = f"{Resource.NOTICES.value}:{p.notice_type.value}"  # issue_notice:notices:CP14
            _audit(unit, report, "issue_notice", kind, p.facts.module_ref, decision,
                   NOTICE_FIELDS if decision.allowed else [], p.facts.entity_ref or None)  # fmt: skip
            if decision.allowed:
                allowed.append(p)
            else:
                report.denied += 1
        issued = issue.store(conn, allowed, on, source_id=source_id) if allowed else []
        for n in issued:
            report.notices[n.notice_type.value] = report.notices.get(n.notice_type.value, 0) + 1
        conn.execute(
            cycle_runs.update()
            .where(cycle_runs.c.id == run_id)
            .values(
                finished_at=dt.datetime.now(dt.UTC),
                posted=report.posted,
                unpostable=report.unpostable,
                notices=report.notices_issued,
            )
        )


def _job_source(conn: Connection, on: dt.date, now: dt.datetime) -> int:
    new_id = conn.execute(
        sources.insert()
        .values(kind="job", name=f"posting cycle {on.isoformat()} run {secrets.token_hex(4)}", created_at=now)
        .returning(sources.c.id)
    ).scalar_one()
    return int(new_id)


def _module_flags(conn: Connection, module_ids: list[int]) -> dict[int, tuple[str, bool, bool, str]]:
    """Opaque refs (module, owner) and the policy flags of each module: no name, address or TIN."""
    m, e = tax_modules.c, entities.c
    rows = conn.execute(
        sa.select(m.id, m.ref, e.is_restricted, e.is_employee, e.ref.label("owner"))
        .join(entities, entities.c.id == m.entity_id)
        .where(m.id.in_(module_ids))
    )
    return {int(r.id): (str(r.ref), bool(r.is_restricted), bool(r.is_employee), str(r.owner)) for r in rows}


def _plan_cp2000(conn: Connection, on: dt.date, skipped: list[tuple[str, str]]) -> list[issue.Planned]:
    found = find_discrepancies(conn)
    if not found:
        return []
    have = {
        int(m)
        for (m,) in conn.execute(
            sa.select(notices.c.module_id).where(notices.c.notice_type == NoticeType.CP2000.value).distinct()
        )
    }
    todo = [d for d in found if d.module_id not in have]
    facts = issue.module_facts(conn, [d.module_id for d in todo])
    planned: list[issue.Planned] = []
    for d in todo:
        terms = module_terms(conn, d.module_id)
        if (on - terms.due_date).days < AUR_MIN_DAYS_AFTER_DUE or d.module_id not in facts:
            continue
        posted = [p for p in load_posted(conn, d.module_id) if p.posted_date <= on]
        if open_holds(posted):
            continue
        items = tuple(
            UnreportedItem(
                i.payer_name or "Payer not on file", i.form, i.reported_by_payers_cents, i.reported_on_return_cents
            )
            for i in d.items
        )
        try:
            payoff = issue.cp2000_payoff(d.proposed_increase_cents, terms, on)
        except AccrualError as exc:
            skipped.append((facts[d.module_id].module_ref, type(exc).__name__))
            continue
        planned.append(issue.Planned(NoticeType.CP2000, facts[d.module_id], payoff, items, d.proposed_increase_cents))
    return planned


def modules_by_ref(conn: Connection, refs: list[str]) -> dict[str, int]:
    """Module ids for opaque refs (for the CLI and tests)."""
    rows = conn.execute(sa.select(tax_modules.c.ref, tax_modules.c.id).where(tax_modules.c.ref.in_(refs)))
    return {str(r): int(i) for r, i in rows}
