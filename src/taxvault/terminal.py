"""What every command prints errors with: one line on stderr, a non-zero exit; dates as YYYY-MM-DD.

Each domain's CLI imports these instead of keeping its own copy, so an error looks the
same from every command (and a message can never inject console markup).
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: <message>`` as one line on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_date(value: str) -> dt.date:
    """An ISO date from an option (a clear usage error otherwise)."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("give the date as YYYY-MM-DD") from None
