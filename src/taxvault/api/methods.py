"""405 for fixed paths that a parameterised route would otherwise swallow.

``POST /v1/taxpayers/lookup`` and ``GET /v1/taxpayers/{taxpayer_id}`` overlap: a
``GET /v1/taxpayers/lookup`` matches the second route, fails its id pattern and is
answered 422, as if "lookup" were a malformed taxpayer id. HTTP says 405 with an
``Allow`` header. Rather than ordering routes by hand, :func:`guard_fixed_paths`
finds every fixed path whose other methods a parameterised route would take and puts
a 405 route for those methods in front, once, when the app is built.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import Response
from starlette.routing import Route

from taxvault.api.problems import problem_response

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def guard_fixed_paths(app: FastAPI) -> list[Route]:
    """Add a 405 route for each (fixed path, methods) a parameterised route would shadow.

    Call after every router is included. Returns the routes added (for tests).
    """
    # Included routers are not flattened into app.router.routes (FastAPI >= 0.16x): walk the
    # effective routes, with their full paths.
    api_routes = [ctx for ctx in iter_route_contexts(app.router.routes) if isinstance(ctx.original_route, APIRoute)]
    allowed: dict[str, set[str]] = defaultdict(set)
    for ctx in api_routes:
        if not ctx.param_convertors and ctx.path and ctx.methods:
            allowed[ctx.path] |= ctx.methods
    guards: list[Route] = []
    for path, methods in allowed.items():
        shadowed: set[str] = set()
        for ctx in api_routes:
            if ctx.path != path and ctx.param_convertors and ctx.methods and ctx.path_regex.match(path):
                shadowed |= ctx.methods - methods
        if shadowed:
            # Every other method too: a partial match on the guard must not answer Allow: GET.
            guards.append(_guard(path, _METHODS - methods, methods))
    app.router.routes[:0] = guards
    return guards


def _guard(path: str, methods: Iterable[str], allowed: set[str]) -> Route:
    allow = ", ".join(sorted(allowed - {"HEAD"}))

    async def method_not_allowed(request: Request) -> Response:
        return problem_response(
            request,
            405,
            detail=f"{request.method} is not allowed here; allowed: {allow}",
            headers={"Allow": allow},
        )

    return Route(path, method_not_allowed, methods=sorted(methods), include_in_schema=False)
