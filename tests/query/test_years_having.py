"""Years of dates and thresholds on groups (having): validated, described, compiled, and private for analysts.

The answers of both against independent SQL on SQLite and PostgreSQL are checked with the question
sets (tests/query/test_question_answers.py: the held-out set groups notices, cases, transactions and
returns by the year of their date and keeps groups past a count or an average).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.local import local_door
from taxvault.errors import Denied, Invalid
from taxvault.query import private
from taxvault.query.compile import compile_plan
from taxvault.query.plan import Plan
from taxvault.query.service import Answer, ask
from taxvault.query.translate import Unsupported
from taxvault.query.translate.offline import translate
from taxvault.query.vocab import FIELDS
from taxvault.stats.tables import stats_charges
from taxvault.store.tables import notices
from taxvault.synth.load import synthesize

TODAY = dt.date(2026, 3, 15)
BY_STATE = {"source": "taxpayers", "aggregates": [{"fn": "count"}], "group_by": ["state"]}


def test_every_date_people_group_by_has_its_year() -> None:
    years = {q: f.column for q, f in FIELDS.items() if f.year_of}
    assert years == {
        "returns.filed_year": "filed_date",
        "notices.issued_year": "issued_date",
        "transactions.posted_year": "posted_date",
        "cases.opened_year": "opened_at",
        "cases.closed_year": "closed_at",
    }
    assert all(FIELDS[q].type == "int" and FIELDS[q].sensitivity == "public" for q in years)


def test_a_year_of_a_date_compiles_to_each_dialects_own_words() -> None:
    plan = Plan.model_validate({"source": "notices", "aggregates": [{"fn": "count"}], "group_by": ["issued_year"]})
    stmt = compile_plan(plan).statement
    assert "strftime('%Y', notices.issued_date)" in str(stmt.compile(dialect=sqlite.dialect()))
    assert "EXTRACT(YEAR FROM notices.issued_date)" in str(stmt.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


def test_having_is_validated_described_and_hashed_only_when_present() -> None:
    plan = Plan.model_validate({**BY_STATE, "filters": [{"field": "kind", "op": "=", "value": "individual"}],
                                "having": [{"by": "count", "op": ">", "value": 1000}]})  # fmt: skip
    assert plan.describe() == (
        "Count individual taxpayers, for each state, keeping only the groups where number of individual"
        " taxpayers is over 1,000."
    )
    assert json.loads(plan.canonical_json())["having"] == [{"by": "count", "op": ">", "value": 1000}]
    plain = Plan.model_validate(BY_STATE)
    assert "having" not in json.loads(plain.canonical_json())  # plans from before having keep their hash
    money = Plan.model_validate(
        {"source": "returns", "aggregates": [{"fn": "avg", "field": "agi"}], "group_by": ["taxpayers.state"],
         "having": [{"by": "avg_agi", "op": "between", "value": [5_000_000, 8_000_000]}]}
    )  # fmt: skip
    assert "average agi is between $50,000.00 and $80,000.00" in money.describe()


@pytest.mark.parametrize(
    ("having", "reason"),
    [
        ([{"by": "sum_wages", "op": ">", "value": 1}], "aggregate of the plan"),
        ([{"by": "count", "op": "in", "value": [1, 2]}], "not 'in'"),
        ([{"by": "count", "op": ">", "value": True}], "valid integer"),
        ([{"by": "count", "op": ">", "value": "1; drop table"}], "valid integer"),
        ([{"by": "count", "op": "between", "value": [5, 1]}], "low and high"),
    ],
)
def test_a_wrong_having_is_refused(having: list[dict[str, Any]], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Plan.model_validate({**BY_STATE, "having": having})


def test_having_needs_groups() -> None:
    with pytest.raises(ValidationError, match="needs group_by"):
        Plan.model_validate({"source": "returns", "aggregates": [{"fn": "count"}],
                             "having": [{"by": "count", "op": ">", "value": 1}]})  # fmt: skip


def test_the_translator_reads_years_of_dates_and_group_thresholds() -> None:
    def plan(q: str) -> Plan:
        got = translate(q, today=TODAY)
        assert isinstance(got, Plan), f"{q}: {getattr(got, 'reason', got)}"
        return got

    assert plan("How many cases were closed each year?").group_by == ["cases.closed_year"]
    assert plan("Number of W-2s by year").group_by == ["information_returns.tax_year"]  # no date: the tax year
    compare = plan("Refunds posted in 2025 vs 2026")
    assert compare.group_by == ["transactions.posted_year"]
    assert compare.having == [] and any(f.field == "transactions.posted_year" for f in compare.filters)
    assert plan("States with more than 10 open cases").having[0].by == "count"
    assert plan("Which states received more than $1 million in refunds?").having[0].by == "sum_refund"
    for refused in ("How many states have more than 50 taxpayers?", "Which taxpayers have more than one W-2?"):
        assert isinstance(translate(refused, today=TODAY), Unsupported), refused


# --- analysts: both through the private path -----------------------------------------------------------


@pytest.fixture
def door(db_engine: Engine) -> Iterator[Door]:
    synthesize(db_engine, 400, 9)
    with local_door(db_engine) as d:
        yield d


def _ask(door: Door, plan: Mapping[str, object]) -> Answer:
    session = door.session(door.caller("ana-001"), "statistics", channel="cli")
    result = ask(door, session, plan=Plan.model_validate(plan))
    assert isinstance(result, tuple)
    return result[1]


def _charges(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(stats_charges)).scalar_one())


def test_an_analyst_groups_by_a_year_of_a_date_from_the_public_list_of_years(door: Door) -> None:
    plan = {"source": "notices", "aggregates": [{"fn": "count"}], "group_by": ["issued_year"]}
    years = private.domain(Plan.model_validate(plan), FIELDS["notices.issued_year"], TODAY)
    assert years[0] == 2015 and years[-1] == 2026  # never read from the data
    got = _ask(door, plan)
    assert got.noise is not None and _charges(door.engine) == 1
    with door.engine.connect() as conn:
        real = {int(str(d)[:4]) for d in conn.execute(sa.select(notices.c.issued_date)).scalars()}
    assert {r["notices.issued_year"] for r in got.rows} <= set(years) and real


def test_an_analysts_having_keeps_groups_by_their_noisy_values_and_costs_nothing_more(door: Door) -> None:
    plan = {**BY_STATE, "having": [{"by": "count", "op": ">=", "value": 12}]}
    got = _ask(door, plan)
    assert got.noise is not None and "noisy" in got.noise["having"]
    assert got.rows and all(r["count"] >= 12 for r in got.rows)
    assert _charges(door.engine) == 1  # one release: the threshold is applied after the noise
    everything = _ask(door, BY_STATE)
    assert len(everything.rows) > len(got.rows)


def test_what_an_analyst_cannot_have_is_still_refused(door: Door) -> None:
    with pytest.raises((Invalid, Denied)):
        _ask(door, {"source": "returns", "aggregates": [{"fn": "max", "field": "agi"}],
                    "group_by": ["filing_status"], "having": [{"by": "max_agi", "op": ">", "value": 1}]})  # fmt: skip
    assert _charges(door.engine) == 0
