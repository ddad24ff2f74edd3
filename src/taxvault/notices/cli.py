"""``taxvault notices ...``: list a module's notices and save one as PDF (through the Gate, audited)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from taxvault.access.door import REF_PATTERN
from taxvault.access.local import local_access, local_door
from taxvault.access.resources import Resource
from taxvault.errors import TaxvaultError
from taxvault.files import write_private_bytes
from taxvault.notices import service
from taxvault.store import make_engine
from taxvault.terminal import fail as _fail

app = typer.Typer(help="Notices: list them, download them.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@app.command("list")
def list_notices(
    module: str = typer.Option(..., "--module", help="Opaque module id."),
    who: str = typer.Option(..., "--as", help="The principal acting (the Gate decides)."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose of use (e.g. collection)."),
) -> None:
    """The module's notices, oldest first."""
    engine = make_engine()
    try:
        with local_door(engine) as door:
            body = local_access(door, who, Resource.NOTICES, module, purpose).serve(
                lambda conn, t: service.notice_list(conn, t.module_id or 0)
            )
    except TaxvaultError as exc:
        raise _fail(str(exc)) from None
    table = Table("id", "type", "issued", "respond by", "amount due", title="notices")
    for n in body["items"]:
        table.add_row(
            n["id"], n["notice_type"], n["issued_date"], n["respond_by"] or "", _dollars(n["amount_due_cents"])
        )
    console.print(table)


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


@app.command("pdf")
def pdf(
    notice: str = typer.Argument(..., help="Opaque notice id (see `taxvault notices list`)."),
    module: str = typer.Option(..., "--module", help="Opaque module id."),
    out: Path = typer.Option(..., "--out", help="Where to write the PDF."),
    who: str = typer.Option(..., "--as", help="The principal acting (the Gate decides)."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose of use (e.g. collection)."),
) -> None:
    """Save a notice as PDF."""
    if not re.match(REF_PATTERN, notice):
        raise _fail("that is not a notice id")
    engine = make_engine()
    try:
        with local_door(engine) as door:
            body = local_access(door, who, Resource.NOTICES, module, purpose).serve_bytes(
                lambda conn, t: service.notice_pdf(conn, t.module_id or 0, notice),
                ["notice_pdf", "name", "address", "tin:masked", "amount_due_cents"],
            )
    except TaxvaultError as exc:
        raise _fail(str(exc)) from None
    write_private_bytes(out, body)  # a notice names a taxpayer: owner-only, like every file we write
    console.print(f"wrote {out} ({len(body):,} bytes)")
