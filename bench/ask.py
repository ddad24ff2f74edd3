"""Benchmark: asking in plain language, from question to answer.

1. The offline translator over the question set (tests/query/questions.json) and the held-out
   set (tests/query/questions_heldout.json, written before the parser was tuned to it): exact-plan
   accuracy of each, every failure listed, and whether every unsupported question is refused.
2. Per size (a fresh synthetic store each, SQLite by default): every question's plan,
   the expected one and the translator's, run and compared with its independent SQL.
3. Per size: the time of translate + propose + policy + compile + run for aggregates over
   the whole population, through the door as an engineer whose grant covers the taxpayer
   records (unscoped, no noise: the raw cost of the path), p50 and p95 over the runs, and
   how it grows between sizes (with a linear estimate for 1M people).

    python bench/ask.py                          # 10k and 100k people
    python bench/ask.py --sizes 2000,20000 --runs 10
    python bench/ask.py --accuracy-only
    python bench/ask.py --postgres postgresql://postgres@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.query.compile import compile_plan
from taxvault.query.plan import Plan
from taxvault.query.translate import Unsupported, evaluate
from taxvault.query.translate.offline import translate

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "query" / "questions.json"
HELDOUT = ROOT / "tests" / "query" / "questions_heldout.json"
ENGINEER, PURPOSE = "eng-001", "legacy_migration_validation"
"""The synthetic engineer whose grant (active late 2026 - Jan 2027) names entities, modules and transactions."""
TIMED = (
    "How many taxpayers live in Texas?",
    "Number of taxpayers by state",
    "How many deceased taxpayers live in Florida?",
    "How many transactions with TC 846 were posted in 2025?",
)
"""Aggregates over the whole population within the engineer's grant; the first has an indexed filter."""
LIST_CAP = 100


def accuracy(qs: evaluate.QuestionSet, name: str = "questions.json") -> evaluate.Accuracy:
    acc = evaluate.accuracy(qs, lambda q: translate(q, today=qs.today))
    print(f"translator on {name}: {acc.exact}/{acc.total} plans exactly right ({acc.ratio:.1%})")
    for q, why in acc.failures:
        print(f"  FAIL {q.id} {q.question!r}\n       expected: {q.plan.describe()}\n       {why}")
    print(f"unsupported: {acc.refused}/{acc.unsupported_total} refused")
    for text, description in acc.wrongly_answered:
        print(f"  ANSWERED {text!r}: {description}")
    return acc


@contextmanager
def store(people: int, postgres: str | None) -> Iterator[Engine]:
    """A migrated store with a synthetic population of ``people`` (dropped afterwards)."""
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.synth.load import synthesize

    with tempfile.TemporaryDirectory(prefix="tv-ask-") as tmp:
        admin: Engine | None = None
        name = ""
        if postgres:
            admin = make_engine(postgres, isolation_level="AUTOCOMMIT")
            name = f"tv_bench_ask_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = admin.url.set(database=name).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///{tmp}/store.db"
        engine = make_engine(url)
        try:
            upgrade(engine)
            started = time.perf_counter()
            report = synthesize(engine, people, seed=1)
            print(f"\n== {report.persons:,} people (synthesised in {time.perf_counter() - started:.1f}s)")
            yield engine
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()


def _rows(engine: Engine, statement: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(statement).all()]


def _agrees(engine: Engine, plan: Plan, q: evaluate.Question) -> str | None:
    """None when the plan's answer equals the SQL's; else what differs."""
    want = evaluate.normal_rows(_rows(engine, sa.text(q.sql)), ordered=q.ordered)
    got = evaluate.normal_rows(_rows(engine, compile_plan(plan).statement), ordered=q.ordered)
    if not plan.is_aggregate and not q.ordered:
        if len(set(want)) > LIST_CAP:  # the listing is capped: its rows must all be right ones
            return None if len(set(got)) == LIST_CAP and set(got) <= set(want) else "capped listing differs"
        want, got = sorted(set(want), key=str), sorted(set(got), key=str)
    return None if evaluate.close(got, want) else f"plan {got[:3]} != SQL {want[:3]}"


def answers(engine: Engine, qs: evaluate.QuestionSet) -> None:
    expected_ok = translated_ok = translated = 0
    problems: list[str] = []
    for q in qs.questions:
        why = _agrees(engine, q.plan, q)
        expected_ok += why is None
        if why:
            problems.append(f"  expected plan {q.id} {q.question!r}: {why}")
        got = translate(q.question, today=qs.today)
        if isinstance(got, Plan):
            translated += 1
            why = _agrees(engine, got, q)
            translated_ok += why is None
            if why:
                problems.append(f"  translator's plan {q.id} {q.question!r}: {why}")
    n = len(qs.questions)
    print(f"answers: expected plans {expected_ok}/{n} equal their SQL; translator's plans {translated_ok}/{n} ")
    print(f"         ({translated} translated; a refused question has no answer)")
    for line in problems:
        print(line)


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm: Cedar, statement caches, SQLite pages
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def timing(engine: Engine, runs: int, today: dt.date) -> dict[str, float]:
    """p50 per timed question of the whole path through the door; returns {question: p50 seconds}."""
    from taxvault.access.local import local_door
    from taxvault.query.service import Proposal, propose, run

    p50s: dict[str, float] = {}
    with local_door(engine) as door:
        session = door.session(door.caller(ENGINEER), PURPOSE, channel="cli")
        for question in TIMED:

            def whole(question: str = question) -> object:
                proposal = propose(door, session, question=question, today=today)
                assert isinstance(proposal, Proposal), proposal
                return run(door, session, proposal.id)

            plan = translate(question, today=today)
            assert not isinstance(plan, Unsupported), plan
            answer = whole()
            unscoped = [list(r) for r in _rows(engine, compile_plan(plan).statement)]
            shown = [list(row.values()) for row in getattr(answer, "rows", [])]
            if shown != unscoped:  # the timed path must be the whole answer, not a refusal or a subset
                print(f"  {question!r}: the engineer's answer differs from the unscoped plan's: {shown[:2]}")

            def parse_only(question: str = question) -> object:
                return translate(question, today=today)

            parse = _time(parse_only, runs)
            with engine.connect() as conn:

                def query_only(plan: Plan = plan) -> object:
                    return conn.execute(compile_plan(plan).statement).all()

                raw = _time(query_only, runs)
            total = _time(whole, runs)
            p50s[question] = statistics.median(total)
            print(
                f"  {question!r}: p50 {statistics.median(total) * 1000:.1f} ms, "
                f"p95 {_p95(total) * 1000:.1f} ms (translate {statistics.median(parse) * 1000:.2f} ms, "
                f"compiled query alone {statistics.median(raw) * 1000:.1f} ms)"
            )
    return p50s


def _p95(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of people")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per question")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--postgres", default=None, help="admin URL: run on PostgreSQL instead of SQLite")
    parser.add_argument("--accuracy-only", action="store_true")
    args = parser.parse_args()

    qs = evaluate.load(args.questions)
    acc = accuracy(qs, args.questions.name)
    held = evaluate.load(args.heldout)
    held_acc = accuracy(held, args.heldout.name)
    if args.accuracy_only:
        good = acc.ratio >= 0.9 and held_acc.ratio >= 0.85
        sys.exit(0 if good and not acc.wrongly_answered and not held_acc.wrongly_answered else 1)
    today = dt.date.today()  # the door's clock is now: the engineer's grant is checked against it
    sizes = [int(s) for s in args.sizes.split(",")]
    measured: dict[int, dict[str, float]] = {}
    for n in sizes:
        with store(n, args.postgres) as engine:
            answers(engine, qs)
            answers(engine, held)
            print(f"time (translate + propose + policy + compile + run + audit, {args.runs} runs):")
            measured[n] = timing(engine, args.runs, today)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"\ngrowth {small:,} -> {large:,} people ({large / small:.0f}x):")
        for question in TIMED:
            a, b = measured[small][question], measured[large][question]
            per_person = max(b - a, 0.0) / (large - small)
            at_1m = b + per_person * (1_000_000 - large)
            print(
                f"  {question!r}: {a * 1000:.1f} -> {b * 1000:.1f} ms ({b / a:.1f}x); "
                f"linear estimate at 1M people: {at_1m * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
