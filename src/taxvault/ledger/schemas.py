"""Request and response bodies of the ledger API: adjustments, approvals, unpostables, accruals."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from taxvault.records.schemas import Disclosed, PageMeta

AdjustmentState = Literal["awaiting_approval", "pending", "posted", "unpostable", "rejected"]


class AdjustmentRequest(BaseModel):
    """An adjustment to post on a module of the caller's case. The amount is unsigned: the code decides."""

    tc: Literal[290, 291, 300, 301, 420, 421, 570, 571, 670, 671, 971] = Field(
        description="Transaction code (Document 6209): 290 additional tax, 291 abatement, 300/301 examination, "
        "420/421 examination indicator, 570/571 hold and release, 670/671 payment and its reversal, 971 misc."
    )
    amount_cents: int = Field(ge=0, le=10**12, description="Unsigned cents; 0 for indicator codes.")
    reason_code: int | None = Field(None, ge=0, le=999, description="Adjustment reason code.")


class Adjustment(Disclosed):
    id: str = Field(description="Opaque adjustment id.")
    module_id: str
    tc: int
    amount_cents: int = Field(description="Signed as it posts: negative lowers what is owed.")
    reason_code: int | None = None
    state: AdjustmentState
    within_authority: bool
    requested_by: str
    requested_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    posted_on: str | None = None


class AdjustmentPage(PageMeta):
    items: list[Adjustment]


class Decision(BaseModel):
    note: str | None = Field(None, max_length=200, description="Why (kept with the decision).")


class Unpostable(BaseModel):
    id: int
    tc: int
    amount_cents: int
    posted_date: str
    unpostable_code: str
    reason: str
    status: Literal["open", "resolved"]
    resolution: str | None = None


class UnpostablePage(Disclosed):
    items: list[Unpostable]


class Accruals(Disclosed):
    """What settles the module on a date: unpaid tax, penalties (IRC 6651) and interest (IRC 6621/6622)."""

    module_id: str
    as_of: str
    tax_cents: int
    penalty_ftf_cents: int
    penalty_ftp_cents: int
    interest_cents: int
    payoff_cents: int
