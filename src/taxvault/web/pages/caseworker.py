"""Caseworker pages: my cases, look-up by TIN, taxpayer summary, module transcript, adjustments, notices, leads.

Why each goes through :func:`~taxvault.web.kit.door_access`: the page is the API call it
mirrors (same resource, action and audit), on the channel ``web``. Pages link by opaque
refs only; the TIN goes in a POSTed form and never into a URL, a title or a log line.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Annotated, Any

from fastapi import Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from taxvault.access import idempotency
from taxvault.access.door import REF_PATTERN, Target
from taxvault.access.resources import Resource
from taxvault.errors import Conflict, Denied, Invalid, NotFound
from taxvault.ledger import adjustments
from taxvault.ledger.accruals import AccrualError, accrual_invalid, published_rates
from taxvault.ledger.codes import CODES
from taxvault.matching import front
from taxvault.notices import service as notices
from taxvault.notices.router import issue_notice
from taxvault.notices.series import BALANCE_DUE_SERIES, final_notice
from taxvault.records import service as records
from taxvault.web.kit import (
    NAV,
    NavItem,
    Page,
    WebUser,
    current_user,
    door_access,
    page_router,
    render,
    roles_any,
)

router = page_router("/web/cases")
User = Annotated[WebUser, Depends(current_user)]
Ref = Annotated[str, Path(pattern=REF_PATTERN)]
_AMOUNT = re.compile(r"^\s*\$?\s*([0-9]{1,10}(?:,[0-9]{3})*)(?:\.([0-9]{1,2}))?\s*$", re.ASCII)
_TIN = re.compile(r"^[0-9]{9}$", re.ASCII)
ADJUSTABLE = tuple(sorted(adjustments.ADJUSTABLE_CODES))
NOTICE_TYPES = (*BALANCE_DUE_SERIES, final_notice(True))
"""The balance-due notices a caseworker may ask for; only the one the series says is due is sent."""

NAV.append(NavItem("My cases", "/web/cases/", roles_any("caseworker")))
NAV.append(NavItem("Look up a taxpayer", "/web/cases/lookup", roles_any("caseworker")))
LEAD_UNITS = frozenset({"aur", "examination", "special", "employee_accounts"})
"""Units whose caseworkers verify matching leads (as matching.cedar says; the door decides each read)."""
NAV.append(NavItem("Matching leads", "/web/cases/leads", lambda u: u.has("caseworker") and u.unit in LEAD_UNITS))


def _entity_id(target: Target) -> int:
    if target.entity_id is None:
        raise NotFound("no such record")
    return target.entity_id


def _module_id(target: Target) -> int:
    if target.module_id is None:
        raise NotFound("no such record")
    return target.module_id


def parse_cents(text: str) -> int:
    """``1,234.5`` -> 123450 (dollars as typed; never a float)."""
    match = _AMOUNT.match(text)
    if match is None:
        raise Invalid("give the amount in dollars, e.g. 1250.00")
    dollars = int(match.group(1).replace(",", ""))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    return dollars * 100 + cents


# -- my cases --------------------------------------------------------------------------------------


@router.get("/")
def my_cases(request: Request, user: User) -> HTMLResponse:
    """The caseworker's cases and their subjects (opaque refs; each subject links to its summary)."""
    body = door_access(request, user, Resource.MY_CASES).serve(
        lambda conn, _t: records.my_cases(conn, user.id, status=None, limit=200, offset=0)
    )
    return render(request, "caseworker/cases.html", Page("My cases"), cases=body["items"])


# -- look-up by TIN (a form post; the TIN never reaches a URL) ---------------------------------------


@router.get("/lookup")
def lookup_form(request: Request, user: User) -> HTMLResponse:
    """The look-up form."""
    return render(request, "caseworker/lookup.html", Page("Look up a taxpayer"), failed=None)


@router.post("/lookup")
def lookup(
    request: Request,
    user: User,
    tin: Annotated[str, Form(max_length=20)],
    tin_type: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Find a taxpayer of one's cases by TIN; answer with a redirect to her summary by opaque ref."""
    digits = tin.replace("-", "").replace(" ", "")
    if not _TIN.fullmatch(digits) or tin_type not in ("", "SSN", "ITIN", "EIN"):
        page = Page("Look up a taxpayer", status=400)
        return render(request, "caseworker/lookup.html", page, failed="Give nine digits (dashes allowed).")
    access = door_access(request, user, Resource.ENTITY)
    try:
        found = access.serve(
            lambda conn, t: records.entity_summary(conn, _entity_id(t)),
            label="lookup",
            find=lambda conn: records.entity_ref_by_tin(conn, digits, tin_type or None, seen_by=user.id),
        )
    except (Denied, NotFound):
        page = Page("Look up a taxpayer", status=404)
        return render(
            request, "caseworker/lookup.html", page, failed="No taxpayer you may access for this purpose has that TIN."
        )
    return RedirectResponse(f"/web/cases/taxpayers/{found['id']}", status_code=303)


# -- taxpayer summary --------------------------------------------------------------------------------


@router.get("/taxpayers/{taxpayer_ref}")
def taxpayer(request: Request, user: User, taxpayer_ref: Ref) -> HTMLResponse:
    """Identity (masked for the purpose, the masking shown) and the taxpayer's modules."""
    person = door_access(request, user, Resource.ENTITY, taxpayer_ref).serve(
        lambda conn, t: records.entity(conn, _entity_id(t))
    )
    mods = door_access(request, user, Resource.MODULE_LIST, taxpayer_ref).serve(
        lambda conn, t: records.modules(conn, _entity_id(t), mft=None, limit=100, offset=0)
    )
    return render(
        request,
        "caseworker/taxpayer.html",
        Page("Taxpayer summary"),
        person=person,
        modules=mods["items"],
        masked=set(person.get("masked", [])),
        withheld=set(person.get("withheld", [])),
    )


# -- module: transcript with accruals, adjustments, notices ------------------------------------------


def _adjustment_view(adj: adjustments.Adjustment) -> dict[str, Any]:
    return {
        "id": adj.ref,
        "tc": adj.tc,
        "amount_cents": adj.amount_cents,
        "state": adj.state,
        "within_authority": adj.within_authority,
        "requested_by": adj.requested_by,
        "requested_at": adj.requested_at.date().isoformat() if adj.requested_at else None,
    }


def default_as_of() -> dt.date:
    """Today, or the last day the published interest rates cover (accruals cannot go past it)."""
    return min(dt.date.today(), published_rates()[1])


def module_view(request: Request, user: WebUser, module_ref: str, as_of: dt.date) -> dict[str, Any]:
    """Transcript (with accruals as of ``as_of``), adjustments and notices: three audited reads."""

    def transcript(conn: Connection, t: Target) -> dict[str, Any]:
        try:
            return records.transcript(conn, _module_id(t), as_of=as_of)
        except AccrualError as exc:
            raise accrual_invalid(exc) from None

    body = door_access(request, user, Resource.MODULE_TRANSCRIPT, module_ref).serve(transcript)
    adjusted = door_access(request, user, Resource.MODULE_TRANSCRIPT, module_ref).serve(
        lambda conn, t: {"items": [_adjustment_view(a) for a in adjustments.for_module(conn, _module_id(t))]},
        label="read_adjustments",
    )
    sent = door_access(request, user, Resource.NOTICES, module_ref).serve(
        lambda conn, t: notices.notice_list(conn, _module_id(t))
    )
    return {"transcript": body, "adjustments": adjusted["items"], "notices": sent["items"]}


@router.get("/modules/{module_ref}")
def module(
    request: Request,
    user: User,
    module_ref: Ref,
    as_of: Annotated[dt.date | None, Query()] = None,
    proposed: Annotated[str | None, Query(pattern=REF_PATTERN)] = None,
    issued: Annotated[str | None, Query(pattern=REF_PATTERN)] = None,
) -> HTMLResponse:
    """A TXMOD-like transcript: transactions, balance, penalties and interest as of a date, payoff."""
    day = as_of or default_as_of()
    view = module_view(request, user, module_ref, day)
    just = next((a for a in view["adjustments"] if a["id"] == proposed), None)
    sent = next((n for n in view["notices"] if n["id"] == issued), None)
    return render(
        request,
        "caseworker/module.html",
        Page("Module transcript"),
        module_ref=module_ref,
        as_of=day.isoformat(),
        codes={tc: CODES[tc].meaning for tc in ADJUSTABLE},
        proposed=just,
        form_error=None,
        base="/web/cases",
        can_adjust=True,
        issued=sent,
        notice_types=NOTICE_TYPES,
        form_id=secrets.token_urlsafe(16),
        **view,
    )


@router.post("/modules/{module_ref}/adjustments")
def propose_adjustment(
    request: Request,
    user: User,
    module_ref: Ref,
    tc: Annotated[int, Form()],
    amount: Annotated[str, Form(max_length=20)] = "0",
    reason_code: Annotated[str, Form(max_length=3)] = "",
    form_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Propose an adjustment: within her authority it posts at the next cycle, above it waits for her manager.

    The form's one-time ``form_id`` is the write's idempotency key: a double submit (or a resubmit
    from the history) proposes it once and answers the first proposal again.
    """
    try:
        cents = parse_cents(amount)
        reason = int(reason_code) if reason_code.strip() else None
        if reason is not None and not 0 <= reason <= 999:
            raise Invalid("the reason code is 0 to 999")
        adjustments.signed_amount(tc, cents)
    except (adjustments.AdjustmentError, ValueError, Invalid) as exc:
        day = default_as_of()
        view = module_view(request, user, module_ref, day)
        message = str(exc) if not isinstance(exc, ValueError) else "the reason code is a number"
        return render(
            request,
            "caseworker/module.html",
            Page("Module transcript", status=400),
            module_ref=module_ref,
            as_of=day.isoformat(),
            codes={c: CODES[c].meaning for c in ADJUSTABLE},
            proposed=None,
            form_error=message,
            base="/web/cases",
            can_adjust=True,
            issued=None,
            notice_types=NOTICE_TYPES,
            form_id=secrets.token_urlsafe(16),
            **view,
        )
    access = door_access(request, user, Resource.MODULE_TRANSCRIPT, module_ref)

    def perform(conn: Connection, target: Target) -> dict[str, Any]:
        within = access.permits(conn, target, "adjust", cents)
        adj = adjustments.request(
            conn,
            _module_id(target),
            tc=tc,
            amount_cents=cents,
            reason_code=reason,
            requested_by=user.id,
            request_id=access.request_id,
            within_authority=within,
        )
        return {"id": adj.ref}

    fields = ["tc", "amount_cents", "reason_code"]
    if not idempotency.valid_key(form_id):
        done = access.write(cents, perform, fields, "request_adjustment")
        return RedirectResponse(f"/web/cases/modules/{module_ref}?proposed={done['id']}", status_code=303)
    same = idempotency.fingerprint("POST", request.url.path, b"", f"{tc}|{cents}|{reason}".encode())
    try:
        with idempotency.keyed(f"web-form:{form_id}", same, access.request_id) as claim:
            done = access.write(cents, perform, fields, "request_adjustment")
            location = f"/web/cases/modules/{module_ref}?proposed={done['id']}"
            claim.finish(303, "text/uri-list", location.encode("ascii"))
    except idempotency.Replayed as replay:  # the same form sent again: its first proposal
        location = replay.stored.body.decode("ascii")
    except Conflict as exc:  # the same form still in flight (PostgreSQL): the page will list it
        if exc.code != "idempotency-key-in-progress":
            raise
        location = f"/web/cases/modules/{module_ref}"
    return RedirectResponse(location, status_code=303)


@router.post("/modules/{module_ref}/notices")
def send_notice(
    request: Request, user: User, module_ref: Ref, notice_type: Annotated[str, Form(max_length=12)]
) -> Response:
    """Send the balance-due notice due today (collection purpose, her open case): same write as the API's."""
    done = issue_notice(door_access(request, user, Resource.NOTICES, module_ref), notice_type)
    return RedirectResponse(f"/web/cases/modules/{module_ref}?issued={done['id']}#issued", status_code=303)


@router.get("/modules/{module_ref}/notices/{notice_ref}.pdf")
def notice_pdf(request: Request, user: User, module_ref: Ref, notice_ref: Ref) -> Response:
    """The notice as sent (PDF), through the door like ``/v1/modules/{m}/notices/{n}/pdf``."""
    return pdf_response(
        door_access(request, user, Resource.NOTICES, module_ref).serve_bytes(
            lambda conn, t: notices.notice_pdf(conn, _module_id(t), notice_ref),
            ["notice_pdf", "name", "address", "tin:masked", "amount_due_cents"],
        ),
        "notice.pdf",
    )


def pdf_response(body: bytes, filename: str) -> Response:
    """A PDF to open in the browser's viewer (never cached)."""
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"},
    )


# -- matching leads ----------------------------------------------------------------------------------

LEAD_STATES = ("new", "verified", "notified", "contested", "closed")


@router.get("/leads")
def leads(
    request: Request,
    user: User,
    state: Annotated[str | None, Query(pattern=r"^(new|verified|notified|contested|closed)$")] = None,
) -> HTMLResponse:
    """Leads a matching run found that this caseworker may work (purpose ``matching_verification``)."""
    access = door_access(request, user, Resource.MATCHING_LEAD)
    body = front.leads_page(access.door, access.session, state=state or "new", limit=100)
    return render(
        request,
        "caseworker/leads.html",
        Page("Matching leads"),
        leads=body["items"],
        state=state or "new",
        states=LEAD_STATES,
        masked=body.get("masked", []),
    )


@router.post("/leads/{lead_ref}/verify")
def verify_lead(
    request: Request,
    user: User,
    lead_ref: Ref,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Record that the caseworker verified the lead independently (due process before any notice)."""
    access = door_access(request, user, Resource.MATCHING_LEAD)
    front.move_lead(access.door, access.session, lead_ref, to="verified", note=note.strip() or None)
    return RedirectResponse("/web/cases/leads?state=verified", status_code=303)
