"""Every question's expected plan, compiled and run, gives the answer of its independent SQL.

The SQL in tests/query/questions.json and questions_heldout.json was written by hand from the question, not
from the plan, so this checks the plan language's meaning (joins, distinct counts
over one-to-many joins, date ranges, money in cents) against plain SQL, on SQLite and
PostgreSQL, over a synthetic population. The translator's own plans are checked
against the expected ones in test_offline_translator.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.query.compile import compile_plan
from taxvault.query.translate import evaluate
from taxvault.store import make_engine
from taxvault.synth.load import synthesize

QUESTIONS = evaluate.load(Path(__file__).with_name("questions.json"))
HELDOUT = evaluate.load(Path(__file__).with_name("questions_heldout.json"))
ALL = [*QUESTIONS.questions, *HELDOUT.questions]
PEOPLE = 2_500
LIST_CAP = 100  # the compiler's default number of rows for a listing without a limit


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def population(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One synthetic store per backend for the whole module (the questions only read).

    Cloned from the session's migrated templates (tests/conftest.py) like ``db_engine``,
    but once per module: 2,500 people are generated once for all the questions.
    """
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("answers") / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        synthesize(engine, PEOPLE, seed=5)
        yield engine
        engine.dispose()
        return
    template = request.getfixturevalue("pg_template")
    admin = make_engine(os.environ["TAXVAULT_TEST_PG_URL"], isolation_level="AUTOCOMMIT")
    name = f"tv_answers_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        synthesize(engine, PEOPLE, seed=5)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _rows(engine: Engine, statement: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(statement).all()]


@pytest.mark.parametrize("question", ALL, ids=[q.id for q in ALL])
def test_plan_answer_equals_independent_sql(population: Engine, question: evaluate.Question) -> None:
    expected = evaluate.normal_rows(_rows(population, sa.text(question.sql)), ordered=question.ordered)
    got = evaluate.normal_rows(_rows(population, compile_plan(question.plan).statement), ordered=question.ordered)
    if not question.plan.is_aggregate and not question.ordered:
        # a listing without its own order: the same set of rows (the compiler adds DISTINCT where the
        # joins would repeat a record, plain SQL may not), as long as the cap did not cut it
        assert len(set(expected)) <= LIST_CAP, f"{question.id}: the listing is longer than the cap; narrow it"
        expected, got = sorted(set(expected), key=str), sorted(set(got), key=str)
    assert evaluate.close(got, expected), f"{question.id} {question.question!r}: plan {got[:5]} != SQL {expected[:5]}"


def test_the_population_answers_most_questions_with_something(population: Engine) -> None:
    """A question set whose answers are all empty or zero would check nothing."""
    for qs in (QUESTIONS, HELDOUT):
        informative = 0
        for q in qs.questions:
            rows = evaluate.normal_rows(_rows(population, sa.text(q.sql)), ordered=False)
            if rows and any(v not in (None, 0) for r in rows for v in r):
                informative += 1
        assert informative >= 0.8 * len(qs.questions)
