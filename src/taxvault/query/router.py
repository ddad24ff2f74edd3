"""``POST /v1/ask``: propose a plan for a question (or take one), then run it by its id.

Two steps so the client runs exactly the plan it saw: ``{"question": ...}`` or
``{"plan": {...}}`` returns the plan, its words and its ``plan_id``; ``{"plan_id": ...}``
runs it through the door as the caller and purpose (``Purpose-Of-Use``). ``"run": true``
does both at once (the client has already shown the plan, e.g. from a stored form).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from taxvault.access.door import Access
from taxvault.access.http import PROBLEM_RESPONSES, read
from taxvault.access.resources import Resource
from taxvault.query import service
from taxvault.query.plan import Plan

router = APIRouter(tags=["ask"], responses=PROBLEM_RESPONSES)

AskAccess = Annotated[Access, Depends(read(Resource.QUERY, located_by="body"))]


class AskRequest(BaseModel):
    """Exactly one of ``question``, ``plan`` or ``plan_id``."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, min_length=1, max_length=500)
    plan: dict[str, Any] | None = Field(default=None, description="A plan (see docs/asking.md).")
    plan_id: str | None = Field(default=None, pattern=r"^p[0-9a-f]{24}$")
    run: bool = Field(default=False, description="Run the proposed plan at once.")
    translator: str = Field(default="auto", pattern=r"^(auto|offline|llm)$", description="Who translates a question.")

    @model_validator(mode="after")
    def _one(self) -> AskRequest:
        if sum(x is not None for x in (self.question, self.plan, self.plan_id)) != 1:
            raise ValueError("give exactly one of question, plan or plan_id")
        return self


class AskResponse(BaseModel):
    """A proposal (``answer`` null), an answer, or ``supported: false`` with the nearest forms."""

    supported: bool = True
    message: str | None = None
    nearest: list[str] = Field(default_factory=list)
    plan_id: str | None = None
    plan_ref: str | None = None
    plan_hash: str | None = None
    description: str | None = None
    plan: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None


@router.post("/v1/ask", response_model=AskResponse, summary="Ask a question under policy (plan, then run)")
def ask(body: AskRequest, access: AskAccess) -> AskResponse:
    door, session = access.door, access.session
    if body.plan_id is not None:
        answer = service.run(door, session, body.plan_id)
        out = answer.as_dict()
        return AskResponse(
            plan_id=body.plan_id,
            plan_ref=out["plan_ref"],
            plan_hash=out["plan_hash"],
            description=out["description"],
            plan=answer.plan.model_dump(mode="json"),
            answer=out,
        )
    plan: Plan | None = service.parse_plan(body.plan) if body.plan is not None else None
    proposal = service.propose(door, session, question=body.question, plan=plan, translator=body.translator)
    if not isinstance(proposal, service.Proposal):
        return AskResponse(supported=False, message=proposal.message, nearest=list(proposal.nearest))
    shown = proposal.as_dict()
    result = AskResponse(
        plan_id=proposal.id,
        plan_ref=shown["plan_ref"],
        plan_hash=shown["plan_hash"],
        description=shown["description"],
        plan=shown["plan"],
    )
    if body.run:
        result.answer = service.run(door, session, proposal.id).as_dict()
    return result
