"""``taxvault ask "QUESTION" --as P --purpose U``: a question, its plan in words, then the answer.

The plan is shown and confirmed before it runs (``--yes`` or ``--json`` skip the
prompt); it then runs through the same door as ``POST /v1/ask``, as the named
principal and purpose, and is audited. A question the translator cannot express
gets "I can't express that" and the nearest supported forms, never a guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from taxvault.errors import TaxvaultError
from taxvault.query import service
from taxvault.query.plan import Plan, money_text
from taxvault.query.vocab import FIELDS
from taxvault.terminal import fail

console = Console()


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    fd = FIELDS.get(name)
    money = (fd is not None and fd.type == "money") or name.split("_", 1)[-1] in _MONEY_NAMES
    if money and isinstance(value, int) and not name.startswith(("count", "count_distinct")):
        return money_text(value)
    return str(value)


_MONEY_NAMES = frozenset(f.name for f in FIELDS.values() if f.type == "money")


def _print_answer(answer: service.Answer) -> None:
    if not answer.rows and answer.suppressed:
        console.print(f"suppressed: fewer than {answer.min_cell} records", highlight=False)
        return
    table = Table(show_header=True, header_style="bold")
    for c in answer.columns:
        table.add_column(escape(c.split(".", 1)[-1]))
    for row in answer.rows:
        table.add_row(*(escape(_cell(c, row[c])) for c in answer.columns))
    console.print(table)
    notes = [f"{len(answer.rows)} row(s)"]
    if answer.masked:
        notes.append("masked: " + ", ".join(answer.masked))
    if answer.min_cell is not None:
        notes.append(f"{answer.suppressed} group(s) under {answer.min_cell} records suppressed")
    if answer.noise is not None:
        notes.append("noised (differential privacy)")
    console.print("; ".join(notes), highlight=False)


def ask(
    question: str = typer.Argument("", help="The question, in plain language (or use --plan)."),
    who: str = typer.Option(..., "--as", help="The principal asking (an id from `taxvault principals`)."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose of use (e.g. collection, statistics, self_service)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan and the answer as JSON (no prompt)."),
    explain: bool = typer.Option(False, "--explain", help="Also print the plan as JSON and its hash."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Run without asking to confirm the plan."),
    plan_file: Path | None = typer.Option(None, "--plan", help="Run this plan (JSON) instead of translating."),
    translator: str = typer.Option(
        "auto", "--translator", help="offline, llm (TAXVAULT_LLM_URL) or auto (llm when configured)."
    ),
) -> None:
    """Ask a question under policy: the plan in words, then the answer."""
    from taxvault.access.local import local_door
    from taxvault.store import make_engine
    from taxvault.store.migrate import pending_heads

    engine = make_engine()
    if pending_heads(engine):
        raise fail("the store is not initialised or not current: run `taxvault init`")
    given: Plan | None = None
    try:
        if plan_file is not None:
            given = service.parse_plan(plan_file.read_text(encoding="utf-8"))
        elif not question.strip():
            raise fail("ask a question, or give a plan with --plan FILE")
        with local_door(engine) as door:
            caller = door.caller(who)
            session = door.session(caller, purpose, channel="cli")
            proposal = service.propose(door, session, question=question or None, plan=given, translator=translator)
            if not isinstance(proposal, service.Proposal):
                _cannot(proposal, as_json)
                raise typer.Exit(2)
            if not as_json:
                console.print(f"[bold]Plan:[/] {escape(proposal.description)}", highlight=False)
                if explain:
                    console.print_json(proposal.plan.canonical_json())
                    console.print(f"plan hash {proposal.plan.plan_hash()}", highlight=False)
                if not yes and not typer.confirm("Run it?", default=True):
                    console.print("not run")
                    return
            answer = service.run(door, session, proposal.id)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    if as_json:
        out = {"supported": True, **proposal.as_dict(), "answer": answer.as_dict()}
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    _print_answer(answer)


def _cannot(found: service.Unsupported, as_json: bool) -> None:
    if as_json:
        out = {"supported": False, "message": found.message, "nearest": list(found.nearest)}
        typer.echo(json.dumps(out, indent=2))
        return
    console.print(escape(found.message), highlight=False)
    if found.nearest:
        console.print("Questions I can answer look like:")
        for form in found.nearest:
            console.print(f"  - {escape(form)}", highlight=False)
