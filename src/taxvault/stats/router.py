"""``/v1/stats``: an analyst's differentially private aggregates and her privacy budget.

``GET /v1/stats`` shows the budget left; ``POST /v1/stats`` answers one shape (a count
or a bounded sum of returns or information returns by state, year, form or filing
status), charging the budget. Both go through the door (``Resource.STATS``; analysts
only, for research or statistics); every answer shows the budget left.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from taxvault.access.door import Access
from taxvault.access.http import PROBLEM_RESPONSES, read
from taxvault.access.resources import Resource
from taxvault.stats import service
from taxvault.stats.shapes import Shape

router = APIRouter(prefix="/v1", tags=["stats"], responses=PROBLEM_RESPONSES)
StatsAccess = Annotated[Access, Depends(read(Resource.STATS))]


class BudgetOut(BaseModel):
    principal: str
    epsilon_limit: float
    epsilon_spent: float
    epsilon_left: float
    delta_limit: float
    delta_spent: float
    delta_left: float


class StatsOut(BaseModel):
    measure: str
    mechanism: str
    epsilon: float
    delta: float
    k: int
    bounds: list[int] | None
    max_contributions: int
    noise_scale: float
    ci95: int
    groups: list[dict[str, Any]]
    budget: dict[str, float]
    shape: str


@router.get("/stats", response_model=BudgetOut, summary="My privacy budget (analysts)")
def budget_left(access: StatsAccess) -> dict[str, Any]:
    """The calling analyst's privacy budget: limits, spent, left."""
    return service.budget_left(access.door, access.session)


@router.post("/stats", response_model=StatsOut, summary="A differentially private aggregate (analysts)")
def answer(shape: Shape, access: StatsAccess) -> dict[str, Any]:
    """Noisy counts or bounded sums per group; groups under the minimum cell size are suppressed.

    Spends ``epsilon`` (and ``delta`` for the Gaussian mechanism) of the analyst's budget;
    refused (403, ``privacy-budget-spent``) when the budget cannot pay for it.
    """
    return service.answer(access.door, access.session, shape)
