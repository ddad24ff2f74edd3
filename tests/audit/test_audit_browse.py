"""The console's log browser (audit/browse.py) on both stores: filters, newest first, paging by leaf, bounded scans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from helpers_audit import BASE, event
from sqlalchemy.engine import Engine

from taxvault.audit.browse import EventFilter, newest_first
from taxvault.audit.log import AuditLog

N = 1300  # more than two chunks of 500


def test_filters_paging_and_bounded_scans(db_engine: Engine, key_path: Path) -> None:
    with AuditLog(db_engine, key_path=key_path) as log:
        log.append_many([event(i, principal="emp-rare" if i % 400 == 5 else "emp-000007") for i in range(N)])
    with db_engine.connect() as conn:
        first = newest_first(conn, EventFilter(), limit=50)
        assert [e["leaf_index"] for e in first["items"]] == list(range(N - 1, N - 51, -1))
        assert first["next_before"] == N - 50
        rare = newest_first(conn, EventFilter(principal="emp-rare"), limit=50)
        assert [e["leaf_index"] for e in rare["items"]] == [1205, 805, 405, 5]
        assert rare["next_before"] is None and rare["scanned"] == N
        # a bounded scan stops and says where: the next page continues below it
        part = newest_first(conn, EventFilter(principal="emp-rare"), limit=50, scan=600)
        assert [e["leaf_index"] for e in part["items"]] == [1205, 805] and part["next_before"] == N - 600
        rest = newest_first(conn, EventFilter(principal="emp-rare"), before=part["next_before"], limit=50)
        assert [e["leaf_index"] for e in rest["items"]] == [405, 5]
        # by resource and by day (events are one second apart from BASE)
        assert [e["leaf_index"] for e in newest_first(conn, EventFilter(resource=f"ent_{7:016x}"))["items"]] == [7]
        day = (BASE + dt.timedelta(seconds=N - 1)).date()
        by_day = newest_first(conn, EventFilter(since=day, until=day), limit=10_000)["items"]
        assert by_day and all(e["time"].startswith(day.isoformat()) for e in by_day)
        assert newest_first(conn, EventFilter(until=BASE.date() - dt.timedelta(days=1)))["items"] == []
