"""``/v1/audit`` (oversight: tree heads, proofs, events, break-glass queue) and the
taxpayer's ``/v1/me/access-report``. Every route goes through the Gate."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from taxvault.access.door import Access, Target
from taxvault.access.http import PROBLEM_RESPONSES, read
from taxvault.access.resources import Resource
from taxvault.access.tables import break_glass_reviews
from taxvault.audit.access_report import access_report
from taxvault.audit.errors import AuditProofError
from taxvault.audit.event import AuditEvent
from taxvault.audit.report_pdf import render_report_pdf, report_document
from taxvault.audit.storage import LogStore
from taxvault.errors import NotFound

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
Size = Annotated[int, Query(ge=0, le=2**62)]


class Page(BaseModel):
    limit: int
    offset: int
    next_offset: int | None = None
    masked: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)


class SignedTreeHeadOut(BaseModel):
    tree_size: int
    timestamp_ms: int
    root_hash: str
    signature: str
    key_id: str
    masked: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_path: list[str]
    root_hash: str
    masked: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)


class ConsistencyProofOut(BaseModel):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    consistency_path: list[str]
    masked: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)


class EventOut(BaseModel):
    leaf_index: int
    time: str
    principal: str
    action: str
    resource: str
    purpose: str | None = None
    decision: str
    policy: str | None = None
    fields: list[str]
    request_id: str
    subject: str | None = Field(None, description="Event v2: the taxpayer the record belongs to (opaque ref).")
    channel: str | None = Field(None, description="Event v2: http, cli, job or web (the console).")


class EventPage(Page):
    items: list[EventOut]


class ReviewOut(BaseModel):
    id: int
    leaf_index: int
    request_id: str
    principal_id: str
    action: str
    resource: str
    purpose: str
    justification: str
    created_at: str
    state: str


class ReviewPage(Page):
    items: list[ReviewOut]


class AccessReportItem(BaseModel):
    event: int = Field(description="Leaf index of the audit event (a verifier can prove it is in the log).")
    time: str
    accessor: str = Field(description="The employee's pseudonym in this taxpayer's report (or the system job).")
    unit: str | None = None
    role: str | None = None
    purpose: str | None = None
    action: str
    record: str = Field(description="What of hers: entity, module_transcript, notices, returns ...")
    fields: list[str]
    break_glass: bool
    outcome: Literal["disclosed", "denied", "failed"]


class AccessReport(BaseModel):
    items: list[AccessReportItem] = Field(description="Accesses by others (allowed), newest first.")
    attempts: list[AccessReportItem] = Field(description="Refused or failed attempts in the same range.")
    limit: int
    before: int | None = None
    next_before: int | None = Field(None, description="Pass as ``before`` for the next (older) page.")
    masked: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)


AuditAccess = Annotated[Access, Depends(read(Resource.AUDIT_LOG))]


def _log(access: Access) -> Any:
    return access.door.audit


@router.get("/audit/sth", response_model=SignedTreeHeadOut, tags=["oversight"])
def latest_sth(access: AuditAccess) -> Any:
    """Sign and return a tree head over the log as it is now."""

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        sth = _log(access).sign_tree_head()
        return {
            "tree_size": sth.tree_size,
            "timestamp_ms": sth.timestamp_ms,
            "root_hash": sth.root_hash.hex(),
            "signature": sth.signature.hex(),
            "key_id": sth.key_id,
        }

    return access.serve(fetch, action="read_audit")


@router.get("/audit/proofs/inclusion", response_model=InclusionProofOut, tags=["oversight"])
def inclusion_proof(
    access: AuditAccess, leaf_index: Annotated[int, Query(ge=0, le=2**62)], tree_size: Size | None = None
) -> Any:
    """Inclusion proof of one event in a tree size (default: now)."""

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        try:
            return dict(_log(access).inclusion_proof(leaf_index, tree_size).to_json())
        except AuditProofError as exc:
            raise NotFound(str(exc)) from None

    return access.serve(fetch, action="read_audit")


@router.get("/audit/proofs/consistency", response_model=ConsistencyProofOut, tags=["oversight"])
def consistency_proof(access: AuditAccess, old_size: Size, new_size: Size | None = None) -> Any:
    """Consistency proof between two tree sizes (default new size: now)."""

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        try:
            return dict(_log(access).consistency_proof(old_size, new_size).to_json())
        except AuditProofError as exc:
            raise NotFound(str(exc)) from None

    return access.serve(fetch, action="read_audit")


@router.get("/audit/events", response_model=EventPage, tags=["oversight"])
def audit_events(access: AuditAccess, limit: Limit = 50, offset: Offset = 0) -> Any:
    """Events in log order (names of disclosed fields, never values)."""

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        items = []
        for index, data in LogStore.iter_events(conn, below=offset + limit + 1):
            if index < offset:
                continue
            e = AuditEvent.from_bytes(data).to_dict()
            e.pop("v", None)
            items.append({"leaf_index": index, **e})
        return {
            "items": items[:limit],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(items) > limit else None,
        }

    return access.serve(fetch, action="read_audit")


@router.get("/audit/break-glass", response_model=ReviewPage, tags=["oversight"])
def break_glass_queue(
    access: AuditAccess,
    state: Annotated[Literal["pending", "upheld", "referred"] | None, Query()] = "pending",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Break-glass accesses awaiting (or past) review."""

    def fetch(conn: Connection, _t: Target) -> dict[str, Any]:
        t = break_glass_reviews
        q = sa.select(t)
        if state is not None:
            q = q.where(t.c.state == state)
        rows = conn.execute(q.order_by(t.c.created_at, t.c.id).limit(limit + 1).offset(offset)).all()
        items = []
        for r in rows[:limit]:
            d = dict(r._mapping)
            d["created_at"] = d["created_at"].isoformat()
            d.pop("reviewer_id", None)
            d.pop("reviewed_at", None)
            items.append(d)
        return {
            "items": items,
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(rows) > limit else None,
        }

    return access.serve(fetch, action="read_audit")


ReportAccess = Annotated[Access, Depends(read(Resource.ACCESS_REPORT))]


@router.get("/me/access-report", response_model=AccessReport, tags=["taxpayer"])
def my_access_report(
    access: ReportAccess,
    limit: Limit = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Events older than this one.")] = None,
) -> Any:
    """Who accessed my records (from the index by taxpayer): when, unit, role, purpose, fields; attempts apart."""

    def fetch(conn: Connection, target: Target) -> dict[str, Any]:
        if target.entity_id is None:
            raise NotFound("no taxpayer record is linked to this principal")
        return access_report(conn, target.ref, exclude_principal=access.caller.id, limit=limit, before=before)

    return access.serve(fetch)


@router.get(
    "/me/access-report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The access report as a PDF."}},
    tags=["taxpayer"],
)
def my_access_report_pdf(access: ReportAccess) -> Response:
    """The access report as a PDF (the newest 2000 events, a chart per month; the TIN masked)."""

    def fetch(conn: Connection, target: Target) -> bytes:
        if target.entity_id is None:
            raise NotFound("no taxpayer record is linked to this principal")
        doc = report_document(conn, target.entity_id, target.ref, exclude=access.caller.id, now=access.door.clock())
        return render_report_pdf(doc)

    body = access.serve_bytes(fetch, ["access_report", "name", "tin:masked"])
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="access-report.pdf"', "Cache-Control": "no-store"},
    )
