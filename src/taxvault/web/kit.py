"""The console's skeleton: what every page module uses (read docs in /work/notes/console-skeleton.md).

- :func:`page_router`: an ``APIRouter`` for pages (HTML errors, CSRF on every POST, not in OpenAPI).
- :func:`current_user`: dependency, the signed-in :class:`WebUser` (re-checked against the store).
- :func:`door_access`: an :class:`~taxvault.access.door.Access` on the channel ``web`` for the
  user's current purpose: ``door_access(request, user, Resource.X, ref).serve(fetch)``.
- :func:`render`: a template with the page frame (header, purpose, nav, CSRF token).
- :data:`NAV`: the navigation entries; a page module appends its own with a visibility rule.

Why: every page reads taxpayer data only through the door, exactly as the API does, and
every error becomes a page (403/404 audited by the door), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from taxvault.access.door import Access, Door
from taxvault.access.http import get_door, services
from taxvault.access.principals import Caller
from taxvault.access.resources import Resource
from taxvault.errors import Denied, RateLimited, TaxvaultError, Unauthenticated
from taxvault.web.oidc import Provider
from taxvault.web.purposes import label as purpose_label
from taxvault.web.security import CSRF_FIELD, CSRF_HEADER, same_origin, token_matches
from taxvault.web.sessions import COOKIE, SessionStore, WebSession
from taxvault.web.tasks import Task, TaskRunner, Work

log = logging.getLogger("taxvault.web")
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("taxvault.web", "templates"),
    autoescape=jinja2.select_autoescape(["html", "svg"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def money(cents: int | None) -> str:
    """Integer cents as dollars (``-$1,234.56``); ``—`` for none."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


_ENV.filters["money"] = money
_ENV.filters["purpose_label"] = purpose_label


@dataclass(slots=True)
class Console:
    """The console's state on ``app.state.console``."""

    sessions: SessionStore
    provider: Provider
    purposes: tuple[str, ...]
    tasks: TaskRunner


def console(request: Request) -> Console:
    """The app's console state."""
    return request.app.state.console  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in person: her session (purpose, CSRF token) and her facts as the store has them now."""

    session: WebSession
    caller: Caller

    @property
    def id(self) -> str:
        return self.caller.id

    @property
    def kind(self) -> str:
        return self.caller.facts.kind

    @property
    def roles(self) -> frozenset[str]:
        return self.caller.roles

    @property
    def unit(self) -> str:
        return self.caller.facts.unit

    @property
    def purpose(self) -> str | None:
        return self.session.purpose

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    def has(self, role: str) -> bool:
        return role in self.caller.roles


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the console's navigation, shown when ``visible(user)``."""

    label: str
    href: str
    visible: Callable[[WebUser], bool]


NAV: list[NavItem] = []
"""Navigation entries in display order; page modules append theirs at import."""


class SignInRequired(Exception):
    """No live session: the browser is sent to sign in."""


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def is_loopback(request: Request) -> bool:
    """Plain HTTP on loopback (development, tests): the only case a cookie may be sent without Secure."""
    return request.url.hostname in ("127.0.0.1", "localhost", "::1")


def current_user(request: Request) -> WebUser:
    """Dependency: the signed-in user, her principal re-checked now (refused, audited, if deactivated)."""
    cached = getattr(request.state, "web_user", None)
    if isinstance(cached, WebUser):
        return cached
    state = console(request)
    session = state.sessions.load(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired
    try:
        caller = get_door(request).caller(session.principal_id, request_id=request_id(request))
    except Unauthenticated:
        state.sessions.destroy_all(session.principal_id)
        request.state.signed_out = True
        raise
    user = WebUser(session, caller)
    request.state.web_user = user
    request.state.principal = user.id
    if services(request).limiter.take(user.id) > 0:  # the API's per-principal limit: browsing bursts too
        get_door(request).refuse(user.id, "request", "rate-limited", request_id=request_id(request))
        raise RateLimited("too many pages in a short time; wait a moment", retry_after=1)
    return user


async def csrf_protect(request: Request) -> None:
    """Router dependency: every POST is same-origin and carries the session's CSRF token (else refused, audited)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    door = get_door(request)
    rid = request_id(request)
    if not same_origin({k.lower(): v for k, v in request.headers.items()}, own_origin(request)):
        await run_in_threadpool(door.refuse, "anonymous", "web_post", "cross-site", request_id=rid)
        raise Denied("cross-site requests are refused", code="cross-site")
    user = await run_in_threadpool(current_user, request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not token_matches(sent, user.csrf):
        await run_in_threadpool(door.refuse, user.id, "web_post", "csrf-token-invalid", request_id=rid)
        raise Denied("the form is out of date or did not come from this console; reload the page", code="csrf")


def door_access(request: Request, user: WebUser, resource: Resource, ref: str = "") -> Access:
    """The door for ``resource`` (``ref``: the opaque id) as ``user`` with her purpose, channel ``web``.

    No purpose chosen: the door refuses (audited) with :class:`~taxvault.errors.Invalid`.
    """
    door: Door = get_door(request)
    session = door.session(user.caller, user.purpose, channel="web", request_id=request_id(request))
    return Access(door, session, resource, ref)


@dataclass(slots=True)
class Page:
    """What :func:`render` needs beyond the template's own values."""

    title: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def render(request: Request, template: str, page: Page, **values: Any) -> HTMLResponse:
    """The template inside the page frame: header (who, purpose), navigation, skip link, CSRF token."""
    user = getattr(request.state, "web_user", None)
    user = user if isinstance(user, WebUser) else None
    state = console(request)
    frame = {
        "title": page.title,
        "user": user,
        "purposes": state.purposes,
        "csrf": user.csrf if user else "",
        "nav": [n for n in NAV if user is not None and n.visible(user)],
        "path": request.url.path,
        "today": dt.date.today().isoformat(),
    }
    html = _ENV.get_template(template).render(**frame, **values)
    return HTMLResponse(html, status_code=page.status, headers=page.headers)


def render_fragment(template: str, **values: Any) -> HTMLResponse:
    """The template alone, without the page frame: the fragment an htmx request swaps into its page."""
    return HTMLResponse(_ENV.get_template(template).render(**values))


_STATUS = {
    "unauthenticated": 401,
    "denied": 403,
    "not-found": 404,
    "invalid": 400,
    "conflict": 409,
    "rate-limited": 429,
    "unavailable": 503,
}
_TITLES = {
    400: "Check the form",
    401: "Please sign in",
    403: "Not authorized",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    503: "Service unavailable",
    500: "Something went wrong",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a page (the door has audited the refusal); never a traceback, never a TIN."""
    response = render(request, "error.html", Page(_TITLES.get(status, "Error"), status=status), message=message)
    if getattr(request.state, "signed_out", False):
        response.delete_cookie(COOKIE, path="/")
    return response


def too_large_page(limit: int) -> bytes:
    """The console's page for a form over the body limit (the API's 413 guard answers it, before any session
    is read: so the page is standalone, without the signed-in frame, and names nothing that was sent)."""
    message = f"The form was too large to send (more than {limit // 1024:,} KiB); nothing was changed."
    return _ENV.get_template("too_large.html").render(title="Too large", message=message).encode()


def _status(exc: TaxvaultError) -> int:
    for cls in type(exc).__mro__:  # the most specific kind the map knows (RateLimited before Unavailable)
        status = _STATUS.get(str(getattr(cls, "kind", "")))
        if status is not None:
            return status
    return 500


def sign_in_redirect(request: Request) -> Response:
    """Send the browser to sign in (htmx: by the ``HX-Redirect`` header)."""
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": "/web/sign-in"})
    return RedirectResponse("/web/sign-in", status_code=303)


class PageRoute(APIRoute):
    """A route whose errors are pages: sign-in redirect, 400/401/403/404/409/429/503, never a traceback."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except RequestValidationError:
                return await run_in_threadpool(
                    error_page, request, 400, "Something in the request was not filled in correctly."
                )
            except TaxvaultError as exc:
                return await run_in_threadpool(error_page, request, _status(exc), str(exc))
            except HTTPException as exc:
                if exc.status_code == 413 or not 400 <= exc.status_code < 500:
                    raise  # 413: the body limit's own answer (the middleware's); others are not the form's fault
                # The body could not be read as a form (no multipart boundary, too many fields...): a page,
                # not the API's problem+json; the detail is not shown (it may quote what was sent).
                return await run_in_threadpool(
                    error_page, request, 400, "The form could not be read; reload the page and send it again."
                )
            except Exception as exc:  # a bug: a plain page; the log line names the error class only
                log.error("console page failed", exc_info=exc, extra={"request_id": request_id(request)})
                return await run_in_threadpool(
                    error_page, request, 500, "Something went wrong on our side; nothing was changed."
                )

        return guarded


def page_router(prefix: str = "/web") -> APIRouter:
    """A router for console pages: HTML errors, CSRF and same-origin checks on every POST."""
    return APIRouter(
        prefix=prefix, route_class=PageRoute, dependencies=[Depends(csrf_protect)], include_in_schema=False
    )


def roles_any(*roles: str) -> Callable[[WebUser], bool]:
    """A visibility rule: the user has one of ``roles``."""
    return lambda user: any(user.has(r) for r in roles)


def kind_is(kind: str) -> Callable[[WebUser], bool]:
    """A visibility rule: the user is of principal kind ``kind``."""
    return lambda user: user.kind == kind


def start_task(request: Request, user: WebUser, title: str, work: Work) -> Response:
    """Run ``work`` in the background; answer its progress (an htmx fragment, or a page that refreshes)."""
    task = console(request).tasks.start(user.session.id_hash, title, work)
    return task_response(request, task)


def task_response(request: Request, task: Task) -> Response:
    """The task's progress: the fragment htmx polls, or (without htmx) a page refreshing every second."""
    task = task.snapshot()
    if request.headers.get("hx-request"):
        return render_fragment("_task.html", task=task)
    return render(request, "task.html", Page(task.title), task=task)
