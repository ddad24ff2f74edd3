"""Any plan the language can express compiles and runs read-only: random plans over the whole vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from taxvault.query.compile import compile_plan
from taxvault.query.plan import AggFn, Op, Plan
from taxvault.query.vocab import FIELDS, EntitySet, FieldDef
from taxvault.store import make_engine
from taxvault.store import tables as t
from taxvault.synth.load import synthesize

USABLE = [f for f in FIELDS.values() if f.sensitivity != "secret"]
SAMPLE: dict[str, Any] = {"text": "CA", "int": 2024, "money": 1_000_000, "date": "2024-06-30", "bool": True}


@pytest.fixture(scope="module")
def engine(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("props") / "store.db"
    path.write_bytes(sqlite_template.read_bytes())
    eng = make_engine(f"sqlite:///{path}")
    synthesize(eng, 150, 4)
    yield eng
    eng.dispose()


def _value(fd: FieldDef, op: Op) -> Any:
    v = fd.values[0] if fd.values and fd.type == "text" else SAMPLE[fd.type]
    if op == Op.IN:
        return [v]
    if op == Op.BETWEEN:
        return [v, v]
    return v


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    source = draw(st.sampled_from(list(EntitySet)))
    fields = st.sampled_from(USABLE)
    body: dict[str, Any] = {"source": source.value}
    filters = []
    for fd in draw(st.lists(fields, max_size=3)):
        ops = [Op.EQ, Op.NE, Op.IN] + ([Op.LT, Op.GE, Op.BETWEEN] if fd.type != "bool" else [])
        ops += [Op.CONTAINS] if fd.type == "text" else []
        op = draw(st.sampled_from(ops))
        filters.append({"field": fd.qualified, "op": op.value, "value": _value(fd, op)})
    body["filters"] = filters
    if draw(st.booleans()):
        aggs: list[dict[str, Any]] = [{"fn": "count"}]
        numeric = [f for f in USABLE if f.type in ("int", "money")]
        if draw(st.booleans()):
            aggs.append(
                {
                    "fn": draw(st.sampled_from([AggFn.SUM, AggFn.AVG, AggFn.MAX])).value,
                    "field": draw(st.sampled_from(numeric)).qualified,
                }
            )
        body["aggregates"] = aggs
        body["group_by"] = [f.qualified for f in draw(st.lists(fields, max_size=2, unique=True))]
        body["order_by"] = [{"by": "count", "descending": draw(st.booleans())}]
        if body["group_by"] and draw(st.booleans()):  # keep the groups past a threshold on an aggregate
            op = draw(st.sampled_from([Op.GT, Op.LE, Op.NE, Op.BETWEEN]))
            value: Any = [0, 5] if op == Op.BETWEEN else draw(st.integers(0, 3))
            body["having"] = [{"by": draw(st.sampled_from(["count", "x"])), "op": op.value, "value": value}]
    else:
        body["select"] = [f.qualified for f in draw(st.lists(fields, min_size=1, max_size=3, unique=True))]
    body["limit"] = draw(st.integers(1, 50))
    return body


def _counts(conn: sa.Connection) -> list[int]:
    return [int(conn.execute(sa.select(sa.func.count()).select_from(tb)).scalar_one()) for tb in t.CANONICAL_TABLES]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=plans())
def test_every_expressible_plan_compiles_and_runs_read_only(engine: Engine, body: dict[str, Any]) -> None:
    try:
        plan = Plan.model_validate(body)
    except ValidationError:
        return  # refused by validation (ambiguous, two one-to-many branches, ...): nothing to run
    assert Plan.model_validate_json(plan.canonical_json()) == plan
    assert plan.describe()
    with engine.connect() as conn:
        before = _counts(conn)
        rows = conn.execute(compile_plan(plan).statement).all()
        assert len(rows) <= (plan.limit or 1000)
        assert _counts(conn) == before
