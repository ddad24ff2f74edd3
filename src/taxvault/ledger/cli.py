"""``taxvault cycle ...``: work the unpostable queue (``cycle run`` is a job: :mod:`taxvault.jobs.cli`)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from taxvault.access.door import Target
from taxvault.access.local import local_access, local_door
from taxvault.access.resources import Resource
from taxvault.errors import NotFound, TaxvaultError
from taxvault.ledger.adjustments import AdjustmentError, resolve_unpostable
from taxvault.ledger.tables import ledger_unpostables
from taxvault.store import make_engine
from taxvault.store.tables import sources
from taxvault.terminal import fail as _fail
from taxvault.terminal import parse_date as _date

app = typer.Typer(help="The posting cycle: postings, notices, the unpostable queue.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@app.command("unpostables")
def unpostables(
    module: str = typer.Option(..., "--module", help="Opaque module id."),
    who: str = typer.Option(..., "--as", help="The principal acting (the Gate decides)."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose of use (e.g. collection)."),
) -> None:
    """List the open unpostables of a module (through the Gate, audited)."""
    engine = make_engine()

    def fetch(conn: sa.Connection, t: Target) -> dict[str, object]:
        u = ledger_unpostables.c
        rows = conn.execute(
            sa.select(u.id, u.tc, u.amount_cents, u.posted_date, u.unpostable_code, u.reason)
            .where(u.module_id == t.module_id, u.status == "open")
            .order_by(u.id)
        )
        return {"items": [dict(r._mapping) for r in rows]}

    try:
        with local_door(engine) as door:
            body = local_access(door, who, Resource.MODULE_TRANSCRIPT, module, purpose).serve(
                fetch, label="read_unpostables"
            )
    except TaxvaultError as exc:
        raise _fail(str(exc)) from None
    table = Table("id", "tc", "amount (cents)", "date", "code", "reason", title="open unpostables")
    for r in body["items"]:
        table.add_row(str(r["id"]), str(r["tc"]), str(r["amount_cents"]), str(r["posted_date"]),
                      r["unpostable_code"], r["reason"])  # fmt: skip
    console.print(table)


@app.command("resolve")
def resolve(
    unpostable_id: int = typer.Argument(..., help="The unpostable's id (see `taxvault cycle unpostables`)."),
    module: str = typer.Option(..., "--module", help="Opaque module id the unpostable belongs to."),
    action: str = typer.Option(..., "--action", help="repost (post again, dated --date) or void."),
    date: str = typer.Option(..., "--date", help="Posting date of a repost (YYYY-MM-DD)."),
    amount: int | None = typer.Option(None, "--amount-cents", help="Corrected signed amount for a repost."),
    who: str = typer.Option(..., "--as", help="The principal acting (the Gate decides)."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose of use (e.g. collection)."),
) -> None:
    """Work an unpostable: repost it (corrected) or void it. Authorised and audited as an adjustment."""
    if action not in ("repost", "void"):
        raise _fail("--action is repost or void")
    on = _date(date)
    engine = make_engine()

    def perform(conn: sa.Connection, t: Target) -> dict[str, object]:
        u = ledger_unpostables.c
        owner = conn.execute(sa.select(u.module_id).where(u.id == unpostable_id)).scalar_one_or_none()
        if owner != t.module_id:
            raise NotFound("no such unpostable on this module")
        src = conn.execute(
            sources.insert()
            .values(kind="api", name=f"unpostable resolution by {who}", created_at=dt.datetime.now(dt.UTC))
            .returning(sources.c.id)
        ).scalar_one()
        result = resolve_unpostable(
            conn, unpostable_id, action=action, by=who, on=on, source_id=int(src), amount_cents=amount
        )
        return {"posted": bool(result and result.posted)}

    try:
        with local_door(engine) as door:
            access = local_access(door, who, Resource.MODULE_TRANSCRIPT, module, purpose)
            done = access.write(abs(amount or 0), perform, ["unpostable", "tc", "amount_cents"], "adjust")
    except (TaxvaultError, AdjustmentError) as exc:
        raise _fail(str(exc)) from None
    if action == "void":
        console.print("voided")
    else:
        console.print("reposted: posted" if done["posted"] else "reposted: unpostable again (see the queue)")
