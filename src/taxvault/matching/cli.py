"""``taxvault match``: agreements, partner imports, runs, leads, destruction and ad-hoc linkage.

Every command acts as a named principal (``--as``; runs, imports, linkage and
destruction default to the matching job, ``sys-matching``) through the same door as
the API (:func:`taxvault.access.local.local_door`): the same policies decide, the same
masking applies, the same audit log records it, and an unknown or inactive principal
is refused (and the refusal audited). Errors are one line and a non-zero exit, never
a traceback, and nothing printed carries a TIN (opaque ids and keyed tokens only).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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
from taxvault.jobs import matching as job
from taxvault.matching import front
from taxvault.matching import leads as lead_service
from taxvault.matching.agreements import DEFAULT_THRESHOLD, PROGRAMS, validate_terms
from taxvault.matching.importer import parse_mapping
from taxvault.matching.linkage import LinkageError
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.synth.partners import SYNTHETIC_FILES

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
JOB = job.JOB
GOVERNANCE_PURPOSE = "matching_governance"
JOB_PURPOSE = job.MATCHING_PURPOSE

AsOption = typer.Option(..., "--as", help="The principal acting (see `taxvault principals`).")
JobAsOption = typer.Option(JOB, "--as", help="The principal acting (default: the matching job).")
DateOption = typer.Option(None, "--date", help="Act as of this day (YYYY-MM-DD; default today, UTC).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
_SHOWN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}", re.ASCII)  # a principal id; never echo a TIN-like input


class CliError(TaxvaultError):
    """A bad input or state, shown as one line."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _door() -> Iterator[Door]:
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
        raise _fail(str(exc)) from None
    except (sa.exc.SQLAlchemyError, OSError, AuditError, PolicyError) as exc:
        raise _fail(f"the store cannot be opened ({type(exc).__name__})") from None
    try:
        yield door
    except TaxvaultError as exc:
        raise _fail(str(exc)) from None
    except LinkageError as exc:
        raise _fail(str(exc)) from None
    except AuditError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None
    except sa.exc.IntegrityError:
        raise _fail("the store refused the change (a rule of the store was broken)") from None
    except sa.exc.SQLAlchemyError as exc:
        raise _fail(f"the store failed ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(AuditError, sa.exc.SQLAlchemyError):  # the next signer covers the tail
            opened.__exit__(None, None, None)


def _session(door: Door, who: str, purpose: str) -> Session:
    """``who`` acting for ``purpose`` from the command line (a system principal: as a job)."""
    rid = new_request_id("cli")
    try:
        caller = door.caller(who, request_id=rid)
    except Unauthenticated:
        shown = repr(who) if _SHOWN_ID.fullmatch(who) else "(as given)"
        raise CliError(f"no active principal {shown}") from None
    channel = "job" if caller.facts.kind == "system" else "cli"
    return door.session(caller, purpose, channel=channel, request_id=rid)


def _date(value: str | None, name: str = "--date") -> dt.date:
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{name} must be a date YYYY-MM-DD") from None


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _agreement_table(items: list[dict[str, Any]]) -> None:
    table = Table(
        "agreement", "partner", "program", "status", "starts", "ends", "destroy", "approver", title="agreements"
    )
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
    console.print(table)


# -- agreements ---------------------------------------------------------------------------------------


@agreement_app.command("create")
def agreement_create(
    partner: str = typer.Option(..., "--partner", help="The partner principal, e.g. partner-ssa."),
    program: str = typer.Option(..., "--program", help=f"One of: {', '.join(PROGRAMS)}."),
    purpose: str = typer.Option(..., "--purpose", help="Why the match is done."),
    authority: str = typer.Option(..., "--authority", help="The legal authority for the match."),
    agency_fields: str = typer.Option(..., "--agency-fields", help="Comma-separated data elements of the agency."),
    partner_fields: str = typer.Option(..., "--partner-fields", help="Comma-separated data elements of the partner."),
    start: str = typer.Option(..., "--start", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--end", help="Last day (at most 18 months after the start)."),
    destroy: str = typer.Option(..., "--destroy", help="Destruction date of the partner data and key (>= end)."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, "--threshold", help="Match probability a pair needs."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Draft a matching agreement (a second person approves it before anything is matched)."""
    with _door() as door:
        agency, partner_side = _list(agency_fields), _list(partner_fields)
        starts, ends, destroys = _date(start, "--start"), _date(end, "--end"), _date(destroy, "--destroy")
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
        body = front.draft(door, _session(door, as_, GOVERNANCE_PURPOSE), terms, today=_date(None))
    if as_json:
        _print_json(body)
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
    with _door() as door:
        body = front.approve(door, _session(door, as_, GOVERNANCE_PURPOSE), agreement, today=_date(None))
    if as_json:
        _print_json(body)
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
        today, new_end = _date(date), _date(until, "--until")
        new_destroy = None if destroy is None else _date(destroy, "--destroy")
    except CliError as exc:
        raise _fail(str(exc)) from None
    with _door() as door:
        session = _session(door, as_, GOVERNANCE_PURPOSE)
        body = front.renew(door, session, agreement, until=new_end, destroy_on=new_destroy, today=today)
    if as_json:
        _print_json(body)
    else:
        console.print(f"agreement {agreement} renewed until {body['ends_on']} (destroyed on {body['destroy_on']})")


@agreement_app.command("revoke")
def agreement_revoke(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """Stop an agreement: nothing more is imported, run or linked under it."""
    with _door() as door:
        body = front.revoke(door, _session(door, as_, GOVERNANCE_PURPOSE), agreement, today=_date(None))
    if as_json:
        _print_json(body)
    else:
        console.print(f"agreement {agreement} revoked")


@agreement_app.command("list")
def agreement_list(
    state: str | None = typer.Option(None, "--state", help="draft, approved, revoked or destroyed."),
    as_: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Matching agreements (a partner: its own)."""
    with _door() as door:
        session = _session(door, as_, GOVERNANCE_PURPOSE)
        page = front.agreements_page(door, session, state=state, limit=1000, offset=0, today=_date(None))
    items = page["items"]
    if as_json:
        _print_json(items)
    else:
        _agreement_table(items)


@agreement_app.command("show")
def agreement_show(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """One agreement: its terms, state and status today."""
    with _door() as door:
        body = front.show_agreement(door, _session(door, as_, GOVERNANCE_PURPOSE), agreement, today=_date(None))
    if as_json:
        _print_json(body)
    else:
        for k, v in body.items():
            console.print(f"{k:>16}: {', '.join(v) if isinstance(v, list) else v}", highlight=False)


# -- the matching job ---------------------------------------------------------------------------------


@app.command("import")
def import_(
    agreement: str = typer.Argument(..., help="The agreement the data comes under."),
    file: Path = typer.Argument(..., help="The partner's CSV or Parquet file."),
    id_column: str = typer.Option(..., "--id-column", help="The partner's record id column."),
    maps: list[str] = typer.Option(..., "--map", help="FIELD=COLUMN for each partner field of the agreement."),
    fmt: str | None = typer.Option(None, "--format", help="csv or parquet (default: from the suffix)."),
    date: str | None = DateOption,
    as_: str = JobAsOption,
    as_json: bool = JsonOption,
) -> None:
    """Import a partner file: ids become keyed tokens, people keyed encodings, every row sealed."""
    with _door() as door:
        report = job.import_partner_file(
            door,
            _session(door, as_, JOB_PURPOSE),
            agreement,
            file,
            id_column=id_column,
            mapping=parse_mapping(maps),
            fmt=fmt,
            today=_date(date),
        )
    body = {
        "import_id": report.import_ref,
        "agreement_id": report.agreement_ref,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "records": report.records,
        "rejected": report.rejected,
        "blanked": report.blanked,
        "rejections": [{"row": r.row, "field": r.field, "reason": r.reason} for r in report.rejections],
    }
    if as_json:
        _print_json(body)
        return
    console.print(
        f"imported {report.rows_loaded:,} of {report.rows_read:,} rows ({report.records:,} records) under "
        f"agreement {report.agreement_ref}; {report.rejected:,} rejected",
        highlight=False,
    )
    for r in report.rejections[:20]:
        console.print(f"  row {r.row}: {r.field}: {r.reason}", highlight=False)


@app.command("run")
def run(
    agreement: str | None = typer.Argument(None, help="The agreement (default: every active one with data)."),
    date: str | None = DateOption,
    backend: str = typer.Option("duckdb", "--backend", help="duckdb, or spark (local) at scale."),
    as_: str = JobAsOption,
    as_json: bool = JsonOption,
) -> None:
    """Run matching programs: refused unless the agreement is approved and active on the day."""
    if backend not in ("duckdb", "spark"):
        raise _fail("--backend is duckdb or spark")
    reports: list[dict[str, Any]] = []
    with _door() as door:
        session = _session(door, as_, JOB_PURPOSE)
        today = _date(date)
        refs = job.runnable_agreements(door, session, today=today) if agreement is None else [agreement]
        for ref in refs:
            r = job.run_agreement(door, session, ref, today=today, backend=backend)
            reports.append(
                {
                    "run_id": r.run_ref,
                    "agreement_id": r.agreement_ref,
                    "program": r.program,
                    "as_of": r.as_of.isoformat(),
                    "agency_rows": r.agency_rows,
                    "partner_records": r.partner_records,
                    "pairs_compared": r.pairs_compared,
                    "matched": r.matched,
                    "findings": r.findings,
                    "leads_new": r.leads_new,
                    "fields_read": list(r.fields_read),
                    "seconds": {k: round(v, 3) for k, v in r.seconds.items()},
                }
            )
    if as_json:
        _print_json(reports)
        return
    if not reports:
        console.print("no active agreement to run")
    for b in reports:
        console.print(
            f"run {b['run_id']} of {b['agreement_id']} ({b['program']}): {b['agency_rows']:,} agency and "
            f"{b['partner_records']:,} partner records, {b['pairs_compared']:,} pairs compared, {b['matched']:,} "
            f"matched, {b['leads_new']:,} new leads",
            highlight=False,
        )


@app.command("shred-due")
def shred_due_command(date: str | None = DateOption, as_: str = JobAsOption, as_json: bool = JsonOption) -> None:
    """Destroy the key and partner data of every agreement whose destruction date has come (audited)."""
    with _door() as door:
        reports = job.shred_due(door, _session(door, as_, job.SHRED_PURPOSE), today=_date(date))
    body = [
        {
            "agreement_id": r.agreement_ref,
            "partner_rows": r.partner_rows,
            "lead_evidence": r.lead_evidence,
            "key_destroyed": r.key_destroyed,
        }
        for r in reports
    ]
    if as_json:
        _print_json(body)
        return
    if not body:
        console.print("nothing is due for destruction")
    for b in body:
        console.print(
            f"destroyed agreement {b['agreement_id']}: key {'destroyed' if b['key_destroyed'] else 'absent'}, "
            f"{b['partner_rows']:,} partner rows, {b['lead_evidence']:,} lead evidence",
            highlight=False,
        )


@app.command("shred")
def shred_command(
    agreement: str = typer.Argument(..., help="The agreement (revoked, or past its destruction date)."),
    date: str | None = DateOption,
    as_: str = JobAsOption,
) -> None:
    """Destroy one agreement's key and partner data now (a revoked one need not wait for its date)."""
    with _door() as door:
        report = job.shred_agreement(door, _session(door, as_, job.SHRED_PURPOSE), agreement, today=_date(date))
    console.print(
        f"destroyed agreement {report.agreement_ref}: key {'destroyed' if report.key_destroyed else 'absent'}, "
        f"{report.partner_rows:,} partner rows, {report.lead_evidence:,} lead evidence",
        highlight=False,
    )


@app.command("link")
def link(
    left: Path = typer.Argument(..., help="Left CSV file."),
    right: Path = typer.Argument(..., help="Right CSV file."),
    id_column: str = typer.Option(..., "--id-column", help="The record id column (both files)."),
    maps: list[str] = typer.Option(..., "--map", help="FIELD=COLUMN (both files, unless --right-map)."),
    right_maps: list[str] = typer.Option([], "--right-map", help="FIELD=COLUMN of the right file, if it differs."),
    out: Path = typer.Option(..., "--out", help="Where to write the pairs (left_id,right_id,match_probability)."),
    agreement: str = typer.Option(..., "--agreement", help="The agreement the files come under."),
    threshold: float | None = typer.Option(None, "--threshold", help="Default: the agreement's."),
    date: str | None = DateOption,
    as_: str = JobAsOption,
) -> None:
    """Link two person files under an agreement, encoded with its key (only the fields it names)."""
    with _door() as door:
        left_map = parse_mapping(maps)
        result = job.link_files(
            door,
            _session(door, as_, JOB_PURPOSE),
            agreement,
            left,
            right,
            id_column=id_column,
            left_map=left_map,
            right_map={**left_map, **parse_mapping(right_maps)},
            out=out,
            threshold=threshold,
            today=_date(date),
        )
    console.print(
        f"{result.pairs.num_rows:,} pairs (of {result.pairs_compared:,} compared) written to {out}", highlight=False
    )


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
    with _door() as door:
        page = front.leads_page(
            door,
            _session(door, as_, purpose),
            agreement_ref=agreement,
            state=state,
            program=program,
            limit=limit,
            offset=offset,
        )
    if as_json:
        _print_json(page)
        return
    table = Table("lead", "program", "taxpayer", "year", "p(match)", "state", "outcome", "agency facts", title="leads")
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
    console.print(table)


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
    with _door() as door:
        session = _session(door, as_, purpose)
        if to is None:
            body = front.show_lead(door, session, lead_id)
        else:
            body = front.move_lead(door, session, lead_id, to=to, outcome=outcome, note=note)
    if as_json:
        _print_json(body)
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
    with _door() as door:
        page = front.outcomes_page(
            door, _session(door, as_, purpose), agreement_ref=agreement, limit=limit, offset=offset
        )
    if as_json:
        _print_json(page)
        return
    table = Table("agreement", "partner token", "program", "state", "outcome", title="outcomes")
    for item in page["items"]:
        table.add_row(
            item["agreement_id"], item["partner_token"], item["program"], item["state"], item["outcome"] or ""
        )
    console.print(table)


# -- synthetic partner files ------------------------------------------------------------------------------


@app.command("synth-partner")
def synth_partner(
    program: str = typer.Argument(..., help="death_refunds or state_wages."),
    out: Path = typer.Option(..., "--out", help="The partner file to write (.csv or .parquet)."),
    truth: Path = typer.Option(..., "--truth", help="Where to keep the true links aside (.csv or .parquet)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    rate: float = typer.Option(0.3, "--rate", min=0.0, max=1.0, help="Share of partner records with errors."),
    as_json: bool = JsonOption,
) -> None:
    """Make a synthetic partner file from the synthetic store, with realistic errors; the truth apart."""
    make = SYNTHETIC_FILES.get(program)
    if make is None:
        raise _fail(f"unknown program {program!r} (death_refunds or state_wages)")
    with _door() as door:
        made = make(door.engine, seed=seed, rate=rate)
        made.write(out, truth)
    if as_json:
        _print_json({"rows": made.table.num_rows, "id_column": made.id_column, "mapping": made.mapping})
        return
    console.print(
        f"wrote {made.table.num_rows:,} partner rows to {out} and the truth apart to {truth}", highlight=False
    )
    console.print(
        f"import with --id-column {made.id_column} and, for each field the agreement names on the partner "
        "side, --map FIELD=COLUMN:",
        highlight=False,
    )
    for f, c in made.mapping.items():
        console.print(f"  --map {f}={c}", highlight=False)
