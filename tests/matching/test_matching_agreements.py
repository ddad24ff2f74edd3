"""Matching agreements: the law's terms, a second person's approval, and no run without one in force.

Also the "done when" rule that a run reads only what its agreement names: an
agreement that leaves out birth date and TIN, and a partner file that carries
them anyway; neither the SQL the run issues nor the tables the linker receives
hold them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from matching_jobs import job
from sqlalchemy import event
from sqlalchemy.engine import Engine

from taxvault.access.policy import ContextFacts, PolicyEngine, PrincipalFacts, ResourceFacts
from taxvault.access.resources import Resource
from taxvault.audit import AuditLog
from taxvault.jobs import matching as jm
from taxvault.matching import agreements as ag
from taxvault.matching import importer, linkage
from taxvault.matching.keys import load_keys
from taxvault.matching.programs import RunError
from taxvault.matching.tables import matching_agreements, matching_leads, matching_partner_rows, matching_runs
from taxvault.synth import partners
from taxvault.synth.load import synthesize

PERSON = ["first_name", "last_name", "birth_date", "tin", "postcode"]
START, END, DESTROY = dt.date(2026, 1, 1), dt.date(2027, 6, 30), dt.date(2027, 12, 31)
IN_FORCE = dt.date(2026, 3, 1)
MANAGER, APPROVER = "E000000", "eng-lead"  # a unit manager of the synthetic store; the grant approver


@pytest.fixture
def store(db_engine: Engine) -> Iterator[tuple[Engine, AuditLog]]:
    synthesize(db_engine, 1500, 5)
    log = AuditLog(db_engine)
    yield db_engine, log
    log.close()


def draft(conn: sa.Connection, **over: Any) -> ag.Agreement:
    terms: dict[str, Any] = {
        "partner_id": "partner-ssa",
        "program": "death_refunds",
        "purpose": "Find refunds issued after the date of death",
        "legal_authority": "26 USC 6103(d); 5 USC 552a(o)",
        "agency_fields": [*PERSON, "refunds_846"],
        "partner_fields": [*PERSON, "death_date"],
        "starts_on": START,
        "ends_on": END,
        "destroy_on": DESTROY,
        "created_by": MANAGER,
    }
    terms.update(over)
    return ag.draft_agreement(conn, **terms)


def approved(engine: Engine, **over: Any) -> ag.Agreement:
    with engine.begin() as conn:
        a = draft(conn, **over)
        return ag.approve_agreement(conn, a.ref, approver=APPROVER, now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))


def test_draft_then_second_person_approval_and_status_by_day(store: tuple[Engine, AuditLog]) -> None:
    engine, _ = store
    with engine.begin() as conn:
        a = draft(conn)
        assert a.state == "draft" and a.status(IN_FORCE) == "draft"
        assert a.link_fields == tuple(PERSON) and a.partner_extra_fields == ("death_date",)
        with pytest.raises(ag.AgreementError, match="second person"):
            ag.approve_agreement(conn, a.ref, approver=MANAGER)
        with pytest.raises(ag.AgreementError, match="neither the grant_approver nor the manager"):
            ag.approve_agreement(conn, a.ref, approver="E000006")  # a caseworker
        with pytest.raises(ag.AgreementError, match="not an active employee"):
            ag.approve_agreement(conn, a.ref, approver="partner-ssa")
        ok = ag.approve_agreement(conn, a.ref, approver=APPROVER, now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
        with pytest.raises(ag.AgreementError, match="only a draft"):
            ag.approve_agreement(conn, a.ref, approver=APPROVER)
    assert ok.approver_id == APPROVER and ok.state == "approved"
    assert [ok.status(d) for d in (dt.date(2025, 12, 31), START, END, END + dt.timedelta(days=1))] == [
        "pending",
        "active",
        "active",
        "expired",
    ]


def test_the_store_itself_refuses_self_approval_and_bad_dates(store: tuple[Engine, AuditLog]) -> None:
    engine, _ = store
    with engine.begin() as conn:
        a = draft(conn)
    c = matching_agreements.c
    for values in (
        {"state": "approved", "approver_id": MANAGER},  # the drafter
        {"state": "approved"},  # approved by nobody
        {"destroy_on": END - dt.timedelta(days=1)},
        {"renewals": 2},
    ):
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(matching_agreements.update().where(c.ref == a.ref).values(**values))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"ends_on": dt.date(2027, 7, 1)}, "at most 18 months"),
        ({"ends_on": START}, "end after it starts"),
        ({"destroy_on": END - dt.timedelta(days=1)}, "destruction date cannot be before"),
        ({"agency_fields": [*PERSON, "refunds_846", "bank_account"]}, "'bank_account' is not a data element"),
        ({"partner_fields": [*PERSON, "death_date", "wage_cents"]}, "'wage_cents' is not a data element"),
        ({"partner_fields": PERSON}, "needs the partner fields death_date"),
        ({"agency_fields": PERSON}, "needs the agency fields refunds_846"),
        ({"partner_fields": ["first_name", "last_name", "death_date"]}, "named on both sides or on neither"),
        ({"agency_fields": ["refunds_846"], "partner_fields": ["death_date"]}, "no person field"),
        ({"program": "gossip"}, "unknown program"),
        ({"purpose": "because"}, "purpose must say why"),
        ({"threshold": 1.0}, "strictly between 0 and 1"),
        ({"partner_id": "eng-001"}, "not an active partner"),
    ],
)
def test_terms_the_law_and_the_programs_refuse(
    store: tuple[Engine, AuditLog], over: dict[str, Any], message: str
) -> None:
    engine, _ = store
    with pytest.raises(ag.AgreementError, match=message), engine.begin() as conn:
        draft(conn, **over)


def test_eighteen_months_is_the_longest_term() -> None:
    assert ag.latest_end(dt.date(2026, 1, 1)) == dt.date(2027, 6, 30)
    assert ag.latest_end(dt.date(2024, 8, 31)) == dt.date(2026, 2, 27)  # Feb 28th is 18 months on
    assert ag.add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)


def test_one_renewal_of_at_most_a_year_asked_for_in_the_last_three_months(store: tuple[Engine, AuditLog]) -> None:
    engine, _ = store
    a = approved(engine)
    with engine.begin() as conn:
        with pytest.raises(ag.AgreementError, match="within 3 months"):
            ag.renew_agreement(conn, a.ref, until=dt.date(2028, 6, 30), approver=APPROVER, today=dt.date(2027, 3, 1))
        with pytest.raises(ag.AgreementError, match="at most 12 months"):
            ag.renew_agreement(conn, a.ref, until=dt.date(2028, 7, 1), approver=APPROVER, today=dt.date(2027, 5, 1))
        with pytest.raises(ag.AgreementError, match="destruction date cannot be before the renewed end"):
            ag.renew_agreement(conn, a.ref, until=dt.date(2028, 6, 30), approver=APPROVER, today=dt.date(2027, 5, 1))
        with pytest.raises(ag.AgreementError, match="second person"):
            ag.renew_agreement(
                conn,
                a.ref,
                until=dt.date(2028, 6, 30),
                destroy_on=dt.date(2028, 12, 31),
                approver=MANAGER,
                today=dt.date(2027, 5, 1),
            )
        renewed = ag.renew_agreement(
            conn,
            a.ref,
            until=dt.date(2028, 6, 30),
            destroy_on=dt.date(2028, 12, 31),
            approver=APPROVER,
            today=dt.date(2027, 5, 1),
        )
        assert (renewed.ends_on, renewed.renewals, renewed.original_ends_on) == (dt.date(2028, 6, 30), 1, END)
        assert renewed.status(dt.date(2028, 1, 1)) == "active"
        with pytest.raises(ag.AgreementError, match="already renewed once"):
            ag.renew_agreement(conn, a.ref, until=dt.date(2028, 7, 30), approver=APPROVER, today=dt.date(2028, 5, 1))
    with engine.begin() as conn, pytest.raises(ag.AgreementError, match="expired: only an active"):
        ag.renew_agreement(conn, a.ref, until=dt.date(2029, 1, 1), approver=APPROVER, today=dt.date(2028, 7, 1))


def _decide(who: PrincipalFacts, action: str, resource: Resource, **context: Any) -> tuple[bool, tuple[str, ...]]:
    facts = ResourceFacts("a" + "0" * 24, resource.value, resource.dataset, resource.taxpayer_data)
    d = PolicyEngine().decide(who, action, facts, ContextFacts(purpose=context.pop("purpose", "x"), **context))
    return d.allowed, d.policies


def _p(pid: str, kind: str, roles: str, unit: str = "") -> PrincipalFacts:
    return PrincipalFacts(pid, kind, frozenset(roles.split()), unit, 0)


def test_policies_who_drafts_approves_runs_and_reads() -> None:
    manager = _p("E000000", "employee", "caseworker manager break_glass", "assistance")
    approver = _p("eng-lead", "employee", "engineer grant_approver", "modernisation")
    caseworker = _p("E000009", "employee", "caseworker", "aur")
    job = _p("sys-matching", "system", "system matching")
    ssa = _p("partner-ssa", "partner", "partner")
    privacy = _p("ovs-privacy", "oversight", "oversight privacy_officer", "privacy")
    agreement, lead, outcomes = Resource.MATCHING_AGREEMENT, Resource.MATCHING_LEAD, Resource.MATCHING_OUTCOMES
    assert _decide(manager, "draft_agreement", agreement)[0]
    assert not _decide(caseworker, "draft_agreement", agreement)[0]
    assert _decide(approver, "approve_agreement", agreement) == (True, ("matching-agreement-approve",))
    assert _decide(approver, "approve_agreement", agreement, second_person=False) == (
        False,
        ("forbid-approve-own-agreement",),
    )
    for action in ("import_partner_data", "run_match", "link_files", "shred_agreement"):
        assert _decide(job, action, agreement) == (True, ("matching-job",)), action
        assert not _decide(manager, action, agreement)[0], action
        assert not _decide(ssa, action, agreement)[0], action
    assert _decide(caseworker, "move_lead", lead, purpose="matching_verification")[0]
    assert not _decide(caseworker, "move_lead", lead, purpose="collection")[0]
    assert not _decide(
        _p("E000007", "employee", "caseworker", "collection"), "read", lead, purpose="matching_verification"
    )[0]
    assert _decide(ssa, "read", lead, purpose="matching_verification") == (False, ("forbid-partner-taxpayer-data",))
    assert _decide(ssa, "read", outcomes) == (True, ("matching-partner-outcomes",))
    assert _decide(privacy, "read", outcomes)[0] and not _decide(privacy, "read", lead)[0]
    assert not _decide(job, "move_lead", lead)[0]  # the matching job makes leads, it does not work them
    assert _decide(_p("sys-notices", "system", "system notices"), "move_lead", lead)[0]


def _partner_file(engine: Engine, tmp_path: Path) -> tuple[partners.PartnerFile, Path]:
    made = partners.death_records(engine, seed=2, hidden=15, controls=5, strangers=20)
    path = tmp_path / "deaths.csv"
    made.write(path)
    return made, path


@pytest.mark.parametrize(
    "day",
    [pytest.param(None, id="draft"), dt.date(2025, 12, 31), dt.date(2027, 7, 1), pytest.param("revoked", id="revoked")],
)
def test_a_run_without_an_approved_active_agreement_is_refused_and_audited(
    store: tuple[Engine, AuditLog], tmp_path: Path, day: Any
) -> None:
    engine, log = store
    a = approved(engine)
    made, path = _partner_file(engine, tmp_path)
    jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    when = IN_FORCE
    if day is None:
        with engine.begin() as conn:
            a = draft(conn)
    elif day == "revoked":
        with engine.begin() as conn:
            ag.revoke_agreement(conn, a.ref, actor=MANAGER)
    else:
        when = day
    before = log.tree_head().tree_size
    with pytest.raises(ag.AgreementNotActive, match="only an approved agreement between its start and end"):
        jm.run_agreement(*job(engine, log), a.ref, today=when)
    refused = log.event(before)
    assert (refused.decision.value, refused.resource, refused.action) == ("deny", a.ref, "run_match:matching_agreement")
    assert refused.policy == "matching-job|agreement-not-active"  # allowed by the policies, refused by the law
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(matching_runs)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(matching_leads)).scalar_one() == 0
    with pytest.raises(ag.AgreementNotActive):
        jm.import_partner_file(
            *job(engine, log),
            a.ref,
            path,
            id_column=made.id_column,
            mapping=made.mapping_for(a.partner_fields),
            today=when,
        )


def test_a_run_with_nothing_imported_is_refused(store: tuple[Engine, AuditLog]) -> None:
    engine, log = store
    a = approved(engine)
    with pytest.raises(RunError, match="no partner data was imported"):
        jm.run_agreement(*job(engine, log), a.ref, today=IN_FORCE)


def test_the_mapping_may_name_only_the_agreements_partner_fields(
    store: tuple[Engine, AuditLog], tmp_path: Path
) -> None:
    engine, log = store
    a = approved(
        engine,
        agency_fields=["first_name", "last_name", "postcode", "refunds_846"],
        partner_fields=["first_name", "last_name", "postcode", "death_date"],
    )
    made, path = _partner_file(engine, tmp_path)
    args: dict[str, Any] = {"id_column": made.id_column, "today": IN_FORCE}
    door, session = job(engine, log)
    with pytest.raises(importer.PartnerFileError, match="does not name on the partner side"):
        jm.import_partner_file(
            door, session, a.ref, path, mapping=made.mapping_for([*a.partner_fields, "birth_date"]), **args
        )
    with pytest.raises(importer.PartnerFileError, match="names death_date: map each"):
        jm.import_partner_file(
            door, session, a.ref, path, mapping=made.mapping_for(["first_name", "last_name", "postcode"]), **args
        )
    with pytest.raises(importer.PartnerFileError, match="no column 'NOPE'"):
        jm.import_partner_file(
            door, session, a.ref, path, mapping={**made.mapping_for(a.partner_fields), "postcode": "NOPE"}, **args
        )
    report = jm.import_partner_file(door, session, a.ref, path, mapping=made.mapping_for(a.partner_fields), **args)
    assert report.rows_loaded == made.table.num_rows and report.rejected == 0
    with pytest.raises(importer.PartnerFileError, match="already imported"):
        jm.import_partner_file(door, session, a.ref, path, mapping=made.mapping_for(a.partner_fields), **args)


class _Spy:
    """Records what the linker is given (and returns no pairs: this test is about inputs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[pa.Table, pa.Table, tuple[str, ...], dict[str, Any]]] = []

    def __call__(self, left: pa.Table, right: pa.Table, fields: Any, **kw: Any) -> linkage.LinkResult:
        self.calls.append((left, right, tuple(fields), kw))
        empty = pa.table(
            {
                "left_id": pa.array([], pa.string()),
                "right_id": pa.array([], pa.string()),
                "match_probability": pa.array([], pa.float64()),
            }
        )
        return linkage.LinkResult(empty, 0, kw.get("threshold", 0.9))


def test_a_run_never_reads_a_field_its_agreement_does_not_name(
    store: tuple[Engine, AuditLog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, log = store
    named = ["first_name", "last_name", "postcode"]  # no birth date, no TIN, no street, city or state
    a = approved(engine, agency_fields=[*named, "refunds_846"], partner_fields=[*named, "death_date"])
    made, path = _partner_file(engine, tmp_path)
    assert {"DOB", "SSN", "SEX"} <= set(made.table.column_names)  # the partner sent them anyway
    jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    spy = _Spy()
    monkeypatch.setattr(linkage, "link", spy)
    statements: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        report = jm.run_agreement(*job(engine, log), a.ref, today=IN_FORCE)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert report.fields_read == (
        "agency:first_name",
        "agency:last_name",
        "agency:postcode",
        "agency:refunds_846",
        "partner:first_name",
        "partner:last_name",
        "partner:postcode",
        "partner:death_date",
    )
    # The SQL: of the taxpayer's identity, only the named fields' columns (and the internal id) are ever selected.
    on_entities = [s for s in statements if "FROM entities" in s]
    assert on_entities, "the run must read the agency side"
    for column in ("birth_date", "tin", "address_line", "city", "middle_name", "death_date", "ip_pin_hash"):
        assert not any(f"entities.{column}" in s for s in on_entities), column
    assert any("entities.first_name" in s and "entities.zip" in s for s in on_entities)
    assert not any("returns" in s or "information_returns" in s for s in statements)  # not this program's elements
    # The linker: the named fields only, encoded on both sides (no raw value, nothing of a date of birth or TIN).
    (left, right, fields, kw) = spy.calls[0]
    assert fields == ("first_name", "last_name", "postcode") and kw["encoded"] is True
    for table in (left, right):
        assert not [c for c in table.column_names if c.startswith(("birth", "tin", "street", "city", "state"))]
        assert table.schema.field("last_name").type != pa.string()  # keyed tokens, not names
    # What was stored of the partner's file holds the named fields only.
    with engine.connect() as conn:
        opened = list(importer.iter_opened(conn, ag.get_agreement(conn, a.ref)))
    assert opened and all(set(body["x"]) == {"death_date"} for _, body, _ in opened)
    assert all(not any(k.startswith(("birth", "tin")) for k in body["p"]) for _, body, _ in opened)


def test_sealed_rows_open_only_under_their_agreement_and_token(store: tuple[Engine, AuditLog], tmp_path: Path) -> None:
    engine, log = store
    a = approved(engine)
    made, path = _partner_file(engine, tmp_path)
    jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    with engine.connect() as conn:
        (t1, p1), (t2, _p2) = conn.execute(
            sa.select(matching_partner_rows.c.record_token, matching_partner_rows.c.payload).limit(2)
        ).all()
    keys = load_keys(a.ref)
    assert keys.open(p1, t1)
    with pytest.raises(Exception, match="does not open"):
        keys.open(p1, t2)  # moved to another record
    assert t1 not in made.table.column(made.id_column).to_pylist()  # the partner's id is a keyed token
    assert len(t1) == 64


def test_partner_rows_that_cannot_be_used_are_rejected_by_row_and_field_never_by_value(
    store: tuple[Engine, AuditLog], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, log = store
    a = approved(engine)
    made, _ = _partner_file(engine, tmp_path)
    table = made.table
    dod = table.column("DOD").to_pylist()
    dod[0], dod[3] = "20251340", None  # no 40th of the 13th month; missing
    ids = table.column(made.id_column).to_pylist()
    ids[5] = ""
    bad = table.set_column(table.column_names.index("DOD"), "DOD", pa.array(dod, pa.string()))
    bad = bad.set_column(bad.column_names.index(made.id_column), made.id_column, pa.array(ids, pa.string()))
    path = tmp_path / "bad.csv"
    partners.PartnerFile(bad, made.truth, made.id_column, made.mapping, made.program).write(path)
    caplog.set_level(logging.DEBUG)
    report = jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    assert report.rejected == 3 and report.rows_loaded == table.num_rows - 3
    assert {(r.row, r.field) for r in report.rejections} == {(1, "death_date"), (4, "death_date"), (6, "DM_RECORD")}
    assert "20251340" not in repr(report.rejections) + caplog.text
