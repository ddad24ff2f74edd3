"""Routes: versioned paths with opaque ids only, consistent pagination and filtering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from access_world import World, entity_ref, make_world, module_ref, ref, tin_of
from sqlalchemy.engine import Engine

from taxvault.store import tables as t
from taxvault.store.tins import protect_row

TP = 5  # the ordinary taxpayer of the access world (entity and module id 5)

# Extra rows about ``tp`` so that paging and every filter change the answer.
# (module id, mft, tax period); the world already holds module 5: MFT 30, 202412.
EXTRA_MODULES = ((101, 30, 202312), (102, 30, 202212), (103, 55, 202412))
# (return id, module id, tax year); the world already holds return 5 (2024, module 5).
EXTRA_RETURNS = ((101, 101, 2023), (102, 102, 2022))
# (information return id, form, tax year); the world already holds 5: W-2 2024.
EXTRA_INFO = ((101, "1099-INT", 2024), (102, "W-2", 2023), (103, "1099-NEC", 2024))


def _seed_more_for_tp(engine: Engine) -> None:
    with engine.begin() as conn:
        for mid, mft, period in EXTRA_MODULES:
            conn.execute(
                t.tax_modules.insert().values(
                    id=mid, ref=ref("m", mid), entity_id=TP, mft=mft, tax_period=period, status="open",
                    source_id=1, source_record=mid,
                )
            )  # fmt: skip
        for rid, mid, year in EXTRA_RETURNS:
            conn.execute(
                t.returns.insert().values(
                    id=rid, ref=ref("r", rid), module_id=mid, entity_id=TP, tax_year=year, form="1040",
                    filing_status="S", dependents=0, filed_date=dt.date(year + 1, 4, 1), dln=f"29211105{rid:06d}",
                    wages_cents=4_000_000, total_income_cents=4_000_000, agi_cents=4_000_000,
                    tax_cents=300_000, withholding_cents=300_000, balance_due_cents=0, source_id=1, source_record=rid,
                )
            )  # fmt: skip
        for iid, form, year in EXTRA_INFO:
            conn.execute(
                t.information_returns.insert().values(
                    id=iid, form=form, tax_year=year, payer_tin_type="EIN", payee_tin_type="SSN", payee_id=TP,
                    **protect_row(conn, "information_returns",
                                  {"ref": ref("i", iid), "payer_tin": "001234567", "payee_tin": tin_of("tp")}),
                    income_cents=10_000 * iid, withholding_cents=0, boxes={"1": 10_000 * iid},
                    source_id=1, source_record=iid,
                )
            )  # fmt: skip


@pytest.fixture
def api_world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    _seed_more_for_tp(db_engine)
    yield w
    w.client.close()
    w.audit.close()


def test_openapi_is_versioned_and_tin_free(api_world: World) -> None:
    spec = api_world.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    data_paths = [p for p in spec["paths"] if p not in ("/health",)]
    assert data_paths and all(p.startswith("/v1/") for p in data_paths)
    assert not any("tin" in p.lower() for p in spec["paths"])
    lookup = spec["paths"]["/v1/taxpayers/lookup"]
    assert "post" in lookup and "get" not in lookup


def _get(w: World, url: str, h: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    r = w.client.get(url, params=params, headers=h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) >= {"items", "limit", "offset", "next_offset"}
    assert body["limit"] == params.get("limit", 50) and body["offset"] == params.get("offset", 0)
    return body


def _ids(body: dict[str, Any], key: str = "id") -> list[Any]:
    return [item[key] for item in body["items"]]


# Every list, in the route's order (newest period / year first, then id; cases: opened, then id).
MODULES_ALL = [module_ref("tp"), ref("m", 103), ref("m", 101), ref("m", 102)]  # 202412/30, 202412/55, 2023, 2022
RETURNS_ALL = [ref("r", TP), ref("r", 101), ref("r", 102)]  # 2024, 2023, 2022
INFO_ALL = [ref("i", TP), ref("i", 101), ref("i", 103), ref("i", 102)]  # 2024 W-2, -INT, -NEC; 2023 W-2
ALICE_CASES = [ref("c", n) for n in (1, 2, 3, 4, 5, 7, 10, 11)]  # all opened the same day: by id


@pytest.mark.parametrize(
    ("path", "who", "purpose", "expected", "limit", "filters"),
    [
        (
            "/v1/taxpayers/{e}/modules", "cw-alice", "collection", MODULES_ALL, 3,
            [({"mft": 30}, [module_ref("tp"), ref("m", 101), ref("m", 102)]), ({"mft": 55}, [ref("m", 103)])],
        ),
        (
            "/v1/taxpayers/{e}/returns", "cw-alice", "collection", RETURNS_ALL, 2,
            [({"tax_year": 2023}, [ref("r", 101)]), ({"tax_year": 2021}, [])],
        ),
        (
            "/v1/taxpayers/{e}/information-returns", "cw-bob", "examination", INFO_ALL, 3,
            [
                ({"tax_year": 2024}, [ref("i", TP), ref("i", 101), ref("i", 103)]),
                ({"form": "W-2"}, [ref("i", TP), ref("i", 102)]),
                ({"tax_year": 2024, "form": "W-2"}, [ref("i", TP)]),
            ],
        ),
        (
            "/v1/me/cases", "cw-alice", "collection", ALICE_CASES, 3,
            [
                ({"status": "open"}, [c for c in ALICE_CASES if c != ref("c", 7)]),
                ({"status": "closed"}, [ref("c", 7)]),
            ],
        ),
    ],
)  # fmt: skip
def test_list_routes_paginate_and_filter_alike(
    api_world: World,
    path: str,
    who: str,
    purpose: str,
    expected: list[str],
    limit: int,
    filters: list[tuple[dict[str, object], list[str]]],
) -> None:
    w, url, h = api_world, path.format(e=entity_ref("tp")), api_world.headers(who, purpose)
    everything = _get(w, url, h, {"limit": 500})
    assert _ids(everything) == expected and everything["next_offset"] is None
    assert len(expected) % limit, "the last page must be partial"
    pages: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = _get(w, url, h, {"limit": limit, "offset": offset})
        remaining = len(expected) - offset
        if remaining > limit:  # a full page says where the next one starts
            assert len(page["items"]) == limit and page["next_offset"] == offset + limit
        else:  # the last page is partial and says there is no next one
            assert len(page["items"]) == remaining < limit and page["next_offset"] is None
        pages += _ids(page)
        offset = page["next_offset"]
    assert pages == expected
    assert _get(w, url, h, {"limit": limit, "offset": len(expected)})["items"] == []
    for params, kept in filters:
        got = _get(w, url, h, {"limit": 500, **params})
        assert _ids(got) == kept, params
        assert set(kept) < set(expected), "a filter that keeps everything shows nothing"
        if len(kept) > 1:  # filters and paging compose: the filter applies before the page
            first = _get(w, url, h, {"limit": 1, **params})
            assert _ids(first) == kept[:1] and first["next_offset"] == 1
            last = _get(w, url, h, {"limit": 1, "offset": len(kept) - 1, **params})
            assert _ids(last) == kept[-1:] and last["next_offset"] is None
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert w.client.get(url, params=bad, headers=h).status_code == 422


def test_audit_events_paginate_like_the_record_lists(api_world: World) -> None:
    w = api_world
    for _ in range(4):  # four audited reads: at least five events with the listing's own
        r = w.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=w.headers("cw-alice", "collection"))
        assert r.status_code == 200
    h = w.headers("ovs-privacy", "oversight_review")
    first = _get(w, "/v1/audit/events", h, {"limit": 2})
    assert _ids(first, "leaf_index") == [0, 1] and first["next_offset"] == 2
    second = _get(w, "/v1/audit/events", h, {"limit": 2, "offset": 2})
    assert _ids(second, "leaf_index") == [2, 3] and second["next_offset"] == 4
    # Each listing is itself audited, so the log grows while we page: fix the size from a snapshot.
    size = w.size()
    tail = _get(w, "/v1/audit/events", h, {"limit": 500, "offset": size - 1})
    assert _ids(tail, "leaf_index") == [size - 1] and tail["next_offset"] is None
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert w.client.get("/v1/audit/events", params=bad, headers=h).status_code == 422
