from __future__ import annotations

from access_world import World, module_ref


def test_smoke(world: World) -> None:
    r = world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=world.headers("cw-alice", "collection"))
    print(r.status_code, r.json())
    assert r.status_code == 200
