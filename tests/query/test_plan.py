"""The typed plan: validated against the vocabulary, normalised, hashed, described; it can only read."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from pydantic import ValidationError

from taxvault.query.plan import Plan, money_text
from taxvault.query.vocab import FIELDS, RELATIONS, EntitySet, join_path


def _plan(**kw: Any) -> Plan:
    return Plan.model_validate(kw)


def test_unqualified_fields_are_qualified_and_needed_sets_joined() -> None:
    p = _plan(source="notices", select=["ref", "notice_type"], filters=[{"field": "state", "op": "=", "value": "TX"}])
    assert p.select == ["notices.ref", "notices.notice_type"]
    assert p.filters[0].field == "taxpayers.state"
    assert p.join == [EntitySet.MODULES, EntitySet.TAXPAYERS]  # notices -> modules -> taxpayers


def test_two_spellings_of_one_question_are_one_plan_with_one_hash() -> None:
    a = _plan(source="returns", aggregates=[{"fn": "count"}], group_by=["filing_status"])
    b = _plan(
        source="returns", join=[], aggregates=[{"fn": "count", "field": None}], group_by=["returns.filing_status"]
    )
    assert a.canonical_json() == b.canonical_json()
    assert a.plan_hash() == b.plan_hash() and len(a.plan_hash()) == 64
    assert a.ref == "q" + a.plan_hash()[:16]
    c = _plan(source="returns", aggregates=[{"fn": "count"}], group_by=["form"])
    assert c.plan_hash() != a.plan_hash()


def test_canonical_json_round_trips() -> None:
    p = _plan(
        source="taxpayers",
        filters=[
            {"field": "returns.tax_year", "op": "=", "value": "2024"},
            {"field": "wages", "op": "between", "value": [1_000_000, 5_000_000]},
            {"field": "state", "op": "in", "value": ["CA", "NY"]},
        ],
        aggregates=[{"fn": "count"}, {"fn": "avg", "field": "wages"}],
        group_by=["state"],
        order_by=[{"by": "count", "descending": True}],
        limit=10,
    )
    assert p.filters[0].value == 2024  # typed: a tax year is an integer
    again = Plan.model_validate_json(p.canonical_json())
    assert again == p and again.plan_hash() == p.plan_hash()
    assert json.loads(p.canonical_json())["join"] == ["returns"]


def test_describe_says_the_plan_in_words() -> None:
    p = _plan(
        source="taxpayers",
        filters=[{"field": "wages", "op": ">", "value": 1_000_000}, {"field": "state", "op": "=", "value": "CA"}],
        aggregates=[{"fn": "count"}],
        group_by=["returns.tax_year"],
        order_by=[{"by": "count", "descending": True}],
        limit=3,
    )
    text = p.describe()
    every_kind = "taxpayers of every kind (individuals, businesses, exempt organisations)"
    assert text.startswith(f"Count {every_kind} (with their returns)")
    for part in ("wages is over $10,000.00", 'state is "CA"', "for each tax year", "highest first", "at most 3"):
        assert part in text
    dates = _plan(
        source="notices", select=["ref"], filters=[{"field": "issued_date", "op": ">=", "value": "2024-01-01"}]
    )
    assert "issue date is on or after 2024-01-01" in dates.describe()
    assert money_text(-123456) == "-$1,234.56"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"source": "returns", "select": ["bank_account"]}, "secret"),
        (
            {
                "source": "taxpayers",
                "aggregates": [{"fn": "count"}],
                "filters": [{"field": "tin", "op": "=", "value": "x"}],
            },
            "secret",
        ),
        ({"source": "taxpayers", "select": ["SELECT * FROM entities"]}, "unknown field"),
        ({"source": "taxpayers", "select": ["ref; DROP TABLE entities"]}, "unknown field"),
        ({"source": "entities", "select": ["ref"]}, "source"),
        ({"source": "returns", "select": ["ref"], "aggregates": [{"fn": "count"}]}, "not both"),
        ({"source": "returns"}, "needs fields"),
        ({"source": "returns", "aggregates": [{"fn": "sum", "field": "filing_status"}]}, "number or money"),
        ({"source": "returns", "aggregates": [{"fn": "sum"}]}, "needs a field"),
        (
            {"source": "returns", "select": ["ref"], "filters": [{"field": "wages", "op": ">", "value": "lots"}]},
            "whole number",
        ),
        (
            {"source": "returns", "select": ["ref"], "filters": [{"field": "filed_date", "op": "<", "value": "May"}]},
            "YYYY-MM-DD",
        ),
        (
            {"source": "returns", "select": ["ref"], "filters": [{"field": "wages", "op": "between", "value": [5, 1]}]},
            "low value first",
        ),
        (
            {"source": "returns", "select": ["ref"], "filters": [{"field": "wages", "op": "contains", "value": "1"}]},
            "text field",
        ),
        (
            {"source": "returns", "select": ["ref"], "filters": [{"field": "tax_year", "op": "=", "value": [1, 2]}]},
            "one value",
        ),
        (
            {"source": "taxpayers", "select": ["ref"], "filters": [{"field": "tax_year", "op": "=", "value": 2024}]},
            "ambiguous",
        ),
        (
            {"source": "taxpayers", "join": ["returns", "information_returns"], "aggregates": [{"fn": "count"}]},
            "many per record",
        ),
        ({"source": "returns", "select": ["ref"], "limit": 100000}, "less than or equal"),
        ({"source": "returns", "select": ["ref"], "sql": "DELETE FROM returns"}, "Extra inputs"),
        ({"source": "returns", "select": ["ref"], "action": "update"}, "Extra inputs"),
    ],
)
def test_invalid_plans_are_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Plan.model_validate(body)


def test_the_plan_language_cannot_express_a_write() -> None:
    """No key, op or aggregate of the schema names a write, SQL text or an expression."""
    schema = Plan.model_json_schema()
    text = json.dumps(schema).lower()
    for word in ("insert", "update", "delete", "drop", "sql", "expression", "raw", "alter", "execute"):
        assert word not in text, word
    ops = schema["$defs"]["Op"]["enum"]
    assert set(ops) == {"=", "!=", "<", "<=", ">", ">=", "in", "between", "contains"}
    assert set(schema["$defs"]["AggFn"]["enum"]) == {"count", "count_distinct", "sum", "avg", "min", "max"}
    assert schema["additionalProperties"] is False


def test_schema_lists_every_field_but_the_secret_ones() -> None:
    schema = Plan.model_json_schema()
    enum = set(schema["properties"]["select"]["items"]["enum"])
    assert "returns.wages" in enum and "taxpayers.state" in enum
    assert not {"taxpayers.tin", "returns.bank_account", "information_returns.payee_tin"} & enum
    assert enum == {q for q, f in FIELDS.items() if f.sensitivity != "secret"}


def test_every_set_is_reachable_along_declared_relations_only() -> None:
    for a in EntitySet:
        for b in EntitySet:
            path = join_path(a, b)
            assert path[0] == a and path[-1] == b
            for x, y in itertools.pairwise(path):
                assert any({r.left, r.right} == {x, y} for r in RELATIONS)
