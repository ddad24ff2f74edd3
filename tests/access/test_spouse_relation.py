"""The store's spouse link (``entities.spouse_id``) is a relation, declared or not.

A caseworker or manager must not reach a spouse's account because nobody filed a
``principal_relations`` row, nor because the spouse lives at another address: the
forbid on own-or-related accounts holds, break-glass included.
"""

from __future__ import annotations

import sqlalchemy as sa
from access_world import ENTITIES, World, entity_ref, module_ref

from taxvault.access.principals import load_caller
from taxvault.store import tables as t

JUSTIFY = "Taxpayer called: levy released today, supervisor approved."
ELSEWHERE = {"address_line": "77 Far Away Rd", "city": "Peoria", "state": "IL", "zip": "61602"}
FORBID = "forbid-own-or-related-account"


def _forbidden(world: World, who: str, name: str, purpose: str, justification: str | None = None) -> None:
    for path in (f"/v1/taxpayers/{entity_ref(name)}", f"/v1/modules/{module_ref(name)}/transcript"):
        r = world.client.get(path, headers=world.headers(who, purpose, justification))
        assert r.status_code == 403, (who, path, r.text)
        assert FORBID in (world.event(world.size() - 1).policy or "").split(","), path


def test_undeclared_spouse_elsewhere_is_still_alices_spouse(world: World) -> None:
    spouse = ENTITIES["alice_spouse"][0]
    with world.engine.begin() as conn:
        conn.execute(
            t.principal_relations.delete().where(
                t.principal_relations.c.principal_id == "cw-alice", t.principal_relations.c.entity_id == spouse
            )
        )
        conn.execute(t.entities.update().where(t.entities.c.id == spouse).values(**ELSEWHERE))
        conn.execute(
            t.principals.update().where(t.principals.c.id == "cw-alice").values(roles="caseworker break_glass")
        )
    with world.engine.connect() as conn:
        caller = load_caller(conn, "cw-alice")
    assert caller.relation_to(spouse, tuple(ELSEWHERE.values())) == "spouse"  # type: ignore[arg-type]
    # her open collection case on the spouse does not help, nor does breaking the glass
    _forbidden(world, "cw-alice", "alice_spouse", "collection")
    _forbidden(world, "cw-alice", "alice_spouse", "collection", JUSTIFY)


def _carol_and(world: World, own: str, *, spouse_of_own: str | None, own_named_by: str | None) -> None:
    with world.engine.begin() as conn:
        conn.execute(t.principals.update().where(t.principals.c.id == "mgr-carol").values(entity_id=ENTITIES[own][0]))
        if spouse_of_own:
            conn.execute(
                t.entities.update()
                .where(t.entities.c.id == ENTITIES[own][0])
                .values(spouse_id=ENTITIES[spouse_of_own][0])
            )
        if own_named_by:
            conn.execute(
                t.entities.update()
                .where(t.entities.c.id == ENTITIES[own_named_by][0])
                .values(spouse_id=ENTITIES[own][0])
            )
        declared = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.principal_relations)
            .where(t.principal_relations.c.principal_id == "mgr-carol")
        ).scalar_one()
    assert declared == 0


def test_break_glass_refused_on_the_callers_spouse(world: World) -> None:
    # Carol's own entity names tp2 (another address) as spouse; no relation is declared.
    _carol_and(world, "alice_relative", spouse_of_own="tp2", own_named_by=None)
    _forbidden(world, "mgr-carol", "tp2", "collection", JUSTIFY)


def test_break_glass_refused_on_whoever_names_the_caller_as_spouse(world: World) -> None:
    # The link is recorded on the other side only: tp2 names Carol's entity as spouse.
    _carol_and(world, "alice_relative", spouse_of_own=None, own_named_by="tp2")
    _forbidden(world, "mgr-carol", "tp2", "collection", JUSTIFY)


def test_break_glass_still_reaches_strangers(world: World) -> None:
    _carol_and(world, "alice_relative", spouse_of_own="neighbour", own_named_by=None)
    r = world.client.get(
        f"/v1/taxpayers/{entity_ref('tp2')}", headers=world.headers("mgr-carol", "collection", JUSTIFY)
    )
    assert r.status_code == 200, r.text
