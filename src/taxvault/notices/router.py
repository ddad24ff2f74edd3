"""``/v1`` routes over notices: the list per module and the PDF. Through the Gate, audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from taxvault.access.door import REF_PATTERN, Access, Target
from taxvault.access.http import PROBLEM_RESPONSES, read
from taxvault.access.resources import Resource
from taxvault.notices import service
from taxvault.notices.schemas import NoticeList

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
