"""The detectors on a store they were not tuned on: ``taxvault synth``'s population, read through the CLI door.

Wall-clock time, no simulated month: a caseworker works her open cases (no alert), then
looks up a restricted taxpayer, a colleague of her unit and someone of her household
(refused by the door, alerted all the same).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sim_month import alerts_of
from sqlalchemy.engine import Engine

from taxvault.access.local import local_access, local_door
from taxvault.access.resources import Resource
from taxvault.errors import Denied
from taxvault.oversight.scan import scan
from taxvault.records import service
from taxvault.synth.load import synthesize


def _fetch(conn: sa.Connection, target: object) -> dict[str, object]:
    return service.entity_summary(conn, getattr(target, "entity_id", 0) or 0)


def test_synth_store_normal_work_is_quiet_and_browsing_is_not(db_engine: Engine) -> None:
    synthesize(db_engine, 3000, 5)
    with db_engine.connect() as conn:
        cw = conn.execute(
            sa.text(
                "SELECT p.id, p.unit, p.entity_id FROM principals p JOIN cases c ON c.assigned_to = p.id "
                "WHERE p.roles = 'caseworker' AND c.status = 'open' AND p.unit <> 'employee_accounts' "
                "AND EXISTS (SELECT 1 FROM entities e WHERE e.household_id = "
                "(SELECT household_id FROM entities WHERE id = p.entity_id) AND e.id <> p.entity_id) "
                "GROUP BY p.id, p.unit, p.entity_id ORDER BY p.id LIMIT 1"
            )
        ).one()
        work = conn.execute(
            sa.text(
                "SELECT DISTINCT e.ref, c.purpose FROM cases c JOIN case_subjects cs ON cs.case_id = c.id "
                "JOIN entities e ON e.id = cs.entity_id WHERE c.assigned_to = :p AND c.status = 'open'"
            ),
            {"p": cw.id},
        ).all()
        restricted = conn.execute(sa.text("SELECT ref FROM entities WHERE is_restricted ORDER BY id")).scalar()
        mate = conn.execute(
            sa.text(
                "SELECT e.ref FROM principals p JOIN entities e ON e.id = p.entity_id "
                "WHERE p.unit = :u AND p.id <> :p ORDER BY p.id"
            ),
            {"u": cw.unit, "p": cw.id},
        ).scalar()
        home = conn.execute(
            sa.text(
                "SELECT e.ref FROM entities e WHERE e.household_id = "
                "(SELECT household_id FROM entities WHERE id = :i) AND e.id <> :i ORDER BY e.id"
            ),
            {"i": cw.entity_id},
        ).scalar()
    assert work and restricted and mate and home
    purpose = str(work[0][1])
    browsing: dict[str, str] = {"restricted_lookup": restricted, "coworker_lookup": mate, "household_lookup": home}
    with local_door(db_engine) as door:
        for ref, why in work:
            local_access(door, cw.id, Resource.ENTITY, ref, why).serve(_fetch)
        normal_end = door.audit.tree_head().tree_size
        for ref in browsing.values():
            with pytest.raises(Denied):  # the door refuses; the attempt is still browsing
                local_access(door, cw.id, Resource.ENTITY, ref, purpose).serve(_fetch)
    report = scan(db_engine)
    alerts = alerts_of(db_engine)
    assert report.events >= normal_end
    assert not [a for a in alerts if any(leaf < normal_end for leaf in a["leaves"]) and a["principal_id"] == cw.id]
    for rule, ref in browsing.items():
        assert any(a["rule"] == rule and a["subject"] == ref and a["principal_id"] == cw.id for a in alerts), rule
    assert {a["rule"] for a in alerts} <= {*browsing, "no_open_case", "never_assigned"}
