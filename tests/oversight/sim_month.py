"""A small simulated month, scanned once per store, shared by the detector tests of a module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store_factory import new_store
from taxvault.oversight.scan import ScanReport, scan
from taxvault.oversight.simulate import read_truth, simulate
from taxvault.oversight.tables import oversight_alerts

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass
class Month:
    """A simulated month, its truth and the scan's alerts."""

    engine: Engine
    truth: Path
    episodes: list[dict[str, Any]]
    report: ScanReport
    alerts: list[dict[str, Any]]

    def planted_leaves(self) -> set[int]:
        return {leaf for e in self.episodes for leaf in e["leaves"]}


def alerts_of(engine: Engine) -> list[dict[str, Any]]:
    a = oversight_alerts.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.rule, a.severity, a.summary, a.leaves, a.principal_id, a.subject, a.dedupe)
        ).mappings()
        out = []
        for r in rows:
            row = dict(r)
            if isinstance(row["leaves"], str):
                row["leaves"] = json.loads(row["leaves"])
            out.append(row)
    return out


def month_for(
    kind: str,
    request: pytest.FixtureRequest,
    tmp: Path,
    *,
    employees: int = 24,
    days: int = 14,
    seed: int = 11,
    per_kind: int = 1,
) -> Iterator[Month]:
    """Simulate, scan once, yield; the store is dropped afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAXVAULT_VAR_DIR", str(tmp / "var"))  # module fixtures run before the per-test one
        mp.delenv("TAXVAULT_DATABASE_URL", raising=False)
        stores = new_store(kind, request, tmp)
        engine = next(stores)
        try:
            truth = tmp / "truth.jsonl"
            simulate(engine, employees=employees, days=days, seed=seed, truth=truth, per_kind=per_kind)
            report = scan(engine)
            yield Month(engine, truth, list(read_truth(truth)), report, alerts_of(engine))
        finally:
            for _ in stores:
                pass
