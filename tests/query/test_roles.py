"""The same question asked by five roles gives five answers, each what that role's policy allows.

Through the door (a local door over a synthetic population, SQLite and PostgreSQL),
with the expected answers computed independently from the store, and the audit
event of every ask checked: plan ref as the resource, decision, fields, answer shape.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store_factory import new_store
from taxvault.access.door import Door
from taxvault.access.local import local_door
from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.audit import AuditEvent, Decision
from taxvault.errors import Denied
from taxvault.query.plan import Plan
from taxvault.query.policy import MIN_CELL
from taxvault.query.service import Answer, ask
from taxvault.query.vocab import FIELDS
from taxvault.store import tables as t
from taxvault.synth.load import synthesize

AGGREGATE = Plan.model_validate(
    {
        "source": "returns",
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "wages"}],
        "group_by": ["filing_status"],
    }
)
LISTING = Plan.model_validate(
    {
        "source": "taxpayers",
        "select": ["ref", "last_name", "birth_date"],
        "filters": [{"field": "kind", "op": "=", "value": "individual"}],
    }
)


@dataclass(frozen=True)
class World:
    engine: Engine
    caseworker: str
    cw_purpose: str
    cw_subjects: frozenset[int]  # entity ids she may see for that purpose
    taxpayer: str
    tp_entity: int


def _world(engine: Engine) -> World:
    synthesize(engine, 600, 5)
    with engine.begin() as conn:
        c, cs, e = t.cases.c, t.case_subjects.c, t.entities.c
        # The caseworker with the most open cases for one purpose (not a manager: plain caseworker).
        row = conn.execute(
            sa.select(c.assigned_to, c.purpose, sa.func.count().label("n"))
            .join(t.principals, t.principals.c.id == c.assigned_to)
            .where(c.status == "open", t.principals.c.roles == "caseworker")
            .group_by(c.assigned_to, c.purpose)
            .order_by(sa.desc("n"), c.assigned_to)
        ).first()
        assert row is not None
        me = conn.execute(sa.select(t.principals).where(t.principals.c.id == row.assigned_to)).one()
        related = {
            r
            for (r,) in conn.execute(
                sa.select(t.principal_relations.c.entity_id).where(t.principal_relations.c.principal_id == me.id)
            )
        }
        subjects = conn.execute(
            sa.select(e.id, e.is_restricted, e.is_employee)
            .join(t.case_subjects, cs.entity_id == e.id)
            .join(t.cases, c.id == cs.case_id)
            .where(c.assigned_to == me.id, c.status == "open", c.purpose == row.purpose)
        ).all()
        allowed = frozenset(
            s.id
            for s in subjects
            if s.id != me.entity_id and s.id not in related
            and (not s.is_restricted or me.unit == "special")
            and (not s.is_employee or me.unit == "employee_accounts")
        )  # fmt: skip
        assert allowed, "the synthetic caseworker has subjects"
        tp = conn.execute(
            sa.select(e.id, e.ref)
            .join(t.returns, t.returns.c.entity_id == e.id)
            .where(e.is_employee.is_(False))
            .order_by(e.id)
            .limit(1)
        ).one()
        taxpayer = ensure_taxpayer_principal(conn, tp.ref)
    return World(engine, str(me.id), str(row.purpose), allowed, taxpayer, int(tp.id))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One synthetic population per store for the whole module (the tests only read, or add their own rows)."""
    tmp = tmp_path_factory.mktemp("roles")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAXVAULT_VAR_DIR", str(tmp / "var"))  # module fixtures run before the per-test var dir
        for engine in new_store(request.param, request, tmp):
            yield _world(engine)


@pytest.fixture(scope="module")
def door(world: World) -> Iterator[Door]:
    with local_door(world.engine) as d:
        yield d


def _ask(door: Door, who: str, purpose: str, plan: Plan) -> Answer | Denied:
    session = door.session(door.caller(who), purpose, channel="cli")
    try:
        result = ask(door, session, plan=plan)
    except Denied as exc:
        return exc
    assert not isinstance(result, Denied) and isinstance(result, tuple)
    return result[1]


def _last_event(door: Door) -> AuditEvent:
    return door.audit.event(door.audit.tree_head().tree_size - 1)


def _true_counts(engine: Engine, entity_ids: frozenset[int] | None) -> dict[str, tuple[int, int]]:
    r = t.returns.c
    q = sa.select(r.filing_status, sa.func.count(), sa.func.sum(r.wages_cents)).group_by(r.filing_status)
    if entity_ids is not None:
        q = q.where(r.entity_id.in_(sorted(entity_ids)))
    with engine.connect() as conn:
        return {str(s): (int(n), int(w)) for s, n, w in conn.execute(q)}


def _refs(engine: Engine, ids: frozenset[int]) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.entities.c.ref).where(t.entities.c.id.in_(sorted(ids)), t.entities.c.kind == "individual")
        )
        return {str(x) for (x,) in rows}


def test_one_aggregate_question_five_roles(world: World, door: Door) -> None:
    # caseworker: only her open cases' subjects for the purpose
    got = _ask(door, world.caseworker, world.cw_purpose, AGGREGATE)
    assert isinstance(got, Answer) and got.role == "caseworker"
    mine = _true_counts(world.engine, world.cw_subjects)
    assert {r["returns.filing_status"]: (r["count"], r["sum_wages"]) for r in got.rows} == mine
    ev = _last_event(door)
    assert (ev.principal, ev.resource, ev.decision) == (world.caseworker, AGGREGATE.ref, Decision.ALLOW)
    assert ev.action == "query:query_aggregate" and f"answer:rows={len(mine)}" in ev.fields
    assert "returns.wages" in ev.fields and ev.policy == "query-caseworker-assigned"

    # analyst: everyone, noised (differential privacy), groups under the minimum cell size suppressed
    got = _ask(door, "ana-001", "statistics", AGGREGATE)
    assert isinstance(got, Answer) and got.role == "analyst" and got.min_cell == MIN_CELL
    everyone = _true_counts(world.engine, None)
    big = {k: v for k, v in everyone.items() if v[0] >= MIN_CELL}
    shown = {r["returns.filing_status"]: r for r in got.rows}
    assert set(shown) == set(big)
    assert got.suppressed == len(FIELDS["returns.filing_status"].values) - len(big)  # the public list of groups
    assert got.noise is not None and got.noise["budget"]["epsilon_spent"] == pytest.approx(1.0)
    ci95 = got.noise["releases"]["count"]["ci95"]
    for status, row in shown.items():
        assert abs(row["count"] - big[status][0]) <= 3 * ci95
        assert isinstance(row["sum_wages"], int)
    ev = _last_event(door)
    assert ev.decision == Decision.ALLOW and ev.resource == AGGREGATE.ref and "answer:noised" in ev.fields
    assert f"answer:suppressed={got.suppressed}" in ev.fields
    assert sum(n for n, _ in everyone.values()) > sum(n for n, _ in mine.values())

    # engineer without a grant, and oversight: denied, and the denial audited with the plan's ref
    for who, purpose in (("eng-001", "data_migration"), ("ovs-privacy", "oversight_review")):
        denied = _ask(door, who, purpose, AGGREGATE)
        assert isinstance(denied, Denied)
        ev = _last_event(door)
        assert (ev.principal, ev.resource, ev.decision) == (who, AGGREGATE.ref, Decision.DENY)
        assert not any(f.startswith("answer:") for f in ev.fields)

    # taxpayer: her own return only
    got = _ask(door, world.taxpayer, "self_service", AGGREGATE)
    assert isinstance(got, Answer) and got.role == "taxpayer"
    assert {r["returns.filing_status"]: (r["count"], r["sum_wages"]) for r in got.rows} == _true_counts(
        world.engine, frozenset({world.tp_entity})
    )
    ev = _last_event(door)
    assert ev.decision == Decision.ALLOW and ev.subject is not None


def test_one_listing_question_five_roles(world: World, door: Door) -> None:
    size = door.audit.tree_head().tree_size
    got = _ask(door, world.caseworker, world.cw_purpose, LISTING)
    assert isinstance(got, Answer)
    assert {r["taxpayers.ref"] for r in got.rows} == _refs(world.engine, world.cw_subjects)
    # one event for the plan, and one per taxpayer shown (her access report lists the query)
    events = [door.audit.event(i) for i in range(size, door.audit.tree_head().tree_size)]
    assert all(e.resource == LISTING.ref and e.decision == Decision.ALLOW for e in events)
    assert {e.subject for e in events if e.subject} == {r["taxpayers.ref"] for r in got.rows}
    assert len(events) == len(got.rows) + 1
    birth_years = {r["taxpayers.birth_date"] for r in got.rows}
    masked = world.cw_purpose != "examination"
    if masked:  # birth dates shown as the year only: the purpose does not need them
        assert all(b is None or len(b) == 4 for b in birth_years) and got.masked == ["taxpayers.birth_date"]
        assert "taxpayers.birth_date:masked" in _last_event(door).fields

    for who, purpose, why in (
        ("ana-001", "statistics", "aggregates only"),
        ("eng-001", "data_migration", "no active grant of yours for this purpose covers entities"),
        ("ovs-privacy", "oversight_review", "oversight reads the audit log"),
    ):
        denied = _ask(door, who, purpose, LISTING)
        assert isinstance(denied, Denied) and why in str(denied), who
        ev = _last_event(door)
        assert (ev.principal, ev.resource, ev.decision, ev.action) == (who, LISTING.ref, Decision.DENY, "query:query")

    got = _ask(door, world.taxpayer, "self_service", LISTING)
    assert isinstance(got, Answer)
    assert [r["taxpayers.ref"] for r in got.rows] == sorted(_refs(world.engine, frozenset({world.tp_entity})))
    assert all(len(r["taxpayers.birth_date"] or "") in (0, 4) for r in got.rows)


def test_a_masked_field_cannot_be_filtered_grouped_or_sorted_on(world: World, door: Door) -> None:
    by_birth = [
        {
            "source": "taxpayers",
            "select": ["ref"],
            "filters": [{"field": "birth_date", "op": "<", "value": "1970-01-01"}],
        },
        {"source": "taxpayers", "select": ["ref"], "order_by": [{"by": "birth_date"}]},
        {"source": "taxpayers", "aggregates": [{"fn": "count"}], "group_by": ["birth_date"]},
        {"source": "taxpayers", "aggregates": [{"fn": "min", "field": "birth_date"}]},
    ]
    for body in by_birth:
        plan = Plan.model_validate(body)
        for who, purpose in ((world.caseworker, world.cw_purpose), (world.taxpayer, "self_service")):
            if purpose == "examination":
                continue  # examination needs birth dates in full
            denied = _ask(door, who, purpose, plan)
            assert isinstance(denied, Denied) and "masked" in str(denied), (who, body)
            ev = _last_event(door)
            assert ev.decision == Decision.DENY and ev.policy is not None and "masked-field" in ev.policy


def test_analysts_never_use_sensitive_fields_ids_or_single_record_values(world: World, door: Door) -> None:
    for body in (
        {
            "source": "taxpayers",
            "aggregates": [{"fn": "count"}],
            "filters": [{"field": "last_name", "op": "=", "value": "Smith"}],
        },
        {"source": "taxpayers", "aggregates": [{"fn": "count"}], "group_by": ["zip"]},
        {"source": "taxpayers", "aggregates": [{"fn": "count"}], "group_by": ["ref"]},
        {"source": "returns", "aggregates": [{"fn": "max", "field": "wages"}]},
    ):
        denied = _ask(door, "ana-001", "statistics", Plan.model_validate(body))
        assert isinstance(denied, Denied), body
        assert _last_event(door).decision == Decision.DENY


def test_an_engineer_with_a_grant_sees_only_its_datasets_and_fields(world: World, door: Door) -> None:
    now = dt.datetime.now(dt.UTC)
    with world.engine.begin() as conn:
        conn.execute(
            t.grants.insert().values(
                ref="g" + "0" * 15, principal_id="eng-002", datasets=["returns"], fields=["filing_status"],
                purpose="data_migration", starts_at=now - dt.timedelta(days=1), ends_at=now + dt.timedelta(days=5),
                approver_id="eng-lead", renewals=0, state="active", created_at=now,
            )
        )  # fmt: skip
    counts = Plan.model_validate({"source": "returns", "aggregates": [{"fn": "count"}], "group_by": ["filing_status"]})
    got = _ask(door, "eng-002", "data_migration", counts)
    assert isinstance(got, Answer) and got.role == "engineer"
    e = t.entities.c
    with world.engine.connect() as conn:  # every account but restricted and employees' (the forbids)
        open_ids = frozenset(
            int(i) for (i,) in conn.execute(sa.select(e.id).where(e.is_restricted.is_(False), e.is_employee.is_(False)))
        )
    assert {r["returns.filing_status"]: r["count"] for r in got.rows} == {
        k: n for k, (n, _) in _true_counts(world.engine, open_ids).items()
    }
    assert sum(n for n, _ in _true_counts(world.engine, None).values()) > sum(r["count"] for r in got.rows)
    # a field category the grant does not name, a dataset it does not name, another purpose
    assert isinstance(_ask(door, "eng-002", "data_migration", AGGREGATE), Denied)
    assert "outside-grant" in (_last_event(door).policy or "")
    assert isinstance(_ask(door, "eng-002", "data_migration", LISTING), Denied)
    assert isinstance(_ask(door, "eng-002", "debugging", counts), Denied)
    assert isinstance(_ask(door, "eng-001", "data_migration", counts), Denied)  # not her grant


def test_answers_do_not_depend_on_who_else_asked(world: World, door: Door) -> None:
    """Scopes are per principal: the caseworker's answer is the same before and after the analyst's."""
    first = _ask(door, world.caseworker, world.cw_purpose, AGGREGATE)
    _ask(door, "ana-001", "statistics", AGGREGATE)
    again = _ask(door, world.caseworker, world.cw_purpose, AGGREGATE)
    assert isinstance(first, Answer) and isinstance(again, Answer) and first.rows == again.rows
    assert Counter(e.action for e in (_last_event(door),)) == Counter({"query:query_aggregate": 1})


def test_a_caseworker_sees_only_her_own_open_cases(world: World, door: Door) -> None:
    plan = Plan.model_validate({"source": "cases", "select": ["ref", "status"], "limit": 1000})
    got = _ask(door, world.caseworker, world.cw_purpose, plan)
    assert isinstance(got, Answer)
    c = t.cases.c
    with world.engine.connect() as conn:
        mine = {
            str(r)
            for (r,) in conn.execute(
                sa.select(c.ref).where(
                    c.assigned_to == world.caseworker, c.status == "open", c.purpose == world.cw_purpose
                )
            )
        }
        everyone = conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one()
    assert {r["cases.ref"] for r in got.rows} == mine and everyone > len(mine)


QUESTION = "How many taxpayers live in each state?"
ROLES = [
    # (role, who, purpose, what the answer must be)
    ("caseworker", "caseworker", "case", "her subjects' counts, exact"),
    ("analyst", "ana-001", "statistics", "everyone's counts, noised, small states suppressed"),
    ("engineer without a grant", "eng-001", "data_migration", "denied"),
    ("oversight", "ovs-audit", "oversight_review", "denied"),
    ("taxpayer", "taxpayer", "self_service", "her own state, count 1"),
]


@pytest.mark.parametrize(("role", "who", "purpose", "expected"), ROLES, ids=[r[0] for r in ROLES])
def test_the_same_question_in_words_five_roles(
    world: World, door: Door, role: str, who: str, purpose: str, expected: str
) -> None:
    """The offline translator's plan for one question, asked as each role, through the door."""
    principal = {"caseworker": world.caseworker, "taxpayer": world.taxpayer}.get(who, who)
    purpose = world.cw_purpose if purpose == "case" else purpose
    session = door.session(door.caller(principal), purpose, channel="cli")
    e = t.entities.c
    with world.engine.connect() as conn:

        def states(ids: frozenset[int] | None) -> dict[str, int]:
            q = sa.select(e.state, sa.func.count()).where(e.kind == "individual").group_by(e.state)
            if ids is not None:
                q = q.where(e.id.in_(sorted(ids)))
            return {str(s): int(n) for s, n in conn.execute(q)}

        if expected == "denied":
            with pytest.raises(Denied):
                ask(door, session, question=QUESTION)
            ev = _last_event(door)
            assert ev.principal == principal and ev.decision == Decision.DENY and ev.action == "query:query_aggregate"
            return
        result = ask(door, session, question=QUESTION)
        assert isinstance(result, tuple)
        proposal, got = result
        assert proposal.translator == "offline" and "for each state" in proposal.description
        by_state = {r["taxpayers.state"]: r["count"] for r in got.rows}
        if role == "caseworker":
            assert by_state == states(world.cw_subjects)
        elif role == "taxpayer":
            assert by_state == states(frozenset({world.tp_entity})) and sum(by_state.values()) == 1
        else:
            truth = states(None)
            assert got.noise is not None and set(by_state) == {s for s, n in truth.items() if n >= MIN_CELL}
            ci95 = got.noise["releases"]["count"]["ci95"]
            assert all(abs(by_state[s] - truth[s]) <= 3 * ci95 for s in by_state)
    ev = _last_event(door)
    assert (ev.principal, ev.resource, ev.decision) == (principal, proposal.plan.ref, Decision.ALLOW)
