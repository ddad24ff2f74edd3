"""The console on the API's app: :func:`install` is the one line ``api/app.py`` calls.

It mounts the console's static files (vendored htmx, CSS), serves Swagger UI and ReDoc from
the pinned ``fastapi-offline`` package (``/docs`` and ``/redoc`` work offline), adds the
security headers, and includes the routers: sign-in/out and purpose (here), the embedded
issuer (:mod:`taxvault.web.idp_router`) and the pages of each role (``web/pages/``).
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Route

from taxvault.access.http import get_door
from taxvault.errors import Invalid, NotFound, Unauthenticated
from taxvault.web import idp, oidc
from taxvault.web.idp_router import router as idp_router
from taxvault.web.kit import (
    NAV,
    Console,
    NavItem,
    Page,
    WebUser,
    console,
    current_user,
    is_loopback,
    own_origin,
    page_router,
    render,
    request_id,
    task_response,
)
from taxvault.web.purposes import SELF_SERVICE, known_purposes
from taxvault.web.sessions import COOKIE, SessionStore
from taxvault.web.tasks import TaskRunner

STATIC_DIR = Path(__file__).resolve().parent / "static"
PENDING_COOKIE = "taxvault_sign_in"
TaskId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{24}$")]
PAGE_MODULES = (
    "taxvault.web.pages.caseworker",
    "taxvault.web.pages.taxpayer",
    "taxvault.web.pages.manager",
    "taxvault.web.pages.oversight",
    "taxvault.web.pages.oversight_scan",
    "taxvault.web.pages.ask",
)
"""Page modules, each with a ``router`` (console-roles adds manager, oversight, ask here)."""

router = page_router()

NAV.append(NavItem("Home", "/web/", lambda user: True))


def _docs_assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    """Add the console to ``app`` (same door, same audit log)."""
    engine = app.state.engine
    app.state.console = Console(
        SessionStore(engine), oidc.Provider.from_env(), known_purposes(app.state.policies.text), TaskRunner()
    )
    _offline_docs(app)
    app.mount("/static/console", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.mount("/static/docs", StaticFiles(directory=_docs_assets()), name="docs-static")
    app.include_router(router)
    app.include_router(idp_router)
    for name in PAGE_MODULES:
        app.include_router(importlib.import_module(name).router)
    from taxvault.web.security import ConsoleHeaders

    app.add_middleware(ConsoleHeaders)


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from the installed package instead of a CDN (FastAPI's own routes replaced)."""
    replaced = {"/docs", "/redoc", "/docs/oauth2-redirect"}
    kept: list[BaseRoute] = [r for r in app.router.routes if not (isinstance(r, Route) and r.path in replaced)]
    app.router.routes[:] = kept

    def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger, include_in_schema=False, methods=["GET"])
    app.add_api_route("/redoc", redoc, include_in_schema=False, methods=["GET"])


def _cookie_args(request: Request) -> dict[str, Any]:
    return {"httponly": True, "secure": not is_loopback(request), "samesite": "strict", "path": "/"}


# -- sign-in and sign-out ----------------------------------------------------------------------------


@router.get("/sign-in")
def sign_in(request: Request) -> Response:
    """Start the authorization-code flow at the configured issuer (the embedded one by default)."""
    provider = console(request).provider
    redirect_uri = provider.redirect_uri or own_origin(request) + oidc.CALLBACK_PATH
    started = oidc.begin(provider, redirect_uri)
    response = RedirectResponse(started.location, status_code=303)
    # Lax, not Strict: it must come back with the redirect from a real provider's site.
    response.set_cookie(
        PENDING_COOKIE,
        started.pending,
        max_age=oidc.PENDING_TTL_SECONDS,
        httponly=True,
        secure=not is_loopback(request),
        samesite="lax",
        path=oidc.CALLBACK_PATH,
    )
    return response


@router.get("/callback")
def callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The issuer's answer: exchange the code server side, verify the ID token, open a session."""
    if not code or not state:
        raise Unauthenticated("the sign-in was not completed")
    cs = console(request)
    provider = cs.provider
    engine = request.app.state.engine
    if provider.embedded:

        def exchange(form: dict[str, str]) -> str:
            return idp.exchange(engine, **form, now=dt.datetime.now(dt.UTC))
    else:
        exchange = provider.http_exchange
    principal = oidc.finish(provider, request.cookies.get(PENDING_COOKIE), code, state, exchange)
    caller = get_door(request).caller(principal, request_id=request_id(request))  # active now, or refused (audited)
    purpose = SELF_SERVICE if caller.facts.kind == "taxpayer" else None
    previous = cs.sessions.load(request.cookies.get(COOKIE))
    if previous is not None:  # a new sign-in never keeps the old session (no fixation, no orphan)
        cs.sessions.destroy(previous.id_hash)
    cookie, _session = cs.sessions.create(principal, purpose)
    request.state.principal = principal
    # A page, not a redirect: after a cross-site redirect chain the Strict cookie would not be sent yet.
    response = render(request, "signed_in.html", Page("Signed in"))
    response.set_cookie(COOKIE, cookie, **_cookie_args(request))
    response.delete_cookie(PENDING_COOKIE, path=oidc.CALLBACK_PATH)
    return response


@router.post("/sign-out")
def sign_out(request: Request, user: Annotated[WebUser, Depends(current_user)]) -> Response:
    """End the session: its cookie opens nothing any more."""
    console(request).sessions.destroy(user.session.id_hash)
    response = RedirectResponse("/web/signed-out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/signed-out")
def signed_out(request: Request) -> HTMLResponse:
    return render(request, "signed_out.html", Page("Signed out"))


# -- purpose of use ----------------------------------------------------------------------------------


def _local_path(value: str | None) -> str:
    """A path inside the console to go back to (never another site)."""
    if not value:
        return "/web/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/web/") or "\\" in value:
        return "/web/"
    return parts.path


@router.post("/purpose")
def choose_purpose(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    purpose: Annotated[str, Form(max_length=40)],
    back: Annotated[str | None, Form(max_length=300)] = None,
) -> Response:
    """Act for ``purpose`` from now on (shown on every page; each page view is audited with it)."""
    if purpose not in console(request).purposes:
        raise Invalid("choose one of the listed purposes", code="purpose-of-use")
    console(request).sessions.set_purpose(user.session, purpose)
    return RedirectResponse(_local_path(back), status_code=303)


# -- home ------------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, user: Annotated[WebUser, Depends(current_user)]) -> HTMLResponse:
    """Where each role starts: the pages its navigation offers."""
    return render(request, "home.html", Page("Home"))


@router.get("")
async def home_redirect() -> Response:
    return RedirectResponse("/web/", status_code=307)


# -- background tasks (progress polled by htmx) ------------------------------------------------------


@router.get("/tasks/{task_id}")
def task_status(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    task_id: TaskId,
) -> Response:
    """Progress of one of this session's tasks (a fragment for htmx, a page otherwise)."""
    return task_response(request, console(request).tasks.get(task_id, user.session.id_hash))


@router.get("/tasks/{task_id}/result")
def task_result(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    task_id: TaskId,
) -> Response:
    """The finished task's result (e.g. a PDF), once; never cached."""
    task = console(request).tasks.get(task_id, user.session.id_hash)
    if not task.done or task.result is None:
        raise NotFound("the result is not ready")
    return Response(
        task.result,
        media_type=task.media_type,
        headers={"Content-Disposition": f'inline; filename="{task.filename}"', "Cache-Control": "no-store"},
    )
