"""The posting cycle: ``taxvault cycle run --date D``.

One run, for one date, as two named system principals:

1. ``sys-posting`` posts the pending adjustments (approved, or within the
   requester's authority), each to the module or to the unpostable queue;
2. ``sys-notices`` issues the notices due: the balance-due series (CP14 ... LT11 /
   Letter 1058, :mod:`taxvault.notices.series`) and CP2000 where information
   returns show income the return left out (:mod:`taxvault.notices.underreporter`).

Every posting and every notice is authorised by the Cedar policies (the jobs'
own narrow permits; a denied module is skipped and the denial audited) and
appended to the audit log *before* the run's database transaction commits: if
the audit append fails, nothing of the run is stored (fail closed).

Re-running a date issues nothing twice: the rules look at what was already
issued and posted, so a second run of the same date finds nothing due. Dates may
not go backwards (a run dated before the latest run is refused), since notices
issued "in the past" would break the series intervals.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.policy import ContextFacts, PolicyDecision, PolicyEngine, ResourceFacts
from taxvault.access.principals import UnknownPrincipal, load_caller
from taxvault.audit import AuditEvent, AuditLog, Decision
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import RATES_FILE_ENV, AccrualError, module_terms, published_rates
from taxvault.ledger.posting import LedgerError, load_posted, open_holds
from taxvault.ledger.tables import cycle_runs, ledger_adjustments
from taxvault.notices import issue
from taxvault.notices.documents import NoticeType, UnreportedItem
from taxvault.store.tables import entities, notices, sources, tax_modules

POSTING_PRINCIPAL = "sys-posting"
NOTICE_PRINCIPAL = "sys-notices"
PURPOSE = "posting_cycle"

AUR_MIN_DAYS_AFTER_DUE = 180
"""The under-reporter match waits for payer data: information returns are due by
January 31 / March 31 and take months to post, so a return is matched only from
about six months after its due date (IRS AUR works a year 12-18 months after
filing; the exact start is not published: a model choice)."""


class CycleError(LedgerError):
    """The run cannot proceed (a clear, TIN-free message)."""


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


def _job_source(conn: Connection, on: dt.date, now: dt.datetime) -> int:
    new_id = conn.execute(
        sources.insert()
        .values(kind="job", name=f"posting cycle {on.isoformat()} run {secrets.token_hex(4)}", created_at=now)
        .returning(sources.c.id)
    ).scalar_one()
    return int(new_id)


def _decide(
    policies: PolicyEngine, conn: Connection, principal: str, action: str, kind: str, dataset: str
) -> Callable[[str, bool, bool], PolicyDecision]:
    try:
        facts = load_caller(conn, principal).facts
    except UnknownPrincipal:
        raise CycleError(f"the job principal {principal} is not an active principal of this store") from None

    def decide(ref: str, restricted: bool, employee: bool) -> PolicyDecision:
        resource = ResourceFacts(ref, kind, dataset, True, restricted, employee)
        return policies.decide(facts, action, resource, ContextFacts(purpose=PURPOSE))

    return decide


def _event(principal: str, action: str, ref: str, decision: PolicyDecision, fields: list[str], run: str) -> AuditEvent:
    return AuditEvent.now(
        principal=principal,
        action=action,
        resource=ref,
        decision=Decision.ALLOW if decision.allowed else Decision.DENY,
        request_id=run,
        purpose=PURPOSE,
        policy=decision.policy_text,
        fields=fields,
    )


def _module_flags(conn: Connection, module_ids: list[int]) -> dict[int, tuple[str, bool, bool]]:
    """Opaque ref and the policy flags of each module: what posting needs, and no name, address or TIN."""
    m, e = tax_modules.c, entities.c
    rows = conn.execute(
        sa.select(m.id, m.ref, e.is_restricted, e.is_employee)
        .join(entities, entities.c.id == m.entity_id)
        .where(m.id.in_(module_ids))
    )
    return {int(r.id): (str(r.ref), bool(r.is_restricted), bool(r.is_employee)) for r in rows}


def _plan_cp2000(conn: Connection, on: dt.date, skipped: list[tuple[str, str]]) -> list[issue.Planned]:
    from taxvault.notices.underreporter import find_discrepancies

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


def run_cycle(
    engine: Engine,
    on: dt.date,
    *,
    audit: AuditLog,
    policies: PolicyEngine | None = None,
    underreporter: bool = True,
    now: dt.datetime | None = None,
) -> CycleReport:
    """Run the posting cycle for ``on`` (see the module docstring).

    Two phases, postings then notices (a hold or payment posted by this cycle
    counts for its notices). Each phase decides and plans on a read, appends its
    audit events, then writes in one transaction: the Gate's order for writes
    (authorize, audit, perform), so no write happens that the log does not hold.
    """
    policies = policies or PolicyEngine()
    now = now or dt.datetime.now(dt.UTC)
    report = CycleReport(on)
    run_tag = f"cycle-{on.isoformat()}-{secrets.token_hex(4)}"
    _, rates_until = published_rates()
    if on > rates_until:
        raise CycleError(
            f"no published underpayment rate covers {on.isoformat()} (the table ends {rates_until.isoformat()}): "
            f"add the quarter to the file named by {RATES_FILE_ENV}"
        )
    with engine.begin() as conn:
        latest = conn.execute(
            sa.select(sa.func.max(cycle_runs.c.run_date)).where(cycle_runs.c.finished_at.is_not(None))
        ).scalar_one()
        if latest is not None and on < latest:
            raise CycleError(f"a cycle already ran for {latest.isoformat()}; runs may not go back in time")
        run_id = conn.execute(
            cycle_runs.insert()
            .values(run_date=on, principal_id=POSTING_PRINCIPAL, started_at=now)
            .returning(cycle_runs.c.id)
        ).scalar_one()
        source_id = _job_source(conn, on, now)
    audit.append(
        AuditEvent.now(
            principal=POSTING_PRINCIPAL, action="run:posting_cycle", resource=run_tag, decision=Decision.ALLOW,
            request_id=run_tag, purpose=PURPOSE, fields=[],
        )
    )  # fmt: skip
    report.audit_events += 1
    _post_phase(engine, on, audit, policies, report, run_tag, source_id)
    _notice_phase(engine, on, audit, policies, report, run_tag, source_id, underreporter)
    with engine.begin() as conn:
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
    return report


def _post_phase(
    engine: Engine,
    on: dt.date,
    audit: AuditLog,
    policies: PolicyEngine,
    report: CycleReport,
    run_tag: str,
    source_id: int,
) -> None:
    events: list[AuditEvent] = []
    with engine.connect() as conn:
        may_post = _decide(policies, conn, POSTING_PRINCIPAL, "post", "module_transcript", "transactions")
        pending = conn.execute(
            sa.select(ledger_adjustments.c.id, ledger_adjustments.c.module_id)
            .where(ledger_adjustments.c.state == "pending")
            .order_by(ledger_adjustments.c.id)
        ).all()
        flags = _module_flags(conn, sorted({int(m) for _, m in pending}))
    allowed_ids: list[int] = []
    for adj_id, mid in pending:
        ref, restricted, employee = flags[int(mid)]
        decision = may_post(ref, restricted, employee)
        fields = ["tc", "amount_cents", "reason_code"] if decision.allowed else []
        events.append(_event(POSTING_PRINCIPAL, "post:module_transcript", ref, decision, fields, run_tag))
        if decision.allowed:
            allowed_ids.append(int(adj_id))
        else:
            report.denied += 1
    if not events:
        return
    audit.append_many(events)  # fail closed: no audit, no posting
    report.audit_events += len(events)
    with engine.begin() as conn:
        results = adjustments.post_pending(conn, on, source_id=source_id, posted_by=POSTING_PRINCIPAL, only=allowed_ids)
    for _, result in results:
        report.posted += int(result.posted)
        report.unpostable += int(not result.posted)


def _notice_phase(
    engine: Engine,
    on: dt.date,
    audit: AuditLog,
    policies: PolicyEngine,
    report: CycleReport,
    run_tag: str,
    source_id: int,
    underreporter: bool,
) -> None:
    events: list[AuditEvent] = []
    with engine.connect() as conn:
        may_issue = _decide(policies, conn, NOTICE_PRINCIPAL, "issue_notice", "notices", "notices")
        planned = issue.plan_balance_due(conn, on, report.skipped)
        if underreporter:
            planned += _plan_cp2000(conn, on, report.skipped)
    allowed: list[issue.Planned] = []
    fields = ["name", "address", "tin:masked", "tax_period", "amount_due_cents", "notice_type"]
    for p in planned:
        decision = may_issue(p.facts.module_ref, p.facts.restricted, p.facts.employee)
        action = f"issue_notice:notices:{p.notice_type.value}"
        events.append(_event(NOTICE_PRINCIPAL, action, p.facts.module_ref, decision,
                             fields if decision.allowed else [], run_tag))  # fmt: skip
        if decision.allowed:
            allowed.append(p)
        else:
            report.denied += 1
    if not events:
        return
    audit.append_many(events)  # fail closed: no audit, no notice
    report.audit_events += len(events)
    with engine.begin() as conn:
        issued = issue.store(conn, allowed, on, source_id=source_id)
    for n in issued:
        report.notices[n.notice_type.value] = report.notices.get(n.notice_type.value, 0) + 1


def modules_by_ref(conn: Connection, refs: list[str]) -> dict[str, int]:
    """Module ids for opaque refs (for the CLI and tests)."""
    rows = conn.execute(sa.select(tax_modules.c.ref, tax_modules.c.id).where(tax_modules.c.ref.in_(refs)))
    return {str(r): int(i) for r, i in rows}
