"""``taxvault cycle run``: the posting cycle from the command line.

The command is mounted under ``taxvault cycle`` next to the ledger's own
commands (the unpostable queue) by :mod:`taxvault.cli`; it lives here because the
cycle is a job over the ledger and the notices, not part of either.
"""

from __future__ import annotations

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from taxvault.access.local import local_door
from taxvault.errors import TaxvaultError
from taxvault.jobs.cycle import run_cycle
from taxvault.ledger.accruals import AccrualError
from taxvault.store import make_engine
from taxvault.terminal import fail as _fail
from taxvault.terminal import parse_date as _date

console = Console()
err = Console(stderr=True)


def cycle_run(
    date: str = typer.Option(..., "--date", help="The cycle date (YYYY-MM-DD)."),
    underreporter: bool = typer.Option(True, "--cp2000/--no-cp2000", help="Also issue CP2000 under-reporter notices."),
) -> None:
    """Post pending adjustments and issue the notices due on DATE (as sys-posting and sys-notices)."""
    on = _date(date)
    engine = make_engine()
    try:
        with local_door(engine) as door:
            report = run_cycle(door, on, underreporter=underreporter)
    except TaxvaultError as exc:
        raise _fail(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
    except AccrualError as exc:
        raise _fail(f"accruals cannot be computed for {on.isoformat()}: {type(exc).__name__} {exc}") from None
    except sa.exc.SQLAlchemyError:
        raise _fail("the store is not initialised or not reachable: run `taxvault init`") from None
    table = Table("what", "count", title=f"posting cycle {on.isoformat()}")
    table.add_row("posted", str(report.posted))
    table.add_row("unpostable", str(report.unpostable))
    for kind, n in sorted(report.notices.items()):
        table.add_row(f"notice {kind}", str(n))
    table.add_row("denied by policy", str(report.denied))
    table.add_row("skipped (accruals not computable)", str(len(report.skipped)))
    table.add_row("audit events", str(report.audit_events))
    console.print(table)
    for ref, why in report.skipped[:20]:
        err.print(f"skipped module {ref}: {why}", highlight=False)
