"""The one command-line app: ``taxvault --help``.

Each domain owns its sub-commands (a Typer app in ``<domain>/cli.py``); this module
only assembles them. Errors reach the user as one clear line and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from taxvault.access.cli import principals, token_app
from taxvault.audit.cli import app as audit_app
from taxvault.config import get_settings
from taxvault.files import private_dir
from taxvault.ingest.cli import ingest
from taxvault.jobs.cli import cycle_run
from taxvault.jobs.matching_cli import app as match_app  # matching's app, with the job's commands
from taxvault.ledger.cli import app as cycle_app
from taxvault.notices.cli import app as notices_app
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads, table_counts, upgrade
from taxvault.store.registry import all_metadata
from taxvault.synth.cli import synth

app = typer.Typer(
    name="taxvault",
    help="One secure API over every record of a tax agency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Inspect the store.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(synth)
app.command()(ingest)
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")
cycle_app.command("run")(cycle_run)  # a job over the ledger and notices, next to the queue commands
app.add_typer(cycle_app, name="cycle")
app.add_typer(notices_app, name="notices")
app.add_typer(match_app, name="match")
app.command()(principals)

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@app.command()
def init() -> None:
    """Create the store, or migrate it to the newest schema; create the jobs' system principals."""
    from taxvault.access.system_principals import ensure_system_principals

    settings = get_settings()
    private_dir(settings.var_dir, tighten=True)  # store, keys, exports: owner-only
    engine = make_engine()
    upgrade(engine)
    with engine.begin() as conn:  # idempotent: only the missing ones, an existing row is left as it is
        created = ensure_system_principals(conn)
    if created:
        console.print(f"system principals created: {', '.join(created)}")
    where = "embedded SQLite under " + str(settings.var_dir) if settings.is_embedded else "PostgreSQL"
    console.print(f"store ready ({where})")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default 127.0.0.1, or TAXVAULT_HOST)."),
    port: int = typer.Option(None, help="Port (default 8000, or TAXVAULT_PORT)."),
) -> None:
    """Serve the API (health at /health, OpenAPI at /openapi.json and /docs)."""
    import uvicorn

    from taxvault.api.app import create_app

    settings = get_settings()
    engine = make_engine()
    if pending_heads(engine):
        raise fail("the store is not initialised or not current: run `taxvault init`")
    from taxvault.access.policy import PolicyError
    from taxvault.api.middleware import configure_logging

    configure_logging()
    try:
        api = create_app(engine)
    except PolicyError as exc:
        raise fail(f"the access policies do not validate: {exc}") from None
    # uvicorn's own access log is off: ours redacts paths and carries request ids.
    uvicorn.run(api, host=host or settings.host, port=port or settings.port, log_level="info", access_log=False)


@db_app.command("stats")
def db_stats() -> None:
    """Row counts per table."""
    metadata = all_metadata()
    counts = table_counts(make_engine(), list(metadata.sorted_tables))
    table = Table("table", "rows", title="taxvault store")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def main() -> None:
    """Entry point: run the app, turning unexpected errors into one line."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
