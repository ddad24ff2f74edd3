"""``taxvault token issue`` and ``taxvault principals``: identities of the embedded issuer."""

from __future__ import annotations

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.access.tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, issue_token
from taxvault.store import make_engine
from taxvault.store.tables import principals as principals_table

token_app = typer.Typer(help="Bearer tokens of the embedded issuer.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@token_app.command("issue")
def issue(
    principal: str | None = typer.Option(None, "--principal", "-p", help="Principal id (see `taxvault principals`)."),
    taxpayer: str | None = typer.Option(
        None, "--taxpayer-ref", help="Opaque taxpayer id: mint for that taxpayer (created on demand)."
    ),
    ttl: int = typer.Option(DEFAULT_TTL_SECONDS, "--ttl", min=1, max=MAX_TTL_SECONDS, help="Lifetime in seconds."),
) -> None:
    """Mint a bearer token for a principal of the store (printed on stdout)."""
    if (principal is None) == (taxpayer is None):
        err.print("[bold red]error:[/] give exactly one of --principal or --taxpayer-ref")
        raise typer.Exit(2)
    engine = make_engine()
    try:
        with engine.begin() as conn:
            if taxpayer is not None:
                principal = ensure_taxpayer_principal(conn, taxpayer)
            row = conn.execute(sa.select(principals_table.c.active).where(principals_table.c.id == principal)).first()
    except sa.exc.SQLAlchemyError:
        err.print("[bold red]error:[/] the store is not initialised: run `taxvault init`")
        raise typer.Exit(1) from None
    except LookupError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if row is None or not row.active:
        err.print("[bold red]error:[/] no active principal with that id")
        raise typer.Exit(1)
    assert principal is not None
    typer.echo(issue_token(principal, ttl_seconds=ttl))


def principals(
    kind: str | None = typer.Option(None, "--kind", help="Only this kind (employee, contractor, ...)."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many rows."),
) -> None:
    """List the principals: id, kind, roles, unit (never a TIN)."""
    engine = make_engine()
    p = principals_table.c
    q = sa.select(p.id, p.kind, p.roles, p.unit, p.active).order_by(p.kind, p.id).limit(limit)
    if kind:
        q = q.where(p.kind == kind)
    try:
        with engine.connect() as conn:
            rows = conn.execute(q).all()
    except sa.exc.SQLAlchemyError:
        err.print("[bold red]error:[/] the store is not initialised: run `taxvault init`")
        raise typer.Exit(1) from None
    table = Table("id", "kind", "roles", "unit", "active", title="principals")
    for r in rows:
        table.add_row(r.id, r.kind, r.roles, r.unit or "", "yes" if r.active else "no")
    console.print(table)
