"""FastAPI app factory.

This module only assembles: each domain brings its own router. For now the app
serves a health check and its OpenAPI description; the record API arrives with
the Gate (need-to-know, masking, audit on every call).
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from taxvault import __version__
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads


class Health(BaseModel):
    """Liveness and readiness of one taxvault process."""

    status: Literal["ok", "degraded"]
    version: str
    store: str
    schema_current: bool


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app around ``engine`` (default: the configured store)."""
    engine = engine or make_engine()
    app = FastAPI(
        title="taxvault",
        version=__version__,
        summary="One secure API over every record of a tax agency.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

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
            body = Health(
                status="degraded", version=__version__, store=engine.dialect.name, schema_current=False
            )
            return JSONResponse(body.model_dump(), status_code=503)

    return app
