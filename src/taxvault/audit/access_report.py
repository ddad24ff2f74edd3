"""A taxpayer's access report: who looked at her records, when, why, and which fields.

Read from the index of events by taxpayer (``audit_subjects``, written with the
events in the same transaction), never by scanning the log: a page costs a few
index and primary-key look-ups, so report time depends on how often *she* was
looked at, not on how large the log has grown.

What the report shows, and why:

- **Accesses**: every allowed event about her by anyone but herself, with the
  fields it disclosed (an allowed look that disclosed no field is still an
  inspection of her record, so it is listed with an empty field list). IRC 7431(e)
  notice is about inspections and disclosures; these are they.
- **Attempts**: every event about her that was refused (``denied``) or that was
  allowed but failed before anything was returned (``failed``), in a separate list:
  nothing was disclosed, but an attempt is what a browsing employee leaves behind.
- Her own reads are left out: she knows she made them.

Employees are pseudonymised per employee *and per taxpayer* (a keyed HMAC of
both): she can see that the same person looked twice, but two taxpayers cannot
compare reports to follow one employee across them. System jobs (posting,
notices, ingest) are named: they are not people. Unit, role and purpose come
with each line; break-glass accesses are flagged from the review queue by leaf
index (not by guessing from policy ids).

Paging is by leaf index, newest first: ``before`` (exclusive) and ``next_before``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.tables import break_glass_reviews
from taxvault.audit.event import AuditEvent, Decision
from taxvault.audit.subject_index import events_about
from taxvault.keys import load_or_create_secret
from taxvault.store.tables import principals

PSEUDONYM_KEY = "access-report-pseudonyms"
MAX_LIMIT = 500
_BATCH = 500  # leaves read from the index per round when her own reads must be skipped


def pseudonym(principal_id: str, taxpayer_ref: str, key: bytes) -> str:
    """A stable pseudonym of one employee in one taxpayer's report (another taxpayer sees another one)."""
    message = b"access-report/v2\x00" + principal_id.encode("utf-8") + b"\x00" + taxpayer_ref.encode("ascii")
    return "employee-" + hmac.new(key, message, hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Line:
    """One event of the report, as the taxpayer sees it."""

    event: int  # the leaf index: a verifier can prove the line is in the log
    time: dt.datetime
    accessor: str
    unit: str | None
    role: str | None
    purpose: str | None
    action: str  # the verb ("read", "adjust", ...)
    record: str  # what of hers ("entity", "module_transcript", ...)
    fields: tuple[str, ...]
    break_glass: bool
    outcome: str  # "disclosed" (an access), "denied" or "failed" (an attempt)

    @property
    def is_access(self) -> bool:
        return self.outcome == "disclosed"

    def to_json(self) -> dict[str, object]:
        """The line as the API returns it."""
        return {
            "event": self.event,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "accessor": self.accessor,
            "unit": self.unit,
            "role": self.role,
            "purpose": self.purpose,
            "action": self.action,
            "record": self.record,
            "fields": list(self.fields),
            "break_glass": self.break_glass,
            "outcome": self.outcome,
        }


@dataclass(frozen=True, slots=True)
class ReportPage:
    """Lines about one taxpayer, newest first, and where the next page starts."""

    lines: list[Line]
    next_before: int | None

    @property
    def accesses(self) -> list[Line]:
        return [line for line in self.lines if line.is_access]

    @property
    def attempts(self) -> list[Line]:
        return [line for line in self.lines if not line.is_access]


def _outcome(event: AuditEvent) -> str:
    if event.decision == Decision.ALLOW:
        return "disclosed"
    # Unit.audit appends "|<what>-failed:<kind>" to the deciding policies of an allowed
    # access that then failed; a plain denial carries only policy ids.
    return "failed" if "|" in (event.policy or "") else "denied"


def _scan(
    conn: Connection, subject: str, exclude: frozenset[str], want: int, before: int | None
) -> tuple[list[tuple[int, AuditEvent]], bool]:
    """Up to ``want`` events about ``subject`` by others, newest first, and whether more remain."""
    found: list[tuple[int, AuditEvent]] = []
    marks = [b'"principal":' + json.dumps(p, ensure_ascii=False).encode() for p in sorted(exclude)]
    cursor = before
    batch = min(max(want + 1, 16), _BATCH)
    while len(found) <= want:
        rows = events_about(conn, subject, before=cursor, limit=batch)
        if not rows:
            break
        for leaf, data in rows:
            if any(mark in data for mark in marks):  # hers, not parsed (a quote inside a value is escaped)
                continue
            ev = AuditEvent.from_bytes(data)
            if ev.principal not in exclude:
                found.append((leaf, ev))
        cursor = rows[-1][0]
        if len(rows) < batch:
            break
        batch = min(max(2 * (want + 1 - len(found)), 16), _BATCH)  # what is still missing, with room
    return found[:want], len(found) > want


def _facts(conn: Connection, who: set[str]) -> dict[str, tuple[str, str | None, str | None]]:
    """principal -> (kind, unit, first role), as the store has it now."""
    if not who:
        return {}
    p = principals.c
    rows = conn.execute(sa.select(p.id, p.kind, p.unit, p.roles).where(p.id.in_(sorted(who))))
    return {str(r.id): (str(r.kind), r.unit, (r.roles or "").split()[0] if r.roles else None) for r in rows}


def _break_glass(conn: Connection, found: list[tuple[int, AuditEvent]]) -> set[int]:
    """Leaf indexes of the found events that are on the break-glass review queue."""
    allowed = [(leaf, ev) for leaf, ev in found if ev.decision == Decision.ALLOW]
    if not allowed:
        return set()
    b = break_glass_reviews.c
    # By principal (indexed) and then leaf: the queue is read per accessor, never whole.
    rows = conn.execute(
        sa.select(b.leaf_index).where(
            b.principal_id.in_(sorted({ev.principal for _, ev in allowed})),
            b.leaf_index.in_([leaf for leaf, _ in allowed]),
        )
    )
    return {int(leaf) for (leaf,) in rows}


def _lines(conn: Connection, subject: str, found: list[tuple[int, AuditEvent]], key: bytes) -> list[Line]:
    facts = _facts(conn, {ev.principal for _, ev in found})
    flagged = _break_glass(conn, found)
    lines: list[Line] = []
    for leaf, ev in found:
        kind, unit, role = facts.get(ev.principal, ("unknown", None, None))
        verb, _, record = ev.action.partition(":")
        lines.append(
            Line(
                event=leaf,
                time=ev.time,
                accessor=ev.principal if kind == "system" else pseudonym(ev.principal, subject, key),
                unit=unit,
                role=role,
                purpose=ev.purpose,
                action=verb,
                record=record or verb,
                fields=ev.fields,
                break_glass=leaf in flagged,
                outcome=_outcome(ev),
            )
        )
    return lines


def report_page(
    conn: Connection,
    subject: str,
    *,
    exclude: Iterable[str],
    limit: int,
    before: int | None = None,
    key: bytes | None = None,
) -> ReportPage:
    """One page of the report about ``subject`` (an entity ref), newest first, events before ``before``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}")
    key = key if key is not None else load_or_create_secret(PSEUDONYM_KEY)
    found, more = _scan(conn, subject, frozenset(exclude), limit, before)
    lines = _lines(conn, subject, found, key)
    return ReportPage(lines, lines[-1].event if more and lines else None)


def report_lines(
    conn: Connection, subject: str, *, exclude: Iterable[str], cap: int, key: bytes | None = None
) -> tuple[list[Line], bool]:
    """The newest ``cap`` lines about ``subject`` (for the PDF) and whether older ones were left out."""
    key = key if key is not None else load_or_create_secret(PSEUDONYM_KEY)
    found, more = _scan(conn, subject, frozenset(exclude), cap, None)
    return _lines(conn, subject, found, key), more


def access_report(
    conn: Connection, entity_ref: str, *, exclude_principal: str, limit: int, before: int | None = None
) -> dict[str, object]:
    """The JSON body of ``/v1/me/access-report``: accesses (``items``) and attempts, one page."""
    page = report_page(conn, entity_ref, exclude=(exclude_principal,), limit=limit, before=before)
    return {
        "items": [line.to_json() for line in page.accesses],
        "attempts": [line.to_json() for line in page.attempts],
        "limit": limit,
        "before": before,
        "next_before": page.next_before,
    }
