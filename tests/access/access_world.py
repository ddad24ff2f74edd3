"""A small, hand-made store for access tests: every relation the rules care about.

Alice (collection caseworker) is assigned cases about an ordinary taxpayer, and
also - wrongly - about her own account, her spouse's, a declared relative's, a
neighbour at her address, a restricted account and an employee's account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tokens import issue_token
from taxvault.api.app import create_app
from taxvault.audit import AuditEvent, AuditLog
from taxvault.store import tables as t
from taxvault.store.tins import protect_row

NOW = dt.datetime.now(dt.UTC)
CREATED = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)

# name -> (id, tin, address index, employee, restricted, birth date)
ENTITIES: dict[str, tuple[int, str, int, bool, bool, dt.date]] = {
    "alice_self": (1, "900010001", 1, True, False, dt.date(1980, 3, 4)),
    "alice_spouse": (2, "900010002", 1, False, False, dt.date(1981, 5, 6)),
    "alice_relative": (3, "900010003", 2, False, False, dt.date(1955, 7, 8)),
    "neighbour": (4, "900010004", 1, False, False, dt.date(1990, 9, 10)),
    "tp": (5, "900010005", 3, False, False, dt.date(1975, 11, 12)),
    "tp2": (6, "900010006", 4, False, False, dt.date(1970, 1, 2)),
    "restricted": (7, "900010007", 5, False, True, dt.date(1960, 2, 3)),
    "employee": (8, "900010008", 6, True, False, dt.date(1985, 4, 5)),
}
ADDRESSES = {n: (f"{n}0 Main St", "Springfield", "IL", f"6270{n}") for n in range(1, 7)}

PRINCIPALS: tuple[tuple[str, str, str, str | None, str | None, int], ...] = (
    # id, kind, roles, unit, own entity, dollar limit (cents)
    ("cw-alice", "employee", "caseworker", "collection", "alice_self", 500_000),
    ("cw-bob", "employee", "caseworker", "examination", None, 100_000),
    ("cw-gina", "employee", "caseworker", "assistance", None, 100_000),
    ("mgr-carol", "employee", "caseworker manager break_glass", "collection", None, 25_000_000),
    ("sp-erin", "employee", "caseworker", "special", None, 100_000),
    ("ea-frank", "employee", "caseworker", "employee_accounts", None, 100_000),
    ("eng-001", "contractor", "engineer", "modernisation", None, 0),
    ("eng-002", "contractor", "engineer", "modernisation", None, 0),
    ("eng-lead", "employee", "engineer grant_approver", "modernisation", None, 0),
    ("ana-001", "analyst", "analyst", "research", None, 0),
    ("ovs-privacy", "oversight", "oversight privacy_officer", "privacy", None, 0),
)

# (case id, assigned, status, purpose, subject entity)
CASES: tuple[tuple[int, str, str, str, str], ...] = (
    (1, "cw-alice", "open", "collection", "tp"),
    (2, "cw-alice", "open", "collection", "alice_spouse"),
    (3, "cw-alice", "open", "collection", "alice_relative"),
    (4, "cw-alice", "open", "collection", "neighbour"),
    (5, "cw-alice", "open", "collection", "alice_self"),
    (6, "cw-bob", "open", "examination", "tp"),
    (7, "cw-alice", "closed", "collection", "tp2"),
    (8, "sp-erin", "open", "collection", "restricted"),
    (9, "ea-frank", "open", "collection", "employee"),
    (10, "cw-alice", "open", "collection", "restricted"),
    (11, "cw-alice", "open", "collection", "employee"),
    (12, "cw-gina", "open", "taxpayer_assistance", "tp"),
)
_KIND = {"collection": "collection", "examination": "examination", "taxpayer_assistance": "assistance"}


def ref(prefix: str, n: int) -> str:
    return f"{prefix}{n:020x}"


def entity_ref(name: str) -> str:
    return ref("e", ENTITIES[name][0])


def module_ref(name: str) -> str:
    return ref("m", ENTITIES[name][0])


def tin_of(name: str) -> str:
    return ENTITIES[name][1]


def build_world(engine: Engine) -> dict[str, str]:
    """Insert the world; returns principal id -> token (the taxpayer of ``tp`` as ``taxpayer``)."""
    with engine.begin() as conn:
        conn.execute(t.sources.insert().values(id=1, kind="synth", name="access-world", created_at=CREATED))
        for name, (eid, tin, addr, emp, restr, born) in ENTITIES.items():
            line, city, state, zip_code = ADDRESSES[addr]
            conn.execute(
                t.entities.insert().values(
                    id=eid, **protect_row(conn, "entities", {"ref": entity_ref(name), "tin": tin}),
                    tin_type="SSN", kind="individual",
                    last_name=f"LAST{eid}", first_name=f"FIRST{eid}", name_control=f"LAS{eid}"[:4],
                    address_line=line, city=city, state=state, zip=zip_code, birth_date=born,
                    is_employee=emp, is_restricted=restr, source_id=1, source_record=eid,
                )
            )  # fmt: skip
        conn.execute(t.entities.update().where(t.entities.c.id == 1).values(spouse_id=2))
        for name, (eid, *_rest) in ENTITIES.items():
            conn.execute(
                t.tax_modules.insert().values(
                    id=eid, ref=module_ref(name), entity_id=eid, mft=30, tax_period=202412, status="open",
                    source_id=1, source_record=eid,
                )
            )  # fmt: skip
            for k, (tc, cents) in enumerate(((150, 812_300), (806, -700_000), (196, 1_234))):
                conn.execute(
                    t.transactions.insert().values(
                        module_id=eid, tc=tc, amount_cents=cents, posted_date=dt.date(2025, 4, 15 + k),
                        cycle=202516, dln=f"2921110500{eid:02d}{k:02d}", posted_by="sys-posting",
                        source_id=1, source_record=eid * 10 + k,
                    )
                )  # fmt: skip
            conn.execute(
                t.returns.insert().values(
                    id=eid, ref=ref("r", eid), module_id=eid, entity_id=eid, tax_year=2024, form="1040",
                    filing_status="S", dependents=0, filed_date=dt.date(2025, 4, 1), dln=f"29211105{eid:06d}",
                    wages_cents=5_000_000, total_income_cents=5_000_000, agi_cents=5_000_000,
                    tax_cents=812_300, withholding_cents=700_000, balance_due_cents=112_300,
                    bank_routing="500000001", bank_account=f"12345678{eid:02d}", source_id=1, source_record=eid,
                )
            )  # fmt: skip
            conn.execute(
                t.information_returns.insert().values(
                    id=eid, form="W-2", tax_year=2024, payer_tin_type="EIN", payee_tin_type="SSN", payee_id=eid,
                    **protect_row(conn, "information_returns",
                                  {"ref": ref("i", eid), "payer_tin": "001234567", "payee_tin": tin_of(name)}),
                    income_cents=5_000_000, withholding_cents=700_000, boxes={"1": 5_000_000, "2": 700_000},
                    source_id=1, source_record=eid,
                )
            )  # fmt: skip
        for pid, kind, roles, unit, own, limit in PRINCIPALS:
            conn.execute(
                t.principals.insert().values(
                    id=pid, kind=kind, display_name=pid, roles=roles, unit=unit,
                    entity_id=ENTITIES[own][0] if own else None, dollar_limit_cents=limit, active=True,
                    created_at=CREATED,
                )
            )  # fmt: skip
        for ent, rel in (("alice_self", "self"), ("alice_spouse", "spouse"), ("alice_relative", "relative")):
            conn.execute(
                t.principal_relations.insert().values(principal_id="cw-alice", entity_id=ENTITIES[ent][0], relation=rel)
            )
        for cid, who, status, purpose, subject in CASES:
            conn.execute(
                t.cases.insert().values(
                    id=cid, ref=ref("c", cid), unit="collection", kind=_KIND[purpose], purpose=purpose,
                    assigned_to=who, status=status, opened_at=dt.date(2025, 5, 1),
                    closed_at=dt.date(2025, 6, 1) if status == "closed" else None, source_id=1, source_record=cid,
                )
            )  # fmt: skip
            eid = ENTITIES[subject][0]
            conn.execute(t.case_subjects.insert().values(case_id=cid, entity_id=eid, module_id=eid))
        day = dt.timedelta(days=1)
        for gid, holder, datasets, fields_, purpose, start, end, state in (
            (1, "eng-001", ["entities", "tax_modules", "transactions"], ["name", "address", "tin_last4"],
             "legacy_migration_validation", NOW - 10 * day, NOW + 30 * day, "active"),
            (2, "eng-002", ["information_returns"], ["payer_tin", "payee_tin", "amounts"],
             "ingest_defect_analysis", NOW - 200 * day, NOW - 90 * day, "active"),  # active but past its end
            (3, "eng-002", ["returns"], ["filing_status", "line_items"],
             "schema_mapping", NOW - 10 * day, NOW + 30 * day, "revoked"),
        ):  # fmt: skip
            conn.execute(
                t.grants.insert().values(
                    id=gid, ref=ref("g", gid), principal_id=holder, datasets=datasets, fields=fields_,
                    purpose=purpose, starts_at=start, ends_at=end, approver_id="eng-lead", state=state,
                    created_at=start,
                )
            )  # fmt: skip
        taxpayer = ensure_taxpayer_principal(conn, entity_ref("tp"))
    tokens = {pid: issue_token(pid) for pid, *_ in PRINCIPALS}
    tokens["taxpayer"] = issue_token(taxpayer)
    tokens["taxpayer-principal"] = taxpayer
    return tokens


@dataclass
class World:
    """The app over the world, its tokens and its audit log."""

    engine: Engine
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    audit: AuditLog
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str, purpose: str | None = None, justification: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[who]}"}
        if purpose:
            h["Purpose-Of-Use"] = purpose
        if justification:
            h["Break-Glass-Justification"] = justification
        return h

    def principal_of(self, who: str) -> str:
        return self.extra.get("taxpayer", who) if who == "taxpayer" else who

    def size(self) -> int:
        return self.audit.tree_head().tree_size

    def event(self, index: int) -> AuditEvent:
        return self.audit.event(index)


def make_world(engine: Engine, *, audit: AuditLog | None = None, rate: float = 1e6) -> World:
    tokens = build_world(engine)
    log = audit or AuditLog(engine)
    app = create_app(engine, audit_log=log, rate_limiter=RateLimiter(rate, int(max(rate, 1))))
    client = TestClient(app, raise_server_exceptions=False)
    return World(engine, app, client, tokens, log, {"taxpayer": tokens["taxpayer-principal"]})


def count_rows(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
