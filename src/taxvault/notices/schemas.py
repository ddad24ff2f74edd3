"""Response bodies of the notices API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taxvault.records.schemas import Disclosed


class Notice(BaseModel):
    id: str = Field(description="Opaque notice id (printed on the notice as its number).")
    module_id: str
    notice_type: str = Field(description="CP14, CP501, CP503, CP504, LT11, L1058 or CP2000.")
    issued_date: str
    respond_by: str | None = None
    amount_due_cents: int
    tax_cents: int
    penalty_cents: int
    interest_cents: int
    has_document: bool


class NoticeList(Disclosed):
    items: list[Notice]


class NoticeRequest(BaseModel):
    notice_type: str = Field(
        max_length=12, description="The notice to send now: the one the series says is due (e.g. CP14, CP501)."
    )


class IssuedNotice(Notice):
    created: bool = Field(description="False when the same notice was already issued on the module today.")
