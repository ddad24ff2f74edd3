"""The one command-line app: ``taxvault --help``.

Each domain owns its sub-commands (a Typer app or command in ``<domain>/cli.py``);
this module only assembles them, lazily: a domain's module (and what it imports:
SQLAlchemy, FastAPI, numpy, splink...) is imported only when its command runs, so
``taxvault --help`` answers at once. The short help of each lazy command is written
here (a test checks it against the command's own). Errors reach the user as one
clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from typer import _click as click  # Typer's own copy of Click: the types TyperGroup is built on
from typer.core import TyperCommand, TyperGroup

from taxvault.terminal import fail


def _cycle() -> typer.Typer:
    """The ledger's queue commands, with the job that runs the cycle next to them."""
    from taxvault.jobs.cli import cycle_run
    from taxvault.ledger.cli import app as cycle_app

    if not any(c.name == "run" for c in cycle_app.registered_commands):
        cycle_app.command("run")(cycle_run)
    return cycle_app


# name -> (module:attribute or a loader, short help). Order is the order of `taxvault --help`.
LAZY: dict[str, tuple[str | Callable[[], Any], str]] = {
    "synth": (
        "taxvault.synth.cli:synth",
        "Generate a synthetic population (people, employers, returns, accounts, cases) into the store.",
    ),
    "demo": (
        "taxvault.synth.cli:demo",
        "Print the worked example's values for this synthetic store: a caseworker, a TIN, a module.",
    ),
    "ingest": (
        "taxvault.ingest.cli:ingest",
        "Ingest legacy files: detect the format, validate, quarantine bad records, load the rest.",
    ),
    "principals": (
        "taxvault.access.cli:principals_app",
        "List the principals: who may act, open cases, what each may be used for (never a TIN).",
    ),
    "token": ("taxvault.access.cli:token_app", "Bearer tokens of the embedded issuer."),
    "audit": (
        "taxvault.audit.cli:app",
        "The tamper-evident access log: signed tree heads, proofs, export, verification.",
    ),
    "cycle": (_cycle, "The posting cycle: postings, notices, the unpostable queue."),
    "notices": ("taxvault.notices.cli:app", "Notices: list them, download them."),
    "stats": ("taxvault.stats.cli:app", "Differentially private counts and sums (analysts), and the privacy budget."),
    "match": (
        "taxvault.jobs.matching_cli:app",  # matching's app, with the job's commands
        "Computer matching under written agreements: agreements, partner data, runs, leads, destruction.",
    ),
    "ask": ("taxvault.query.cli:ask", "Ask a question under policy: the plan in words, then the answer."),
    "oversight": (
        "taxvault.oversight.cli:app",
        "Oversight: scan the audit log for browsing (UNAX), work the alert queue, report.",
    ),
    "grants": ("taxvault.oversight.grants_cli:app", "Grants that expire: request, approve, renew, revoke, expire."),
    "export": ("taxvault.oversight.grants_cli:export_app", "Exports under a grant: sealed, canaries, two-person."),
    "batch": (
        "taxvault.jobs.batch_cli:app",
        "Batch jobs on Spark (local or a cluster): legacy-file ingest, matching runs.",
    ),
    "console": ("taxvault.web.cli:app", "The web console: one-time sign-in codes for the embedded issuer."),
    "copybook": (
        "taxvault.formats.copybook.cli:app",
        "COBOL copybook files: decode records to JSON Lines, CSV or Parquet; print a copybook's layout.",
    ),
}


def load(name: str) -> click.Command:
    """The real click command behind the lazy entry ``name`` (imports its module)."""
    where, _ = LAZY[name]
    if callable(where):
        obj = where()
    else:
        module, attribute = where.split(":")
        obj = getattr(importlib.import_module(module), attribute)
    if isinstance(obj, typer.Typer):  # a group even with one command (`token issue`), as add_typer made it
        command: click.Command = typer.main.get_group(obj)
    else:
        single = typer.Typer()
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The top-level group: its own commands, then the lazy ones, loaded only when run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return [*own[:1], *LAZY, *own[1:]]  # init first, then the domains, then serve and db

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY:  # for the help listing: a name and its short help only
            return TyperCommand(cmd_name, help=LAZY[cmd_name][1])
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in LAZY:
            command = load(name)
        return name, command, rest


app = typer.Typer(
    name="taxvault",
    cls=_LazyGroup,
    help="One secure API over every record of a tax agency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Inspect the store.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)


@app.command()
def init(
    synthetic: bool | None = typer.Option(
        None,
        "--synthetic/--real-data",
        help="A new store: a demo store that holds only synthetic TINs (refuses others; `synth` allowed), "
        "or one for real data (the default; `synth` refused). An existing store keeps its setting.",
    ),
) -> None:
    """Create the store, or migrate it to the newest schema; create the jobs' system principals."""
    from taxvault.access.system_principals import ensure_system_principals
    from taxvault.config import get_settings
    from taxvault.errors import TaxvaultError
    from taxvault.files import private_dir
    from taxvault.store import make_engine
    from taxvault.store.migrate import is_new_store, upgrade
    from taxvault.store.settings import choose_synthetic

    settings = get_settings()
    private_dir(settings.var_dir, tighten=True)  # store, keys, exports: owner-only
    engine = make_engine()
    new_store = is_new_store(engine)
    upgrade(engine)
    try:
        with engine.begin() as conn:  # idempotent: only the missing ones, an existing row is left as it is
            created = ensure_system_principals(conn)
            synthetic_only = choose_synthetic(conn, synthetic, new_store=new_store)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    if created:
        console.print(f"system principals created: {', '.join(created)}")
    where = "embedded SQLite under " + str(settings.var_dir) if settings.is_embedded else "PostgreSQL"
    kind = "synthetic-only: TINs outside the synthetic ranges are refused" if synthetic_only else "real data"
    console.print(f"store ready ({where}; {kind})")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default 127.0.0.1, or TAXVAULT_HOST)."),
    port: int = typer.Option(None, help="Port (default 8000, or TAXVAULT_PORT)."),
) -> None:
    """Serve the API (health at /health, OpenAPI at /openapi.json and /docs)."""
    import uvicorn

    from taxvault.access.policy import PolicyError
    from taxvault.api.app import create_app
    from taxvault.api.middleware import configure_logging
    from taxvault.config import get_settings
    from taxvault.store import make_engine
    from taxvault.store.migrate import pending_heads

    settings = get_settings()
    engine = make_engine()
    if pending_heads(engine):
        raise fail("the store is not initialised or not current: run `taxvault init`")
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
    from rich.table import Table

    from taxvault.store import make_engine
    from taxvault.store.migrate import table_counts
    from taxvault.store.registry import all_metadata

    metadata = all_metadata()
    counts = table_counts(make_engine(), list(metadata.sorted_tables))
    table = Table("table", "rows", title="taxvault store")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


app.add_typer(db_app, name="db")


def main() -> None:
    """Entry point: run the app, turning unexpected errors into one line."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
