"""``taxvault synth``: generate a synthetic population into the store."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from taxvault.errors import TaxvaultError
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.synth.load import synthesize

console = Console()
err = Console(stderr=True)


def synth(
    taxpayers: int = typer.Option(10_000, "--taxpayers", "-n", min=1, help="Number of people to generate."),
    seed: int = typer.Option(1, "--seed", "-s", help="Random seed: the same seed gives the same population."),
    legacy: Path | None = typer.Option(
        None, "--legacy", help="Also write it as legacy files (Pub 1220, EFW2, EBCDIC extracts) here."
    ),
) -> None:
    """Generate a synthetic population (people, employers, returns, accounts, cases) into the store."""
    engine = make_engine()
    if pending_heads(engine):
        err.print("[bold red]error:[/] the store is not initialised or not current: run `taxvault init`")
        raise typer.Exit(1)
    started = time.perf_counter()
    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("people", total=taxpayers)
        try:
            report = synthesize(engine, taxpayers, seed, progress=lambda n: bar.advance(task, n))
        except TaxvaultError as exc:  # a populated store, a refused or unrecorded job: one line
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started
    console.print(
        f"{report.persons:,} people in {report.households:,} households, "
        f"{report.rows.get('returns', 0):,} returns, {report.rows.get('information_returns', 0):,} "
        f"information returns, {report.rows.get('cases', 0):,} cases in {elapsed:.1f}s (seed {seed})"
    )
    if legacy is not None:
        from taxvault.synth.legacy import write_legacy

        written = write_legacy(engine, legacy)
        for path, records in written.items():
            console.print(f"wrote {records:,} records to {path}")
