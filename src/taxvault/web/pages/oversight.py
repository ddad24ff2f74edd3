"""Oversight pages: the audit log browser, inclusion proofs, signed tree heads, "verify now", the alert queue.

Why each page is the API call it mirrors: the log pages are reads of ``audit_log`` with the
action ``read_audit`` (``oversight-audit-log`` policy), the alert pages call the oversight
services (:mod:`taxvault.oversight.queue`, :func:`taxvault.oversight.service.review`: the
two-person UNAX rule and the refusals are theirs, audited). A proof is verified here, on
the server, with :mod:`taxvault.audit.merkle`: the leaf hash recomputed from the stored
event and the path folded up to the root of a signed tree head whose signature is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from taxvault.access.door import REF_PATTERN, Target
from taxvault.access.resources import Resource
from taxvault.audit import browse, merkle
from taxvault.audit.errors import AuditKeyError, AuditProofError
from taxvault.audit.export import verify_store
from taxvault.audit.storage import LogStore
from taxvault.audit.verifier import CHUNK_LEVEL, Progress
from taxvault.errors import Invalid, NotFound
from taxvault.oversight import queue
from taxvault.oversight.review import REASON_MAX, REASON_MIN
from taxvault.oversight.service import review
from taxvault.oversight.tables import STATES
from taxvault.web.kit import (
    NAV,
    NavItem,
    Page,
    WebUser,
    console,
    current_user,
    door_access,
    page_router,
    render,
    render_fragment,
    roles_any,
)
from taxvault.web.tasks import Task

router = page_router("/web/oversight")
User = Annotated[WebUser, Depends(current_user)]
Ref = Annotated[str, Path(pattern=REF_PATTERN)]
Leaf = Annotated[int, Path(ge=0, lt=2**62)]
Filter = Annotated[str | None, Query(max_length=80)]
_NAME = re.compile(r"^[A-Za-z0-9_.:\-]*[A-Za-z_][A-Za-z0-9_.:\-]*$")
_REF = re.compile(REF_PATTERN)
_TIN_RUN = re.compile(r"(?<![0-9])([0-9]{3}-?[0-9]{2}-?[0-9]{4}|[0-9]{2}-[0-9]{7})(?![0-9])")
TaskId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
PAGE_SIZE = 100
HEADS_SHOWN = 100

_oversight = roles_any("oversight")
NAV.append(NavItem("Audit log", "/web/oversight/events", _oversight))
NAV.append(NavItem("Tree heads", "/web/oversight/heads", _oversight))
NAV.append(NavItem("Alerts", "/web/oversight/alerts", _oversight))


@router.get("/")
def start(request: Request, user: User) -> Response:
    return RedirectResponse("/web/oversight/events", status_code=303)


# -- the audit log -----------------------------------------------------------------------------------


def _name(value: str | None) -> str | None:
    """A principal id or resource ref to filter by: blank is none; it has a letter and, unless it is an
    opaque ref, no run of digits shaped like a TIN (so no TIN, bare or dressed, reaches a page URL)."""
    value = (value or "").strip()
    if not value:
        return None
    if not _NAME.fullmatch(value) or (not _REF.fullmatch(value) and _TIN_RUN.search(value)):
        raise Invalid("filter by an id or opaque ref (letters, digits, - _ . :), never a TIN", code="filter")
    return value


def _day(value: str | None) -> dt.date | None:
    """A UTC day (YYYY-MM-DD) or none."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("give days as YYYY-MM-DD", code="filter") from None


def _filter(principal: str | None, resource: str | None, since: str | None, until: str | None) -> browse.EventFilter:
    return browse.EventFilter(_name(principal), _name(resource), _day(since), _day(until))


def _size(value: int | None) -> int:
    if value is None:
        return PAGE_SIZE
    if value not in browse.PAGE_SIZES:
        raise Invalid("a page shows 50, 100 or 500 events", code="size")
    return value


def _events_url(flt: browse.EventFilter, size: int, **at: int | None) -> str:
    """A link to a page of the log: the filters (ids, refs, days: never a TIN), the size, one keyset bound."""
    query: dict[str, Any] = {
        "principal": flt.principal,
        "resource": flt.resource,
        "since": flt.since,
        "until": flt.until,
        "size": size,
        **at,
    }
    return "/web/oversight/events?" + urlencode({k: str(v) for k, v in query.items() if v is not None})


@router.get("/events")
def events(
    request: Request,
    user: User,
    principal: Filter = None,
    resource: Filter = None,
    since: Filter = None,
    until: Filter = None,
    size: Annotated[int | None, Query(ge=1, le=1000)] = None,
    before: Annotated[int | None, Query(ge=1, lt=2**62)] = None,
    after: Annotated[int | None, Query(ge=0, lt=2**62)] = None,
) -> HTMLResponse:
    """Events newest first, filtered by principal, resource (ref, kind or taxpayer ref) and UTC days.

    Paged by leaf index: *older* reads below the page's lowest leaf, *newer* above its highest
    (keyset, never an offset); a page reads at most ``size`` events unfiltered, ten times that
    filtered, and says which leaves it read.
    """
    flt = _filter(principal, resource, since, until)
    rows = _size(size)
    if before is not None and after is not None:
        raise Invalid("page either before or after a leaf", code="page")

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        return browse.page(conn, flt, size=rows, before=before, after=after)

    body = door_access(request, user, Resource.AUDIT_LOG).serve(fetch, action="read_audit")
    query: dict[str, Any] = {
        "principal": flt.principal,
        "resource": flt.resource,
        "since": flt.since,
        "until": flt.until,
    }
    older, newer, high = body["older_before"], body["newer_after"], body["high"]
    here = {} if before is None and after is None else {"before": None if high is None else high + 1}
    return render(
        request,
        "oversight/events.html",
        Page("Audit log"),
        items=body["items"],
        scanned=body["scanned"],
        low=body["low"],
        high=high,
        size=rows,
        sizes=[(n, _events_url(flt, n, **here)) for n in browse.PAGE_SIZES],
        older_url=None if older is None else _events_url(flt, rows, before=older),
        newer_url=None if newer is None else _events_url(flt, rows, after=newer),
        newest_url=_events_url(flt, rows) if before is not None or after is not None else None,
        filters={k: ("" if v is None else str(v)) for k, v in query.items()},
        filtered=any(v is not None for v in query.values()),
    )


@router.post("/events")
def filter_events(
    request: Request,
    user: User,
    principal: Annotated[str, Form(max_length=80)] = "",
    resource: Annotated[str, Form(max_length=80)] = "",
    since: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
    size: Annotated[int | None, Form(ge=1, le=1000)] = None,
) -> Response:
    """The filter form, posted so that what was typed reaches no URL before it is checked (a TIN is
    refused here, unechoed); then the first page of the filtered log (POST-redirect-GET)."""
    flt = _filter(principal, resource, since, until)
    return RedirectResponse(_events_url(flt, _size(size)), status_code=303)


def proof_view(conn: Connection, log: Any, leaf: int) -> dict[str, Any]:
    """The event at ``leaf`` and its inclusion proof in the newest signed head covering it, verified here."""
    data = browse.event_bytes(conn, leaf)
    if data is None:
        raise NotFound("no audit event at that index")
    heads = [s for s in LogStore.sths(conn) if s.tree_size > leaf]
    head = max(heads, key=lambda s: (s.tree_size, s.timestamp_ms)) if heads else None
    try:
        proof = log.inclusion_proof(leaf, head.tree_size if head else None)
    except AuditProofError as exc:
        raise NotFound(str(exc)) from None
    recomputed = merkle.leaf_hash(data)
    included = merkle.verify_inclusion(data, leaf, proof.tree_size, proof.path, proof.root_hash)
    signature: bool | None = None
    if head is not None:
        try:
            signature = head.verify(log.public_key())
        except AuditKeyError:
            signature = None
    return {
        "event": browse.event_json(leaf, data),
        "leaf_hash": proof.leaf_hash.hex(),
        "leaf_hash_matches": recomputed == proof.leaf_hash,
        "audit_path": [h.hex() for h in proof.path],
        "tree_size": proof.tree_size,
        "root_hash": proof.root_hash.hex(),
        "included": included,
        "head": None
        if head is None
        else {
            "tree_size": head.tree_size,
            "time": dt.datetime.fromtimestamp(head.timestamp_ms / 1000, dt.UTC).isoformat(timespec="seconds"),
            "key_id": head.key_id,
            "root_matches": head.root_hash == proof.root_hash,
            "signature": signature,
        },
    }


@router.get("/events/{leaf_index}")
def event(request: Request, user: User, leaf_index: Leaf) -> HTMLResponse:
    """One event and its inclusion proof: leaf hash, path, root, and whether it verifies (computed here)."""
    access = door_access(request, user, Resource.AUDIT_LOG)
    body = access.serve(lambda conn, _t: proof_view(conn, access.door.audit, leaf_index), action="read_audit")
    return render(request, "oversight/event.html", Page(f"Audit event {leaf_index}"), **body)


@router.get("/heads")
def heads(request: Request, user: User) -> HTMLResponse:
    """Signed tree heads, newest first, each signature checked with the log's public key."""
    access = door_access(request, user, Resource.AUDIT_LOG)

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        log = access.door.audit
        try:
            key = log.public_key()
        except AuditKeyError:
            key = None
        all_heads = LogStore.sths(conn)
        shown = sorted(all_heads, key=lambda s: (s.tree_size, s.timestamp_ms), reverse=True)[:HEADS_SHOWN]
        rows = [
            {
                "tree_size": s.tree_size,
                "time": dt.datetime.fromtimestamp(s.timestamp_ms / 1000, dt.UTC).isoformat(timespec="seconds"),
                "root_hash": s.root_hash.hex(),
                "key_id": s.key_id,
                "signature": None if key is None else s.verify(key),
            }
            for s in shown
        ]
        return {"items": rows, "total": len(all_heads), "size": log.store.state(conn).size}

    body = access.serve(fetch, action="read_audit")
    page = Page("Signed tree heads")
    return render(request, "oversight/heads.html", page, items=body["items"], total=body["total"], size=body["size"])


# -- verify now (a long operation: progress polled by htmx) -------------------------------------------


_SHARE = {"tree heads": (0, 5), "leaves": (5, 90), "consistency": (95, 4)}
"""Each verifier phase's share of the bar: (start %, width %); hashing the events is nearly all the work."""
_UNIT = {"tree heads": "signed tree heads checked", "leaves": "events hashed", "consistency": "roots compared"}


def _chunk_level(size: int) -> int:
    """Chunks of about 1/64 of the log (2**10 to 2**16 events): a small log still shows steps."""
    return max(10, min(CHUNK_LEVEL, (max(size, 1) // 64).bit_length()))


def verify_progress(report: Any) -> Progress:
    """The verifier's ``(phase, done, total)`` as the task's percentage and a step saying what was counted."""

    def progress(phase: str, done: int, total: int) -> None:
        start, width = _SHARE[phase]
        report(start + (width * done // total if total else 0), f"{phase}: {done:,} of {total:,} {_UNIT[phase]}")

    return progress


def _verify_work(log: Any, size: int) -> Any:
    def work(report: Any) -> tuple[bytes, str, str]:
        report(0, "reading the signed tree heads")
        result = verify_store(
            log,
            check_events=True,
            sth_interval=None,
            progress=verify_progress(report),
            progress_every=1 << _chunk_level(size),
            chunk_level=_chunk_level(size),
        )
        body = {
            "ok": result.ok,
            "summary": result.summary(),
            "events": result.events,
            "sths": result.sths,
            "verified_size": result.verified_size,
            "first_bad_index": result.first_bad_index,
            "problems": result.problems[:20],
            "notes": result.notes[:20],
        }
        return json.dumps(body).encode(), "application/json", "verification.json"

    return work


def _verify_response(request: Request, task: Task) -> Response:
    task = task.snapshot()  # the worker thread may finish while this renders: one consistent view
    result = json.loads(task.result) if task.done and task.result else None
    values = {"task": task, "result": result}
    if request.headers.get("hx-request"):
        return render_fragment("oversight/_verify.html", **values)
    return render(request, "oversight/verify.html", Page("Verify the audit log"), **values)


@router.post("/verify")
def verify_now(request: Request, user: User) -> Response:
    """Start verifying the whole log from scratch (decided and audited as a read of the log)."""
    access = door_access(request, user, Resource.AUDIT_LOG)
    log = access.door.audit
    body = access.serve(lambda conn, _t: {"tree_size": log.store.state(conn).size}, action="read_audit", label="verify")
    work = _verify_work(log, int(body["tree_size"]))
    task = console(request).tasks.start(user.session.id_hash, "Verifying the audit log", work)
    return _verify_response(request, task)


@router.get("/verify/{task_id}")
def verify_status(request: Request, user: User, task_id: TaskId) -> Response:
    """Progress of this session's verification (a fragment htmx polls every second), then its result."""
    return _verify_response(request, console(request).tasks.get(task_id, user.session.id_hash))


# -- the alert queue ---------------------------------------------------------------------------------


@router.get("/alerts")
def alerts(
    request: Request,
    user: User,
    state: Annotated[str | None, Query(pattern=r"^[a-z]{1,20}$")] = "open",
) -> HTMLResponse:
    """Alerts newest first, by state (``all``: every state)."""
    chosen = None if state in (None, "all") else state
    access = door_access(request, user, Resource.OVERSIGHT_ALERT)
    rows = queue.list_alerts(access.door, access.session, state=chosen, limit=200)
    return render(
        request, "oversight/alerts.html", Page("Alerts"), items=rows, state=state or "all", states=(*STATES, "all")
    )


@router.get("/alerts/{alert_ref}")
def alert(
    request: Request,
    user: User,
    alert_ref: Ref,
    done: Annotated[Literal["confirm", "dismiss", "refer"] | None, Query()] = None,
) -> HTMLResponse:
    """One alert: its rule, who, the leaves it rests on (links to their proofs), its history, the review form."""
    access = door_access(request, user, Resource.OVERSIGHT_ALERT)
    body = queue.get_alert(access.door, access.session, alert_ref)
    return render(
        request,
        "oversight/alert.html",
        Page(f"Alert {alert_ref}"),
        alert=body,
        done=done,
        reason_min=REASON_MIN,
        reason_max=REASON_MAX,
    )


@router.post("/alerts/{alert_ref}/review")
def review_alert(
    request: Request,
    user: User,
    alert_ref: Ref,
    action: Annotated[Literal["confirm", "dismiss", "refer"], Form()],
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> Response:
    """Confirm (UNAX: a second, different reviewer must too), dismiss or refer, with a reason."""
    access = door_access(request, user, Resource.OVERSIGHT_ALERT)
    review(access.door, access.session, alert_ref, action, reason.strip() or None)
    return RedirectResponse(f"/web/oversight/alerts/{alert_ref}?done={action}", status_code=303)
