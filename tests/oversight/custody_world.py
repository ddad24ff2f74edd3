"""A small synthetic store with a door, for the grants/exports/shredding tests (``from custody_world import ...``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import Door, Session
from taxvault.access.policy import PolicyEngine
from taxvault.access.system_principals import GRANTS, ensure_system_principals
from taxvault.audit import AuditLog
from taxvault.oversight.grants import JOB_PURPOSE
from taxvault.store.tables import entities, principals
from taxvault.synth.load import synthesize

HOLDER, APPROVER, OTHER_ENGINEER = "eng-001", "eng-lead", "eng-002"
PURPOSE = "schema_mapping_check"
NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


@lru_cache(maxsize=1)
def policies() -> PolicyEngine:
    return PolicyEngine()


@dataclass
class Custody:
    engine: Engine
    log: AuditLog
    door: Door
    manager: str

    def session(self, who: str, purpose: str = PURPOSE) -> Session:
        caller = self.door.caller(who)
        return self.door.session(caller, purpose, channel="cli")

    def job(self) -> Session:
        return self.door.system_session(GRANTS, JOB_PURPOSE)

    def eligible_entities(self) -> int:
        with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).where(entities.c.is_restricted.is_(False), entities.c.is_employee.is_(False))
            return int(conn.execute(q).scalar_one())


def make_custody(engine: Engine, people: int = 300, seed: int = 5) -> Custody:
    synthesize(engine, people, seed)
    with engine.begin() as conn:
        ensure_system_principals(conn)
        manager = conn.execute(
            sa.select(principals.c.id).where(principals.c.roles.like("%manager%")).order_by(principals.c.id).limit(1)
        ).scalar_one()
    log = AuditLog(engine)
    return Custody(engine, log, Door(engine, log, policies()), str(manager))
