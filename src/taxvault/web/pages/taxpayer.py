"""Taxpayer pages: my account transcript, my notices, who looked at my records (with a chart) and its PDF.

Why through the door: a taxpayer reads her own records exactly as the API's ``/v1/me/...``
routes do (the ``self`` relation, purpose ``self_service``), and each view is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from taxvault.web.kit import NAV, NavItem, Page, WebUser, current_user, kind_is, page_router, render

router = page_router("/web/me")
User = Annotated[WebUser, Depends(current_user)]

NAV.append(NavItem("My account", "/web/me/", kind_is("taxpayer")))


@router.get("/")
def my_account(request: Request, user: User) -> HTMLResponse:
    """The taxpayer's modules and balances."""
    return render(request, "taxpayer/account.html", Page("My account"), modules=[])
