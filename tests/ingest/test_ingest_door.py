"""Ingest acts through the door as sys-ingest: a real decision, and a file's rows and its audit event
commit together (no event, no rows); a refused job principal loads nothing and is audited."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers_ingest import counts, legacy_population
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.audit import AuditEvent, AuditLog
from taxvault.audit.errors import AuditAppendError
from taxvault.errors import Denied, Unauthenticated, Unavailable
from taxvault.ingest import ingest_paths
from taxvault.store.tables import principals

FILES = ("bmf_entity.ebc", "imf_entity.ebc")


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    return legacy_population(tmp_path_factory.mktemp("door"), sqlite_template, 200, seed=7)[1]


class DownLog(AuditLog):
    """A real audit log whose store refuses every append (in a transaction or on its own)."""

    def append_in(self, conn: Connection, events: Sequence[AuditEvent]) -> range:
        raise AuditAppendError("audit store unavailable")

    def append(self, event: AuditEvent) -> int:
        raise AuditAppendError("audit store unavailable")


def _events(log: AuditLog, since: int) -> list[AuditEvent]:
    return [log.event(i) for i in range(since, log.tree_head().tree_size)]


def test_an_ingest_whose_audit_append_fails_loads_nothing(db_engine: Engine, legacy: Path) -> None:
    before = counts(db_engine)
    down = DownLog(db_engine)
    with pytest.raises(Unavailable):
        ingest_paths(db_engine, [legacy / f for f in FILES], door=Door(db_engine, down, PolicyEngine()))
    down.close()
    assert counts(db_engine) == before, "no audit, no rows (fail closed)"


def test_each_file_commits_with_its_own_allowed_event(db_engine: Engine, legacy: Path) -> None:
    with AuditLog(db_engine) as log:
        size = log.tree_head().tree_size
        reports = ingest_paths(db_engine, [legacy / f for f in FILES], door=Door(db_engine, log, PolicyEngine()))
        events = _events(log, size)
    assert [r.status for r in reports] == ["loaded", "loaded"]
    assert [(e.principal, e.action, e.decision.value, e.policy) for e in events] == [
        ("sys-ingest", "ingest:ingest_file", "allow", "system-ingest-file")
    ] * 2
    assert [e.resource for e in events] == [f"file:sha256:{r.content_hash}" for r in reports]
    assert "entities" in events[0].fields and f"loaded={reports[0].loaded}" in events[0].fields


@pytest.mark.parametrize("change", [{"active": False}, {"roles": "system"}], ids=["deactivated", "no-permit"])
def test_a_refused_sys_ingest_loads_nothing_and_the_refusal_is_audited(
    db_engine: Engine, legacy: Path, change: dict[str, object]
) -> None:
    with db_engine.begin() as conn:
        conn.execute(principals.update().where(principals.c.id == "sys-ingest").values(**change))
    before = counts(db_engine)
    with AuditLog(db_engine) as log:
        size = log.tree_head().tree_size
        with pytest.raises(Unauthenticated if "active" in change else Denied):
            ingest_paths(db_engine, [legacy / f for f in FILES], door=Door(db_engine, log, PolicyEngine()))
        [refusal] = _events(log, size)
    assert refusal.principal == "sys-ingest" and refusal.decision.value == "deny"
    if "active" in change:
        assert refusal.policy == "refused:principal-inactive-or-unknown"
    else:
        assert refusal.action == "ingest:ingest_file"
    after = counts(db_engine)
    assert after == {**before, "audit_events": after["audit_events"]} and after["audit_events"] > 0
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sources")).scalar_one() == 0
