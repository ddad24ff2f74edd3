"""``taxvault synth``: generate a synthetic population into the store."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from taxvault.errors import TaxvaultError
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.synth.load import planned_people, synthesize

console = Console()
err = Console(stderr=True)


class _Elapsed(ProgressColumn):
    """Seconds since the command started, until the bar closes.

    Rich's elapsed column stops when the count is reached, but after the last
    person come the indexes, the foreign-key check and the commit with the audit
    event: the bar shows the time of the whole run.
    """

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started

    def render(self, task: Task) -> Text:
        return Text(f"{time.perf_counter() - self.started:.1f}s", style="progress.elapsed")


def synth(
    taxpayers: int = typer.Option(
        10_000, "--taxpayers", "-n", min=1, help="People to generate (at least; households stay whole)."
    ),
    seed: int = typer.Option(1, "--seed", "-s", help="Random seed: the same seed gives the same population."),
    legacy: Path | None = typer.Option(
        None, "--legacy", help="Also write it as legacy files (Pub 1220, EFW2, EBCDIC extracts) here."
    ),
) -> None:
    """Generate a synthetic population (people, employers, returns, accounts, cases) into the store."""
    started = time.perf_counter()
    engine = make_engine()
    if pending_heads(engine):
        err.print("[bold red]error:[/] the store is not initialised or not current: run `taxvault init`")
        raise typer.Exit(1)
    from taxvault.store.settings import is_synthetic_store

    with engine.connect() as conn:  # generated taxpayers and demo staff never mix with real ones
        if not is_synthetic_store(conn):
            err.print(
                "[bold red]error:[/] this store is for real data (store setting `synthetic` = false): synth "
                "writes generated taxpayers and a demo staff only into a store made by `taxvault init --synthetic`",
                highlight=False,
            )
            raise typer.Exit(1)
    people = planned_people(taxpayers, seed)  # households stay whole: a few more than asked
    columns = (TextColumn("synth {task.description}"), BarColumn(), MofNCompleteColumn(), _Elapsed(started))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("people", total=people)

        def advance(n: int) -> None:
            bar.advance(task, n)
            if bar.tasks[0].completed >= people:
                bar.update(task, description="people; indexes, checks, commit")

        try:
            report = synthesize(engine, taxpayers, seed, progress=advance)
        except TaxvaultError as exc:  # a populated store, a refused or unrecorded job: one line
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started
    asked = "" if report.persons == taxpayers else f" ({taxpayers:,} asked; households stay whole)"
    console.print(
        f"{report.persons:,} people{asked} in {report.households:,} households, "
        f"{report.rows.get('returns', 0):,} returns, {report.rows.get('information_returns', 0):,} "
        f"information returns, {report.rows.get('cases', 0):,} cases in {elapsed:.1f}s (seed {seed})"
    )
    if legacy is not None:
        from taxvault.synth.legacy import write_legacy

        written = write_legacy(engine, legacy)
        for path, records in written.items():
            console.print(f"wrote {records:,} records to {path}")


def demo() -> None:
    """Print the worked example's values for this synthetic store: a caseworker, a TIN, a module.

    The same seed and size give the same values (the README's worked example uses those
    of ``./dev up``). The TIN is decrypted as ``sys-synth`` through the door, audited.
    """
    from taxvault.synth.demo import pick_demo

    try:
        found = pick_demo(make_engine())
    except TaxvaultError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for key, value in (
        ("principal", found.principal),
        ("purpose", found.purpose),
        ("open_cases", found.open_cases),
        ("tin", found.tin),
        ("taxpayer", found.taxpayer_ref),
        ("module", found.module_ref),
    ):
        typer.echo(f"demo {key:<10} {value}")
