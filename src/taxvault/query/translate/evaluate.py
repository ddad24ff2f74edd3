"""Measuring a translator against a question set: exact plans, refusals, and answers.

Why in the package: the benchmark (bench/ask.py) and the tests
(tests/query/) judge the same way, and a deployment can run its own question
set through the same judge. A question set is JSON: ``today`` (relative dates),
``questions`` (question, expected plan, independent SQL, whether order matters)
and ``unsupported`` (questions that must be refused).

Plans are compared in their normalised form, with the filters as a set (they
all hold, in any order) and the values of an ``in`` as a set; everything else
(select, aggregates, group by, order, limit) in order.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxvault.query.plan import Plan
from taxvault.query.translate import Unsupported

Translate = Callable[[str], "Plan | Unsupported"]


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    plan: Plan
    sql: str
    ordered: bool
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuestionSet:
    today: dt.date
    questions: list[Question]
    unsupported: list[str]


def load(path: Path) -> QuestionSet:
    """A question set from its JSON file (expected plans validated on the way in)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    questions = [
        Question(
            q["id"],
            q["question"],
            Plan.model_validate(q["plan"]),
            q["sql"],
            bool(q.get("ordered", False)),
            tuple(q.get("tags", ())),
        )
        for q in data["questions"]
    ]
    return QuestionSet(dt.date.fromisoformat(data["today"]), questions, [u["question"] for u in data["unsupported"]])


def plan_key(plan: Plan) -> str:
    """A canonical form in which two plans that mean the same thing are equal."""
    data = plan.model_dump(mode="json")
    filters = []
    for f in data["filters"]:
        value = f["value"]
        if f["op"] == "in":
            value = sorted(value, key=str)
        filters.append(json.dumps({**f, "value": value}, sort_keys=True))
    data["filters"] = sorted(filters)
    data["join"] = sorted(data["join"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def same_plan(a: Plan, b: Plan) -> bool:
    return plan_key(a) == plan_key(b)


@dataclass
class Accuracy:
    """How a translator did on a question set."""

    total: int = 0
    exact: int = 0
    failures: list[tuple[Question, str]] = field(default_factory=list)
    refused: int = 0
    unsupported_total: int = 0
    wrongly_answered: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.exact / self.total if self.total else 0.0


def accuracy(qs: QuestionSet, translate: Translate) -> Accuracy:
    """Exact-plan accuracy over the questions, and whether every unsupported question is refused."""
    acc = Accuracy(total=len(qs.questions), unsupported_total=len(qs.unsupported))
    for q in qs.questions:
        got = translate(q.question)
        if isinstance(got, Unsupported):
            acc.failures.append((q, f"refused: {got.reason or got.message}"))
        elif same_plan(got, q.plan):
            acc.exact += 1
        else:
            acc.failures.append((q, f"got: {got.describe()}"))
    for text in qs.unsupported:
        got = translate(text)
        if isinstance(got, Unsupported):
            acc.refused += 1
        else:
            acc.wrongly_answered.append((text, got.describe()))
    return acc


def normal_value(v: Any) -> Any:
    """One answer cell, comparable across SQLite, PostgreSQL, the compiled plan and raw SQL."""
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return round(float(v), 4) if v != v.to_integral_value() else int(v)
    if isinstance(v, float):
        return int(v) if v.is_integer() else round(v, 4)
    return v


def normal_rows(rows: Sequence[Sequence[Any]], *, ordered: bool) -> list[tuple[Any, ...]]:
    """Rows with normalised cells; sorted (and duplicates kept) unless the order matters."""
    out = [tuple(normal_value(v) for v in row) for row in rows]
    if ordered:
        return out
    return sorted(out, key=lambda r: tuple((x is None, str(type(x)), x) for x in r))


def close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal, allowing averages to differ in the last digits (SQLite and PostgreSQL round differently)."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, int | float) and isinstance(y, int | float):
                if abs(x - y) > 1e-6 * max(1.0, abs(x), abs(y)):
                    return False
            elif x != y:
                return False
    return True
