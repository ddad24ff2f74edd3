"""What grant_probe counts as covered: approved grants, a revoked one only until its revocation.

A request nobody approved covered nothing: reads under it are probes, whatever its dates say.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.oversight.detect.facts import load_facts, load_staff
from taxvault.store import tables as t

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _principal(conn: sa.Connection, pid: str, roles: str) -> None:
    conn.execute(
        t.principals.insert().values(
            id=pid, kind="contractor" if "engineer" in roles and "approver" not in roles else "employee",
            display_name=pid, roles=roles, unit="modernisation", created_at=T0,
        )
    )  # fmt: skip


def _grant(conn: sa.Connection, gid: int, state: str, *, approved: bool, revoked_at: dt.datetime | None) -> None:
    conn.execute(
        t.grants.insert().values(
            id=gid, ref=f"g{gid:016x}", principal_id="eng-x", datasets=["taxpayers"], fields=["identity"],
            purpose=f"p{'abcdefgh'[gid]}", starts_at=T0, ends_at=T0 + dt.timedelta(days=60),
            approver_id="eng-boss" if approved else None, state=state, created_at=T0,
            requested_by="eng-x", revoked_at=revoked_at, approved_at=T0 if approved else None,
        )
    )  # fmt: skip


def test_only_approved_grants_cover_and_revocation_ends_them(db_engine: Engine) -> None:
    revoked = T0 + dt.timedelta(days=10)
    with db_engine.begin() as conn:
        _principal(conn, "eng-x", "engineer")
        _principal(conn, "eng-boss", "engineer grant_approver")
        _grant(conn, 1, "requested", approved=False, revoked_at=None)
        _grant(conn, 2, "active", approved=True, revoked_at=None)
        _grant(conn, 3, "revoked", approved=True, revoked_at=revoked)
        _grant(conn, 4, "revoked", approved=False, revoked_at=revoked)  # withdrawn before approval
        _grant(conn, 5, "expired", approved=True, revoked_at=None)
    with db_engine.connect() as conn:
        facts = load_facts(conn, load_staff(conn), ["eng-x"], [])
    got = {row["purpose"]: row["ends"] for row in facts.grants.to_pylist()}
    assert set(got) == {"pc", "pd", "pf"}, "the request and the withdrawn request cover nothing"
    assert got["pd"] == revoked and got["pc"] == got["pf"] == T0 + dt.timedelta(days=60)
