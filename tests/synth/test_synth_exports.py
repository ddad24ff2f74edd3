"""Synthetic exports read the population through the door as sys-synth: decided, audited, or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.audit import AuditLog
from taxvault.errors import Unauthenticated
from taxvault.store.tables import principals
from taxvault.synth.legacy import write_legacy
from taxvault.synth.load import synthesize
from taxvault.synth.partners import death_records


def _events(engine: Engine) -> list[tuple[str, str, str]]:
    with AuditLog(engine) as log:
        size = log.tree_head().tree_size
        return [(e.principal, e.action, e.decision.value) for e in (log.event(i) for i in range(size))]


def test_the_legacy_export_is_decided_and_audited(db_engine: Engine, tmp_path: Path) -> None:
    synthesize(db_engine, 60, seed=3)
    before = len(_events(db_engine))
    written = write_legacy(db_engine, tmp_path / "legacy")
    assert written
    after = _events(db_engine)[before:]
    assert after == [("sys-synth", "export_synthetic:population", "allow")]


def test_a_refused_export_writes_no_file_and_is_audited(db_engine: Engine, tmp_path: Path) -> None:
    synthesize(db_engine, 60, seed=3)
    with db_engine.begin() as conn:
        conn.execute(sa.update(principals).where(principals.c.id == "sys-synth").values(active=False))
    before = len(_events(db_engine))
    with pytest.raises(Unauthenticated):
        write_legacy(db_engine, tmp_path / "legacy")
    assert not any((tmp_path / "legacy").glob("*")), "no decision, no file"
    with pytest.raises(Unauthenticated):
        death_records(db_engine, seed=1)
    refused = _events(db_engine)[before:]
    assert len(refused) == 2 and all(p == "sys-synth" and d == "deny" for p, _, d in refused)
