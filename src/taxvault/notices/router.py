"""``/v1`` routes over notices: the list per module, the PDF, and a caseworker issuing the notice due. Audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from taxvault.access.door import REF_PATTERN, Access, Target
from taxvault.access.http import PROBLEM_RESPONSES, read, write
from taxvault.access.resources import Resource
from taxvault.notices import on_request, service
from taxvault.notices.schemas import IssuedNotice, NoticeList, NoticeRequest

router = APIRouter(prefix="/v1", tags=["notices"], responses=PROBLEM_RESPONSES)


def _module_id(target: Target) -> int:
    assert target.module_id is not None
    return target.module_id


@router.get("/modules/{module_id}/notices", response_model=NoticeList)
def list_notices(access: Annotated[Access, Depends(read(Resource.NOTICES))]) -> Any:
    """Notices issued on the module (CP14 ... LT11/Letter 1058, CP2000), oldest first."""
    return access.serve(lambda conn, t: service.notice_list(conn, _module_id(t)))


@router.get(
    "/modules/{module_id}/notices/{notice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The notice as sent."}},
)
def notice_pdf(
    notice_id: Annotated[str, Path(pattern=REF_PATTERN, description="Opaque notice id")],
    access: Annotated[Access, Depends(read(Resource.NOTICES))],
) -> Response:
    """The notice document (PDF: name, address, masked SSN, amounts, what to do and by when)."""
    body = access.serve_bytes(
        lambda conn, t: service.notice_pdf(conn, _module_id(t), notice_id),
        ["notice_pdf", "name", "address", "tin:masked", "amount_due_cents"],
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="notice.pdf"', "Cache-Control": "no-store"},
    )


def issue_notice(access: Access, notice_type: str) -> dict[str, Any]:
    """Issue the notice due on the module today, in one transaction with its audit event (API and console)."""
    kind = on_request.parse_type(notice_type)
    on = access.door.clock().date()

    def perform(conn: Connection, target: Target) -> dict[str, Any]:
        return on_request.issue_on_request(conn, _module_id(target), kind, on, request_id=access.request_id)

    return access.write(0, perform, on_request.REQUEST_FIELDS, "issue_notice")


@router.post("/modules/{module_id}/notices", response_model=IssuedNotice, status_code=201)
def post_notice(
    body: NoticeRequest, response: Response, access: Annotated[Access, Depends(write(Resource.NOTICES))]
) -> Any:
    """Send now the balance-due notice the series says is due on a module of your open collection case
    (422 naming the notice due otherwise). Asking again the same day answers the notice issued (200)."""
    issued = issue_notice(access, body.notice_type)
    if not issued["created"]:
        response.status_code = 200
    return issued
