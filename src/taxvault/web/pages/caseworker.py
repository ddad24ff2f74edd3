"""Caseworker pages: my cases, look-up by TIN, taxpayer summary, module transcript, adjustments, notices, leads.

Why each goes through :func:`~taxvault.web.kit.door_access`: the page is the API call it
mirrors (same resource, action and audit), on the channel ``web``. Pages link by opaque
refs only; the TIN goes in a POSTed form and never into a URL, a title or a log line.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from taxvault.access.resources import Resource
from taxvault.records import service as records
from taxvault.web.kit import NAV, NavItem, Page, WebUser, current_user, door_access, page_router, render, roles_any

router = page_router("/web/cases")
User = Annotated[WebUser, Depends(current_user)]

NAV.append(NavItem("My cases", "/web/cases/", roles_any("caseworker")))


@router.get("/")
def my_cases(request: Request, user: User) -> HTMLResponse:
    """The caseworker's cases and their subjects (opaque refs; each subject links to its summary)."""
    body = door_access(request, user, Resource.MY_CASES).serve(
        lambda conn, _t: records.my_cases(conn, user.id, status=None, limit=200, offset=0)
    )
    return render(request, "caseworker/cases.html", Page("My cases"), cases=body["items"])
