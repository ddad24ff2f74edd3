"""The matching job's door and session for the store tests (``from matching_jobs import job``)."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import Door, Session
from taxvault.access.policy import PolicyEngine
from taxvault.audit import AuditLog
from taxvault.jobs import matching as jm
from taxvault.store.tins import aad, tin_vault


@lru_cache(maxsize=1)
def _policies() -> PolicyEngine:
    return PolicyEngine()


def job(engine: Engine, log: AuditLog, purpose: str = jm.MATCHING_PURPOSE) -> tuple[Door, Session]:
    """A door over ``engine`` appending to ``log``, and the matching job's session on it."""
    door = Door(engine, log, _policies())
    return door, jm.job_session(door, purpose)


def clear_tins(engine: Engine, table: str = "entities", column: str = "tin") -> dict[str, str]:
    """Row ref -> clear TIN of a synthetic store (what a test looks for in outputs; decrypted here only)."""
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.ref, t.c[f"{column}_enc"])).all()
        clear = tin_vault(conn).decrypt_many(conn, [r[1] for r in rows], [aad(table, column, r[0]) for r in rows])
    return {str(r[0]): tin for r, tin in zip(rows, clear, strict=True)}
