"""The two built-in programs on a synthetic store, against partner files with realistic errors.

The partner files are made from the store (:func:`death_records`, :func:`wage_records`)
the way a partner holds the same people: its own ids, column names and formats,
the errors of ``corrupt()``, and people the agency never had; the true links and
the leads a correct run finds are kept aside. The runs must find them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from matching_jobs import clear_tins, job
from sqlalchemy.engine import Engine

from taxvault.audit import AuditLog
from taxvault.jobs import matching as jm
from taxvault.matching import agreements as ag
from taxvault.matching import importer, leads, programs
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.tables import matching_leads
from taxvault.store.tables import entities, information_returns, tax_modules, transactions
from taxvault.synth import partners
from taxvault.synth.load import synthesize

IN_FORCE = dt.date(2026, 3, 1)
JOB = "sys-matching"
PERSON = list(PERSON_FIELDS)


@pytest.fixture
def store(db_engine: Engine) -> Iterator[tuple[Engine, AuditLog]]:
    synthesize(db_engine, 4000, 17)
    log = AuditLog(db_engine)
    yield db_engine, log
    log.close()


def approved(engine: Engine, program: str, partner: str, agency: list[str], extra: list[str]) -> ag.Agreement:
    with engine.begin() as conn:
        a = ag.draft_agreement(
            conn,
            partner_id=partner,
            program=program,
            purpose=ag.PROGRAMS[program].description,
            legal_authority="26 USC 6103; 5 USC 552a(o)",
            agency_fields=[*PERSON, *agency],
            partner_fields=[*PERSON, *extra],
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 6, 30),
            destroy_on=dt.date(2027, 12, 31),
            created_by="E000000",
        )
        return ag.approve_agreement(conn, a.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))


def run_program(
    engine: Engine, log: AuditLog, a: ag.Agreement, made: partners.PartnerFile, path: Path
) -> tuple[programs.RunReport, set[str], set[str], list[leads.Lead]]:
    made.write(path)
    imported = jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    assert imported.rows_loaded == made.table.num_rows and imported.rejected == 0
    report = jm.run_agreement(*job(engine, log), a.ref, today=IN_FORCE)
    expected = {t["entity_ref"] for t in made.truth.to_pylist() if t["expected_lead"]}
    with engine.connect() as conn:
        refs = [
            r for (r,) in conn.execute(sa.select(matching_leads.c.ref).where(matching_leads.c.program == a.program))
        ]
        found = [leads.get_lead(conn, r) for r in refs]
    return report, expected, {lead.entity_ref for lead in found}, found


def test_the_death_file_is_a_partners_view_with_errors_and_the_truth_aside(store: tuple[Engine, AuditLog]) -> None:
    engine, _ = store
    made = partners.death_records(engine, seed=1, hidden=30, controls=10, strangers=40)
    cols = made.table.column_names
    assert made.id_column == "DM_RECORD" and {"DOD", "SSN", "SEX"} <= set(cols) and "true_id" not in cols
    truth = made.truth.to_pylist()
    assert len(truth) == made.table.num_rows and sum(t["entity_ref"] is None for t in truth) == 40
    assert sum(t["expected_lead"] for t in truth) >= 30
    with engine.connect() as conn:
        known = {r.ref: r for r in conn.execute(sa.select(entities.c.ref, entities.c.last_name))}
    tins = clear_tins(engine)
    rows = {r["DM_RECORD"]: r for r in made.table.to_pylist()}
    linked = [(rows[t["partner_id"]], known[t["entity_ref"]]) for t in truth if t["entity_ref"]]
    same_tin = sum(p["SSN"] == tins[k.ref] for p, k in linked)
    same_name = sum((p["SURNAME"] or "").upper() == k.last_name.upper() for p, k in linked)
    assert 0.4 * len(linked) < same_tin < len(linked)  # formatting and errors, as partners' files have
    assert 0.4 * len(linked) < same_name < len(linked)


@pytest.mark.slow
def test_death_records_program_finds_refunds_after_death(store: tuple[Engine, AuditLog], tmp_path: Path) -> None:
    engine, log = store
    a = approved(engine, "death_refunds", "partner-ssa", ["refunds_846"], ["death_date"])
    made = partners.death_records(engine, seed=3)
    report, expected, found, found_leads = run_program(engine, log, a, made, tmp_path / "deaths.csv")
    assert len(expected) >= 40
    true_positives = len(expected & found)
    assert true_positives >= 0.9 * len(expected), (true_positives, len(expected))
    assert true_positives >= 0.95 * len(found), (true_positives, len(found))
    assert report.leads_new == len(found_leads) and report.matched >= true_positives
    # Each lead: a refund (agency data) posted after the date of death the partner reported (sealed evidence).
    with engine.connect() as conn:
        for lead in found_leads[:20]:
            evidence = leads.open_evidence(conn, lead)
            assert evidence is not None
            died = dt.date.fromisoformat(evidence["death_date"])
            assert lead.agency_facts["refund_cents"] > 0
            assert all(dt.date.fromisoformat(r["posted_date"]) > died for r in lead.agency_facts["refunds"])
            module = conn.execute(
                sa.select(sa.func.max(transactions.c.posted_date))
                .select_from(transactions.join(tax_modules, tax_modules.c.id == transactions.c.module_id))
                .where(tax_modules.c.ref == lead.agency_facts["module_id"], transactions.c.tc == 846)
            ).scalar_one()
            assert module > died and lead.match_probability >= a.threshold and lead.contributions
    again = jm.run_agreement(*job(engine, log), a.ref, today=IN_FORCE)
    assert again.leads_new == 0  # a rerun adds no duplicate


@pytest.mark.slow
def test_state_wage_program_finds_wages_missing_from_w2s_and_returns(
    store: tuple[Engine, AuditLog], tmp_path: Path
) -> None:
    engine, log = store
    a = approved(
        engine,
        "state_wages",
        "partner-state-ca",
        ["w2_wages", "return_wages"],
        ["employer_ein", "quarter", "wage_cents"],
    )
    made = partners.wage_records(engine, seed=4, persons=200, hidden=35, strangers=50)
    report, expected, found, found_leads = run_program(engine, log, a, made, tmp_path / "wages.parquet")
    assert len(expected) == 35
    true_positives = len(expected & found)
    assert true_positives >= 0.9 * len(expected), (true_positives, len(expected))
    assert true_positives >= 0.95 * len(found), (true_positives, len(found))
    assert report.partner_records == made.truth.num_rows and report.agency_rows > 4000
    with engine.connect() as conn:
        w2 = {
            str(r)
            for (r,) in conn.execute(sa.select(information_returns.c.ref).where(information_returns.c.form == "W-2"))
        }
        payers = {t for r, t in clear_tins(engine, "information_returns", "payer_tin").items() if r in w2}
        for lead in found_leads:
            evidence: dict[str, Any] | None = leads.open_evidence(conn, lead)
            assert evidence is not None and lead.tax_year == 2024
            assert evidence["missing_from_w2_cents"] >= programs.WAGE_TOLERANCE_CENTS
            assert evidence["unreported_cents"] <= evidence["missing_from_w2_cents"] <= evidence["state_wages_cents"]
            assert all(
                len(e["employer_token"]) == 16 and e["employer_token"] not in payers for e in evidence["employers"]
            )
            assert set(lead.agency_facts) == {"tax_year", "w2_wages_cents", "return_filed", "return_wages_cents"}


def test_wage_rows_that_are_not_integer_cents_or_quarters_are_rejected(
    store: tuple[Engine, AuditLog], tmp_path: Path
) -> None:
    engine, log = store
    a = approved(
        engine,
        "state_wages",
        "partner-state-ca",
        ["w2_wages", "return_wages"],
        ["employer_ein", "quarter", "wage_cents"],
    )
    made = partners.wage_records(engine, seed=6, persons=20, hidden=3, strangers=5)
    table = made.table
    wages, quarters, eins = (table.column(c).to_pylist() for c in ("WAGES_CENTS", "YRQTR", "FEIN"))
    wages[0], quarters[1], eins[2] = "1234.56", "2024Q5", "12-34"
    fixed = table
    for name, values in (("WAGES_CENTS", wages), ("YRQTR", quarters), ("FEIN", eins)):
        fixed = fixed.set_column(fixed.column_names.index(name), name, pa.array(values, pa.string()))
    path = tmp_path / "wages.csv"
    partners.PartnerFile(fixed, made.truth, made.id_column, made.mapping, made.program).write(path)
    report = jm.import_partner_file(
        *job(engine, log),
        a.ref,
        path,
        id_column=made.id_column,
        mapping=made.mapping_for(a.partner_fields),
        today=IN_FORCE,
    )
    assert [(r.row, r.field) for r in report.rejections] == [(1, "wage_cents"), (2, "quarter"), (3, "employer_ein")]
    assert report.rows_loaded == table.num_rows - 3


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (importer.parse_date, "2024-02-29", "2024-02-29"),
        (importer.parse_date, "20240229", "2024-02-29"),
        (importer.parse_date, "2/29/2024", "2024-02-29"),
        (importer.parse_date, "2023-02-29", None),
        (importer.parse_date, "yesterday", None),
        (importer.parse_quarter, "2024Q3", "2024Q3"),
        (importer.parse_quarter, "2024-3", "2024Q3"),
        (importer.parse_quarter, "2024 q4", "2024Q4"),
        (importer.parse_quarter, "2024Q0", None),
        (importer.parse_cents, "123456", 123456),
        (importer.parse_cents, "1,234", 1234),
        (importer.parse_cents, "12.50", None),
        (importer.parse_cents, "99999999999999", None),
        (importer.normalise_ein, "00-1234567", "001234567"),
        (importer.normalise_ein, "1234567", None),
    ],
)
def test_partner_field_parsing(parse: Any, text: str, value: Any) -> None:
    assert parse(text) == value
