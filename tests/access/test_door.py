"""The door: one unit of work per request, refusals on the record, revocation on the next request.

Each test attacks a claim of issue 12 through the real door over SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from access_world import World, make_world, module_ref
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Access, Door, Target
from taxvault.access.resources import Resource
from taxvault.audit.tables import audit_tree
from taxvault.errors import Denied, Unavailable
from taxvault.store import tables as t
from taxvault.store.bulk import reset_sequences


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    with db_engine.begin() as conn:
        reset_sequences(conn, [t.sources])  # the world inserts explicit ids
    yield w
    w.client.close()
    w.audit.close()


def _door(world: World) -> Door:
    return world.app.state.services.get().door  # type: ignore[no-any-return]


def _access(world: World, who: str, purpose: str, resource: Resource, ref: str) -> Access:
    door = _door(world)
    session = door.session(door.caller(who), purpose, channel="cli")
    return Access(door, session, resource, ref)


def _transcript(world: World, who: str, purpose: str | None = "collection", **extra: str) -> int:
    headers = world.headers(who, purpose)
    headers.update(extra)
    r = world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=headers)
    return int(r.status_code)


def _sources(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.sources)).scalar_one())


def _insert_source(conn: Connection, _target: Target) -> dict[str, object]:
    import datetime as dt

    conn.execute(t.sources.insert().values(kind="api", name="door test", created_at=dt.datetime.now(dt.UTC)))
    return {"written": True}


def _try_close_case(engine: Engine, case_id: int) -> str:
    """Close the case from another connection that gives up after a short wait: 'closed' or 'blocked'."""
    url = engine.url
    if engine.dialect.name == "sqlite":
        other = sa.create_engine(url, connect_args={"timeout": 0.3})
    else:
        other = sa.create_engine(url)
    try:
        with other.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
            conn.execute(sa.update(t.cases).where(t.cases.c.id == case_id).values(status="closed"))
        return "closed"
    except sa.exc.OperationalError:
        return "blocked"
    finally:
        other.dispose()


# -- item 3: one unit of work ----------------------------------------------------------------------


def test_a_case_cannot_close_between_the_decision_and_the_write(world: World) -> None:
    """The decision's facts are locked until the write commits: a close in between must wait."""
    outcome: dict[str, str] = {}

    def perform(conn: Connection, target: Target) -> dict[str, object]:
        # the decision has been made (case 1 is open); another session now tries to close the case
        closer = threading.Thread(target=lambda: outcome.update(close=_try_close_case(world.engine, 1)))
        closer.start()
        closer.join(5)
        return _insert_source(conn, target)

    before = _sources(world.engine)
    access = _access(world, "cw-alice", "collection", Resource.MODULE_TRANSCRIPT, module_ref("tp"))
    assert access.write(100, perform, ["tc"], "adjust") == {"written": True}
    assert outcome["close"] == "blocked", "the case closed while a write it allowed was in flight"
    assert _sources(world.engine) == before + 1
    event = world.event(world.size() - 1)
    assert (event.action, event.decision) == ("adjust:module_transcript", "allow")


def test_once_the_case_is_closed_the_write_is_refused_and_nothing_written(world: World) -> None:
    assert _try_close_case(world.engine, 1) == "closed"
    before, size = _sources(world.engine), world.size()
    access = _access(world, "cw-alice", "collection", Resource.MODULE_TRANSCRIPT, module_ref("tp"))
    with pytest.raises(Denied):
        access.write(100, _insert_source, ["tc"], "adjust")
    assert _sources(world.engine) == before
    assert world.size() == size + 1
    assert world.event(size).decision == "deny"


def test_a_write_whose_audit_append_fails_is_rolled_back(world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE audit_events RENAME TO audit_events_gone"))
    before = _sources(world.engine)
    access = _access(world, "cw-alice", "collection", Resource.MODULE_TRANSCRIPT, module_ref("tp"))
    with pytest.raises(Unavailable):
        access.write(100, _insert_source, ["tc"], "adjust")
    assert _sources(world.engine) == before, "a write without its audit record must not stay"


def test_decision_write_and_audit_share_one_transaction(world: World) -> None:
    """The write's audit event is appended on the write's own connection, before its COMMIT."""
    seen: dict[str, int] = {}

    def perform(conn: Connection, target: Target) -> dict[str, object]:
        seen["before"] = int(conn.execute(sa.select(audit_tree.c.tree_size)).scalar_one())
        return _insert_source(conn, target)

    access = _access(world, "cw-alice", "collection", Resource.MODULE_TRANSCRIPT, module_ref("tp"))
    access.write(100, perform, ["tc"], "adjust")
    assert world.size() == seen["before"] + 1


# -- item 6: refusals before the door decides are on the record --------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "justification", "reason"),
    [
        (None, None, "refused:purpose-missing-or-invalid"),
        ("Collection!", None, "refused:purpose-missing-or-invalid"),
        ("colle\u0441tion", None, "refused:purpose-missing-or-invalid"),  # a Cyrillic 'с'
        ("collection", "too short", "refused:break-glass-justification-invalid"),
    ],
)
def test_refusals_before_a_decision_are_audited(
    world: World, purpose: str | None, justification: str | None, reason: str
) -> None:
    size = world.size()
    extra = {"Break-Glass-Justification": justification} if justification else {}
    headers = world.headers("cw-alice", None)
    headers.update(extra)
    if purpose is not None:
        headers["Purpose-Of-Use"] = purpose
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]  # bytes: a non-ASCII header as sent on the wire
    r = world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=raw)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert world.size() == size + 1
    event = world.event(size)
    assert (event.principal, event.decision, event.policy) == ("cw-alice", "deny", reason)


def test_rate_limited_requests_are_audited(db_engine: Engine) -> None:
    world = make_world(db_engine, rate=0.001)  # a burst of one, then nothing for a long time
    try:
        assert _transcript(world, "cw-alice") == 200
        size = world.size()
        r = world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=world.headers("cw-alice", "x_y"))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert world.size() == size + 1
        assert world.event(size).policy == "refused:rate-limited"
    finally:
        world.client.close()
        world.audit.close()


def test_an_authorised_read_that_fails_while_fetching_is_audited(world: World) -> None:
    def broken(conn: Connection, target: Target) -> dict[str, object]:
        raise RuntimeError("the fetch failed")

    size = world.size()
    access = _access(world, "cw-alice", "collection", Resource.MODULE_TRANSCRIPT, module_ref("tp"))
    with pytest.raises(Unavailable):
        access.serve(broken)
    assert world.size() == size + 1
    event = world.event(size)
    assert event.policy is not None and event.policy.endswith("fetch-failed:error")
    assert event.fields == ()


# -- item 7: revocation on the next request -------------------------------------------------------------------


def test_deactivation_takes_effect_on_the_next_request(world: World) -> None:
    assert _transcript(world, "cw-alice") == 200  # her facts are cached now
    with world.engine.begin() as conn:
        conn.execute(sa.update(t.principals).where(t.principals.c.id == "cw-alice").values(active=False))
    size = world.size()
    assert _transcript(world, "cw-alice") == 401
    assert world.client.get("/v1/me", headers=world.headers("cw-alice")).status_code == 401
    refused = [world.event(i) for i in range(size, world.size())]
    assert refused and all(e.principal == "cw-alice" and e.decision == "deny" for e in refused)


def test_a_role_change_takes_effect_on_the_next_request(world: World) -> None:
    assert _transcript(world, "cw-alice") == 200
    with world.engine.begin() as conn:
        conn.execute(sa.update(t.principals).where(t.principals.c.id == "cw-alice").values(roles="analyst"))
    assert _transcript(world, "cw-alice") == 403
    with world.engine.begin() as conn:
        conn.execute(sa.update(t.principals).where(t.principals.c.id == "cw-alice").values(roles="caseworker"))
    assert _transcript(world, "cw-alice") == 200


def test_a_new_declared_relation_takes_effect_on_the_next_request(world: World) -> None:
    assert _transcript(world, "cw-alice") == 200
    with world.engine.begin() as conn:
        eid = conn.execute(sa.select(t.entities.c.id).where(t.entities.c.ref == _entity_of_module(conn))).scalar_one()
        conn.execute(t.principal_relations.insert().values(principal_id="cw-alice", entity_id=eid, relation="relative"))
    assert _transcript(world, "cw-alice") == 403


def _entity_of_module(conn: Connection) -> str:
    row = conn.execute(
        sa.select(t.entities.c.ref)
        .select_from(t.tax_modules.join(t.entities, t.entities.c.id == t.tax_modules.c.entity_id))
        .where(t.tax_modules.c.ref == module_ref("tp"))
    ).scalar_one()
    return str(row)


@pytest.mark.parametrize("name", ["900-12-3456", "900123456", "nobody at all", "x" * 80])
def test_an_unknown_principal_is_refused_and_recorded_without_echoing_its_name(world: World, name: str) -> None:
    from taxvault.errors import Unauthenticated

    size = world.size()
    with pytest.raises(Unauthenticated) as refused:
        _door(world).caller(name)
    assert name not in str(refused.value)
    assert world.size() == size + 1
    assert (world.event(size).principal, world.event(size).decision) == ("unknown", "deny")
