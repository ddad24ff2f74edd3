"""A month of an agency's work through the real door, with browsing planted in it.

``simulate(engine, employees=..., days=..., seed=..., truth=PATH)`` builds the agency
(:mod:`taxvault.oversight.sim_world`), then drives every working day: each employee
works her open cases in her shift (reads of the taxpayer, modules, transcripts,
returns; TIN look-ups, the odd typo), cases open and close, managers break the
glass now and then and review it, contractors work inside their grants. Every read
goes through :class:`~taxvault.access.door.Door` (locate, Cedar decision, audit) with
a simulated clock, so the events are exactly what production would record.

Into that month it plants each kind of browsing the detectors name and writes, to a
file kept apart from the store, one JSON line per planted episode: ``kind``,
``principal``, ``subject``, the leaf indexes of its events and its time window.
:func:`evaluate` then scores the alerts of a scan against that file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import Access, Door, Unit, new_request_id
from taxvault.access.policy import PolicyDecision, PolicyEngine
from taxvault.access.resources import Resource
from taxvault.access.tables import break_glass_reviews
from taxvault.audit import AuditLog
from taxvault.errors import TaxvaultError
from taxvault.oversight.detect.frame import read_batches
from taxvault.oversight.sim_world import Case, Staff, World, build_world
from taxvault.records import service
from taxvault.store.tables import cases as cases_table

_T = TypeVar("_T")
KINDS = (
    "household_lookup",
    "coworker_lookup",
    "restricted_lookup",
    "no_open_case",
    "case_closed",
    "never_assigned",
    "burst",
    "off_hours",
    "celebrity",
    "break_glass_excess",
    "break_glass_unreviewed",
    "grant_probe",
    "tin_fishing",
)
START = dt.date(2026, 11, 2)  # a Monday
_ENTITY_KINDS = (Resource.ENTITY, Resource.MODULE_LIST, Resource.RETURNS, Resource.INFORMATION_RETURNS)
_GRANT_RESOURCE = {"entities": Resource.ENTITY, "tax_modules": Resource.MODULE_LIST,
                   "transactions": Resource.MODULE_TRANSCRIPT}  # fmt: skip
JUSTIFICATION = "Taxpayer on the line about an urgent levy; assigned caseworker is out today"


@dataclass
class Planted:
    """One planted browsing episode (its leaves are found by request id after the run)."""

    kind: str
    principal: str | None
    subject: str | None
    request_ids: list[str] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)


@dataclass
class SimReport:
    """What a simulation produced."""

    employees: int = 0
    days: int = 0
    events: int = 0
    planted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Read:
    when: dt.datetime
    resource: Resource
    ref: str | None  # None: a TIN look-up that found nothing
    label: str = "read"


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class Simulation:
    """The month, day by day, through the door."""

    def __init__(self, engine: Engine, world: World, seed: int, door: Door, clock: _Clock) -> None:
        self.engine = engine
        self.w = world
        self.rng = np.random.default_rng([seed, 2718])
        self.door = door
        self.clock = clock
        self.planted: list[Planted] = []
        self.bg_reviews: list[tuple[int, dt.datetime, str]] = []  # review id, time, principal
        self.unreviewed: set[int] = set()
        self.events = 0
        self.days = 0

    # -- helpers ---------------------------------------------------------------------------------

    def at(self, day: dt.date, hour: float) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(hours=hour)

    def shift_time(self, s: Staff, day: dt.date) -> dt.datetime:
        h = float(self.rng.uniform(0, 7))
        if h >= 4:
            h += 1  # lunch
        return self.at(day, s.shift + h - 0.5 if h > 7.5 else s.shift + h)

    def open_cases(self, s: Staff, day: dt.date) -> list[Case]:
        return [
            c for cid in s.cases if (c := self.w.cases[cid]).opened <= day and (c.closed is None or c.closed >= day)
        ]

    def run_unit(self, s: Staff, purpose: str, reads: list[_Read], *, channel: str = "http") -> str:
        """One unit of work: many reads in one transaction, each decided and audited by the door."""
        rid = new_request_id(channel)
        caller = self.door.caller(s.pid, request_id=rid)
        session = self.door.session(caller, purpose, channel=channel, request_id=rid)
        with self.door.unit(session, write=True) as unit:
            for r in sorted(reads, key=lambda r: r.when):
                self.clock.now = r.when
                self._read(unit, r)
        self.events += len(reads)
        return rid

    def _read(self, unit: Unit, r: _Read) -> None:
        if r.ref is None:
            unit.audit(r.label, r.resource, "none", PolicyDecision(False, ("not-found",)))
            return
        target = unit.locate(r.resource, r.ref, label=r.label)
        decided = self.door.decide(unit.conn, unit.session, "read", r.resource, target)
        fields = ["id", "name"] if decided.decision.allowed else []
        unit.audit(r.label, r.resource, target.ref, decided.decision, fields)

    def case_reads(self, c: Case, when: Callable[[], dt.datetime]) -> list[_Read]:
        eref, mref = self.w.ref[c.eid], self.w.module[c.eid]
        out = [_Read(when(), Resource.ENTITY, eref)]
        for _ in range(int(self.rng.integers(1, 4))):
            kind = [Resource.MODULE_LIST, Resource.MODULE_TRANSCRIPT, Resource.RETURNS, Resource.INFORMATION_RETURNS][
                int(self.rng.integers(0, 4))
            ]
            out.append(_Read(when(), kind, mref if kind is Resource.MODULE_TRANSCRIPT else eref))
        return out

    def break_glass(self, s: Staff, eid: int, when: dt.datetime) -> tuple[str, int | None]:
        """A break-glass read through Access.serve (which queues its review)."""
        self.clock.now = when
        rid = new_request_id("http")
        caller = self.door.caller(s.pid, request_id=rid)
        session = self.door.session(caller, s.purpose, channel="http", request_id=rid, justification=JUSTIFICATION)
        access = Access(self.door, session, Resource.ENTITY, self.w.ref[eid])
        with contextlib.suppress(TaxvaultError):  # a forbid still wins over break-glass: audited, fine
            access.serve(lambda conn, tg: service.entity_summary(conn, tg.entity_id or 0))
        self.events += 1
        if access.break_glass_review is not None:
            self.bg_reviews.append((access.break_glass_review, when, s.pid))
        return rid, access.break_glass_review

    # -- a normal day -------------------------------------------------------------------------------

    def normal_day(self, day: dt.date) -> None:
        rng = self.rng
        with self.engine.begin() as conn:  # cases that closed yesterday are closed in the store today
            conn.execute(
                sa.update(cases_table)
                .where(cases_table.c.status == "open", cases_table.c.closed_at < day)
                .values(status="closed")
            )
        for s in self.w.staff.values():
            if rng.random() < 0.05:
                continue  # a day off
            if s.grant is not None:
                self.engineer_day(s, day)
                continue
            reads: list[_Read] = []
            mine = self.open_cases(s, day)
            overtime = rng.random() < 0.06

            def when(s: Staff = s, overtime: bool = overtime) -> dt.datetime:
                if overtime and rng.random() < 0.15:
                    return self.at(day, s.shift + 8 + float(rng.uniform(0, 0.9)))
                return self.shift_time(s, day)

            if mine:
                k = min(len(mine), 1 + int(rng.poisson(4)))
                for i in rng.choice(len(mine), size=k, replace=False).tolist():
                    reads += self.case_reads(mine[i], when)
                if rng.random() < 0.3:
                    reads.append(_Read(when(), Resource.ENTITY, self.w.ref[mine[0].eid], "lookup"))
            if rng.random() < 0.08:
                reads.append(_Read(when(), Resource.ENTITY, None, "lookup"))  # a mistyped TIN
            if reads:
                self.run_unit(s, s.purpose, reads)
            if s.break_glass and rng.random() < 0.05:
                self.break_glass(s, self.pick_public(), self.shift_time(s, day))

    def engineer_day(self, s: Staff, day: dt.date) -> None:
        assert s.grant is not None
        purpose, datasets, begins, ends = s.grant
        if not begins <= self.at(day, 12) < ends:
            return
        reads = []
        for _ in range(int(self.rng.integers(4, 12))):
            ds = datasets[int(self.rng.integers(0, len(datasets)))]
            res = _GRANT_RESOURCE[ds]
            eid = self.pick_public()
            ref = self.w.module[eid] if res is Resource.MODULE_TRANSCRIPT else self.w.ref[eid]
            reads.append(_Read(self.shift_time(s, day), res, ref))
        self.run_unit(s, purpose, reads, channel="cli")

    def pick_public(self) -> int:
        return self.w.public[int(self.rng.integers(0, len(self.w.public)))]

    def review_break_glass(self) -> None:
        """Managers review every break-glass within days, except the planted ones nobody looked at.

        (Those of the last days are reviewed too, by the month's end: the truth must not
        depend on when, after the month, the scan runs.)
        """
        last = dt.datetime.combine(self.w.start + dt.timedelta(days=self.days), dt.time(), dt.UTC)
        with self.engine.begin() as conn:
            for review, when, pid in self.bg_reviews:
                reviewed = min(last, when + dt.timedelta(days=float(self.rng.uniform(0.2, 2.5))))
                if review in self.unreviewed:
                    continue
                manager = self.w.staff[pid].manager or "sim-a0001"
                conn.execute(
                    sa.update(break_glass_reviews)
                    .where(break_glass_reviews.c.id == review)
                    .values(state="upheld", reviewer_id=manager, reviewed_at=reviewed)
                )


# -- planting ---------------------------------------------------------------------------------------


def _plant_days(sim: Simulation, days: list[dt.date], n: int) -> list[dt.date]:
    late = [d for d in days if (d - sim.w.start).days >= min(7, len(days) // 3)]
    return [late[int(sim.rng.integers(0, len(late)))] for _ in range(n)]


def _caseworkers(sim: Simulation, pred: Callable[[Staff], bool] = lambda s: True) -> list[Staff]:
    return [s for s in sim.w.staff.values() if "caseworker" in s.roles and pred(s)]


def _choose(sim: Simulation, items: list[_T]) -> _T:
    return items[int(sim.rng.integers(0, len(items)))]


def _closed_only(w: World, s: Staff, day: dt.date) -> list[Case]:
    """Her cases closed before ``day`` on taxpayers she has no other case on."""
    by_subject: dict[int, list[Case]] = defaultdict(list)
    for cid in s.cases:
        by_subject[w.cases[cid].eid].append(w.cases[cid])
    return [cs[0] for cs in by_subject.values() if all(c.closed is not None and c.closed < day for c in cs)]


def _grant_end_spike(sim: Simulation, engineers: list[Staff], days: list[dt.date], used: set[str]) -> bool:
    """A day in a grant's last week reading far more taxpayers than her other days (inside the grant)."""
    for s in engineers:
        assert s.grant is not None
        if s.pid in used:
            continue
        purpose, datasets, begins, ends = s.grant
        last_week = [d for d in days if ends - dt.timedelta(days=7) <= sim.at(d, 12) < ends and sim.at(d, 0) >= begins]
        if not last_week:
            continue
        day = _choose(sim, last_week)
        reads = []
        for _ in range(int(sim.rng.integers(40, 70))):
            res = _GRANT_RESOURCE[_choose(sim, list(datasets))]
            eid = sim.pick_public()
            ref = sim.w.module[eid] if res is Resource.MODULE_TRANSCRIPT else sim.w.ref[eid]
            reads.append(_Read(sim.shift_time(s, day), res, ref))
        rid = sim.run_unit(s, purpose, reads, channel="cli")
        sim.planted.append(Planted("grant_probe", s.pid, None, [rid]))
        used.add(s.pid)
        return True
    return False


def plant(sim: Simulation, days: list[dt.date], per_kind: int) -> None:
    """Plant ``per_kind`` episodes of each kind on working days after the first week."""
    rng, w = sim.rng, sim.w
    used: set[str] = set()

    def fresh(pool: list[Staff]) -> Staff:
        free = [s for s in pool if s.pid not in used] or pool
        s = _choose(sim, free)
        used.add(s.pid)
        return s

    def episode(kind: str, s: Staff, subject: int | None, reads: list[_Read], purpose: str | None = None) -> None:
        rid = sim.run_unit(s, purpose or s.purpose, reads)
        sim.planted.append(Planted(kind, s.pid, w.ref[subject] if subject is not None else None, [rid]))

    for day in _plant_days(sim, days, per_kind):
        s = fresh(_caseworkers(sim, lambda s: bool(s.undeclared_home or s.surname_zip or s.ex)))
        target = _choose(sim, s.undeclared_home + s.surname_zip + s.ex)
        reads = [_Read(sim.shift_time(s, day), Resource.ENTITY, w.ref[target], "lookup")]
        reads += [_Read(sim.shift_time(s, day), r, w.ref[target]) for r in (Resource.MODULE_LIST, Resource.RETURNS)]
        episode("household_lookup", s, target, reads)
    for day in _plant_days(sim, days, per_kind):
        s = fresh(_caseworkers(sim, lambda s: s.unit != "employee_accounts"))
        mates = [m for m in w.staff.values() if m.unit == s.unit and m.pid != s.pid and m.eid is not None]
        if not mates:
            continue
        m = _choose(sim, mates)
        episode("coworker_lookup", s, m.eid, [_Read(sim.shift_time(s, day), Resource.ENTITY, w.ref[m.eid or 0])])
    for day in _plant_days(sim, days, per_kind):
        s = fresh(_caseworkers(sim, lambda s: s.unit != "special"))
        target = _choose(sim, w.restricted)
        reads = [_Read(sim.shift_time(s, day), r, w.ref[target]) for r in (Resource.ENTITY, Resource.RETURNS)]
        episode("restricted_lookup", s, target, reads)
    for day in _plant_days(sim, days, per_kind):  # a colleague's case, not hers
        s = fresh(_caseworkers(sim, lambda s: s.unit not in ("special", "employee_accounts")))
        others = [c for c in w.cases.values() if c.pid != s.pid and w.staff[c.pid].unit == s.unit]
        own = {w.cases[cid].eid for cid in s.cases}
        others = [c for c in others if c.eid not in own]
        if not others:
            continue
        c = _choose(sim, others)
        reads = [_Read(sim.shift_time(s, day), Resource.ENTITY, w.ref[c.eid]),
                 _Read(sim.shift_time(s, day), Resource.MODULE_TRANSCRIPT, w.module[c.eid])]  # fmt: skip
        episode("no_open_case", s, c.eid, reads)
    for day in _plant_days(sim, days, per_kind):
        s = fresh([s for s in _caseworkers(sim) if _closed_only(w, s, day)])
        c = _choose(sim, _closed_only(w, s, day))
        reads = [_Read(sim.shift_time(s, day), Resource.ENTITY, w.ref[c.eid]),
                 _Read(sim.shift_time(s, day), Resource.MODULE_LIST, w.ref[c.eid])]  # fmt: skip
        episode("case_closed", s, c.eid, reads)
    for day in _plant_days(sim, days, per_kind):
        s = fresh(_caseworkers(sim))
        target = sim.pick_public()
        reads = [_Read(sim.shift_time(s, day), r, w.ref[target]) for r in (Resource.ENTITY, Resource.RETURNS)]
        episode("never_assigned", s, target, reads)
    for day in _plant_days(sim, days, per_kind):  # a run of look-ups in one hour
        s = fresh(_caseworkers(sim))
        base = sim.at(day, s.shift + 1 + int(rng.integers(0, 5)))
        n = int(rng.integers(30, 60))
        reads = [_Read(base + dt.timedelta(seconds=float(rng.uniform(0, 3500))), Resource.ENTITY,
                       w.ref[sim.pick_public()]) for _ in range(n)]  # fmt: skip
        episode("burst", s, None, reads)
    for day in _plant_days(sim, days, per_kind):  # her own cases, at night
        s = fresh(_caseworkers(sim, lambda s: bool(s.cases)))
        mine = sim.open_cases(s, day) or [sim.w.cases[s.cases[0]]]
        hour = (s.shift + 8 + 4 + float(rng.uniform(0, 8))) % 24
        base = sim.at(day, hour)
        reads = []
        for _ in range(int(rng.integers(2, 5))):
            c = _choose(sim, mine)
            reads.append(_Read(base + dt.timedelta(minutes=float(rng.uniform(0, 40))), Resource.ENTITY, w.ref[c.eid]))
        episode("off_hours", s, None, reads)
    for day in _plant_days(sim, days, per_kind):  # someone in the news
        target = _choose(sim, w.celebrities)
        pool = _caseworkers(sim)
        picked = rng.choice(len(pool), size=min(len(pool), int(rng.integers(4, 8))), replace=False)
        readers = [pool[int(i)] for i in picked.tolist()]
        p = Planted("celebrity", None, w.ref[target])
        for s in readers:
            d = day + dt.timedelta(days=int(rng.integers(0, 2)))
            p.request_ids.append(sim.run_unit(s, s.purpose, [_Read(sim.shift_time(s, d), Resource.ENTITY,
                                                                   w.ref[target])]))  # fmt: skip
        sim.planted.append(p)
    holders = [s for s in w.staff.values() if s.break_glass]
    for _ in range(max(1, per_kind // 2)):  # break-glass far more often than her unit
        s = fresh(holders)
        p = Planted("break_glass_excess", s.pid, None)
        for day in sorted(_plant_days(sim, days, int(rng.integers(9, 15)))):
            rid, _ = sim.break_glass(s, sim.pick_public(), sim.shift_time(s, day))
            p.request_ids.append(rid)
        sim.planted.append(p)
    for _ in range(per_kind):  # a break-glass nobody reviews
        s = _choose(sim, holders)
        day = days[int(rng.integers(0, max(1, len(days) - 8)))]
        rid, review = sim.break_glass(s, sim.pick_public(), sim.shift_time(s, day))
        if review is not None:
            sim.unreviewed.add(review)
            sim.planted.append(Planted("break_glass_unreviewed", s.pid, None, [rid]))
    engineers = [s for s in w.staff.values() if s.grant is not None]
    for k, day in enumerate(_plant_days(sim, days, per_kind)):  # outside her grant's datasets, or near its end
        s = _choose(sim, engineers)
        assert s.grant is not None
        if k % 2 == 1 and _grant_end_spike(sim, engineers, days, used):
            continue
        outside = [Resource.RETURNS, Resource.INFORMATION_RETURNS]
        reads = [_Read(sim.shift_time(s, day), _choose(sim, outside), w.ref[sim.pick_public()])
                 for _ in range(int(rng.integers(2, 6)))]  # fmt: skip
        rid = sim.run_unit(s, s.grant[0], reads, channel="cli")
        sim.planted.append(Planted("grant_probe", s.pid, None, [rid]))
    for day in _plant_days(sim, days, per_kind):  # trying numbers
        s = fresh(_caseworkers(sim))
        base = sim.at(day, s.shift + 1 + int(rng.integers(0, 5)))
        reads = [_Read(base + dt.timedelta(seconds=float(rng.uniform(0, 3000))), Resource.ENTITY, None, "lookup")
                 for _ in range(int(rng.integers(6, 16)))]  # fmt: skip
        episode("tin_fishing", s, None, reads)


# -- the run ----------------------------------------------------------------------------------------


def simulate(
    engine: Engine,
    *,
    employees: int,
    days: int,
    seed: int,
    truth: Path,
    per_kind: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimReport:
    """Build the agency, drive ``days`` days of work with planted browsing; write the truth file."""
    started = time.perf_counter()
    with engine.begin() as conn:
        world = build_world(conn, employees, seed, START)
    clock = _Clock()
    log = AuditLog(engine)
    try:
        door = Door(engine, log, PolicyEngine(), clock=clock)
        sim = Simulation(engine, world, seed, door, clock)
        sim.days = days
        with engine.connect() as conn:
            first_leaf = int(log.store.state(conn).size)
        calendar = [START + dt.timedelta(days=i) for i in range(days)]
        workdays = [d for d in calendar if d.weekday() < 5]
        for i, day in enumerate(workdays):
            sim.normal_day(day)
            if progress:
                progress(i + 1, len(workdays))
        plant(sim, workdays, per_kind or max(5, employees // 40))
        sim.review_break_glass()
        if log.tree_head().tree_size:
            log.sign_tree_head()
    finally:
        log.close()
    _resolve_leaves(engine, sim.planted, first_leaf)
    truth.parent.mkdir(parents=True, exist_ok=True)
    with truth.open("w", encoding="utf-8") as fh:
        for p in sim.planted:
            if p.leaves:
                fh.write(json.dumps({"kind": p.kind, "principal": p.principal, "subject": p.subject,
                                     "leaves": p.leaves}) + "\n")  # fmt: skip
    counts: dict[str, int] = defaultdict(int)
    for p in sim.planted:
        counts[p.kind] += 1
    return SimReport(employees, days, sim.events, dict(counts), time.perf_counter() - started)


def _resolve_leaves(engine: Engine, planted: list[Planted], first_leaf: int) -> None:
    """Find each planted episode's events in the log by their request ids."""
    wanted = {rid: p for p in planted for rid in p.request_ids}
    if not wanted:
        return
    keys = pa.array(sorted(wanted), pa.string())
    with engine.connect() as conn:
        end = int(conn.execute(sa.text("SELECT tree_size FROM audit_tree WHERE id = 1")).scalar_one())
        for frame in read_batches(conn, first_leaf, end, 200_000):
            hit = frame.filter(pc.is_in(frame.column("request_id"), keys))
            for rid, leaf in zip(hit.column("request_id").to_pylist(), hit.column("leaf").to_pylist(), strict=True):
                wanted[rid].leaves.append(int(leaf))


# -- scoring ----------------------------------------------------------------------------------------


@dataclass
class KindScore:
    """Recall and precision of one rule against the planted episodes."""

    kind: str
    planted: int = 0
    found: int = 0
    alerts: int = 0
    true_alerts: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0


def read_truth(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def evaluate(engine: Engine, truth: Path) -> dict[str, KindScore]:
    """Per kind: an episode is found when an alert of its rule cites one of its leaves; an alert is
    true when it cites a leaf of any planted episode (one look-up of a neighbour is both a
    household look-up and a read with no case: every rule that names it is right)."""
    from taxvault.oversight.tables import oversight_alerts

    episodes = list(read_truth(truth))
    planted_leaves = {leaf for e in episodes for leaf in e["leaves"]}
    with engine.connect() as conn:
        alerts = [(str(r), [int(x) for x in (ls or [])]) for r, ls in conn.execute(
            sa.select(oversight_alerts.c.rule, oversight_alerts.c.leaves))]  # fmt: skip
    by_rule: dict[str, list[set[int]]] = defaultdict(list)
    for rule, leaves in alerts:
        by_rule[rule].append(set(leaves))
    scores = {k: KindScore(k) for k in KINDS}
    for e in episodes:
        s = scores.setdefault(e["kind"], KindScore(e["kind"]))
        s.planted += 1
        mine = set(e["leaves"])
        if any(a & mine for a in by_rule.get(e["kind"], [])):
            s.found += 1
    for rule, sets in by_rule.items():
        s = scores.setdefault(rule, KindScore(rule))
        s.alerts = len(sets)
        s.true_alerts = sum(1 for a in sets if a & planted_leaves)
    return scores
