"""Compiled plans on SQLite and PostgreSQL give the answers independent SQL gives; values are only parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from taxvault.query.compile import Scope, compile_plan
from taxvault.query.plan import Plan
from taxvault.synth.load import synthesize

# (plan, independent SQL giving the same rows in the same order)
CASES: list[tuple[dict[str, Any], str]] = [
    (
        {
            "source": "taxpayers",
            "aggregates": [{"fn": "count"}],
            "group_by": ["state"],
            "order_by": [{"by": "count", "descending": True}],
            "limit": 5,
        },
        "SELECT state, COUNT(*) AS n FROM entities GROUP BY state ORDER BY n DESC, state LIMIT 5",
    ),
    (
        {
            "source": "returns",
            "aggregates": [{"fn": "sum", "field": "wages"}, {"fn": "count"}],
            "filters": [{"field": "wages", "op": ">", "value": 5_000_000}],
        },
        "SELECT SUM(wages_cents), COUNT(*) FROM returns WHERE wages_cents > 5000000",
    ),
    (
        {"source": "notices", "aggregates": [{"fn": "count"}], "group_by": ["notice_type"]},
        "SELECT notice_type, COUNT(*) FROM notices GROUP BY notice_type ORDER BY notice_type",
    ),
    (
        # taxpayers with their returns: each taxpayer counted once
        {
            "source": "taxpayers",
            "aggregates": [{"fn": "count"}],
            "filters": [{"field": "returns.filing_status", "op": "in", "value": ["MFJ", "HOH"]}],
        },
        "SELECT COUNT(DISTINCT e.id) FROM entities e JOIN returns r ON r.entity_id = e.id "
        "WHERE r.filing_status IN ('MFJ', 'HOH')",
    ),
    (
        {
            "source": "information_returns",
            "aggregates": [{"fn": "count"}, {"fn": "avg", "field": "income"}],
            "group_by": ["form", "state"],
            "filters": [{"field": "state", "op": "=", "value": "CA"}],
        },
        "SELECT i.form, e.state, COUNT(*), AVG(i.income_cents) "
        "FROM information_returns i JOIN entities e ON i.payee_id = e.id WHERE e.state = 'CA' "
        "GROUP BY i.form, e.state ORDER BY i.form, e.state",
    ),
    (
        {
            "source": "returns",
            "select": ["ref", "wages"],
            "filters": [{"field": "wages", "op": "between", "value": [2_000_000, 3_000_000]}],
            "order_by": [{"by": "wages", "descending": True}],
            "limit": 7,
        },
        "SELECT ref, wages_cents FROM returns WHERE wages_cents BETWEEN 2000000 AND 3000000 "
        "ORDER BY wages_cents DESC, ref LIMIT 7",
    ),
    (
        {
            "source": "transactions",
            "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}],
            "group_by": ["tc"],
            "filters": [{"field": "posted_date", "op": ">=", "value": "2025-01-01"}],
        },
        "SELECT tc, COUNT(*), SUM(amount_cents) FROM transactions WHERE posted_date >= '2025-01-01' "
        "GROUP BY tc ORDER BY tc",
    ),
    (
        {"source": "cases", "aggregates": [{"fn": "count"}], "group_by": ["kind", "status"]},
        "SELECT kind, status, COUNT(*) FROM cases GROUP BY kind, status ORDER BY kind, status",
    ),
    (
        {
            "source": "taxpayers",
            "select": ["city"],
            "filters": [{"field": "last_name", "op": "contains", "value": "SON"}],
            "limit": 1000,
        },
        "SELECT city FROM entities WHERE lower(last_name) LIKE '%son%' ORDER BY city",
    ),
]


_SQLITE = sqlite.dialect()
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _norm(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        out.append(
            tuple(round(float(v), 2) if hasattr(v, "as_integer_ratio") and not isinstance(v, int) else v for v in row)
        )
    return out


def test_compiled_plans_match_independent_sql(db_engine: Engine) -> None:
    synthesize(db_engine, 400, 11)
    with db_engine.connect() as conn:
        for body, sql in CASES:
            compiled = compile_plan(Plan.model_validate(body))
            got = _norm(conn.execute(compiled.statement).all())
            want = _norm(conn.execute(sa.text(sql)).all())
            assert got == want, body
            assert got, f"the population should have rows for {body}"


def test_a_scope_restricts_every_set_the_plan_touches(db_engine: Engine) -> None:
    synthesize(db_engine, 300, 12)
    with db_engine.connect() as conn:
        some = [r for (r,) in conn.execute(sa.text("SELECT id FROM entities ORDER BY id LIMIT 3"))]
        scope = Scope(
            entities=sa.select(sa.column("id", sa.Integer))
            .select_from(sa.table("entities"))
            .where(sa.column("id").in_(some))
        )
        plan = Plan.model_validate({"source": "notices", "select": ["ref", "taxpayers.ref"], "limit": 1000})
        got = conn.execute(compile_plan(plan, scope).statement).all()
        ents = sa.table("entities", sa.column("id"), sa.column("ref"))
        owners = {r for (r,) in conn.execute(sa.select(ents.c.ref).where(ents.c.id.in_(some)))}
        assert {r[1] for r in got} <= owners
        every = conn.execute(compile_plan(plan).statement).all()
        assert len(every) > len(got)


@pytest.mark.parametrize("name", ["sqlite", "postgresql"])
def test_values_are_bound_parameters_never_sql_text(name: str) -> None:
    dialect = _SQLITE if name == "sqlite" else _PG
    evil = "x' OR '1'='1'; DROP TABLE entities; --"
    plan = Plan.model_validate(
        {"source": "taxpayers", "select": ["ref"], "filters": [{"field": "city", "op": "=", "value": evil}]}
    )
    sql = str(compile_plan(plan).statement.compile(dialect=dialect))
    assert "DROP" not in sql and "OR '1'" not in sql
    assert "entities.city = " in sql


def test_an_injected_value_matches_nothing_and_changes_nothing(db_engine: Engine) -> None:
    synthesize(db_engine, 100, 13)
    evil = "x' OR '1'='1'; DELETE FROM entities; --"
    plan = Plan.model_validate(
        {
            "source": "taxpayers",
            "aggregates": [{"fn": "count"}],
            "filters": [{"field": "last_name", "op": "=", "value": evil}],
        }
    )
    with db_engine.connect() as conn:
        before = conn.execute(sa.text("SELECT COUNT(*) FROM entities")).scalar()
        assert conn.execute(compile_plan(plan).statement).scalar() == 0
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM entities")).scalar() == before
