"""FastAPI app factory: assembles the domains' routers behind the Gate.

``/health`` and the OpenAPI description are public; everything under ``/v1`` that
touches protected data goes through the door (:mod:`taxvault.access.door`, adapted by
:mod:`taxvault.access.http`). The Cedar policies
are loaded and validated here: a policy that does not validate stops the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from taxvault import __version__
from taxvault.access.disclosure import DisclosureRules
from taxvault.access.door import Door
from taxvault.access.http import Services, ServicesHolder, authenticated
from taxvault.access.policy import PolicyEngine
from taxvault.access.principals import Caller
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tokens import TokenConfig, TokenVerifier
from taxvault.api.idempotency import IdempotencyMiddleware, document
from taxvault.api.methods import guard_fixed_paths
from taxvault.api.middleware import RequestContextMiddleware
from taxvault.api.problems import PROBLEM_RESPONSES, install_problem_handlers
from taxvault.audit import AuditLog
from taxvault.audit.periodic import PeriodicSigner, sth_interval_seconds
from taxvault.audit.router import router as audit_router
from taxvault.ledger.router import router as ledger_router
from taxvault.matching.router import router as matching_router
from taxvault.notices.router import router as notices_router
from taxvault.oversight.custody.router import router as custody_router
from taxvault.oversight.job import ScanJob, scan_interval_seconds
from taxvault.oversight.router import router as oversight_router
from taxvault.query.router import router as query_router
from taxvault.records.router import router as records_router
from taxvault.stats.router import router as stats_router
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.store.partitions import PartitionKeeper, partition_check_seconds
from taxvault.web.router import install as install_console


class Health(BaseModel):
    """Liveness and readiness of one taxvault process."""

    status: Literal["ok", "degraded"]
    version: str
    store: str
    schema_current: bool


class Me(BaseModel):
    """The authenticated principal (no TIN; a taxpayer sees her own opaque id)."""

    id: str
    kind: str
    roles: list[str]
    unit: str | None = None


def create_app(
    engine: Engine | None = None,
    *,
    audit_log: AuditLog | None = None,
    token_config: TokenConfig | None = None,
    policies: PolicyEngine | None = None,
    rate_limiter: RateLimiter | None = None,
    bench_routes: bool = False,
) -> FastAPI:
    """Build the app around ``engine`` (default: the configured store).

    ``audit_log`` (default: one group-committing log over ``engine``, closed on
    shutdown), ``token_config`` (default: ``TAXVAULT_JWKS_FILE`` etc. or the embedded
    issuer) and ``policies`` (default: the shipped Cedar files) may be injected.
    ``bench_routes`` adds an unauthenticated twin of the transcript route for
    ``bench/api.py`` only; never in a served app.
    """
    engine = engine or make_engine()
    policy_engine = policies or PolicyEngine()  # raises PolicyError: the server does not start
    DisclosureRules.from_policies(policy_engine)  # every permit declares what it discloses, or no start
    owns_log = audit_log is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Signed tree heads at least every TAXVAULT_AUDIT_STH_SECONDS while events arrive,
        # and a final one on shutdown (stop): see taxvault.audit.periodic.
        sth_signer = PeriodicSigner(audit_log or AuditLog(engine), every_seconds=sth_interval_seconds()).start()
        app.state.sth_signer = sth_signer
        # The oversight scan every TAXVAULT_OVERSIGHT_SCAN_SECONDS (0: off): taxvault.oversight.job.
        every = scan_interval_seconds()
        scan_job = ScanJob(lambda: holder.get().door, every_seconds=every).start() if every > 0 else None
        app.state.oversight_scan = scan_job
        # PostgreSQL: audit_events partitions made ahead of the log (taxvault.store.partitions).
        check = partition_check_seconds()
        keeper = PartitionKeeper(engine, every_seconds=check).start() if check > 0 else None
        app.state.partition_keeper = keeper
        try:
            yield
        finally:
            if keeper is not None:
                await asyncio.to_thread(keeper.stop)
            if scan_job is not None:
                await asyncio.to_thread(scan_job.stop)
            built = holder.built
            if owns_log and built is not None:
                built.door.audit.close()
            await asyncio.to_thread(sth_signer.stop)  # after the last append is committed

    app = FastAPI(
        title="taxvault",
        version=__version__,
        summary="One secure API over every record of a tax agency.",
        description="Every read of taxpayer data is authorized (Cedar), masked to the purpose and audited "
        "before the answer leaves. Errors are RFC 9457 problem+json. TINs never appear in URLs.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.policies = policy_engine
    app.add_middleware(IdempotencyMiddleware)  # inside the request context: request id set, body capped
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)

    def build_services() -> Services:
        log = audit_log or AuditLog(engine)
        config = token_config or TokenConfig.from_env()
        return Services(Door(engine, log, policy_engine), TokenVerifier(config), rate_limiter or RateLimiter.from_env())

    holder = ServicesHolder(build_services)
    app.state.services = holder

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> JSONResponse:
        """Whether the process is up and its store reachable and migrated (no data disclosed)."""
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            current = not pending_heads(engine)
            body = Health(
                status="ok" if current else "degraded",
                version=__version__,
                store=engine.dialect.name,
                schema_current=current,
            )
            return JSONResponse(body.model_dump(), status_code=200 if current else 503)
        except sa.exc.SQLAlchemyError:
            body = Health(status="degraded", version=__version__, store=engine.dialect.name, schema_current=False)
            return JSONResponse(body.model_dump(), status_code=503)

    @app.get("/v1/me", response_model=Me, tags=["identity"], responses=PROBLEM_RESPONSES)
    def me(caller: Annotated[Caller, Depends(authenticated)]) -> Any:
        """Who the bearer token says you are (roles and unit; never a TIN)."""
        return {
            "id": caller.id,
            "kind": caller.facts.kind,
            "roles": sorted(caller.roles),
            "unit": caller.facts.unit or None,
        }

    app.include_router(records_router)
    app.include_router(ledger_router)
    app.include_router(notices_router)
    app.include_router(matching_router)
    app.include_router(audit_router)
    app.include_router(stats_router)
    app.include_router(custody_router)
    app.include_router(oversight_router)
    app.include_router(query_router)
    if bench_routes:
        from taxvault.api.bench_routes import router as bench_router

        app.include_router(bench_router)
    install_console(app)  # the console's pages, sign-in, offline /docs (taxvault.web.router), same door
    guard_fixed_paths(app)  # e.g. GET /v1/taxpayers/lookup: 405, not a 422 from /v1/taxpayers/{id}
    document(app)  # the Idempotency-Key header on every /v1 write, in the OpenAPI description
    return app
