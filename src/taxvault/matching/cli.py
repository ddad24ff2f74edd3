"""``taxvault match``: agreements, partner imports, runs, leads, destruction and ad-hoc linkage.

Every command acts as a named principal (``--as``; runs, imports, linkage and
destruction default to the matching job, ``sys-matching``) and meets the same Cedar
policies as the API, through the Gate's decision function; every decision is
audited. Errors are one line and a non-zero exit, never a traceback, and nothing
printed carries a TIN (opaque ids and keyed tokens only).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from taxvault.access.gate import Gate, Target
from taxvault.access.policy import PolicyDecision, PolicyEngine, PolicyError
from taxvault.access.principals import Caller, UnknownPrincipal, load_caller
from taxvault.access.ratelimit import RateLimiter
from taxvault.access.resources import Resource
from taxvault.access.tokens import TokenConfig, TokenVerifier, public_jwk
from taxvault.api.problems import Problem
from taxvault.audit import AuditLog
from taxvault.audit.errors import AuditError
from taxvault.matching import leads as lead_service
from taxvault.matching.agreements import (
    DEFAULT_THRESHOLD,
    PROGRAMS,
    MatchingError,
    approve_agreement,
    audit_event,
    authorize,
    draft_agreement,
    get_agreement,
    list_agreements,
    new_ref,
    renew_agreement,
    revoke_agreement,
    validate_terms,
)
from taxvault.matching.importer import import_partner_file, parse_mapping
from taxvault.matching.keys import create_key, keys_for, shred_agreement, shred_due
from taxvault.matching.programs import SYNTHETIC_FILES, run_agreement
from taxvault.matching.schemas import agreement_json
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads

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
JOB_PURPOSE = "computer_matching"

AsOption = typer.Option(..., "--as", help="The principal acting (see `taxvault principals`).")
JobAsOption = typer.Option(JOB, "--as", help="The principal acting (default: the matching job).")
DateOption = typer.Option(None, "--date", help="Act as of this day (YYYY-MM-DD; default today, UTC).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


class CliError(Exception):
    """A bad input or state, shown as one line."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@dataclass
class _Door:
    """The store, its audit log and the Gate's decision function, for one command."""

    engine: Engine
    audit: AuditLog
    gate: Gate
    request_id: str

    def caller(self, principal_id: str) -> Caller:
        with self.engine.connect() as conn:
            try:
                return load_caller(conn, principal_id)
            except UnknownPrincipal:
                raise CliError(f"no active principal {principal_id!r}") from None


@contextmanager
def _door() -> Iterator[_Door]:
    """Open the store (refusing an uninitialised one), the log and the Gate; errors become one line."""
    # Splink's training chatter (levels not observed in a small file...) is not for the console.
    logging.getLogger("splink").setLevel(logging.ERROR)
    try:
        engine = make_engine()
        if pending_heads(engine):
            raise CliError("the store is not initialised or not current: run `taxvault init`")
        # The CLI authenticates by --as, never by token: a verifier that trusts no real key.
        verifier = TokenVerifier(
            TokenConfig("urn:taxvault:cli", "none", {"keys": [public_jwk(Ed25519PrivateKey.generate())]})
        )
        audit = AuditLog(engine)
    except CliError as exc:
        raise _fail(str(exc)) from None
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise _fail(f"the store cannot be opened ({type(exc).__name__})") from None
    try:
        gate = Gate(engine, audit, PolicyEngine(), verifier, RateLimiter(1e9, 10**9))
        yield _Door(engine, audit, gate, "cli-" + uuid.uuid4().hex[:16])
    except (CliError, MatchingError) as exc:
        raise _fail(str(exc)) from None
    except Problem as exc:
        raise _fail(exc.detail or exc.title) from None
    except (AuditError, PolicyError) as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None
    except sa.exc.IntegrityError:
        raise _fail("the store refused the change (a rule of the store was broken)") from None
    except sa.exc.SQLAlchemyError as exc:
        raise _fail(f"the store failed ({type(exc).__name__})") from None
    finally:
        audit.close()


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
        caller = door.caller(as_)
        ref = new_ref("a")
        decision = authorize(
            door.gate,
            caller,
            "draft_agreement",
            Resource.MATCHING_AGREEMENT,
            Target(ref),
            GOVERNANCE_PURPOSE,
            request_id=door.request_id,
        )
        door.gate.record(
            audit_event(
                caller.id,
                "draft_agreement",
                Resource.MATCHING_AGREEMENT,
                ref,
                decision,
                request_id=door.request_id,
                purpose=GOVERNANCE_PURPOSE,
                fields=("agreement", "fields", "dates"),
            )
        )
        with door.engine.begin() as conn:
            created = draft_agreement(
                conn,
                partner_id=partner,
                created_by=caller.id,
                ref=ref,
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
        body = agreement_json(created, _date(None))
    if as_json:
        _print_json(body)
    else:
        console.print(
            f"drafted agreement {created.ref} ({created.program} with {created.partner_id}); "
            "a second person approves it with `taxvault match agreement approve`"
        )


def _second_person_action(ref: str, who: str, label: str, action: str, today: dt.date, perform: Any) -> dict[str, Any]:
    with _door() as door:
        caller = door.caller(who)
        with door.engine.connect() as conn:
            agreement = get_agreement(conn, ref)
        decision = authorize(
            door.gate,
            caller,
            action,
            Resource.MATCHING_AGREEMENT,
            Target(ref),
            GOVERNANCE_PURPOSE,
            request_id=door.request_id,
            second_person=caller.id != agreement.created_by,
        )
        door.gate.record(
            audit_event(
                caller.id,
                label,
                Resource.MATCHING_AGREEMENT,
                ref,
                decision,
                request_id=door.request_id,
                purpose=GOVERNANCE_PURPOSE,
                fields=("state",),
            )
        )
        with door.engine.begin() as conn:
            done = perform(conn, caller.id)
        return agreement_json(done, today)


@agreement_app.command("approve")
def agreement_approve(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """Approve a draft (a second person: grant_approver or manager, never the drafter)."""
    body = _second_person_action(
        agreement,
        as_,
        "approve_agreement",
        "approve_agreement",
        _date(None),
        lambda conn, who: approve_agreement(conn, agreement, approver=who),
    )
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
    body = _second_person_action(
        agreement,
        as_,
        "renew_agreement",
        "approve_agreement",
        today,
        lambda conn, who: renew_agreement(
            conn, agreement, until=new_end, destroy_on=new_destroy, approver=who, today=today
        ),
    )
    if as_json:
        _print_json(body)
    else:
        console.print(f"agreement {agreement} renewed until {body['ends_on']} (destroyed on {body['destroy_on']})")


@agreement_app.command("revoke")
def agreement_revoke(
    agreement: str = typer.Argument(..., help="The agreement id."), as_: str = AsOption, as_json: bool = JsonOption
) -> None:
    """Stop an agreement: nothing more is imported, run or linked under it."""
    body = _second_person_action(
        agreement,
        as_,
        "revoke_agreement",
        "draft_agreement",
        _date(None),
        lambda conn, who: revoke_agreement(conn, agreement, actor=who),
    )
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
        caller = door.caller(as_)
        target = Target("matching-agreements")
        decision = authorize(
            door.gate,
            caller,
            "read",
            Resource.MATCHING_AGREEMENT,
            target,
            GOVERNANCE_PURPOSE,
            request_id=door.request_id,
        )
        with door.engine.connect() as conn:
            partner = caller.id if caller.facts.kind == "partner" else None
            found = list_agreements(conn, partner_id=partner, state=state, limit=1000)
        door.gate.record(
            audit_event(
                caller.id,
                "read",
                Resource.MATCHING_AGREEMENT,
                target.ref,
                decision,
                request_id=door.request_id,
                purpose=GOVERNANCE_PURPOSE,
                fields=("agreement", f"items={len(found)}"),
            )
        )
        items = [agreement_json(a, _date(None)) for a in found]
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
        caller = door.caller(as_)
        decision = authorize(
            door.gate,
            caller,
            "read",
            Resource.MATCHING_AGREEMENT,
            Target(agreement),
            GOVERNANCE_PURPOSE,
            request_id=door.request_id,
        )
        with door.engine.connect() as conn:
            found = get_agreement(conn, agreement)
        if caller.facts.kind == "partner" and found.partner_id != caller.id:
            raise CliError(f"no matching agreement {agreement}")
        door.gate.record(
            audit_event(
                caller.id,
                "read",
                Resource.MATCHING_AGREEMENT,
                agreement,
                decision,
                request_id=door.request_id,
                purpose=GOVERNANCE_PURPOSE,
                fields=("agreement", "fields", "dates", "state"),
            )
        )
        body = agreement_json(found, _date(None))
    if as_json:
        _print_json(body)
    else:
        for k, v in body.items():
            console.print(f"{k:>16}: {', '.join(v) if isinstance(v, list) else v}", highlight=False)


# -- the matching job ---------------------------------------------------------------------------------


def _job(door: _Door, who: str, action: str, ref: str) -> tuple[Caller, PolicyDecision]:
    """The acting principal, if the policies let it do ``action`` under the agreement (denials audited)."""
    caller = door.caller(who)
    decision = authorize(
        door.gate, caller, action, Resource.MATCHING_AGREEMENT, Target(ref), JOB_PURPOSE, request_id=door.request_id
    )
    return caller, decision


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
        caller, decision = _job(door, as_, "import_partner_data", agreement)
        report = import_partner_file(
            door.engine,
            agreement,
            file,
            id_column=id_column,
            mapping=parse_mapping(maps),
            actor=caller.id,
            audit=door.audit,
            fmt=fmt,
            today=_date(date),
            policy=decision.policy_text,
            request_id=door.request_id,
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
        today = _date(date)
        if agreement is None:
            with door.engine.connect() as conn:
                refs = [
                    a.ref
                    for a in list_agreements(conn, state="approved", limit=10_000)
                    if a.status(today) == "active" and a.program in ("death_refunds", "state_wages")
                ]
        else:
            refs = [agreement]
        for ref in refs:
            caller, decision = _job(door, as_, "run_match", ref)
            r = run_agreement(
                door.engine,
                ref,
                actor=caller.id,
                audit=door.audit,
                today=today,
                policy=decision.policy_text,
                request_id=door.request_id,
                backend=backend,
            )
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
        caller = door.caller(as_)
        decision = authorize(
            door.gate,
            caller,
            "shred_agreement",
            Resource.MATCHING_AGREEMENT,
            Target("matching-agreements"),
            JOB_PURPOSE,
            request_id=door.request_id,
        )
        reports = shred_due(
            door.engine,
            actor=caller.id,
            audit=door.audit,
            today=_date(date),
            policy=decision.policy_text,
            request_id=door.request_id,
        )
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
        caller, decision = _job(door, as_, "shred_agreement", agreement)
        report = shred_agreement(
            door.engine,
            agreement,
            actor=caller.id,
            audit=door.audit,
            today=_date(date),
            policy=decision.policy_text,
            request_id=door.request_id,
        )
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
    from taxvault.matching.linkage import LinkageError, link_csv

    with _door() as door:
        caller, decision = _job(door, as_, "link_files", agreement)
        with door.engine.connect() as conn:
            found = get_agreement(conn, agreement)
        found.require_active(_date(date))
        left_map = parse_mapping(maps)
        right_map = {**left_map, **parse_mapping(right_maps)}
        outside = sorted((set(left_map) | set(right_map)) - set(found.link_fields))
        if outside:
            raise CliError(f"agreement {agreement} does not name {', '.join(outside)} for linkage")
        door.gate.record(
            audit_event(
                caller.id,
                "link_files",
                Resource.MATCHING_AGREEMENT,
                agreement,
                decision,
                request_id=door.request_id,
                purpose=JOB_PURPOSE,
                fields=tuple(sorted(left_map)),
            )
        )
        create_key(found.ref)
        try:
            result = link_csv(
                left,
                right,
                id_column=id_column,
                left_map=left_map,
                right_map=right_map,
                out_csv=out,
                threshold=threshold or found.threshold,
                key=keys_for(found).linkage,
            )
        except LinkageError as exc:
            raise CliError(str(exc)) from None
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
    """Leads you may work (each decided by the policies against the taxpayer it names, each audited)."""
    with _door() as door:
        page = lead_service.gated_list(
            door.gate,
            door.caller(as_),
            purpose,
            request_id=door.request_id,
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
        caller = door.caller(as_)
        if to is None:
            body = lead_service.gated_get(door.gate, caller, purpose, lead_id, request_id=door.request_id)
        else:
            body = lead_service.gated_move(
                door.gate, caller, purpose, lead_id, to=to, outcome=outcome, note=note, request_id=door.request_id
            )
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
        page = lead_service.gated_outcomes(
            door.gate,
            door.caller(as_),
            purpose,
            request_id=door.request_id,
            agreement_ref=agreement,
            limit=limit,
            offset=offset,
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
