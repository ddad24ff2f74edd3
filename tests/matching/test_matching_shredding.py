"""Crypto-shredding: on the destruction date the key goes, and nothing of the partner's data can be read back.

Also: the partner's raw values never reach the disk in the first place (only keyed
tokens and sealed rows), and a destruction that cannot be audited destroys nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from matching_jobs import job
from sqlalchemy.engine import Engine

from taxvault.audit import AuditAppendError, AuditLog
from taxvault.errors import Unavailable
from taxvault.jobs import matching as jm
from taxvault.keys import keys_dir
from taxvault.matching import agreements as ag
from taxvault.matching import importer, leads
from taxvault.matching.keys import (
    AgreementDestroyed,
    AgreementKeyError,
    ShredError,
    has_key,
    key_path,
    load_keys,
)
from taxvault.matching.tables import matching_leads, matching_partner_rows, matching_runs
from taxvault.store.tables import entities
from taxvault.synth import partners
from taxvault.synth.load import synthesize

PERSON = ["first_name", "last_name", "birth_date", "tin", "postcode"]
IN_FORCE, DESTROY = dt.date(2026, 3, 1), dt.date(2027, 12, 31)
JOB = "sys-matching"
SHRED = jm.SHRED_PURPOSE


@pytest.fixture
def store(db_engine: Engine) -> Iterator[tuple[Engine, AuditLog]]:
    synthesize(db_engine, 1500, 9)
    log = AuditLog(db_engine)
    yield db_engine, log
    log.close()


def approved(engine: Engine) -> ag.Agreement:
    with engine.begin() as conn:
        a = ag.draft_agreement(
            conn,
            partner_id="partner-ssa",
            program="death_refunds",
            purpose="Refunds issued after a death",
            legal_authority="26 USC 6103(d)",
            agency_fields=[*PERSON, "refunds_846"],
            partner_fields=[*PERSON, "death_date"],
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 6, 30),
            destroy_on=DESTROY,
            created_by="E000000",
        )
        return ag.approve_agreement(conn, a.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))


def imported(engine: Engine, log: AuditLog, tmp_path: Path) -> tuple[ag.Agreement, partners.PartnerFile]:
    a = approved(engine)
    made = partners.death_records(engine, seed=4, hidden=12, controls=4, strangers=25)
    path = tmp_path / "deaths.csv"
    made.write(path)
    jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    return a, made


def _seed_lead(engine: Engine, a: ag.Agreement) -> str:
    """A lead as a run would leave it (evidence sealed under the agreement's key)."""
    with engine.begin() as conn:
        run_id = conn.execute(
            matching_runs.insert()
            .values(
                ref="u" + "1" * 24,
                agreement_id=a.id,
                program=a.program,
                run_by=JOB,
                as_of=IN_FORCE,
                started_at=dt.datetime.now(dt.UTC),
                finished_at=dt.datetime.now(dt.UTC),
                fields_read=[],
                agency_rows=0,
                partner_records=0,
                pairs_compared=0,
                matched=0,
                leads_new=0,
                threshold=0.9,
            )
            .returning(matching_runs.c.id)
        ).scalar_one()
        eid = conn.execute(sa.select(entities.c.id).where(entities.c.kind == "individual").limit(1)).scalar_one()
        finding = leads.Finding(
            eid, "t" * 64, "846:m1", 2024, 0.99, {"tin": 900.0}, {"refund_cents": 12_345}, {"death_date": "2025-01-02"}
        )
        leads.insert_findings(
            conn, ag.get_agreement(conn, a.ref), load_keys(a.ref), run_id, [finding], actor=JOB, note="test"
        )
        return str(conn.execute(sa.select(matching_leads.c.ref)).scalar_one())


def test_after_destruction_nothing_of_the_partners_data_can_be_read_back(
    store: tuple[Engine, AuditLog], tmp_path: Path
) -> None:
    engine, log = store
    a, _made = imported(engine, log, tmp_path)
    lead_ref = _seed_lead(engine, a)
    with engine.connect() as conn:
        stolen = conn.execute(sa.select(matching_partner_rows.c.record_token, matching_partner_rows.c.payload)).all()
        assert leads.open_evidence(conn, leads.get_lead(conn, lead_ref)) == {"death_date": "2025-01-02"}
        assert importer.read_partner_data(conn, ag.get_agreement(conn, a.ref)).people.num_rows > 0
    assert stolen and has_key(a.ref)
    assert key_path(a.ref).stat().st_mode & 0o777 == 0o600

    with pytest.raises(ShredError, match="not before"):
        jm.shred_agreement(*job(engine, log, SHRED), a.ref, today=DESTROY - dt.timedelta(days=1))
    assert jm.shred_due(*job(engine, log, SHRED), today=DESTROY - dt.timedelta(days=1)) == []
    before = log.tree_head().tree_size
    (report,) = jm.shred_due(*job(engine, log, SHRED), today=DESTROY)

    assert (report.partner_rows, report.lead_evidence, report.key_destroyed) == (len(stolen), 1, True)
    assert not key_path(a.ref).exists() and not any(keys_dir().glob(f"matching/*{a.ref}*"))
    with engine.connect() as conn:
        agreement = ag.get_agreement(conn, a.ref)
        assert (agreement.state, agreement.destroyed_by, agreement.destroyed_rows) == ("destroyed", JOB, len(stolen))
        assert conn.execute(sa.select(sa.func.count()).select_from(matching_partner_rows)).scalar_one() == 0
        with pytest.raises(AgreementDestroyed, match="nothing of the partner's data can be read back"):
            importer.read_partner_data(conn, agreement)
        lead = leads.get_lead(conn, lead_ref)
        assert lead.sealed_evidence is None and leads.open_evidence(conn, lead) is None
        assert lead.agency_facts == {"refund_cents": 12_345}  # the agency's own data stays
    with pytest.raises(AgreementKeyError):
        load_keys(a.ref)  # so a copy of the rows taken before (a backup, a replica) opens no more
    # The destruction is in the audit log: who, when, which agreement, how many rows.
    event = log.event(before)
    assert (event.principal, event.action, event.resource, event.decision.value) == (
        JOB,
        "shred_agreement:matching_agreement",
        a.ref,
        "allow",
    )
    assert f"rows={len(stolen)}" in event.fields and "key" in event.fields
    # Nothing more can happen under it.
    with pytest.raises(ag.AgreementNotActive, match="destroyed"):
        jm.run_agreement(*job(engine, log), a.ref, today=IN_FORCE)
    assert [r.partner_rows for r in jm.shred_due(*job(engine, log, SHRED), today=DESTROY)] == []


def test_a_destruction_that_cannot_be_audited_destroys_nothing(
    store: tuple[Engine, AuditLog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, log = store
    a, _ = imported(engine, log, tmp_path)

    def down(*args: object) -> None:
        raise AuditAppendError("log is down")

    monkeypatch.setattr(log, "append_in", down)  # the append inside the destruction's transaction
    with pytest.raises(Unavailable, match="could not be recorded; nothing was written"):
        jm.shred_agreement(*job(engine, log, SHRED), a.ref, today=DESTROY)
    assert has_key(a.ref)
    with engine.connect() as conn:
        assert ag.get_agreement(conn, a.ref).state == "approved"
        assert conn.execute(sa.select(sa.func.count()).select_from(matching_partner_rows)).scalar_one() > 0


def test_a_revoked_agreement_may_be_destroyed_early_and_a_leftover_key_is_swept(
    store: tuple[Engine, AuditLog], tmp_path: Path
) -> None:
    engine, log = store
    a, _ = imported(engine, log, tmp_path)
    with engine.begin() as conn:
        ag.revoke_agreement(conn, a.ref, actor="E000000")
    assert jm.shred_due(*job(engine, log, SHRED), today=IN_FORCE) == []  # not due by date: kept for open leads
    report = jm.shred_agreement(*job(engine, log, SHRED), a.ref, today=IN_FORCE)  # but may go now
    assert report.key_destroyed and report.partner_rows > 0
    key_path(a.ref).write_bytes(b"\0" * 32)  # as if the process died between the commit and the key
    (swept,) = jm.shred_due(*job(engine, log, SHRED), today=IN_FORCE)
    assert swept.key_destroyed and not has_key(a.ref)


@pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)
def test_the_partners_raw_values_never_reach_the_disk(store: tuple[Engine, AuditLog], tmp_path: Path) -> None:
    engine, log = store
    _, made = imported(engine, log, tmp_path)
    truth = made.truth.to_pylist()
    strangers = [i for i, t in enumerate(truth) if t["entity_ref"] is None]
    by_id = {pid: i for i, pid in enumerate(made.table.column(made.id_column).to_pylist())}
    rows = made.table.to_pylist()
    values: set[str] = set()
    for t in truth:
        if t["entity_ref"] is None:  # people the agency never had: anything of them on disk came from the partner
            row = rows[by_id[t["partner_id"]]]
            values.update(v for v in (re.sub(r"\D", "", row["SSN"] or ""), row["DM_RECORD"]) if v and len(v) >= 9)
    assert len(strangers) == 25 and len(values) >= 40
    sent = (tmp_path / "deaths.csv").read_bytes()
    assert all(v.encode() in sent for v in values)  # they were in the file the partner sent
    database = Path(engine.url.database or "")
    blobs = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    blobs += b"".join(p.read_bytes() for p in keys_dir().rglob("*") if p.is_file())
    leaked = [v for v in values if v.encode() in blobs]
    assert leaked == []
