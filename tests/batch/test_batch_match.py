"""A matching run as a Spark job finds what the embedded run finds: same pairs, same findings, no new lead.

Both runs are made here, on the same store and partner file (nothing hard-coded):
the batch job links on Spark (local[2]) first, then the embedded run on DuckDB.
Compared: pairs compared, pairs matched, findings; the embedded run finds no lead
the Spark run had not made; each Spark lead is a pair of the embedded linkage of
the same two sides, with its probability. One Spark linkage only (it is the slow part).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store_factory import new_store
from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.audit import AuditLog
from taxvault.batch.config import batch_config
from taxvault.jobs import matching as jm
from taxvault.jobs.batch_match import match_job
from taxvault.matching import agreements as ag
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.importer import read_partner_data
from taxvault.matching.keys import keys_for
from taxvault.matching.programs import PROGRAM_RUNS, RunReport, agency_people, link_people
from taxvault.matching.spark import java_available
from taxvault.matching.tables import matching_leads
from taxvault.synth import partners
from taxvault.synth.load import synthesize

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not java_available(), reason="Spark needs a Java runtime"),
]

IN_FORCE = dt.date(2026, 3, 1)


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for engine in new_store("postgresql", request, tmp_path):
        synthesize(engine, 1500, 17)
        yield engine


def _agreement(engine: Engine) -> ag.Agreement:
    with engine.begin() as conn:
        a = ag.draft_agreement(
            conn,
            partner_id="partner-ssa",
            program="death_refunds",
            purpose=ag.PROGRAMS["death_refunds"].description,
            legal_authority="26 USC 6103; 5 USC 552a(o)",
            agency_fields=[*PERSON_FIELDS, "refunds_846"],
            partner_fields=[*PERSON_FIELDS, "death_date"],
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 6, 30),
            destroy_on=dt.date(2027, 12, 31),
            created_by="E000000",
        )
        return ag.approve_agreement(conn, a.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))


def test_spark_matching_run_equals_the_embedded_run(store: Engine, tmp_path: Path) -> None:
    a = _agreement(store)
    made = partners.death_records(store, seed=3)
    made.write(tmp_path / "deaths.csv")
    with AuditLog(store) as log:
        door = Door(store, log, PolicyEngine())
        session = jm.job_session(door)
        jm.import_partner_file(
            door,
            session,
            a.ref,
            tmp_path / "deaths.csv",
            id_column=made.id_column,
            mapping=made.mapping_for(a.partner_fields),
            today=IN_FORCE,
        )
        t0 = time.perf_counter()
        (on_spark,) = match_job(store, batch_config(), agreement_ref=a.ref, today=IN_FORCE, door=door)
        t1 = time.perf_counter()
        embedded = jm.run_agreement(door, session, a.ref, today=IN_FORCE)  # DuckDB, after: it finds no new lead
        t2 = time.perf_counter()
        # The pairs the embedded linkage makes of the same two sides the runs read.
        with door.unit(session) as unit:
            agreement = ag.get_agreement(unit.conn, a.ref)
            partner = read_partner_data(unit.conn, agreement)
            agency = agency_people(unit.conn, agreement.link_fields, PROGRAM_RUNS[agreement.program].agency_filter())
        report = RunReport("u", a.ref, agreement.program, IN_FORCE, ())
        duck = link_people(agreement, keys_for(agreement), agency, partner, "duckdb", report)
    with store.connect() as conn:
        lc = matching_leads.c
        spark_leads = conn.execute(
            sa.select(lc.entity_id, lc.partner_token, lc.match_probability).where(lc.run_id.is_not(None))
        ).all()
    print(f"spark run {t1 - t0:.1f} s (link {on_spark.seconds.get('link', 0):.1f} s), embedded run {t2 - t1:.1f} s")

    assert embedded.findings >= 20, "the planted deaths before a refund are found"
    assert (on_spark.pairs_compared, on_spark.matched, on_spark.findings) == (
        embedded.pairs_compared,
        embedded.matched,
        embedded.findings,
    )
    assert on_spark.leads_new == len(spark_leads) == embedded.findings
    assert embedded.leads_new == 0, "every finding of the embedded run was already a lead of the Spark run"
    pairs = dict(
        zip(
            zip(duck.column("left_id").to_pylist(), duck.column("right_id").to_pylist(), strict=True),
            duck.column("match_probability").to_pylist(),
            strict=True,
        )
    )
    assert len(pairs) == on_spark.matched  # as many pairs on Spark as the embedded linkage makes
    for entity_id, token, probability in spark_leads:  # each lead the Spark run made is an embedded pair
        assert (str(entity_id), token) in pairs
        assert abs(pairs[(str(entity_id), token)] - probability) < 0.01
