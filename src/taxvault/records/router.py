"""``/v1`` routes over taxpayer records. Each declares its resource; the Gate does the rest."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from taxvault.access.door import Access, Target
from taxvault.access.http import PROBLEM_RESPONSES, read
from taxvault.access.resources import Resource
from taxvault.errors import Denied, NotFound
from taxvault.records import service
from taxvault.records.schemas import (
    CasePage,
    InformationReturnPage,
    LookupRequest,
    LookupResult,
    ModulePage,
    ReturnPage,
    Taxpayer,
    Transcript,
)

router = APIRouter(prefix="/v1", tags=["records"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
TaxYear = Annotated[int | None, Query(ge=1900, le=2100, description="Filter by tax year.")]


def _entity_id(target: Target) -> int:
    assert target.entity_id is not None
    return target.entity_id


@router.post("/taxpayers/lookup", response_model=LookupResult)
def lookup_taxpayer(
    body: LookupRequest, access: Annotated[Access, Depends(read(Resource.ENTITY, located_by="body"))]
) -> Any:
    """Find a taxpayer by TIN (in the body, never a URL); returns the opaque id if you may access it."""
    try:
        return access.serve(
            lambda conn, t: service.entity_summary(conn, _entity_id(t)),
            label="lookup",
            find=lambda conn: service.entity_ref_by_tin(conn, body.tin, body.tin_type, seen_by=access.caller.id),
        )
    except (Denied, NotFound):
        raise NotFound("no taxpayer you may access has that TIN") from None


@router.get("/taxpayers/{taxpayer_id}", response_model=Taxpayer)
def get_taxpayer(access: Annotated[Access, Depends(read(Resource.ENTITY))]) -> Any:
    """A taxpayer's identity record (masked to the purpose)."""
    return access.serve(lambda conn, t: service.entity(conn, _entity_id(t)))


@router.get("/taxpayers/{taxpayer_id}/modules", response_model=ModulePage)
def list_modules(
    access: Annotated[Access, Depends(read(Resource.MODULE_LIST))],
    mft: Annotated[int | None, Query(ge=0, le=99, description="Filter by MFT code.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """The taxpayer's tax modules (one per form and period), with balances."""
    return access.serve(lambda conn, t: service.modules(conn, _entity_id(t), mft=mft, limit=limit, offset=offset))


@router.get("/modules/{module_id}/transcript", response_model=Transcript)
def module_transcript(
    access: Annotated[Access, Depends(read(Resource.MODULE_TRANSCRIPT))],
    as_of: Annotated[
        dt.date | None, Query(description="Also compute penalties, interest and the payoff amount as of this date.")
    ] = None,
) -> Any:
    """A module transcript (like IDRS TXMOD): transactions and balance; with ``as_of``, accruals and payoff."""
    return access.serve(lambda conn, t: service.transcript(conn, t.module_id or 0, as_of=as_of))


@router.get("/taxpayers/{taxpayer_id}/returns", response_model=ReturnPage)
def list_returns(
    access: Annotated[Access, Depends(read(Resource.RETURNS))],
    tax_year: TaxYear = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Returns the taxpayer filed (as primary or spouse)."""
    return access.serve(
        lambda conn, t: service.return_list(conn, _entity_id(t), tax_year=tax_year, limit=limit, offset=offset)
    )


@router.get("/taxpayers/{taxpayer_id}/information-returns", response_model=InformationReturnPage)
def list_information_returns(
    access: Annotated[Access, Depends(read(Resource.INFORMATION_RETURNS))],
    tax_year: TaxYear = None,
    form: Annotated[str | None, Query(pattern=r"^[A-Z0-9-]{2,10}$", description="e.g. W-2, 1099-NEC")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Information returns (W-2, 1099) naming the taxpayer as payee."""
    return access.serve(
        lambda conn, t: service.information_return_list(
            conn, _entity_id(t), tax_year=tax_year, form=form, limit=limit, offset=offset
        )
    )


@router.get("/me/cases", response_model=CasePage)
def my_cases(
    access: Annotated[Access, Depends(read(Resource.MY_CASES))],
    status: Annotated[Literal["open", "closed"] | None, Query(description="Filter by status.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """The caller's assigned cases and their subjects (opaque ids)."""
    return access.serve(
        lambda conn, t: service.my_cases(conn, access.caller.id, status=status, limit=limit, offset=offset)
    )
