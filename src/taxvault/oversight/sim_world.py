"""The simulator's agency: units, staff who are taxpayers too, their families, cases, grants.

Built directly into the store (columnar inserts, TINs protected like every load) so
that a month of work can then be driven through the real door. What makes browsing
tempting is here on purpose: employees' own accounts, relatives who live with them
and were never declared, a relative with the same surname in the same ZIP, a former
spouse (a joint return years ago) and whoever lives with her now, co-workers'
accounts, restricted (high-profile) taxpayers, taxpayers in the news.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.system_principals import ensure_system_principals
from taxvault.store import tables as t
from taxvault.store.bulk import insert_columns, next_ids, reset_sequences
from taxvault.store.tins import protect_columns
from taxvault.synth import names
from taxvault.synth.identifiers import refs, synthetic_ssns
from taxvault.synth.population import individual_name_control

CASE_UNITS = {
    "assistance": "taxpayer_assistance",
    "collection": "collection",
    "examination": "examination",
    "aur": "underreporter",
    "special": "examination",
    "employee_accounts": "taxpayer_assistance",
}
_UNIT_SHARE = (
    ("assistance", 0.25),
    ("collection", 0.25),
    ("examination", 0.15),
    ("aur", 0.15),
    ("special", 0.1),
    ("employee_accounts", 0.1),
)
SHIFT_STARTS = (6, 7, 8, 8, 9, 9, 10, 12, 14)  # UTC hour her 8-hour day starts
GRANT_DATASETS = (("entities", "tax_modules"), ("entities", "transactions"), ("tax_modules", "transactions"))
GRANT_PURPOSE = "legacy_migration_validation"
_ID_TABLES = (t.entities, t.tax_modules, t.cases, t.grants, t.returns)


@dataclass
class Staff:
    """One person of the agency in the simulation."""

    pid: str
    kind: str
    unit: str
    roles: str
    shift: int
    eid: int | None = None
    manager: str | None = None
    purpose: str = ""
    cases: list[int] = field(default_factory=list)
    undeclared_home: list[int] = field(default_factory=list)  # live with her, never declared
    surname_zip: list[int] = field(default_factory=list)  # her surname, her ZIP, another address
    ex: list[int] = field(default_factory=list)  # a former spouse, and who lives with him now
    grant: tuple[str, tuple[str, ...], dt.datetime, dt.datetime] | None = None

    @property
    def break_glass(self) -> bool:
        return "break_glass" in self.roles.split()


@dataclass
class Case:
    id: int
    pid: str
    purpose: str
    eid: int
    opened: dt.date
    closed: dt.date | None


@dataclass
class World:
    """What the simulator knows (the truth is written apart from the store)."""

    start: dt.date
    staff: dict[str, Staff]
    cases: dict[int, Case]
    ref: dict[int, str]  # entity id -> ref
    module: dict[int, str]  # entity id -> module ref
    public: list[int]  # ordinary taxpayers no case is about (browsing targets)
    restricted: list[int]
    celebrities: list[int]
    source_id: int


class _Entities:
    """Entity rows accumulated as columns."""

    def __init__(self, first_id: int, rng: np.random.Generator, seed: int) -> None:
        self.next = first_id
        self.rng = rng
        self.seed = seed
        self.cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "id", "last_name", "first_name", "address_line", "city", "state", "zip", "spouse_id",
                "is_employee", "is_restricted",
            )
        }  # fmt: skip

    def address(self) -> tuple[str, str, str, str]:
        r = self.rng
        city, state, zip3 = names.CITIES[int(r.integers(0, len(names.CITIES)))]
        street = f"{int(r.integers(1, 9999))} {names.STREETS[int(r.integers(0, len(names.STREETS)))]} " + str(
            names.STREET_TYPES[int(r.integers(0, len(names.STREET_TYPES)))]
        )
        return street, city, state, f"{zip3}{int(r.integers(0, 12)):02d}"

    def surname(self) -> str:
        return str(names.LAST_NAMES[int(self.rng.integers(0, len(names.LAST_NAMES)))])

    def add(
        self,
        last: str,
        address: tuple[str, str, str, str],
        *,
        employee: bool = False,
        restricted: bool = False,
        spouse: int | None = None,
    ) -> int:
        eid = self.next
        self.next += 1
        pool = names.FIRST_NAMES_F if self.rng.random() < 0.5 else names.FIRST_NAMES_M
        c = self.cols
        c["id"].append(eid)
        c["last_name"].append(last)
        c["first_name"].append(str(pool[int(self.rng.integers(0, len(pool)))]))
        c["address_line"].append(address[0])
        c["city"].append(address[1])
        c["state"].append(address[2])
        c["zip"].append(address[3])
        c["spouse_id"].append(spouse)
        c["is_employee"].append(employee)
        c["is_restricted"].append(restricted)
        return eid

    def same_zip_address(self, address: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
        other = self.address()
        return other[0], address[1], address[2], address[3]


def build_world(conn: Connection, employees: int, seed: int, start: dt.date) -> World:
    """Create the agency and its taxpayers in the store (inside the caller's transaction)."""
    rng = np.random.default_rng([seed, 1307])
    ensure_system_principals(conn)
    ids = next_ids(conn, _ID_TABLES)
    source_id = int(
        conn.execute(
            t.sources.insert()
            .values(kind="synth", name="taxvault.oversight.simulate", generator_version="1", seed=seed,
                    created_at=dt.datetime.now(dt.UTC))
            .returning(t.sources.c.id)
        ).scalar_one()
    )  # fmt: skip
    ents = _Entities(ids["entities"], rng, seed)
    staff: dict[str, Staff] = {}
    units = [u for u, _ in _UNIT_SHARE]
    shares = np.array([s for _, s in _UNIT_SHARE])
    unit_of = rng.choice(len(units), size=employees, p=shares / shares.sum())
    unit_of[: len(units)] = np.arange(len(units))  # every unit has someone
    managers: dict[str, list[str]] = {}
    spouses: list[tuple[int, int]] = []
    relations: list[tuple[str, int, str]] = []
    joint_returns: list[tuple[int, int]] = []
    for n in range(employees):
        unit = units[int(unit_of[n])]
        pid = f"sim-e{n:05d}"
        members = managers.setdefault(unit, [])
        is_manager = len(members) == 0 or rng.random() < 1 / 12
        roles = "caseworker manager break_glass" if is_manager else "caseworker"
        if not is_manager and rng.random() < 0.12:
            roles += " break_glass"
        s = Staff(pid, "employee", unit, roles, int(rng.choice(SHIFT_STARTS)), purpose=CASE_UNITS[unit])
        if is_manager:
            members.append(pid)
        else:
            s.manager = members[int(rng.integers(0, len(members)))]
        home = ents.address()
        last = ents.surname()
        s.eid = ents.add(last, home, employee=True)
        relations.append((pid, s.eid, "self"))
        if rng.random() < 0.5:  # a spouse, declared
            sp = ents.add(last, home)
            spouses.append((s.eid, sp))
            relations.append((pid, sp, "spouse"))
        for _ in range(int(rng.integers(0, 3))):  # children, declared
            relations.append((pid, ents.add(last, home), "household"))
        if rng.random() < 0.45:  # someone at her address she never declared (a lodger, a sibling)
            s.undeclared_home.append(ents.add(ents.surname() if rng.random() < 0.5 else last, home))
        if rng.random() < 0.35:  # a relative with her surname in her ZIP, another address
            s.surname_zip.append(ents.add(last, ents.same_zip_address(home)))
        if rng.random() < 0.3:  # a former spouse: a joint return years ago; now elsewhere, with someone
            ex_home = ents.address()
            ex = ents.add(ents.surname(), ex_home)
            s.ex.append(ex)
            joint_returns.append((s.eid, ex))
            if rng.random() < 0.6:
                s.ex.append(ents.add(ents.surname(), ex_home))
        staff[pid] = s
    n_eng = max(2, employees // 40)
    approver = "sim-a0001"
    for n in range(n_eng):
        pid = f"sim-c{n:04d}"
        s = Staff(pid, "contractor", "modernisation", "engineer", int(rng.choice(SHIFT_STARTS)))
        begins = dt.datetime.combine(start - dt.timedelta(days=int(rng.integers(10, 60))), dt.time(), dt.UTC)
        ends = begins + dt.timedelta(days=int(rng.integers(90, 121)))
        if n % 4 == 0:  # some grants end during the month (their last week is what grant_probe watches)
            begins = dt.datetime.combine(start - dt.timedelta(days=100), dt.time(), dt.UTC)
            ends = dt.datetime.combine(start + dt.timedelta(days=10 + (n * 3) % 15), dt.time(), dt.UTC)
        s.grant = (GRANT_PURPOSE, GRANT_DATASETS[n % len(GRANT_DATASETS)], begins, ends)
        s.purpose = GRANT_PURPOSE
        staff[pid] = s
    # Taxpayers the work is about, the restricted ones, the ones in the news.
    public = [ents.add(ents.surname(), ents.address()) for _ in range(employees * 20 + 3000)]
    restricted = [ents.add(ents.surname(), ents.address(), restricted=True) for _ in range(max(10, employees // 15))]
    celebrities = [ents.add(ents.surname(), ents.address()) for _ in range(max(10, employees // 20))]
    case_pool = [ents.add(ents.surname(), ents.address()) for _ in range(employees * 16)]

    # -- rows ------------------------------------------------------------------------------------
    cols = ents.cols
    n_ent = len(cols["id"])
    entity_ids = np.array(cols["id"], dtype=np.int64)
    entity_refs = refs(rng, "e", n_ent)
    ssns = synthetic_ssns(seed + 7919, entity_ids)
    rows = {
        **{k: v for k, v in cols.items() if k != "spouse_id"},
        "ref": entity_refs,
        "tin": ssns,
        "tin_type": ["SSN"] * n_ent,
        "kind": ["individual"] * n_ent,
        "name_control": [individual_name_control(x) for x in cols["last_name"]],
        "is_deceased": [False] * n_ent,
        "source_id": [source_id] * n_ent,
        "source_record": list(range(n_ent)),
    }
    insert_columns(conn, t.entities, protect_columns(conn, "entities", rows))
    for a, b in spouses:
        conn.execute(sa.update(t.entities).where(t.entities.c.id == a).values(spouse_id=b))
        conn.execute(sa.update(t.entities).where(t.entities.c.id == b).values(spouse_id=a))
    ref = dict(zip(entity_ids.tolist(), entity_refs, strict=True))
    module_ids = list(range(ids["tax_modules"], ids["tax_modules"] + n_ent))
    module_refs = refs(rng, "m", n_ent)
    insert_columns(
        conn,
        t.tax_modules,
        {
            "id": module_ids,
            "ref": module_refs,
            "entity_id": entity_ids.tolist(),
            "mft": [30] * n_ent,
            "tax_period": [202412] * n_ent,
            "status": ["active"] * n_ent,
            "source_id": [source_id] * n_ent,
            "source_record": list(range(n_ent)),
        },
    )
    module = dict(zip(entity_ids.tolist(), module_refs, strict=True))
    # Former spouses: a 2021 joint return (its own 2021 module) names them.
    _joint_returns(conn, rng, joint_returns, ids, source_id, n_ent)

    ordered = sorted(staff.values(), key=lambda s: (s.manager is not None, s.pid))
    now = dt.datetime.now(dt.UTC)
    insert_columns(
        conn,
        t.principals,
        {
            "id": [approver] + [s.pid for s in ordered],
            "kind": ["employee"] + [s.kind for s in ordered],
            "display_name": ["Simulated grant approver"] + [f"Simulated {s.kind} {s.pid[-5:]}" for s in ordered],
            "roles": ["engineer grant_approver"] + [s.roles for s in ordered],
            "unit": ["modernisation"] + [s.unit for s in ordered],
            "entity_id": [None] + [s.eid for s in ordered],
            "manager_id": [None] + [s.manager for s in ordered],
            "dollar_limit_cents": [0] + [500_000] * len(ordered),
            "active": [True] * (len(ordered) + 1),
            "created_at": [now] * (len(ordered) + 1),
        },
    )
    insert_columns(
        conn,
        t.principal_relations,
        {
            "principal_id": [r[0] for r in relations],
            "entity_id": [r[1] for r in relations],
            "relation": [r[2] for r in relations],
        },
    )
    engineers = [s for s in staff.values() if s.grant is not None]
    gid = ids["grants"]
    insert_columns(
        conn,
        t.grants,
        {
            "id": list(range(gid, gid + len(engineers))),
            "ref": refs(rng, "g", len(engineers)),
            "principal_id": [s.pid for s in engineers],
            "datasets": [list(s.grant[1]) for s in engineers if s.grant],
            "fields": [["name", "address", "tin_last4"]] * len(engineers),
            "purpose": [s.grant[0] for s in engineers if s.grant],
            "starts_at": [s.grant[2] for s in engineers if s.grant],
            "ends_at": [s.grant[3] for s in engineers if s.grant],
            "approver_id": [approver] * len(engineers),
            "renewals": [0] * len(engineers),
            "state": ["active"] * len(engineers),
            "created_at": [s.grant[2] for s in engineers if s.grant],
        },
    )
    cases = _cases(conn, rng, staff, case_pool, restricted, ids["cases"], source_id, start)
    reset_sequences(conn, _ID_TABLES)
    return World(start, staff, cases, ref, module, public, restricted, celebrities, source_id)


def _joint_returns(
    conn: Connection,
    rng: np.random.Generator,
    pairs: list[tuple[int, int]],
    ids: dict[str, int],
    source_id: int,
    offset: int,
) -> None:
    if not pairs:
        return
    n = len(pairs)
    mids = list(range(ids["tax_modules"] + offset, ids["tax_modules"] + offset + n))
    insert_columns(
        conn,
        t.tax_modules,
        {
            "id": mids,
            "ref": refs(rng, "m", n),
            "entity_id": [a for a, _ in pairs],
            "mft": [30] * n,
            "tax_period": [202112] * n,
            "status": ["closed"] * n,
            "source_id": [source_id] * n,
            "source_record": list(range(offset, offset + n)),
        },
    )
    insert_columns(
        conn,
        t.returns,
        {
            "id": list(range(ids["returns"], ids["returns"] + n)),
            "ref": refs(rng, "r", n),
            "module_id": mids,
            "entity_id": [a for a, _ in pairs],
            "spouse_id": [b for _, b in pairs],
            "tax_year": [2021] * n,
            "form": ["1040"] * n,
            "filing_status": ["MFJ"] * n,
            "dependents": [0] * n,
            "filed_date": [dt.date(2022, 4, 10)] * n,
            "dln": [f"{29211100000000 + i:014d}" for i in range(n)],
            "source_id": [source_id] * n,
            "source_record": list(range(n)),
        },
    )


def _cases(
    conn: Connection,
    rng: np.random.Generator,
    staff: dict[str, Staff],
    pool: list[int],
    restricted: list[int],
    first_id: int,
    source_id: int,
    start: dt.date,
) -> dict[int, Case]:
    """Each caseworker's cases: most open all month, some opening or closing during it, some closed before."""
    cases: dict[int, Case] = {}
    next_pool = 0
    employees_eids = [s.eid for s in staff.values() if s.eid is not None and s.unit != "employee_accounts"]
    own_unit: set[int] = set()
    cid = first_id
    for s in staff.values():
        if "caseworker" not in s.roles:
            continue
        n_cases = int(rng.integers(4, 8)) if "manager" in s.roles else int(rng.integers(10, 18))
        for k in range(n_cases + 3):
            if s.unit == "special":
                eid = restricted[int(rng.integers(0, len(restricted)))]
            elif s.unit == "employee_accounts":  # colleagues of other units (never her own unit's)
                others = [e for e in employees_eids if e not in own_unit]
                eid = others[int(rng.integers(0, len(others)))]
            else:
                eid = pool[next_pool % len(pool)]
                next_pool += 1
            opened = start - dt.timedelta(days=int(rng.integers(5, 150)))
            closed: dt.date | None = None
            if k >= n_cases:  # closed before the month (what case_closed browsing returns to)
                closed = start - dt.timedelta(days=int(rng.integers(1, 4)))
            else:
                u = rng.random()
                if u < 0.15:
                    opened = start + dt.timedelta(days=int(rng.integers(1, 20)))
                elif u < 0.3:
                    closed = start + dt.timedelta(days=int(rng.integers(3, 25)))
            cases[cid] = Case(cid, s.pid, s.purpose, eid, opened, closed)
            s.cases.append(cid)
            cid += 1
    ordered = list(cases.values())
    kinds = {
        "taxpayer_assistance": "assistance",
        "collection": "collection",
        "examination": "examination",
        "underreporter": "aur",
    }
    unit_of = {s.pid: s.unit for s in staff.values()}
    insert_columns(
        conn,
        t.cases,
        {
            "id": [c.id for c in ordered],
            "ref": refs(rng, "c", len(ordered)),
            "unit": [unit_of[c.pid] for c in ordered],
            "kind": [kinds[c.purpose] for c in ordered],
            "purpose": [c.purpose for c in ordered],
            "assigned_to": [c.pid for c in ordered],
            "status": ["closed" if c.closed is not None and c.closed < start else "open" for c in ordered],
            "opened_at": [c.opened for c in ordered],
            "closed_at": [c.closed for c in ordered],
            "source_id": [source_id] * len(ordered),
            "source_record": list(range(len(ordered))),
        },
    )
    insert_columns(
        conn,
        t.case_subjects,
        {"case_id": [c.id for c in ordered], "entity_id": [c.eid for c in ordered], "module_id": [None] * len(ordered)},
    )
    return cases
