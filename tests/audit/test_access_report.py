"""The access report read from the index by taxpayer: complete, nobody else's, paged, pseudonymised.

The property test appends random logs about several taxpayers to a real store (SQLite and
PostgreSQL) and holds every page of every taxpayer's report to the log itself: each event
about her by someone else appears exactly once (an access if allowed, an attempt if not),
and no line is about anyone else. Each example uses fresh taxpayer refs, so the events of
earlier examples are in the same log and must stay out of her report.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from taxvault.access.tables import break_glass_reviews
from taxvault.audit.access_report import access_report, pseudonym, report_lines, report_page
from taxvault.audit.event import AuditEvent, Decision
from taxvault.audit.log import AuditLog
from taxvault.audit.tables import audit_subjects
from taxvault.store.tables import principals

BASE = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
KEY = b"k" * 32
ME = "tp-self"
STAFF = ("cw-ann", "cw-ben", "mgr-cat", "sys-posting", ME)
FIELDS = ("name", "tin:masked", "address_line", "balance_cents")
_fresh = itertools.count()


@pytest.fixture
def log(db_engine: Engine) -> Iterator[AuditLog]:
    with db_engine.begin() as conn:
        for pid, kind, roles, unit in (
            ("cw-ann", "employee", "caseworker", "collection"),
            ("cw-ben", "employee", "caseworker", "examination"),
            ("mgr-cat", "employee", "caseworker manager break_glass", "collection"),
            ("sys-posting", "system", "posting", None),
            (ME, "taxpayer", "taxpayer", None),
        ):
            conn.execute(
                principals.insert().values(
                    id=pid, kind=kind, display_name=pid, roles=roles, unit=unit, dollar_limit_cents=0,
                    active=True, created_at=BASE,
                )
            )  # fmt: skip
    audit = AuditLog(db_engine)
    yield audit
    audit.close()


def ev(
    i: int,
    principal: str,
    subject: str | None,
    *,
    allow: bool = True,
    fields: tuple[str, ...] | None = None,
    policy: str | None = None,
) -> AuditEvent:
    """Event ``i`` (an hour apart) by ``principal`` about ``subject``."""
    return AuditEvent(
        time=BASE + dt.timedelta(hours=i),
        principal=principal,
        action="read:entity",
        resource=subject or "none",
        decision=Decision.ALLOW if allow else Decision.DENY,
        request_id=f"req-{i:08d}",
        purpose="collection",
        policy=policy or ("caseworker-assigned" if allow else "default-deny"),
        fields=fields if fields is not None else (("name",) if allow else ()),
        subject=subject,
        channel="http",
    )


def all_lines(engine: Engine, subject: str, limit: int) -> list[tuple[int, str, str]]:
    """(leaf, accessor, outcome) of every page of the report, following next_before."""
    out: list[tuple[int, str, str]] = []
    before: int | None = None
    with engine.connect() as conn:
        while True:
            page = report_page(conn, subject, exclude=(ME,), limit=limit, before=before, key=KEY)
            assert len(page.lines) <= limit
            out += [(line.event, line.accessor, line.outcome) for line in page.lines]
            if page.next_before is None:
                return out
            assert page.lines and page.next_before == page.lines[-1].event
            before = page.next_before


# principal index, taxpayer index (None: about nobody), allowed
_EVENT = st.tuples(st.integers(0, len(STAFF) - 1), st.one_of(st.none(), st.integers(0, 3)), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_EVENT, max_size=40), limit=st.integers(1, 7))
def test_report_is_every_event_about_her_and_nothing_else(
    log: AuditLog, db_engine: Engine, events: list[tuple[int, int | None, bool]], limit: int
) -> None:
    run = next(_fresh)
    refs = [f"e{run:06x}{k:014x}" for k in range(4)]
    batch = [ev(i, STAFF[p], None if t is None else refs[t], allow=allow) for i, (p, t, allow) in enumerate(events)]
    first = log.append_many(batch).start if batch else 0
    for k, ref in enumerate(refs):
        lines = all_lines(db_engine, ref, limit)
        expected = [
            (first + i, "disclosed" if allow else "denied")
            for i, (p, t, allow) in enumerate(events)
            if t == k and STAFF[p] != ME
        ][::-1]
        assert [(leaf, outcome) for leaf, _, outcome in lines] == expected
        for leaf, accessor, _ in lines:
            principal = STAFF[events[leaf - first][0]]
            want = principal if principal == "sys-posting" else pseudonym(principal, ref, KEY)
            assert accessor == want


def test_a_line_carries_unit_role_purpose_fields_and_the_break_glass_review(log: AuditLog, db_engine: Engine) -> None:
    me, other = "e" + "a" * 20, "e" + "b" * 20
    leaves = log.append_many(
        [
            ev(0, "cw-ann", me, fields=("name", "tin:masked")),
            ev(1, "mgr-cat", me, policy="break-glass", fields=("balance_cents",)),
            ev(2, "mgr-cat", me, policy="break-glass", fields=("name",)),  # says so, but was never queued
            ev(3, "cw-ben", me, allow=False),
            ev(4, "cw-ben", me, allow=False, policy="caseworker-assigned|fetch-failed:not_found"),
            ev(5, "cw-ann", other),
            ev(6, ME, me),
        ]
    )
    with db_engine.begin() as conn:
        conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=leaves[1], request_id="req-00000001", principal_id="mgr-cat", action="read:entity",
                resource=me, purpose="collection", justification="Taxpayer at the counter; case tool down.",
                created_at=BASE, state="pending",
            )
        )  # fmt: skip
    with db_engine.connect() as conn:
        body = access_report(conn, me, exclude_principal=ME, limit=10)
    items, attempts = body["items"], body["attempts"]
    assert isinstance(items, list) and isinstance(attempts, list)
    assert [i["event"] for i in items] == [leaves[2], leaves[1], leaves[0]]
    assert [a["outcome"] for a in attempts] == ["failed", "denied"]
    newest, flagged, oldest = items
    assert flagged["break_glass"] is True and newest["break_glass"] is False and oldest["break_glass"] is False
    assert oldest["unit"] == "collection" and oldest["role"] == "caseworker" and oldest["purpose"] == "collection"
    assert oldest["fields"] == ["name", "tin:masked"] and oldest["action"] == "read" and oldest["record"] == "entity"
    assert newest["role"] == "caseworker" and newest["accessor"] == flagged["accessor"]  # one person, one code
    assert attempts[0]["unit"] == "examination" and attempts[0]["fields"] == []
    for line in items + attempts:
        assert "cw-" not in str(line) and "mgr-" not in str(line)
    assert body["next_before"] is None


def test_one_employee_has_a_different_pseudonym_in_each_taxpayers_report(log: AuditLog, db_engine: Engine) -> None:
    a, b = "e" + "1" * 20, "e" + "2" * 20
    log.append_many([ev(0, "cw-ann", a), ev(1, "cw-ann", b), ev(2, "cw-ann", a)])
    with db_engine.connect() as conn:
        in_a = {line.accessor for line in report_lines(conn, a, exclude=(ME,), cap=10)[0]}
        in_b = {line.accessor for line in report_lines(conn, b, exclude=(ME,), cap=10)[0]}
    assert len(in_a) == 1 and len(in_b) == 1 and in_a != in_b


def test_her_own_reads_do_not_crowd_out_a_page(log: AuditLog, db_engine: Engine) -> None:
    """Paging skips her own events however many there are between two accesses by others."""
    me = "e" + "c" * 20
    leaves = log.append_many([ev(0, "cw-ann", me), *(ev(i, ME, me) for i in range(1, 1200)), ev(1200, "cw-ben", me)])
    with db_engine.connect() as conn:
        first = report_page(conn, me, exclude=(ME,), limit=1, key=KEY)
        assert [line.event for line in first.lines] == [leaves[-1]] and first.next_before == leaves[-1]
        second = report_page(conn, me, exclude=(ME,), limit=1, before=first.next_before, key=KEY)
        assert [line.event for line in second.lines] == [leaves[0]] and second.next_before is None
        lines, truncated = report_lines(conn, me, exclude=(ME,), cap=1, key=KEY)
        assert len(lines) == 1 and truncated


def test_a_version_1_event_indexed_by_the_backfill_is_reported(log: AuditLog, db_engine: Engine) -> None:
    me = "e" + "d" * 20
    old = AuditEvent(
        time=BASE, principal="cw-ann", action="read:entity", resource=me, decision=Decision.ALLOW,
        request_id="req-v1", purpose="collection", policy="caseworker-assigned", fields=("name",), version=1,
    )  # fmt: skip
    (leaf,) = log.append_many([old])
    with db_engine.begin() as conn:  # what migration 0009 does for the events already stored
        conn.execute(sa.insert(audit_subjects).values(subject=me, leaf_index=leaf))
    with db_engine.connect() as conn:
        (line,) = report_lines(conn, me, exclude=(ME,), cap=5, key=KEY)[0]
    assert line.event == leaf and line.fields == ("name",) and line.accessor == pseudonym("cw-ann", me, KEY)
