"""Synth acts through the door as sys-synth: its rows and its audit event commit together, and a
refused sys-synth loads nothing (the refusal audited)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.access.system_principals import ensure_system_principals
from taxvault.audit import AuditEvent, AuditLog
from taxvault.audit.errors import AuditAppendError
from taxvault.errors import Denied, Unauthenticated, Unavailable
from taxvault.store import tables as t
from taxvault.synth.load import synthesize


class DownLog(AuditLog):
    """A real audit log whose store refuses every append."""

    def append_in(self, conn: Connection, events: Sequence[AuditEvent]) -> range:
        raise AuditAppendError("audit store unavailable")

    def append(self, event: AuditEvent) -> int:
        raise AuditAppendError("audit store unavailable")


def _entities(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.entities)).scalar_one())


def test_the_population_and_its_event_commit_together(db_engine: Engine) -> None:
    down = DownLog(db_engine)
    with pytest.raises(Unavailable):
        synthesize(db_engine, 50, seed=1, door=Door(db_engine, down, PolicyEngine()))
    down.close()
    assert _entities(db_engine) == 0, "no audit, no population (fail closed)"
    with AuditLog(db_engine) as log:
        report = synthesize(db_engine, 50, seed=1, door=Door(db_engine, log, PolicyEngine()))
        [ev] = [log.event(i) for i in range(log.tree_head().tree_size)]
    assert report.persons >= 50 and _entities(db_engine) > 0
    assert (ev.principal, ev.action, ev.decision.value) == ("sys-synth", "synthesize:population", "allow")
    assert ev.resource == "population:seed-1:n-50" and ev.policy == "system-synthetic-population"


@pytest.mark.parametrize("change", [{"active": False}, {"roles": "system"}], ids=["deactivated", "no-permit"])
def test_a_refused_sys_synth_loads_nothing_and_is_audited(db_engine: Engine, change: dict[str, object]) -> None:
    with db_engine.begin() as conn:
        ensure_system_principals(conn)
        conn.execute(t.principals.update().where(t.principals.c.id == "sys-synth").values(**change))
    with AuditLog(db_engine) as log:
        with pytest.raises(Unauthenticated if "active" in change else Denied):
            synthesize(db_engine, 50, seed=1, door=Door(db_engine, log, PolicyEngine()))
        [refusal] = [log.event(i) for i in range(log.tree_head().tree_size)]
    assert refusal.principal == "sys-synth" and refusal.decision.value == "deny"
    assert _entities(db_engine) == 0
