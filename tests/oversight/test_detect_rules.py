"""Each detector fires on its planted browsing and on nothing of the normal month around it.

One small month per store (24 employees, two weeks of case work through the door, one
episode of each kind planted), scanned once. Normal work holds the near misses every
rule must let pass: special-unit reads of restricted taxpayers on their cases, the
employee-accounts unit working colleagues of other units, contractors inside their
grants, single mistyped TINs, an hour of overtime, reviewed break-glass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sim_month import STORES, Month, month_for

from taxvault.audit import AuditLog
from taxvault.audit.event import AuditEvent
from taxvault.audit.merkle import verify_inclusion
from taxvault.audit.storage import LogStore
from taxvault.oversight.detect import RULES
from taxvault.oversight.detect.frame import read_batches
from taxvault.oversight.simulate import KINDS
from taxvault.store.tables import entities

__all__ = ["month"]


@pytest.fixture(scope="module", params=STORES)
def month(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    yield from month_for(request.param, request, tmp_path_factory.mktemp("month"))


def test_every_kind_is_planted_and_every_rule_is_named(month: Month) -> None:
    assert {e["kind"] for e in month.episodes} == set(KINDS) == set(RULES)
    assert all(RULES[k].rationale and RULES[k].severity in ("low", "medium", "high", "critical") for k in RULES)


@pytest.mark.parametrize("kind", KINDS)
def test_the_rule_fires_on_its_planted_browsing(month: Month, kind: str) -> None:
    for episode in (e for e in month.episodes if e["kind"] == kind):
        mine = set(episode["leaves"])
        cited = [a for a in month.alerts if a["rule"] == kind and mine & set(a["leaves"])]
        assert cited, f"{kind}: no alert cites the planted leaves {sorted(mine)}"
        if episode["principal"] and kind != "celebrity":
            assert {a["principal_id"] for a in cited} == {episode["principal"]}
        if kind == "celebrity":  # every reader of the one in the news is cited
            assert {a["subject"] for a in cited} == {episode["subject"]}
            assert mine <= {leaf for a in cited for leaf in a["leaves"]}


def test_no_alert_rests_on_normal_work_only(month: Month) -> None:
    planted = month.planted_leaves()
    false = [a for a in month.alerts if not set(a["leaves"]) & planted]
    assert false == []
    assert month.report.events > 2000 and len(month.alerts) >= len(KINDS)


def test_the_normal_month_holds_the_near_misses(month: Month) -> None:
    """What makes the previous test meaningful: normal work the rules must leave alone."""
    planted = month.planted_leaves()
    with month.engine.connect() as conn:
        frame = next(read_batches(conn, 0, AuditLog(month.engine).tree_head().tree_size, 10**7))
        restricted = {r for (r,) in conn.execute(sa.select(entities.c.ref).where(entities.c.is_restricted))}
        employees = {r for (r,) in conn.execute(sa.select(entities.c.ref).where(entities.c.is_employee))}
    normal = [r for r in frame.to_pylist() if r["leaf"] not in planted]
    special = [r for r in normal if r["subject"] in restricted and r["allowed"]]
    colleagues = [r for r in normal if r["subject"] in employees and r["allowed"]]
    contractors = [r for r in normal if r["principal"].startswith("sim-c") and r["allowed"]]
    typos = [r for r in normal if r["verb"] == "lookup" and r["resource"] == "none"]
    glass = [r for r in normal if r["break_glass"]]
    assert special and colleagues and contractors and typos and glass


def test_denied_attempts_count(month: Month) -> None:
    """The planted look-ups of restricted taxpayers and co-workers were refused by the door, yet alerted."""
    with month.engine.connect() as conn:
        for kind in ("restricted_lookup", "coworker_lookup", "tin_fishing", "grant_probe"):
            episode = next(e for e in month.episodes if e["kind"] == kind)
            frame = next(read_batches(conn, min(episode["leaves"]), max(episode["leaves"]) + 1, 10**6))
            assert not any(frame.column("allowed").to_pylist()), kind


def test_alerts_cite_leaves_a_verifier_can_prove(month: Month) -> None:
    log = AuditLog(month.engine)
    try:
        head = log.tree_head()
        for alert in month.alerts[:40]:
            for leaf in alert["leaves"][:3]:
                proof = log.inclusion_proof(leaf, head.tree_size)
                with month.engine.connect() as conn:
                    data = LogStore.event(conn, leaf)
                assert data is not None
                assert verify_inclusion(data, leaf, head.tree_size, proof.path, head.root_hash)
                event = AuditEvent.from_bytes(data)
                if alert["principal_id"] and alert["rule"] not in ("celebrity",):
                    assert event.principal == alert["principal_id"]
    finally:
        log.close()


def test_summaries_name_no_one(month: Month) -> None:
    with month.engine.connect() as conn:
        surnames = {str(n) for (n,) in conn.execute(sa.select(entities.c.last_name).distinct()) if n}
    for alert in month.alerts:
        words = set(alert["summary"].replace(",", " ").replace(":", " ").split())
        assert not words & surnames, alert["summary"]
        assert alert["subject"] is None or alert["subject"] not in alert["summary"]


def test_severity_is_the_rules(month: Month, tmp_path: Path) -> None:
    for alert in month.alerts:
        assert alert["severity"] == RULES[alert["rule"]].severity
