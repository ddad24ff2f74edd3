"""Reading the alert queue: the list, one alert with its history, the oversight report.

Reads go through the door like any other (a read unit, decided by the oversight
policies, audited). Alerts hold opaque refs, principal ids, counts and rule names, so
nothing here discloses a taxpayer's data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Session, Target
from taxvault.access.resources import Resource
from taxvault.access.tables import break_glass_reviews
from taxvault.errors import Invalid
from taxvault.oversight.review import QUEUE, find_alert
from taxvault.oversight.tables import STATES, oversight_alerts, oversight_letters, oversight_reviews

_A = oversight_alerts.c
ALERT_FIELDS = ["ref", "rule", "severity", "state", "principal", "subject", "leaves", "window", "summary"]
MAX_LIMIT = 10_000


def alert_json(row: Mapping[str, Any] | sa.RowMapping) -> dict[str, Any]:
    """One alert as the CLI's ``--json`` and the API show it."""
    start, end = row["window_start"], row["window_end"]
    return {
        "ref": row["ref"],
        "rule": row["rule"],
        "severity": row["severity"],
        "state": row["state"],
        "principal": row["principal_id"],
        "subject": row["subject"],
        "leaves": [int(x) for x in row["leaves"]],
        "window": None if start is None else {"start": _iso(start), "end": _iso(end)},
        "summary": row["summary"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "confirmed_by": [row["first_confirmer"]] if row["first_confirmer"] else [],
    }


def list_alerts(
    door: Door,
    session: Session,
    *,
    state: str | None = None,
    rule: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Alerts, newest first, optionally of one state or rule (a read unit, audited)."""
    if state is not None and state not in STATES:
        raise Invalid(f"state is one of {', '.join(STATES)}", code="alert-state")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise Invalid(f"limit is 1 to {MAX_LIMIT}, offset at least 0", code="paging")
    with door.unit(session) as unit:
        target = Target(QUEUE)
        decided = unit.authorize(Resource.OVERSIGHT_ALERT, target, "read")
        stmt = sa.select(oversight_alerts).order_by(_A.created_at.desc(), _A.id.desc()).limit(limit).offset(offset)
        if state is not None:
            stmt = stmt.where(_A.state == state)
        if rule is not None:
            stmt = stmt.where(_A.rule == rule)
        rows = [alert_json(r) for r in unit.conn.execute(stmt).mappings()]
        unit.audit("read", Resource.OVERSIGHT_ALERT, target.ref, decided.decision, ALERT_FIELDS)
    return rows


def get_alert(door: Door, session: Session, ref: str) -> dict[str, Any]:
    """One alert with its review history and the refs of its letters (a read unit, audited)."""
    with door.unit(session) as unit:
        decided = unit.authorize(Resource.OVERSIGHT_ALERT, Target(QUEUE), "read")
        row = find_alert(unit, ref, "read")
        target = Target(str(row["ref"]))
        body = alert_json(row)
        r = oversight_reviews.c
        body["reviews"] = [
            {
                "reviewer": h.reviewer_id,
                "action": h.action,
                "from": h.from_state,
                "to": h.to_state,
                "reason": h.reason,
                "at": _iso(h.at),
            }
            for h in unit.conn.execute(sa.select(oversight_reviews).where(r.alert_id == row["id"]).order_by(r.id))
        ]
        body["confirmed_by"] = [h["reviewer"] for h in body["reviews"] if h["action"] == "confirm"]
        body["letters"] = _letters(unit.conn, int(row["id"]))
        unit.audit("read", Resource.OVERSIGHT_ALERT, target.ref, decided.decision, [*ALERT_FIELDS, "reviews"])
    return body


def report(door: Door, session: Session) -> dict[str, Any]:
    """The oversight report: alerts by rule and state, break-glass reviews by state, letters sent."""
    with door.unit(session) as unit:
        target = Target(QUEUE)
        decided = unit.authorize(Resource.OVERSIGHT_ALERT, target, "read")
        conn = unit.conn
        by_rule: dict[str, dict[str, int]] = {}
        for rule, state, n in conn.execute(
            sa.select(_A.rule, _A.state, sa.func.count()).group_by(_A.rule, _A.state).order_by(_A.rule)
        ):
            by_rule.setdefault(str(rule), {})[str(state)] = int(n)
        by_severity = {
            str(s): int(n)
            for s, n in conn.execute(
                sa.select(_A.severity, sa.func.count())
                .where(_A.state.in_(("open", "confirming")))
                .group_by(_A.severity)
            )
        }
        b = break_glass_reviews.c
        break_glass = {str(s): int(n) for s, n in conn.execute(sa.select(b.state, sa.func.count()).group_by(b.state))}
        oldest = conn.execute(sa.select(sa.func.min(b.created_at)).where(b.state == "pending")).scalar_one()
        letters = int(conn.execute(sa.select(sa.func.count()).select_from(oversight_letters)).scalar_one())
        totals: dict[str, int] = {}
        for states in by_rule.values():
            for s, n in states.items():
                totals[s] = totals.get(s, 0) + n
        unit.audit("read", Resource.OVERSIGHT_ALERT, target.ref, decided.decision, ["report"])
    return {
        "alerts": {"by_state": totals, "by_rule": by_rule, "open_by_severity": by_severity},
        "break_glass": {"by_state": break_glass, "oldest_pending": None if oldest is None else _iso(oldest)},
        "letters": letters,
    }


def _letters(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    lt = oversight_letters.c
    rows = conn.execute(
        sa.select(lt.ref, lt.subject, lt.sha256, lt.created_at).where(lt.alert_id == alert_id).order_by(lt.id)
    )
    return [{"ref": r.ref, "subject": r.subject, "sha256": r.sha256, "created_at": _iso(r.created_at)} for r in rows]


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat()


def scan_now(
    door: Door,
    session: Session,
    *,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """One scan pass on request (the API's ``POST /v1/oversight/scan``, the console's "Scan now").

    Decided and audited first as a read of the alert queue (the scan reads the log and
    raises alerts: oversight work); a refusal stops it before anything is read. Then the
    pass itself runs as the scan job's system principal (:func:`~taxvault.oversight.job.run_once`).
    """
    from taxvault.oversight.job import run_once

    decide_scan(door, session)
    return run_once(door, limit=limit, progress=progress)


def decide_scan(door: Door, session: Session) -> None:
    """May ``session`` start a scan? Decided and audited (``scan`` on the alert queue); raises if not."""
    with door.unit(session) as unit:
        target = Target(QUEUE)
        decided = unit.authorize(Resource.OVERSIGHT_ALERT, target, "read", label="scan")
        unit.audit("scan", Resource.OVERSIGHT_ALERT, target.ref, decided.decision)
