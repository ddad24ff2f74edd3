"""``taxvault ingest PATH...``: load legacy files (Pub 1220, EFW2, master-file extracts) into the store.

Prints, per file and in total, the records read, loaded and quarantined
(loaded + quarantined = read). A file that cannot be ingested gives one error
line and exit status 1; nothing of it reaches the store.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from taxvault.errors import TaxvaultError
from taxvault.ingest.pipeline import FileReport, IngestError, ingest_paths, survey
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.terminal import fail as _fail

console = Console()
err = Console(stderr=True)
_REASONS_SHOWN = 5
"""Quarantine reasons printed per file (the rule, never the value; all of them are in ``ingest_quarantine``)."""


def ingest(
    paths: list[Path] = typer.Argument(..., help="Legacy files, or directories of them."),
) -> None:
    """Ingest legacy files: detect the format, validate, quarantine bad records, load the rest."""
    engine = make_engine()
    try:
        if pending_heads(engine):
            raise _fail("the store is not initialised or not current: run `taxvault init`")
        planned = survey(paths)
    except IngestError as exc:
        raise _fail(str(exc).replace("[", "\\[")) from None
    except typer.Exit:
        raise
    except Exception as exc:
        raise _fail(f"cannot read the store ({type(exc).__name__})") from None
    total_bytes = sum(r.path.stat().st_size for r in planned)
    started = time.perf_counter()
    done: list[FileReport] = []
    with Progress(
        TextColumn("ingest {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(planned[0].path.name if planned else "", total=total_bytes or 1)

        def advance(report: FileReport) -> None:
            done.append(report)
            bar.advance(task, report.path.stat().st_size)
            nxt = len(done)
            if nxt < len(planned):
                bar.update(task, description=planned[nxt].path.name)
            bar.console.print(report_line(report), highlight=False, markup=False)

        try:
            ingest_paths(engine, [r.path for r in planned], on_file=advance)
        except IngestError as exc:
            bar.stop()
            print_summary(done, time.perf_counter() - started)
            raise _fail(str(exc).replace("[", "\\[")) from None
        except TaxvaultError as exc:  # refused by the door, or the audit append failed: one line
            bar.stop()
            print_summary(done, time.perf_counter() - started)
            where = planned[len(done)].path.name if len(done) < len(planned) else "ingest"
            hint = " (`taxvault init` creates the jobs' principals)" if exc.kind == "unauthenticated" else ""
            raise _fail(f"{where}: {exc}; nothing of it was loaded{hint}".replace("[", "\\[")) from None
        except Exception as exc:
            bar.stop()
            print_summary(done, time.perf_counter() - started)
            where = planned[len(done)].path.name if len(done) < len(planned) else "the store"
            raise _fail(f"{where}: ingest failed ({type(exc).__name__}); nothing of it was loaded") from None
    print_summary(done, time.perf_counter() - started)


def report_line(r: FileReport) -> str:
    """One file's outcome as printed (counts and the commonest quarantine reasons; never a value)."""
    if r.status == "skipped":
        return f"{r.path.name}: already ingested (same content), skipped"
    line = f"{r.path.name} ({r.kind}): read {r.read:,}, loaded {r.loaded:,}, quarantined {r.quarantined:,}"
    reasons = list(r.reasons.items())
    shown = [f"\n  {n:,} x {reason}" for reason, n in reasons[:_REASONS_SHOWN]]
    more = f"\n  ... and {len(reasons) - _REASONS_SHOWN} other reason(s)" if len(reasons) > _REASONS_SHOWN else ""
    return line + "".join(shown) + more


def print_summary(done: list[FileReport], elapsed: float) -> None:
    """The closing line of an ingest: files, time and the totals (the Spark ingest prints it too)."""
    read = sum(r.read for r in done if r.status == "loaded")
    loaded = sum(r.loaded for r in done if r.status == "loaded")
    quarantined = sum(r.quarantined for r in done if r.status == "loaded")
    skipped = sum(1 for r in done if r.status == "skipped")
    console.print(
        f"{len(done)} file(s) in {elapsed:.1f}s ({skipped} already ingested): "
        f"read {read:,}, loaded {loaded:,}, quarantined {quarantined:,}",
        highlight=False,
    )
