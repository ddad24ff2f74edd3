"""Bench-only routes: a twin of the transcript route (the same fetch, no authentication,
policy, masking or audit) and a plain hello route (the framework's own floor). Mounted
only by ``create_app(bench_routes=True)`` (bench/api.py)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request

from taxvault.access.door import REF_PATTERN
from taxvault.errors import NotFound
from taxvault.records import service
from taxvault.records.schemas import Transcript
from taxvault.store.tables import tax_modules

_LOCATE = sa.select(tax_modules.c.id).where(tax_modules.c.ref == sa.bindparam("ref"))
router = APIRouter(prefix="/bench/bare", tags=["bench"], include_in_schema=False)


@router.get("/modules/{module_id}/transcript", response_model=Transcript)
def bare_transcript(request: Request, module_id: Annotated[str, Path(pattern=REF_PATTERN)]) -> Any:
    """Unprotected transcript (benchmark baseline only)."""
    with request.app.state.engine.connect() as conn:
        row = conn.execute(_LOCATE, {"ref": module_id}).first()
        if row is None:
            raise NotFound("no such record")
        body = service.transcript(conn, int(row.id))
    for t in body["transactions"]:
        t["posted_date"] = t["posted_date"].isoformat()
    body["masked"], body["withheld"] = [], []
    return body


@router.get("/hello")
def hello() -> dict[str, str]:
    """A plain FastAPI route served the same way (the anchor for the door's throughput)."""
    return {"hello": "world"}
