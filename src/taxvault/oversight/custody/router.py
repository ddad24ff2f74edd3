"""``/v1/grants`` and ``/v1/exports``: grants that expire and exports under them, every route through the door.

Routes authenticate and take the purpose of use (``Depends(read(...))``), then hand the
door and the session to :mod:`taxvault.oversight.grants` / :mod:`taxvault.oversight.exports`,
where Cedar decides each step and every step is audited. No TIN is ever in a URL: an
export's file is sealed under its grant's key (download it, open it while the grant holds).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from taxvault.access.door import REF_PATTERN, Access
from taxvault.access.http import PROBLEM_JSON, PROBLEM_RESPONSES, ProblemDetail, read, write
from taxvault.access.resources import Resource
from taxvault.oversight import exports as export_service
from taxvault.oversight import grants as grant_service

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    409: {"model": ProblemDetail, "content": {PROBLEM_JSON: {}}, "description": "Not in a state that allows it"},
}
router = APIRouter(tags=["grants"], responses=_RESPONSES)

GrantAccess = Annotated[Access, Depends(read(Resource.GRANT, located_by="body"))]
GrantWrite = Annotated[Access, Depends(write(Resource.GRANT, located_by="body"))]
ExportAccess = Annotated[Access, Depends(read(Resource.EXPORT, located_by="body"))]
GrantId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque grant id")]
ExportId = Annotated[str, Path(pattern=REF_PATTERN, description="Opaque export id")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,39}$")]


class GrantRequest(BaseModel):
    """A grant to request: for yourself (holder omitted) or, as an approver or manager, for an engineer."""

    model_config = ConfigDict(extra="forbid")

    holder: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
    datasets: list[Name] = Field(min_length=1, max_length=10)
    fields: list[Name] = Field(min_length=1, max_length=20, description="Field categories (name, address, ...).")
    purpose: Name
    days: int = Field(ge=1, le=grant_service.MAX_DAYS)
    reason: str = Field(min_length=10, max_length=500)


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=1, le=grant_service.MAX_DAYS, description="The new end, in days from now.")


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=5, max_length=200)


class GrantOut(BaseModel):
    id: str
    holder: str
    requested_by: str | None
    datasets: list[str]
    fields: list[str]
    purpose: str
    starts_at: str
    ends_at: str
    state: str
    in_force: bool
    approver: str | None
    renewals: int
    reason: str | None
    renewed_by: str | None
    revoked_by: str | None
    ended_reason: str | None
    shredded: bool


class GrantList(BaseModel):
    items: list[GrantOut]


class ExportRequest(BaseModel):
    """Rows of a dataset to export under your grant (the session's purpose must be the grant's)."""

    model_config = ConfigDict(extra="forbid")

    grant: str = Field(pattern=REF_PATTERN)
    dataset: Name
    fields: list[Name] = Field(min_length=1, max_length=20)
    records: int = Field(ge=1, le=export_service.MAX_RECORDS)
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class ExportOut(BaseModel):
    id: str
    grant: str
    requested_by: str
    dataset: str
    fields: list[str]
    purpose: str
    records: int
    state: str
    approver: str | None
    needs_second_approver: bool
    file_sha256: str | None


class ExportList(BaseModel):
    items: list[ExportOut]


@router.get("/v1/grants", response_model=GrantList)
def list_grants(
    access: GrantAccess,
    state: Annotated[Literal["requested", "active", "expired", "revoked"] | None, Query()] = None,
) -> Any:
    """Grants you may see: your own as an engineer; all for approvers, managers and oversight."""
    return {"items": grant_service.list_grants(access.door, access.session, state=state)}


@router.post("/v1/grants", response_model=GrantOut, status_code=201)
def request_grant(body: GrantRequest, access: GrantWrite) -> Any:
    """Request a grant (at most 120 days); nothing is disclosed under it until a second person approves."""
    return grant_service.request_grant(
        access.door,
        access.session,
        holder=body.holder,
        datasets=body.datasets,
        fields=body.fields,
        purpose=body.purpose,
        days=body.days,
        reason=body.reason,
    )


@router.post("/v1/grants/{grant_id}/approve", response_model=GrantOut)
def approve_grant(grant_id: GrantId, access: GrantWrite) -> Any:
    """Approve a requested grant: a grant approver who is neither its holder nor its requester."""
    return grant_service.approve_grant(access.door, access.session, grant_id)


@router.post("/v1/grants/{grant_id}/renew", response_model=GrantOut)
def renew_grant(grant_id: GrantId, body: RenewRequest, access: GrantWrite) -> Any:
    """Renew an active grant once (a grant approver, not the holder); at most 120 days from now."""
    return grant_service.renew_grant(access.door, access.session, grant_id, days=body.days)


@router.post("/v1/grants/{grant_id}/revoke", response_model=GrantOut)
def revoke_grant(grant_id: GrantId, body: RevokeRequest, access: GrantWrite) -> Any:
    """Revoke a grant now: its holder is refused on her next request, its key is shredded."""
    return grant_service.revoke_grant(access.door, access.session, grant_id, reason=body.reason)


@router.get("/v1/grants/{grant_id}/certificates")
def grant_certificates(grant_id: GrantId, access: GrantAccess) -> dict[str, Any]:
    """The grant's destruction certificates, each verified (signature, and its event in the audit log)."""
    from taxvault.oversight.shred import certificate_public_key_pem

    found = grant_service.certificates(access.door, access.session, grant_id)
    return {"items": found, "public_key": certificate_public_key_pem()}


@router.get("/v1/exports", response_model=ExportList)
def list_exports(
    access: ExportAccess,
    state: Annotated[Literal["pending", "produced", "refused", "shredded"] | None, Query()] = None,
) -> Any:
    """Exports you may see: your own; all for managers, approvers and oversight."""
    return {"items": export_service.list_exports(access.door, access.session, state=state)}


@router.post("/v1/exports", response_model=ExportOut, status_code=201)
def request_export(body: ExportRequest, access: ExportAccess) -> Any:
    """Export rows under your grant; above the bulk threshold it waits for a manager's approval."""
    return export_service.request_export(
        access.door,
        access.session,
        grant_ref=body.grant,
        dataset=body.dataset,
        fields=list(body.fields),
        records=body.records,
        state=body.state,
    )


@router.post("/v1/exports/{export_id}/approve", response_model=ExportOut)
def approve_export(export_id: ExportId, access: ExportAccess) -> Any:
    """The second person (a manager, not the requester) approves a pending export; it is produced."""
    return export_service.approve_export(access.door, access.session, export_id)


@router.get(
    "/v1/exports/{export_id}/file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The sealed export"}},
)
def export_file(export_id: ExportId, access: ExportAccess) -> Response:
    """The export's sealed file (opens only with its grant's key, while the grant holds)."""
    blob = export_service.sealed_file(access.door, access.session, export_id)
    return Response(blob, media_type="application/octet-stream")
