"""Ask a question in plain language: translate -> show the plan -> "Run" posts the plan's id -> the answer.

Why two steps, as ``POST /v1/ask``: the person runs exactly the plan she read (the id names a
plan stored for her and her purpose), and the run is one audited unit of the door under the
query policies (her cases only for a caseworker; noised, budget charged for an analyst).
A question the translator cannot express is refused with the nearest forms it supports,
each a button that asks it. The question is sent in a POST body only; it is shown back only
when it carries nothing shaped like a TIN.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse

from taxvault.access.resources import Resource
from taxvault.query import service
from taxvault.query.plan import money_text
from taxvault.query.vocab import FIELDS
from taxvault.web.kit import NAV, NavItem, Page, WebUser, current_user, door_access, page_router, render

router = page_router("/web/ask")
User = Annotated[WebUser, Depends(current_user)]
TIN_SHAPE = re.compile(r"(?<!\d)\d{3}-?\d{2}-?\d{4}(?!\d)|(?<!\d)\d{2}-\d{7}(?!\d)")
EXAMPLES = (
    "How many notices were issued each year?",
    "Which taxpayers owe more than $1,000?",
    "Average AGI by filing status in 2024",
)
_MONEY_NAMES = frozenset(f.name for f in FIELDS.values() if f.type == "money")

NAV.append(NavItem("Ask a question", "/web/ask/", lambda user: user.kind != "system"))


def cell(name: str, value: Any) -> str:
    """A value as people read it: money in dollars, nothing for a missing value."""
    if value is None:
        return ""
    fd = FIELDS.get(name)
    money = (fd is not None and fd.type == "money") or name.split("_", 1)[-1] in _MONEY_NAMES
    if money and isinstance(value, int) and not name.startswith("count"):
        return money_text(value)
    return str(value)


def _shown(question: str) -> str:
    """The question as it may be shown back (blank when it carries a TIN-like number)."""
    return "" if TIN_SHAPE.search(question) else question


@router.get("/")
def ask_form(request: Request, user: User) -> HTMLResponse:
    """The question form and examples."""
    return render(request, "ask/ask.html", Page("Ask a question"), question="", refusal=None, examples=EXAMPLES)


@router.post("/")
def propose(request: Request, user: User, question: Annotated[str, Form(min_length=1, max_length=500)]) -> HTMLResponse:
    """Translate the question into a plan and show it (nothing is read yet), or refuse with the nearest forms."""
    access = door_access(request, user, Resource.QUERY)
    proposal = service.propose(access.door, access.session, question=question)
    if not isinstance(proposal, service.Proposal):
        page = Page("Ask a question")  # a refusal to translate is an answer, as the API's 200
        refusal = {"message": proposal.message, "nearest": list(proposal.nearest)}
        return render(request, "ask/ask.html", page, question=_shown(question), refusal=refusal, examples=EXAMPLES)
    return render(
        request,
        "ask/plan.html",
        Page("The plan"),
        question=_shown(question),
        proposal=proposal.as_dict(),
    )


@router.post("/run")
def run(request: Request, user: User, plan_id: Annotated[str, Form(pattern=r"^p[0-9a-f]{24}$")]) -> HTMLResponse:
    """Run the plan she saw, under policy (audited); the answer as a table, noise and budget for analysts."""
    access = door_access(request, user, Resource.QUERY)
    answer = service.run(access.door, access.session, plan_id).as_dict()
    columns = answer["columns"]
    rows = [[cell(c, r.get(c)) for c in columns] for r in answer["rows"]]
    numeric = [all(isinstance(r.get(c), int | float) for r in answer["rows"] if r.get(c) is not None) for c in columns]
    noise = answer.get("noise")
    return render(
        request,
        "ask/answer.html",
        Page("The answer"),
        answer=answer,
        headings=[c.split(".", 1)[-1].replace("_", " ") for c in columns],
        rows=rows,
        numeric=numeric,
        noise=noise,
        releases=(noise or {}).get("releases", {}),
        budget=(noise or {}).get("budget"),
    )
