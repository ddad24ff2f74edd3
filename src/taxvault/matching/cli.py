"""``taxvault match``: agreements, partner imports, runs, leads, destruction and ad-hoc linkage.

Every command acts as a named principal (``--as``) through the same door as
the API (:func:`taxvault.access.local.local_door`): the same policies decide, the same
masking applies, the same audit log records it, and an unknown or inactive principal
is refused (and the refusal audited). Errors are one line and a non-zero exit, never
a traceback, and nothing printed carries a TIN (opaque ids and keyed tokens only).

The matching job's commands (``import``, ``run``, ``shred-due``, ``shred``, ``link``,
``synth-partner``) are added to this app by :mod:`taxvault.jobs.matching_cli`: they
drive work across domains, which lives in ``jobs/``; the entry point mounts that app.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from taxvault.access.door import Door, Session, new_request_id
from taxvault.access.local import local_door
from taxvault.access.policy import PolicyError
from taxvault.audit.errors import AuditError
from taxvault.errors import TaxvaultError, Unauthenticated
from taxvault.matching import front
from taxvault.matching import leads as lead_service
from taxvault.matching.agreements import CLEAR_FIELDS, DEFAULT_THRESHOLD, PROGRAMS, validate_terms
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.linkage import LinkageError
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.terminal import fail

app = typer.Typer(
    help="Computer matching under written agreements: agreements, partner data, runs, leads, destruction.",
    no_args_is_help=True,
)
agreement_app = typer.Typer(
    help="Matching agreements: draft, approve (a second person), renew, revoke.", no_args_is_help=True
)
app.add_typer(agreement_app, name="agreement")

console = Console()
err = Console(stderr=True)
JOB = "sys-matching"
GOVERNANCE_PURPOSE = "matching_governance"

AsOption = typer.Option(..., "--as", help="The principal acting (see `taxvault principals`).")
DateOption = typer.Option(None, "--date", help="Act as of this day (YYYY-MM-DD; default today, UTC).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
_SHOWN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}", re.ASCII)  # a principal id; never echo a TIN-like input


class CliError(TaxvaultError):
    """A bad input or state, shown as one line."""


@contextmanager
def open_door() -> Iterator[Door]:
    """Open the store (refusing an uninitialised one) and its door; errors become one line."""
    # Splink's training chatter (levels not observed in a small file...) is not for the console.
    logging.getLogger("splink").setLevel(logging.ERROR)
    try:
        engine = make_engine()
        if pending_heads(engine):
            raise CliError("the store is not initialised or not current: run `taxvault init`")
        opened = local_door(engine)
        door = opened.__enter__()
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    except (sa.exc.SQLAlchemyError, OSError, AuditError, PolicyError) as exc:
        raise fail(f"the store cannot be opened ({type(exc).__name__})") from None
    try:
        yield door
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    except LinkageError as exc:
        raise fail(str(exc)) from None
    except AuditError as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from None
    except sa.exc.IntegrityError:
        raise fail("the store refused the change (a rule of the store was broken)") from None
    except sa.exc.SQLAlchemyError as exc:
        raise fail(f"the store failed ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(AuditError, sa.exc.SQLAlchemyError):  # the next signer covers the tail
            opened.__exit__(None, None, None)


def session_for(door: Door, who: str, purpose: str) -> Session:
    """``who`` acting for ``purpose`` from the command line (a system principal: as a job)."""
    rid = new_request_id("cli")
    try:
        caller = door.caller(who, request_id=rid)
    except Unauthenticated:
        shown = repr(who) if _SHOWN_ID.fullmatch(who) else "(as given)"
        raise CliError(f"no active principal {shown}") from None
    channel = "job" if caller.facts.kind == "system" else "cli"
    return door.session(caller, purpose, channel=channel, request_id=rid)


def parse_day(value: str | None, name: str = "--date") -> dt.date:
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{name} must be a date YYYY-MM-DD") from None


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def id_column(table: Table, header: str) -> None:
    """A table column holding ids: never wrapped, never cut with an ellipsis (see :func:`print_table`)."""
    table.add_column(header, no_wrap=True, overflow="fold")


def print_table(table: Table) -> None:
    """Print ``table`` with every id column as wide as its longest id, so that no id is ever truncated.

    Rich otherwise shrinks columns to the terminal and cuts ids short ("a3f9…"), and a
    person then copies an id that does not exist. The other columns wrap instead.
    """
    for column in table.columns:
        if column.no_wrap:
            column.min_width = max([len(str(c)) for c in column._cells] + [len(str(column.header))])
    console.print(table)


def _agreement_table(items: list[dict[str, Any]]) -> None:
    table = Table(title="agreements")
    id_column(table, "agreement")
    id_column(table, "partner")
    for header in ("program", "status", "starts", "ends", "destroy"):
        table.add_column(header, overflow="fold")
    id_column(table, "approver")
    for a in items:
        table.add_row(
            a["agreement_id"],
            a["partner_id"],
            a["program"],
            a["status"],
            a["starts_on"],
            a["ends_on"],
            a["destroy_on"],
            a["approver_id"] or "",
        )
    print_table(table)


# -- agreements ---------------------------------------------------------------------------------------


@agreement_app.command("create")
def agreement_create(
    partner: str = typer.Option(..., "--partner", help="The partner principal, e.g. partner-ssa."),
    program: str = typer.Option(..., "--program", help=f"One of: {', '.join(PROGRAMS)}."),
    purpose: str = typer.Option(..., "--purpose", help="Why the match is done."),
    authority: str = typer.Option(..., "--authority", help="The legal authority for the match."),
    agency_fields: str = typer.Option(
        ...,
        "--agency-fields",
        help=f"Comma-separated data elements of the agency: person fields ({', '.join(PERSON_FIELDS)}) and the "
        f"program's; linkage_only may add {CLEAR_FIELDS} to allow `match link --clear`.",
    ),
    partner_fields: str = typer.Option(..., "--partner-fields", help="Comma-separated data elements of the partner."),
    start: str | None = typer.Option(None, "--start", help="First day (YYYY-MM-DD; default today, never in the past)."),
    end: str = typer.Option(..., "--end", help="Last day (at most 18 months after the start)."),
    destroy: str = typer.Option(..., "--destroy", help="Destruction date of the partner data and key (>= end)."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, "--threshold", help="Match probability a pair needs."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Draft a matching agreement (a second person approves it before anything is matched)."""
    with open_door() as door:
        agency, partner_side = _list(agency_fields), _list(partner_fields)
        today = parse_day(None)
        starts, ends, destroys = parse_day(start, "--start"), parse_day(end, "--end"), parse_day(destroy, "--destroy")
        if starts < today:
            raise CliError(
                f"--start {starts.isoformat()} is in the past: an agreement starts today ({today.isoformat()}) or later"
            )
        validate_terms(
            program=program,
            purpose=purpose,
            legal_authority=authority,
            agency_fields=agency,
            partner_fields=partner_side,
            starts_on=starts,
            ends_on=ends,
            destroy_on=destroys,
            threshold=threshold,
        )
        terms = front.Terms(
            partner, program, purpose, authority, agency, partner_side, starts, ends, destroys, threshold
        )
        body = front.draft(door, session_for(door, as_, GOVERNANCE_PURPOSE), terms, today=today)
    if as_json:
        print_json(body)
    else:
        console.print(
            f"drafted agreement {body['agreement_id']} ({body['program']} with {body['partner_id']}); "
            "a second person approves it with `taxvault match agreement approve`",
            highlight=False,
        )


@agreement_app.command("approve")
def agreement_approve(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """Approve a draft (a second person: grant_approver or manager, never the drafter)."""
    with open_door() as door:
        body = front.approve(door, session_for(door, as_, GOVERNANCE_PURPOSE), agreement, today=parse_day(None))
    if as_json:
        print_json(body)
    else:
        console.print(f"agreement {agreement} approved by {body['approver_id']}: {body['status']} today")


@agreement_app.command("renew")
def agreement_renew(
    agreement: str = typer.Argument(..., help="The agreement id."),
    until: str = typer.Option(..., "--until", help="The new last day (at most 12 months more)."),
    destroy: str | None = typer.Option(None, "--destroy", help="A new destruction date, if the old is too early."),
    date: str | None = DateOption,
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """The one renewal the law allows (asked for in the last 3 months, by a second person)."""
    try:
        today, new_end = parse_day(date), parse_day(until, "--until")
        new_destroy = None if destroy is None else parse_day(destroy, "--destroy")
    except CliError as exc:
        raise fail(str(exc)) from None
    with open_door() as door:
        session = session_for(door, as_, GOVERNANCE_PURPOSE)
        body = front.renew(door, session, agreement, until=new_end, destroy_on=new_destroy, today=today)
    if as_json:
        print_json(body)
    else:
        console.print(f"agreement {agreement} renewed until {body['ends_on']} (destroyed on {body['destroy_on']})")


@agreement_app.command("revoke")
def agreement_revoke(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """Stop an agreement: nothing more is imported, run or linked under it."""
    with open_door() as door:
        body = front.revoke(door, session_for(door, as_, GOVERNANCE_PURPOSE), agreement, today=parse_day(None))
    if as_json:
        print_json(body)
    else:
        console.print(f"agreement {agreement} revoked")


@agreement_app.command("list")
def agreement_list(
    state: str | None = typer.Option(None, "--state", help="draft, approved, revoked or destroyed."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Matching agreements (a partner: its own)."""
    with open_door() as door:
        session = session_for(door, as_, GOVERNANCE_PURPOSE)
        page = front.agreements_page(door, session, state=state, limit=1000, offset=0, today=parse_day(None))
    items = page["items"]
    if as_json:
        print_json(items)
    else:
        _agreement_table(items)


@agreement_app.command("show")
def agreement_show(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """One agreement: its terms, state and status today."""
    with open_door() as door:
        body = front.show_agreement(door, session_for(door, as_, GOVERNANCE_PURPOSE), agreement, today=parse_day(None))
    if as_json:
        print_json(body)
    else:
        for k, v in body.items():
            console.print(f"{k:>16}: {', '.join(v) if isinstance(v, list) else v}", highlight=False)


# -- leads ------------------------------------------------------------------------------------------------


@app.command("leads")
def leads(
    agreement: str | None = typer.Option(None, "--agreement", help="Only this agreement's leads."),
    state: str | None = typer.Option(None, "--state", help="new, verified, notified, contested or closed."),
    program: str | None = typer.Option(None, "--program", help="death_refunds or state_wages."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0),
    purpose: str = typer.Option(lead_service.LEAD_PURPOSE, "--purpose", help="Why you need them."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Leads you may work (each decided by the policies against the taxpayer it names, masked, audited)."""
    with open_door() as door:
        page = front.leads_page(
            door,
            session_for(door, as_, purpose),
            agreement_ref=agreement,
            state=state,
            program=program,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(page)
        return
    table = Table(title="leads")
    id_column(table, "lead")
    table.add_column("program", overflow="fold")
    id_column(table, "taxpayer")
    for header in ("year", "p(match)", "state", "outcome", "agency facts"):
        table.add_column(header, overflow="fold")
    for item in page["items"]:
        facts = item["agency_facts"]
        amount = facts.get("refund_cents", facts.get("w2_wages_cents"))
        table.add_row(
            item["lead_id"],
            item["program"],
            item["taxpayer_id"],
            str(item["tax_year"] or ""),
            f"{item['match_probability']:.3f}",
            item["state"],
            item["outcome"] or "",
            "" if amount is None else f"${amount / 100:,.2f}",
        )
    print_table(table)


@app.command("lead")
def lead(
    lead_id: str = typer.Argument(..., help="The lead id."),
    to: str | None = typer.Option(None, "--to", help="Move it: verified, notified, contested or closed."),
    outcome: str | None = typer.Option(None, "--outcome", help="When closing: adverse_action, no_action, not_a_match."),
    note: str | None = typer.Option(None, "--note", help="How it was verified, what was contested, how resolved."),
    purpose: str = typer.Option(lead_service.LEAD_PURPOSE, "--purpose", help="Why you need it."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one lead (why it matched, evidence, history), or move it with --to."""
    with open_door() as door:
        session = session_for(door, as_, purpose)
        if to is None:
            body = front.show_lead(door, session, lead_id)
        else:
            body = front.move_lead(door, session, lead_id, to=to, outcome=outcome, note=note)
    if as_json:
        print_json(body)
        return
    for key in (
        "lead_id",
        "agreement_id",
        "program",
        "taxpayer_id",
        "tax_year",
        "match_probability",
        "state",
        "outcome",
        "verified_by",
        "contest_deadline",
        "partner_token",
    ):
        console.print(f"{key:>18}: {body[key]}", highlight=False)
    console.print(f"{'agency facts':>18}: {json.dumps(body['agency_facts'], sort_keys=True)}", highlight=False)
    evidence = "destroyed" if body["evidence_destroyed"] else json.dumps(body["evidence"], sort_keys=True)
    console.print(f"{'partner evidence':>18}: {evidence}", highlight=False)
    console.print(f"{'why (Bayes f.)':>18}: {json.dumps(body['contributions'], sort_keys=True)}", highlight=False)
    if body["masked"] or body["withheld"]:
        shown = ", ".join([*body["masked"], *(f"{f} (withheld)" for f in body["withheld"])])
        console.print(f"{'masked':>18}: {shown}", highlight=False)
    for e in body["history"]:
        console.print(
            f"  {e['at']}  {e['from_state'] or '-'} -> {e['to_state']}  by {e['actor']}"
            f"{'  (' + e['outcome'] + ')' if e['outcome'] else ''}{'  ' + e['note'] if e['note'] else ''}",
            highlight=False,
        )


@app.command("outcomes")
def outcomes(
    agreement: str | None = typer.Option(None, "--agreement", help="Only this agreement's."),
    limit: int = typer.Option(100, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0),
    purpose: str = typer.Option("matching_outcomes", "--purpose", help="Why you need them."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """A partner's view: keyed tokens of its records and each lead's state and outcome, nothing else."""
    with open_door() as door:
        page = front.outcomes_page(
            door, session_for(door, as_, purpose), agreement_ref=agreement, limit=limit, offset=offset
        )
    if as_json:
        print_json(page)
        return
    table = Table(title="outcomes")
    id_column(table, "agreement")
    id_column(table, "partner token")
    for header in ("program", "state", "outcome"):
        table.add_column(header, overflow="fold")
    for item in page["items"]:
        table.add_row(
            item["agreement_id"], item["partner_token"], item["program"], item["state"], item["outcome"] or ""
        )
    print_table(table)
