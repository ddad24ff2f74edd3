"""Raising alerts: the one way detectors (and canaries, and the break-glass clock) put work on the queue.

Raising is idempotent on ``dedupe``: the same finding raised twice (a scan re-run, a
resumed scan, two detectors agreeing) stays one alert, and the first one's ref is
returned. Services flush, never commit: the caller's transaction decides.

Summaries never carry a TIN or a name, only opaque refs, principal ids, counts and
rule names; a summary that looks like it holds a TIN is refused.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from taxvault.errors import Invalid
from taxvault.oversight.tables import SEVERITIES, oversight_alerts

Severity = Literal["low", "medium", "high", "critical"]

RULE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
TIN_LIKE = re.compile(r"(?<!\d)\d{3}-?\d{2}-?\d{4}(?!\d)|(?<!\d)\d{2}-\d{7}(?!\d)")  # in free text
# Dedupe keys are machine keys that may carry long ids: only a TIN written as one (dashes) is refused there.
TIN_FORMATTED = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)|(?<!\d)\d{2}-\d{7}(?!\d)")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """One finding, before it is an alert (same fields as :func:`raise_alert`)."""

    rule: str
    severity: Severity
    summary: str
    leaves: list[int]
    principal_id: str | None
    subject: str | None
    window: tuple[dt.datetime, dt.datetime] | None
    dedupe: str


def new_alert_ref() -> str:
    """An opaque alert ref (matches the door's ``REF_PATTERN``)."""
    return "l" + secrets.token_hex(10)


def raise_alert(
    conn: Connection,
    *,
    rule: str,
    severity: Severity,
    summary: str,
    leaves: list[int],
    principal_id: str | None,
    subject: str | None,
    window: tuple[dt.datetime, dt.datetime] | None,
    dedupe: str,
    now: dt.datetime | None = None,
) -> str:
    """Raise one alert (or find the one already raised with ``dedupe``); returns its ref."""
    draft = AlertDraft(rule, severity, summary, leaves, principal_id, subject, window, dedupe)
    return raise_alerts(conn, [draft], now=now)[0]


def raise_alerts(conn: Connection, drafts: Sequence[AlertDraft], *, now: dt.datetime | None = None) -> list[str]:
    """Raise many alerts in a few statements; returns each draft's alert ref, in order.

    Drafts whose ``dedupe`` already names an alert (in the store or earlier in ``drafts``)
    are not raised again; their ref is the existing alert's.
    """
    if not drafts:
        return []
    for d in drafts:
        _check(d)
    now = now or dt.datetime.now(dt.UTC)
    keys = list(dict.fromkeys(d.dedupe for d in drafts))
    refs = _existing(conn, keys)
    first: dict[str, AlertDraft] = {}
    for d in drafts:
        if d.dedupe not in refs and d.dedupe not in first:
            first[d.dedupe] = d
    rows = [_row(d, now) for d in first.values()]
    for start in range(0, len(rows), _CHUNK):
        conn.execute(_insert_ignoring_duplicates(conn), rows[start : start + _CHUNK])
    if first:  # a concurrent scan may have won a race on some dedupe: read what is stored
        refs |= _existing(conn, list(first))
    return [refs[d.dedupe] for d in drafts]


def _check(d: AlertDraft) -> None:
    if not RULE_PATTERN.fullmatch(d.rule):
        raise Invalid(f"alert rule names are lower-case words: {d.rule[:40]!r}", code="alert-rule")
    if d.severity not in SEVERITIES:
        raise Invalid(f"alert severity is one of {', '.join(SEVERITIES)}", code="alert-severity")
    if not d.dedupe or len(d.dedupe) > 200:
        raise Invalid("an alert needs a dedupe key of 1 to 200 characters", code="alert-dedupe")
    if not d.summary or len(d.summary) > 500:
        raise Invalid("an alert summary is 1 to 500 characters", code="alert-summary")
    if TIN_LIKE.search(d.summary) or TIN_FORMATTED.search(d.dedupe):
        raise Invalid("an alert's summary and dedupe key never carry a TIN", code="alert-tin")
    if any(not isinstance(leaf, int) or leaf < 0 for leaf in d.leaves):
        raise Invalid("alert leaves are audit leaf indexes (non-negative integers)", code="alert-leaves")
    if d.window is not None and d.window[0] > d.window[1]:
        raise Invalid("an alert's window starts before it ends", code="alert-window")


def _row(d: AlertDraft, now: dt.datetime) -> dict[str, Any]:
    start, end = d.window if d.window is not None else (None, None)
    return {
        "ref": new_alert_ref(),
        "rule": d.rule,
        "severity": d.severity,
        "state": "open",
        "principal_id": d.principal_id,
        "subject": d.subject,
        "summary": d.summary,
        "leaves": sorted(set(d.leaves)),
        "window_start": start,
        "window_end": end,
        "dedupe": d.dedupe,
        "created_at": now,
        "updated_at": now,
    }


def _existing(conn: Connection, keys: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    keys = list(keys)
    a = oversight_alerts.c
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found.update((str(k), str(r)) for k, r in conn.execute(sa.select(a.dedupe, a.ref).where(a.dedupe.in_(chunk))))
    return found


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(oversight_alerts).on_conflict_do_nothing(index_elements=["dedupe"])
    if conn.dialect.name == "sqlite":
        return sqlite.insert(oversight_alerts).on_conflict_do_nothing(index_elements=["dedupe"])
    return oversight_alerts.insert()
