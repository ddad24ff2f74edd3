"""``taxvault oversight simulate``: a month of agency work through the door, with browsing planted.

Mounted on the ``oversight`` command group (:mod:`taxvault.oversight.cli`). The truth
file (one JSON line per planted episode) is written apart from the store; score a
scan against it with ``--score`` (after ``taxvault oversight scan``) or bench/oversight.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from taxvault.errors import TaxvaultError
from taxvault.terminal import fail

console = Console()


def simulate(
    employees: int = typer.Option(200, "--employees", min=6, help="Staff of the simulated agency."),
    days: int = typer.Option(30, "--days", min=1, max=366, help="Calendar days simulated (work on weekdays)."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed gives the same month."),
    truth: Path = typer.Option(..., "--truth", help="Where to write the planted episodes (JSON lines)."),
    per_kind: int | None = typer.Option(None, "--per-kind", min=1, help="Episodes planted per kind."),
    score: bool = typer.Option(False, "--score", help="Scan now and print recall and precision per kind."),
) -> None:
    """Simulate a month of case work through the real door and plant each kind of browsing."""
    from taxvault.oversight.simulate import evaluate
    from taxvault.oversight.simulate import simulate as run
    from taxvault.store import make_engine
    from taxvault.store.migrate import pending_heads

    engine = make_engine()
    if pending_heads(engine):
        raise fail("the store is not initialised or not current: run `taxvault init`")
    from taxvault.store.settings import is_synthetic_store

    with engine.connect() as conn:  # generated staff, taxpayers and accesses never mix with real ones
        if not is_synthetic_store(conn):
            raise fail(
                "this store is for real data (store setting `synthetic` = false): the simulation writes generated "
                "employees, taxpayers and access events only into a store made by `taxvault init --synthetic`"
            )
    try:
        with console.status("simulating"):
            report = run(engine, employees=employees, days=days, seed=seed, truth=truth, per_kind=per_kind)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    planted = sum(report.planted.values())
    console.print(
        f"{report.employees:,} employees, {report.days} days: {report.events:,} events through the door, "
        f"{planted} browsing episodes planted (truth in {truth}) in {report.seconds:.1f}s",
        highlight=False,
    )
    if score:
        from taxvault.oversight.scan import scan

        result = scan(engine)
        scores = {
            k: {"planted": s.planted, "found": s.found, "recall": round(s.recall, 3), "alerts": s.alerts,
                "precision": round(s.precision, 3)}
            for k, s in evaluate(engine, truth).items()
        }  # fmt: skip
        typer.echo(json.dumps({"scan": result.to_json(), "scores": scores}, indent=2))
