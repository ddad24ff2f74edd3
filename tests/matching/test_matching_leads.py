"""Leads, not verdicts: a person verifies, then notice, then 30 days (or a resolved contest) before anything adverse."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.matching import agreements as ag
from taxvault.matching import leads
from taxvault.matching.keys import create_key, load_keys
from taxvault.matching.tables import matching_lead_events, matching_leads, matching_runs
from taxvault.store.tables import entities
from taxvault.synth.load import synthesize

JOB, NOTICES, WORKER, OTHER = "sys-matching", "sys-notices", "E000009", "E000003"  # aur caseworker, aur manager
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
VERIFIED = "Checked the death record against the estate's letters testamentary."


@pytest.fixture
def lead_ref(db_engine: Engine) -> tuple[Engine, str]:
    """One new lead of a death-refund match, as a run leaves it."""
    synthesize(db_engine, 600, 3)
    with db_engine.begin() as conn:
        a = ag.draft_agreement(
            conn,
            partner_id="partner-ssa",
            program="death_refunds",
            purpose="Refunds issued after a death",
            legal_authority="26 USC 6103(d)",
            agency_fields=["first_name", "last_name", "refunds_846"],
            partner_fields=["first_name", "last_name", "death_date"],
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 6, 30),
            destroy_on=dt.date(2027, 12, 31),
            created_by="E000000",
        )
        a = ag.approve_agreement(conn, a.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
        create_key(a.ref)
        run_id = conn.execute(
            matching_runs.insert()
            .values(
                ref="u" + "2" * 24,
                agreement_id=a.id,
                program=a.program,
                run_by=JOB,
                as_of=T0.date(),
                started_at=T0,
                finished_at=T0,
                fields_read=[],
                agency_rows=1,
                partner_records=1,
                pairs_compared=1,
                matched=1,
                leads_new=1,
                threshold=0.9,
            )
            .returning(matching_runs.c.id)
        ).scalar_one()
        eid = conn.execute(sa.select(entities.c.id).where(entities.c.kind == "individual").limit(1)).scalar_one()
        finding = leads.Finding(
            eid,
            "a" * 64,
            "846:m123",
            2024,
            0.995,
            {"first_name": 40.0, "last_name": 120.5},
            {"refund_cents": 81_234},
            {"death_date": "2024-11-02"},
        )
        new = leads.insert_findings(
            conn, a, load_keys(a.ref), run_id, [finding, finding], actor=JOB, note="run", now=T0
        )
        again = leads.insert_findings(conn, a, load_keys(a.ref), run_id, [finding], actor=JOB, note="rerun", now=T0)
        assert (new, again) == (1, 0)  # one lead per finding, whatever the reruns
        ref = str(conn.execute(sa.select(matching_leads.c.ref)).scalar_one())
    return db_engine, ref


def move(engine: Engine, ref: str, to: str, actor: str, when: dt.datetime, **kw: Any) -> leads.Lead:
    with engine.begin() as conn:
        return leads.move_lead(conn, ref, to=to, actor=actor, now=when, **kw)


def test_a_new_lead_holds_the_agencys_facts_and_seals_the_partners(lead_ref: tuple[Engine, str]) -> None:
    engine, ref = lead_ref
    with engine.connect() as conn:
        lead = leads.get_lead(conn, ref)
        detail = leads.lead_detail(conn, lead)
    assert (lead.state, lead.outcome, lead.verified_by) == ("new", None, None)
    assert detail["agency_facts"] == {"refund_cents": 81_234}
    assert detail["evidence"] == {"death_date": "2024-11-02"} and b"2024-11-02" not in (lead.sealed_evidence or b"")
    assert detail["contributions"] == {"first_name": 40.0, "last_name": 120.5}
    assert [(e["from_state"], e["to_state"], e["actor"]) for e in detail["history"]] == [(None, "new", JOB)]


def test_due_process_from_match_to_adverse_action(lead_ref: tuple[Engine, str]) -> None:
    engine, ref = lead_ref
    day = dt.timedelta(days=1)
    with pytest.raises(leads.LeadError, match="no notice before a person has verified"):
        move(engine, ref, "notified", WORKER, T0)
    with pytest.raises(leads.LeadError, match="no notice before a person has verified"):
        move(engine, ref, "notified", NOTICES, T0)
    with pytest.raises(leads.LeadError, match="notify her first"):
        move(engine, ref, "contested", WORKER, T0, note="Says she is alive.")
    with pytest.raises(leads.LeadError, match="no adverse action before the taxpayer was notified"):
        move(engine, ref, "closed", WORKER, T0, outcome="adverse_action")
    with pytest.raises(leads.LeadError, match="system job may only send the notice"):
        move(engine, ref, "verified", JOB, T0, note=VERIFIED)
    with pytest.raises(leads.LeadError, match="say how the match was verified"):
        move(engine, ref, "verified", WORKER, T0)
    with pytest.raises(leads.LeadError, match="must not carry a TIN"):
        move(engine, ref, "verified", WORKER, T0, note="Verified SSN 900-12-3456 with SSA by phone.")
    verified = move(engine, ref, "verified", WORKER, T0, note=VERIFIED)
    assert (verified.state, verified.verified_by) == ("verified", WORKER)
    with pytest.raises(leads.LeadError, match="no adverse action before"):
        move(engine, ref, "closed", OTHER, T0 + day, outcome="adverse_action")
    notified = move(engine, ref, "notified", NOTICES, T0 + day)  # the notice job sends it
    assert notified.contest_deadline() == (T0 + 31 * day).date()
    with pytest.raises(leads.LeadError, match="may contest until 2026-04-02: no adverse action before then"):
        move(engine, ref, "closed", OTHER, T0 + 31 * day, outcome="adverse_action")
    with pytest.raises(leads.LeadError, match="system job may only send the notice"):
        move(engine, ref, "closed", NOTICES, T0 + 40 * day, outcome="adverse_action")
    closed = move(engine, ref, "closed", OTHER, T0 + 32 * day, outcome="adverse_action", note="No reply.")
    assert (closed.state, closed.outcome) == ("closed", "adverse_action")
    with pytest.raises(leads.LeadError, match="a closed lead cannot move"):
        move(engine, ref, "contested", OTHER, T0 + 33 * day, note="Too late")
    with engine.connect() as conn:
        trail = [(e.from_state, e.to_state, e.actor) for e in leads.history(conn, closed.id)]
    assert trail == [
        (None, "new", JOB),
        ("new", "verified", WORKER),
        ("verified", "notified", NOTICES),
        ("notified", "closed", OTHER),
    ]


def test_a_contest_must_be_resolved_before_an_adverse_action(lead_ref: tuple[Engine, str]) -> None:
    engine, ref = lead_ref
    move(engine, ref, "verified", WORKER, T0, note=VERIFIED)
    move(engine, ref, "notified", WORKER, T0)
    with pytest.raises(leads.LeadError, match="say what the taxpayer contests"):
        move(engine, ref, "contested", WORKER, T0)
    move(engine, ref, "contested", WORKER, T0 + dt.timedelta(days=3), note="Says the refund went to the estate.")
    with pytest.raises(leads.LeadError, match="how it was resolved"):
        move(engine, ref, "closed", WORKER, T0 + dt.timedelta(days=4), outcome="adverse_action")
    closed = move(
        engine,
        ref,
        "closed",
        WORKER,
        T0 + dt.timedelta(days=4),
        outcome="adverse_action",
        note="Estate had no claim to the refund; executor agreed in writing.",
    )
    assert closed.outcome == "adverse_action" and closed.contested_at is not None


@pytest.mark.parametrize("outcome", ["no_action", "not_a_match"])
def test_a_lead_may_be_closed_without_action_at_any_point(lead_ref: tuple[Engine, str], outcome: str) -> None:
    engine, ref = lead_ref
    with pytest.raises(leads.LeadError, match="needs an outcome"):
        move(engine, ref, "closed", WORKER, T0)
    with pytest.raises(leads.LeadError, match="only when closing"):
        move(engine, ref, "verified", WORKER, T0, note=VERIFIED, outcome=outcome)
    assert move(engine, ref, "closed", WORKER, T0, outcome=outcome).outcome == outcome


def test_the_store_refuses_a_notice_without_a_verifier_and_adverse_action_without_a_notice(
    lead_ref: tuple[Engine, str],
) -> None:
    engine, ref = lead_ref
    c = matching_leads.c
    for values in (
        {"state": "notified", "notified_at": T0},  # nobody verified it
        {"state": "closed", "outcome": "adverse_action", "closed_at": T0},  # never notified
        {"state": "closed"},  # closed without an outcome
        {"state": "verdict"},
    ):
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(matching_leads.update().where(c.ref == ref).values(**values))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(matching_lead_events)).scalar_one() == 1


def test_a_stale_move_is_refused(lead_ref: tuple[Engine, str]) -> None:
    engine, ref = lead_ref
    with engine.begin() as conn:
        lead = leads.get_lead(conn, ref)
        conn.execute(
            matching_leads.update().where(matching_leads.c.id == lead.id).values(state="closed", outcome="no_action")
        )
    with pytest.raises(leads.LeadError, match="a closed lead cannot move to verified"):
        move(engine, ref, "verified", WORKER, T0, note=VERIFIED)
    with pytest.raises(leads.LeadNotFound):
        move(engine, "l" + "0" * 24, "verified", WORKER, T0, note=VERIFIED)
