"""The console's log browser (audit/browse.py) on both stores: filters, newest first, paging by leaf, bounded scans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from helpers_audit import BASE, event
from sqlalchemy.engine import Engine

from taxvault.audit.browse import EventFilter, page
from taxvault.audit.log import AuditLog

N = 1300  # more than two chunks of 500


def test_filters_paging_and_bounded_scans(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i, principal="emp-rare" if i % 400 == 5 else "emp-000007") for i in range(N)])
    with db_engine.connect() as conn:
        first = page(conn, EventFilter(), size=50)
        assert [e["leaf_index"] for e in first["items"]] == list(range(N - 1, N - 51, -1))
        assert first["older_before"] == N - 50 and first["scanned"] == 50  # unfiltered: reads what it shows
        rare = page(conn, EventFilter(principal="emp-rare"), size=50, budget=10 * N)
        assert [e["leaf_index"] for e in rare["items"]] == [1205, 805, 405, 5]
        assert rare["older_before"] is None and rare["scanned"] == N
        # a bounded read stops and says where: the next page continues below it
        part = page(conn, EventFilter(principal="emp-rare"), size=50, budget=600)
        assert [e["leaf_index"] for e in part["items"]] == [1205, 805] and part["older_before"] == N - 600
        rest = page(conn, EventFilter(principal="emp-rare"), before=part["older_before"], size=50, budget=10 * N)
        assert [e["leaf_index"] for e in rest["items"]] == [405, 5]
        # by resource and by day (events are one second apart from BASE)
        by_resource = page(conn, EventFilter(resource=f"ent_{7:016x}"), budget=10 * N)["items"]
        assert [e["leaf_index"] for e in by_resource] == [7]
        day = (BASE + dt.timedelta(seconds=N - 1)).date()
        by_day = page(conn, EventFilter(since=day, until=day), size=500, budget=10 * N)["items"]
        assert by_day and all(e["time"].startswith(day.isoformat()) for e in by_day)
        yesterday = BASE.date() - dt.timedelta(days=1)
        assert page(conn, EventFilter(until=yesterday), budget=10 * N)["items"] == []
