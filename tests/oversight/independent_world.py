"""An agency written apart from the oversight simulator, to check the detectors' generality.

Built on the product's own synthetic population (``taxvault.synth``), with staff,
cases and a grant of its own, and three weeks of work driven through the real door
(``Door(clock=...)``, ``Access.serve``, the TIN look-up of the records API) with its
own rhythms: early, day and late shifts, a Tuesday-Saturday week, days off, cases
that open and close as the weeks pass, mistyped TINs now and then, an engineer
working inside her grant. In the third week it plants browsing of every kind in its
own style and keeps the truth (kind, leaves) beside the store, never in it.

Nothing here comes from ``oversight/simulate.py`` or ``sim_world.py``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Access, Door, Target, new_request_id
from taxvault.access.policy import PolicyEngine
from taxvault.access.resources import Resource
from taxvault.audit import AuditLog
from taxvault.errors import Denied, NotFound
from taxvault.records import service
from taxvault.store.tables import case_subjects, cases, entities, grants, principal_relations, principals
from taxvault.synth.load import synthesize

START = dt.date(2026, 6, 1)  # a Monday
DAYS = 19  # three weeks, Monday 1 to Friday 19 June
PLANT_DAYS = range(15, 19)  # the third week's Tuesday..Friday
SUNDAY = 13  # 14 June: nobody works Sundays
UNITS = {"collection": ("collection", "collection", 9), "examination": ("examination", "examination", 7),
         "assistance": ("assistance", "taxpayer_assistance", 6)}  # fmt: skip
SHIFTS = (6, 7, 8, 9, 9, 10, 14)  # first hour of an eight-hour shift (14: the late shift)
GRANT_PURPOSE = "legacy_migration_validation"
ENGINEER = "ind-eng-1"
LEAVING = "ind-eng-2"  # her grant ends during the third week
LEAVING_PURPOSE = "ingest_defect_analysis"
GRANT_END = dt.datetime(2026, 6, 18, tzinfo=dt.UTC)
KINDS = (
    "household_lookup", "coworker_lookup", "restricted_lookup", "no_open_case", "case_closed", "never_assigned",
    "burst", "off_hours", "celebrity", "tin_fishing", "grant_probe",
)  # fmt: skip

# Alert rule -> planted kinds (besides its own) whose reads it may rightly cite: the case rules
# are right about every planted read made without a case (a household or colleague look-up, a
# restricted account, a burst over strangers, a celebrity), "no case open" is right about a
# case that closed, and a contractor's surge in her grant's last week is a burst too. Nothing else.
_CASELESS = {"household_lookup", "coworker_lookup", "restricted_lookup", "never_assigned", "burst", "celebrity"}
OVERLAPS: dict[str, set[str]] = {
    "no_open_case": _CASELESS | {"case_closed"},
    "never_assigned": _CASELESS - {"never_assigned"},
    "burst": {"grant_probe"},
}


@dataclass
class Worker:
    pid: str
    unit: str
    purpose: str
    eid: int
    shift: int
    days: frozenset[int]  # weekdays worked (0 = Monday)
    pace: float  # case visits per working day
    cases: dict[int, int] = field(default_factory=dict)  # case id -> subject entity


@dataclass
class Episode:
    kind: str
    principal: str
    leaves: list[int] = field(default_factory=list)
    probe: str = ""  # beyond the rules as specified: scored apart (``probes``), not in recall


@dataclass
class _Read:
    when: dt.datetime
    pid: str
    purpose: str
    resource: Resource
    ref: str | None  # None: a TIN look-up that finds nobody
    episode: Episode | None = None


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class World:
    engine: Engine
    workers: list[Worker]
    episodes: list[Episode]
    reads: int = 0


def _fetch(resource: Resource) -> Callable[[Connection, Target], dict[str, Any]]:
    def fetch(conn: Connection, t: Target) -> dict[str, Any]:
        eid = t.entity_id or 0
        if resource is Resource.MODULE_LIST:
            return service.modules(conn, eid, mft=None, limit=5, offset=0)
        if resource is Resource.RETURNS:
            return service.return_list(conn, eid, tax_year=None, limit=5, offset=0)
        if resource is Resource.INFORMATION_RETURNS:
            return service.information_return_list(conn, eid, tax_year=None, form=None, limit=5, offset=0)
        if resource is Resource.MODULE_TRANSCRIPT:
            return service.transcript(conn, t.module_id or 0)
        return service.entity_summary(conn, eid)

    return fetch


def _tin_finder(tin: str) -> Callable[[Connection], str | None]:
    """The records API's look-up by TIN (a random one: nobody, almost surely)."""

    def find(conn: Connection) -> str | None:
        return service.entity_ref_by_tin(conn, tin, None)

    return find


def _at(day: int, hour: int, rng: random.Random) -> dt.datetime:
    d = START + dt.timedelta(days=day)
    return dt.datetime(d.year, d.month, d.day, hour, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.uniform(0, 3500))


class _Builder:
    def __init__(self, engine: Engine, seed: int) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.clock = _Clock()
        self.door = Door(engine, AuditLog(engine), PolicyEngine(), clock=self.clock)
        self.workers: list[Worker] = []
        self.episodes: list[Episode] = []
        self.refs: dict[int, str] = {}
        self.module: dict[int, tuple[int, str]] = {}
        self.zip: dict[int, str] = {}
        self.pool: list[int] = []  # ordinary taxpayers: cases and strangers
        self.next_case = 900_000
        self.closing: dict[int, list[int]] = {}  # day -> case ids closing at its end
        self.opening: dict[int, list[tuple[Worker, int]]] = {}  # day -> new cases
        self.closed: dict[str, list[int]] = {}  # worker -> subjects of her closed cases
        self.reads = 0

    # -- the agency ------------------------------------------------------------------------------

    def staff(self) -> None:
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(entities.c.id, entities.c.ref, entities.c.zip, entities.c.household_id,
                          entities.c.last_name, entities.c.address_line)
                .where(entities.c.kind == "individual", ~entities.c.is_employee, ~entities.c.is_restricted)
                .order_by(entities.c.id)
            ).all()  # fmt: skip
            self.refs = {r.id: r.ref for r in rows}
            for eid, mid, mref in conn.execute(sa.text("SELECT entity_id, id, ref FROM tax_modules ORDER BY id DESC")):
                self.module[eid] = (mid, mref)  # her first module: a collection case's
            self.zip = {r.id: r.zip for r in rows}
            by_house: dict[int, list[int]] = {}
            for r in rows:
                if r.household_id is not None:
                    by_house.setdefault(r.household_id, []).append(r.id)
            houses = [m for m in by_house.values() if len(m) >= 2]
            self.rng.shuffle(houses)
            n = sum(u[2] for u in UNITS.values())
            own = [h[0] for h in houses[:n]]
            self.mates = {h[0]: h[1:] for h in houses[:n]}
            taken = {e for h in houses[:n] for e in h}
            staff_zips = {self.zip[e] for e in own}
            self.pool = [r.id for r in rows if r.id not in taken and r.zip not in staff_zips]
            approver = conn.execute(
                sa.select(principals.c.id).where(principals.c.roles.like("%grant_approver%"))
            ).scalar_one()
            created = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
            k = 0
            for unit, (_kind, purpose, size) in UNITS.items():
                mgr = f"ind-{unit[:3]}-mgr"
                conn.execute(principals.insert().values(
                    id=mgr, kind="employee", display_name=mgr, roles="caseworker manager", unit=unit,
                    dollar_limit_cents=10_000_000, active=True, created_at=created))  # fmt: skip
                for i in range(size):
                    pid, eid = f"ind-{unit[:3]}-{i:02d}", own[k]
                    k += 1
                    conn.execute(principals.insert().values(
                        id=pid, kind="employee", display_name=pid, roles="caseworker", unit=unit, entity_id=eid,
                        manager_id=mgr, dollar_limit_cents=500_000, active=True, created_at=created))  # fmt: skip
                    conn.execute(entities.update().where(entities.c.id == eid).values(is_employee=True))
                    conn.execute(principal_relations.insert().values(principal_id=pid, entity_id=eid, relation="self"))
                    weekdays = frozenset({1, 2, 3, 4, 5} if self.rng.random() < 0.2 else {0, 1, 2, 3, 4})
                    self.workers.append(Worker(pid, unit, purpose, eid, self.rng.choice(SHIFTS), weekdays,
                                               self.rng.uniform(5, 12)))  # fmt: skip
            conn.execute(principals.insert().values(
                id=ENGINEER, kind="contractor", display_name=ENGINEER, roles="engineer", unit="modernisation",
                active=True, created_at=created))  # fmt: skip
            conn.execute(principals.insert().values(
                id=LEAVING, kind="contractor", display_name=LEAVING, roles="engineer", unit="modernisation",
                active=True, created_at=created))  # fmt: skip
            conn.execute(grants.insert().values(
                ref="g" + "cd" * 10, principal_id=LEAVING, datasets=["entities", "tax_modules", "transactions"],
                fields=["name"], purpose=LEAVING_PURPOSE, starts_at=GRANT_END - dt.timedelta(days=60),
                ends_at=GRANT_END, approver_id=approver, requested_by=LEAVING,
                approved_at=GRANT_END - dt.timedelta(days=60), state="active", created_at=created))  # fmt: skip
            begin = dt.datetime(2026, 5, 20, tzinfo=dt.UTC)
            conn.execute(grants.insert().values(
                ref="g" + "ab" * 10, principal_id=ENGINEER, datasets=["entities", "tax_modules"],
                fields=["name", "address"], purpose=GRANT_PURPOSE, starts_at=begin,
                ends_at=begin + dt.timedelta(days=90), approver_id=approver, requested_by=ENGINEER,
                approved_at=begin, state="active", created_at=begin))  # fmt: skip
            self.source = conn.execute(sa.text("SELECT min(id) FROM sources")).scalar_one()
            self.shared = self.pool.pop()  # worked by four people of three units, each with a case on her
            self.team = [self.workers[i] for i in (0, 9, 10, 16)]
            for w in self.team:
                self._case(conn, w, START - dt.timedelta(days=20), self.shared)
            for w in self.workers:
                for _ in range(12):
                    cid = self._case(conn, w, START - dt.timedelta(days=self.rng.randint(3, 60)))
                    if self.rng.random() < 0.3:
                        self.closing.setdefault(self.rng.randint(0, 12), []).append(cid)
                for d in range(1, DAYS, 3):
                    self.opening.setdefault(d, []).append((w, self.rng.choice(self.pool)))

    def modules(self) -> list[int]:
        return [e for e in self.pool if e in self.module]

    def untouched(self) -> list[int]:
        """Taxpayers nobody has (had, or will have) a case on: made famous or restricted mid-month."""
        worked = {e for w in self.workers for e in w.cases.values()} | {e for es in self.closed.values() for e in es}
        worked |= {e for opening in self.opening.values() for _, e in opening}
        return [e for e in self.pool if e not in worked]

    def _case(self, conn: Connection, w: Worker, opened: dt.date, subject: int | None = None) -> int:
        self.next_case += 1
        cid, eid = self.next_case, subject or self.rng.choice(self.pool)
        conn.execute(cases.insert().values(
            id=cid, ref=f"c{cid:020x}", unit=w.unit, kind=UNITS[w.unit][0], purpose=w.purpose, assigned_to=w.pid,
            status="open", opened_at=opened, source_id=self.source, source_record=cid))  # fmt: skip
        module = self.module.get(eid, (None, ""))[0] if w.unit == "collection" else None
        conn.execute(case_subjects.insert().values(case_id=cid, entity_id=eid, module_id=module))
        w.cases[cid] = eid
        return cid

    # -- the door --------------------------------------------------------------------------------

    def run(self, reads: list[_Read]) -> None:
        for r in sorted(reads, key=lambda r: r.when):
            self.clock.now = r.when
            before = self.door.audit.tree_head().tree_size if r.episode else 0
            rid = new_request_id("http")
            session = self.door.session(self.door.caller(r.pid, request_id=rid), r.purpose, channel="http",
                                        request_id=rid)  # fmt: skip
            access = Access(self.door, session, r.resource, r.ref or "")
            try:
                if r.ref is None:
                    access.serve(_fetch(Resource.ENTITY), label="lookup",
                                 find=_tin_finder(f"{self.rng.randint(100_000_000, 899_999_999)}"))  # fmt: skip
                else:
                    access.serve(_fetch(r.resource))
            except (Denied, NotFound):
                pass
            self.reads += 1
            if r.episode:
                r.episode.leaves.extend(range(before, self.door.audit.tree_head().tree_size))

    def visit(self, w: Worker, eid: int, when: dt.datetime, ep: Episode | None = None,
              purpose: str | None = None) -> list[_Read]:  # fmt: skip
        out = [_Read(when, w.pid, purpose or w.purpose, Resource.ENTITY, self.refs[eid], ep)]
        more = [Resource.MODULE_LIST, Resource.RETURNS, Resource.INFORMATION_RETURNS, Resource.MODULE_TRANSCRIPT]
        for res in self.rng.sample(more if eid in self.module else more[:3], self.rng.randint(0, 3)):
            ref = self.module[eid][1] if res is Resource.MODULE_TRANSCRIPT else self.refs[eid]
            out.append(_Read(when + dt.timedelta(seconds=self.rng.uniform(20, 240)), w.pid, purpose or w.purpose,
                             res, ref, ep))  # fmt: skip
        return out

    def workday(self, day: int) -> list[_Read]:
        date = START + dt.timedelta(days=day)
        reads: list[_Read] = []
        for w in self.workers:
            if date.weekday() not in w.days or self.rng.random() < 0.08:
                continue
            open_subjects = list(w.cases.values())
            for _ in range(max(1, round(self.rng.gauss(w.pace, 1.5)))):
                hour = w.shift + self.rng.choice((0, 1, 2, 3, 5, 6, 7))  # an hour's lunch
                reads += self.visit(w, self.rng.choice(open_subjects), _at(day, hour, self.rng))
            if self.rng.random() < 0.07:  # a mistyped TIN
                reads.append(_Read(_at(day, w.shift + 2, self.rng), w.pid, w.purpose, Resource.ENTITY, None))
        if date.weekday() < 5:
            for _ in range(self.rng.randint(4, 9)):
                eid = self.rng.choice(self.pool)
                res = self.rng.choice((Resource.ENTITY, Resource.MODULE_LIST))
                reads.append(_Read(_at(day, self.rng.randint(9, 16), self.rng), ENGINEER, GRANT_PURPOSE, res,
                                   self.refs[eid]))  # fmt: skip
            for _ in range(self.rng.randint(3, 8) if _at(day, 12, self.rng) < GRANT_END else 0):
                eid = self.rng.choice(self.modules())
                reads.append(_Read(_at(day, self.rng.randint(10, 18), self.rng), LEAVING, LEAVING_PURPOSE,
                                   Resource.MODULE_TRANSCRIPT, self.module[eid][1]))  # fmt: skip
        return reads

    def day_turn(self, day: int, *, before: bool) -> None:
        date = START + dt.timedelta(days=day)
        with self.engine.begin() as conn:
            if before:
                for w, eid in self.opening.get(day, []):
                    self._case(conn, w, date, eid)
                return
            for cid in self.closing.get(day, []):
                conn.execute(cases.update().where(cases.c.id == cid).values(status="closed", closed_at=date))
                for w in self.workers:
                    if cid in w.cases:
                        self.closed.setdefault(w.pid, []).append(w.cases.pop(cid))

    # -- browsing --------------------------------------------------------------------------------

    def sunday(self, day: int) -> list[_Read]:
        """Probe: a Monday-Friday day-shift worker on a Sunday, at her usual hours, on her own cases."""
        w = next(x for x in self.workers if x.days == frozenset(range(5)) and 8 <= x.shift <= 10)
        e = Episode("off_hours", w.pid, probe="a Sunday session at her usual hours (she never works weekends)")
        self.episodes.append(e)
        reads: list[_Read] = []
        for eid in list(w.cases.values())[:3]:
            reads += self.visit(w, eid, _at(day, w.shift + 1, self.rng), e)
        return reads

    def plant(self, day: int) -> list[_Read]:
        rng, reads = self.rng, []
        cw = [w for w in self.workers if (START + dt.timedelta(days=day)).weekday() in w.days]
        rng.shuffle(cw)
        pick = iter(cw)

        def ep(kind: str, w: Worker | str) -> Episode:
            e = Episode(kind, w if isinstance(w, str) else w.pid)
            self.episodes.append(e)
            return e

        def in_shift(w: Worker) -> dt.datetime:
            return _at(day, w.shift + rng.choice((1, 2, 5)), rng)

        def stranger(w: Worker) -> int:
            mine = set(w.cases.values()) | set(self.closed.get(w.pid, []))
            return rng.choice([e for e in self.pool if e not in mine])

        for i, w in enumerate(self.team):  # not a celebrity: everyone reading her has a case on her
            if (START + dt.timedelta(days=day)).weekday() in w.days and i % 2 == day % 2:
                reads += self.visit(w, self.shared, in_shift(w))
        if day in PLANT_DAYS[:3]:  # in the news, quietly: one look a day over three days, four people
            if day == PLANT_DAYS[0]:
                self.quiet = self.untouched()[0], ep("celebrity", "many")
                self.pool.remove(self.quiet[0])
            for w in [x for x in cw if self.quiet[0] not in x.cases.values()][: 2 if day == PLANT_DAYS[2] else 1]:
                reads.append(_Read(in_shift(w), w.pid, w.purpose, Resource.ENTITY, self.refs[self.quiet[0]],
                                   self.quiet[1]))  # fmt: skip
                cw.remove(w)
            pick = iter(cw)
        if day == PLANT_DAYS[0]:  # two days before her grant ends, she takes forty-five transcripts
            e = ep("grant_probe", LEAVING)
            reads += [_Read(_at(day, rng.randint(10, 18), rng), LEAVING, LEAVING_PURPOSE, Resource.MODULE_TRANSCRIPT,
                            self.module[eid][1], e) for eid in rng.sample(self.modules(), 45)]  # fmt: skip
        if day == PLANT_DAYS[3]:  # the day after it ended, she tries again
            e = ep("grant_probe", LEAVING)
            reads += [_Read(_at(day, 11, rng), LEAVING, LEAVING_PURPOSE, Resource.MODULE_TRANSCRIPT,
                            self.module[eid][1], e) for eid in rng.sample(self.modules(), 2)]  # fmt: skip
        if day == PLANT_DAYS[0]:
            w = next(pick)  # her household: a mate she never declared
            reads += self.visit(w, self.mates[w.eid][0], in_shift(w), ep("household_lookup", w))
            w = next(pick)  # a stranger who moved in at her address (not her household, not her name)
            lodger = stranger(w)
            with self.engine.begin() as conn:
                home = conn.execute(sa.select(entities.c.address_line, entities.c.city, entities.c.state,
                                              entities.c.zip).where(entities.c.id == w.eid)).one()  # fmt: skip
                conn.execute(entities.update().where(entities.c.id == lodger).values(**home._asdict()))
            self.pool.remove(lodger)
            reads += self.visit(w, lodger, in_shift(w), ep("household_lookup", w))
            a = next(pick)  # a colleague of her unit
            mate = next(x for x in self.workers if x.unit == a.unit and x is not a)
            reads += self.visit(a, mate.eid, in_shift(a), ep("coworker_lookup", a))
            b = next(pick)  # an employee of another unit
            other = next(x for x in self.workers if x.unit != b.unit)
            reads += self.visit(b, other.eid, in_shift(b), ep("coworker_lookup", b))
        if day == PLANT_DAYS[1]:
            famous = rng.sample(self.untouched(), 3)
            with self.engine.begin() as conn:
                conn.execute(entities.update().where(entities.c.id.in_(famous[:2])).values(is_restricted=True))
            for eid in famous[:2]:
                self.pool.remove(eid)
                w = next(pick)
                reads += self.visit(w, eid, in_shift(w), ep("restricted_lookup", w))
            star = famous[2]  # in the news: five people of three units look within two days
            self.pool.remove(star)
            e = ep("celebrity", "many")
            for w in [next(pick) for _ in range(3)]:
                reads += self.visit(w, star, in_shift(w), e)
            for w in [x for x in self.workers if (START + dt.timedelta(days=day + 1)).weekday() in x.days][-2:]:
                reads += self.visit(w, star, _at(day + 1, w.shift + 3, rng), e)
            for _ in range(2):  # her case, read under another unit's purpose
                w = next(pick)
                foreign = next(spec[1] for u, spec in UNITS.items() if u != w.unit)
                reads += self.visit(w, next(iter(w.cases.values())), in_shift(w), ep("no_open_case", w), foreign)
        if day == PLANT_DAYS[2]:
            for w in [x for x in cw if set(self.closed.get(x.pid, [])) - set(x.cases.values())][:2]:
                done = sorted(set(self.closed[w.pid]) - set(w.cases.values()))[0]
                reads += self.visit(w, done, in_shift(w), ep("case_closed", w))
                cw.remove(w)
            pick = iter(cw)
            for _ in range(2):
                w = next(pick)
                reads += self.visit(w, stranger(w), in_shift(w), ep("never_assigned", w))
            w = next(pick)  # forty strangers in one hour
            e, base = ep("burst", w), _at(day, w.shift + 1, rng)
            for _ in range(40):
                reads.append(_Read(base + dt.timedelta(seconds=rng.uniform(0, 3000)), w.pid, w.purpose,
                                   Resource.ENTITY, self.refs[stranger(w)], e))  # fmt: skip
            w = next(pick)  # a steady afternoon: five times her pace for three hours
            e = ep("burst", w)
            for h in range(3):
                for _ in range(max(12, round(w.pace * 5 / 3))):
                    reads.append(_Read(_at(day, w.shift + 4 + h, rng), w.pid, w.purpose, Resource.ENTITY,
                                       self.refs[stranger(w)], e))  # fmt: skip
        if day == PLANT_DAYS[3]:
            w = cw.pop()  # a relative across town: her surname, her ZIP, another address
            kin = self.untouched()[0]
            self.pool.remove(kin)
            with self.engine.begin() as conn:
                me = conn.execute(sa.select(entities.c.last_name, entities.c.zip).where(entities.c.id == w.eid)).one()
                conn.execute(entities.update().where(entities.c.id == kin).values(last_name=me.last_name, zip=me.zip))
            reads += self.visit(w, kin, in_shift(w), ep("household_lookup", w))
            w = cw.pop()  # probe: three times her pace, spread evenly over her whole shift (no hour stands out)
            e = ep("burst", w)
            e.probe = "a day at three times her pace, no hour far above her hours"
            reads += [_Read(_at(day, w.shift + (0, 1, 2, 3, 5, 6, 7)[i % 7], rng), w.pid, w.purpose, Resource.ENTITY,
                            self.refs[stranger(w)], e) for i in range(round(3 * w.pace))]  # fmt: skip
            day_shift = [w for w in cw if 8 <= w.shift <= 10]
            late = [w for w in cw if w.shift == 14]
            for w, hour in ((day_shift[0], 3), ((late or day_shift)[-1], 0 if late else 23)):
                e = ep("off_hours", w)
                for eid in list(w.cases.values())[:3]:
                    reads += self.visit(w, eid, _at(day, hour, rng), e)
                cw.remove(w)
            w = min(cw, key=lambda x: x.pace)  # the quietest worker tries eighteen TINs in half an hour
            cw.remove(w)
            e, base = ep("tin_fishing", w), _at(day, w.shift + 2, rng)
            reads += [_Read(base + dt.timedelta(seconds=rng.uniform(0, 1800)), w.pid, w.purpose, Resource.ENTITY,
                            None, e) for _ in range(18)]  # fmt: skip
            w = cw[0]  # seven TINs over her day
            e = ep("tin_fishing", w)
            reads += [_Read(_at(day, w.shift + h, rng), w.pid, w.purpose, Resource.ENTITY, None, e)
                      for h in (0, 1, 2, 3, 5, 6, 7)]  # fmt: skip
            e = ep("grant_probe", ENGINEER)  # returns: a dataset her grant does not cover
            reads += [_Read(_at(day, 11, rng), ENGINEER, GRANT_PURPOSE, Resource.RETURNS,
                            self.refs[rng.choice(self.pool)], e) for _ in range(3)]  # fmt: skip
            e = ep("grant_probe", ENGINEER)  # a purpose she holds no grant for
            reads += [_Read(_at(day, 15, rng), ENGINEER, "debugging", Resource.ENTITY,
                            self.refs[rng.choice(self.pool)], e) for _ in range(2)]  # fmt: skip
        return reads


def build(engine: Engine, *, taxpayers: int = 2500, seed: int = 29) -> World:
    """Synthesize, staff, work three weeks through the door, plant; the truth stays in memory."""
    synthesize(engine, taxpayers, seed)
    b = _Builder(engine, seed)
    b.staff()
    try:
        for day in range(DAYS):
            b.day_turn(day, before=True)
            reads = b.workday(day)
            if day in PLANT_DAYS:
                reads += b.plant(day)
            if day == SUNDAY:
                reads += b.sunday(day)
            b.run(reads)
            b.day_turn(day, before=False)
        b.door.audit.sign_tree_head()
    finally:
        b.door.audit.close()
    return World(engine, b.workers, b.episodes, b.reads)


def score(episodes: list[Episode], alerts: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per kind: recall (an episode is found when an alert of its rule cites one of its leaves) and strict
    precision (an alert is true when it cites a leaf of an episode of its rule or of an overlapping kind)."""
    out: dict[str, dict[str, float]] = {}
    leaves_of: dict[str, set[int]] = {}
    for e in episodes:
        leaves_of.setdefault(e.kind, set()).update(e.leaves)
    for kind in sorted({e.kind for e in episodes} | {a["rule"] for a in alerts}):
        mine = [e for e in episodes if e.kind == kind and not e.probe]
        cited = [set(a["leaves"]) for a in alerts if a["rule"] == kind]
        found = sum(1 for e in mine if any(c & set(e.leaves) for c in cited))
        ok = set().union(*(leaves_of.get(k, set()) for k in {kind} | OVERLAPS.get(kind, set())))
        true = sum(1 for c in cited if c & ok)
        out[kind] = {"episodes": len(mine), "found": found, "recall": found / len(mine) if mine else 1.0,
                     "alerts": len(cited), "true": true, "precision": true / len(cited) if cited else 1.0}  # fmt: skip
    return out


def probes(episodes: list[Episode], alerts: list[dict[str, Any]]) -> dict[str, bool]:
    """Each probe (browsing beyond the rules as specified): found by an alert of its kind?"""
    return {
        e.probe: any(a["rule"] == e.kind and set(a["leaves"]) & set(e.leaves) for a in alerts)
        for e in episodes
        if e.probe
    }
