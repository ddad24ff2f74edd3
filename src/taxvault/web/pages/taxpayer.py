"""Taxpayer pages: my account transcript, my notices, who looked at my records (with a chart) and its PDF.

Why through the door: a taxpayer reads her own records exactly as the API lets her (the
``self`` relation, purpose ``self_service``), and each page view is audited. Her own
records are found by her opaque entity ref, which is all the page asks the store directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from taxvault.access.door import REF_PATTERN, Target
from taxvault.access.resources import Resource
from taxvault.audit.access_report import access_report
from taxvault.audit.report_pdf import render_report_pdf, report_document
from taxvault.errors import NotFound
from taxvault.notices import service as notices
from taxvault.records import service as records
from taxvault.store.tables import entities
from taxvault.web.charts import monthly_chart
from taxvault.web.kit import (
    NAV,
    NavItem,
    Page,
    WebUser,
    current_user,
    door_access,
    kind_is,
    page_router,
    render,
    start_task,
)
from taxvault.web.pages.caseworker import default_as_of, module_view, pdf_response

router = page_router("/web/me")
User = Annotated[WebUser, Depends(current_user)]
Ref = Annotated[str, Path(pattern=REF_PATTERN)]
REPORT_LINES = 500

NAV.append(NavItem("My account", "/web/me/", kind_is("taxpayer")))
NAV.append(NavItem("My notices", "/web/me/notices", kind_is("taxpayer")))
NAV.append(NavItem("Who looked at my records", "/web/me/access-report", kind_is("taxpayer")))


def _own_ref(request: Request, user: WebUser) -> str:
    """The taxpayer's own opaque entity ref (her id for every other read)."""
    if user.caller.entity_id is None:
        raise NotFound("no taxpayer record is linked to this principal")
    with request.app.state.engine.connect() as conn:
        ref = conn.execute(sa.select(entities.c.ref).where(entities.c.id == user.caller.entity_id)).scalar()
    if ref is None:
        raise NotFound("no taxpayer record is linked to this principal")
    return str(ref)


def _modules(request: Request, user: WebUser) -> list[dict[str, Any]]:
    ref = _own_ref(request, user)
    body = door_access(request, user, Resource.MODULE_LIST, ref).serve(
        lambda conn, t: records.modules(conn, t.entity_id or 0, mft=None, limit=100, offset=0)
    )
    return list(body["items"])


@router.get("/")
def my_account(request: Request, user: User) -> HTMLResponse:
    """Her tax modules and balances; each opens its transcript."""
    return render(request, "taxpayer/account.html", Page("My account"), modules=_modules(request, user))


@router.get("/modules/{module_ref}")
def my_module(
    request: Request, user: User, module_ref: Ref, as_of: Annotated[dt.date | None, Query()] = None
) -> HTMLResponse:
    """Her account transcript for one module, with what she would owe as of a date."""
    day = as_of or default_as_of()
    view = module_view(request, user, module_ref, day)
    return render(
        request,
        "taxpayer/module.html",
        Page("Account transcript"),
        module_ref=module_ref,
        as_of=day.isoformat(),
        base="/web/me",
        transcript=view["transcript"],
        notices=view["notices"],
    )


@router.get("/modules/{module_ref}/notices/{notice_ref}.pdf")
def my_notice_pdf(request: Request, user: User, module_ref: Ref, notice_ref: Ref) -> Response:
    """One of her notices as sent (PDF)."""

    def fetch(conn: Connection, t: Target) -> bytes | None:
        return notices.notice_pdf(conn, t.module_id or 0, notice_ref)

    body = door_access(request, user, Resource.NOTICES, module_ref).serve_bytes(
        fetch, ["notice_pdf", "name", "address", "tin:masked", "amount_due_cents"]
    )
    return pdf_response(body, "notice.pdf")


@router.get("/notices")
def my_notices(request: Request, user: User) -> HTMLResponse:
    """Every notice sent to her, module by module (each module's list read through the door)."""
    sent: list[dict[str, Any]] = []
    for m in _modules(request, user):
        body = door_access(request, user, Resource.NOTICES, m["id"]).serve(
            lambda conn, t: notices.notice_list(conn, t.module_id or 0)
        )
        sent.extend(dict(n, tax_period=m["tax_period"], mft=m["mft"]) for n in body["items"])
    sent.sort(key=lambda n: n["issued_date"], reverse=True)
    return render(request, "taxpayer/notices.html", Page("My notices"), notices=sent)


@router.get("/access-report")
def my_access_report(request: Request, user: User) -> HTMLResponse:
    """Who looked at her records: when, unit, role, pseudonym, why, which fields; refused attempts apart; a chart."""

    def fetch(conn: Connection, target: Target) -> dict[str, Any]:
        if target.entity_id is None:
            raise NotFound("no taxpayer record is linked to this principal")
        return access_report(conn, target.ref, exclude_principal=user.id, limit=REPORT_LINES)

    body = door_access(request, user, Resource.ACCESS_REPORT).serve(fetch)
    lines = [*body["items"], *body["attempts"]]
    chart = monthly_chart(lines, dt.date.today())
    return render(
        request,
        "taxpayer/access_report.html",
        Page("Who looked at my records"),
        items=body["items"],
        attempts=body["attempts"],
        chart=chart,
        more=body["next_before"] is not None,
    )


@router.post("/access-report/pdf")
def my_access_report_pdf(request: Request, user: User) -> Response:
    """Prepare the access report as a PDF in the background (progress shown), then open it."""
    access = door_access(request, user, Resource.ACCESS_REPORT)

    def work(report: Any) -> tuple[bytes, str, str]:
        report(10, "reading the access log")

        def fetch(conn: Connection, target: Target) -> bytes:
            if target.entity_id is None:
                raise NotFound("no taxpayer record is linked to this principal")
            doc = report_document(conn, target.entity_id, target.ref, exclude=user.id, now=access.door.clock())
            report(60, "drawing the PDF")
            return render_report_pdf(doc)

        body = access.serve_bytes(fetch, ["access_report", "name", "tin:masked"])
        return body, "application/pdf", "access-report.pdf"

    return start_task(request, user, "Access report PDF", work)
