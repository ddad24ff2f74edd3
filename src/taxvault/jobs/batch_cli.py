"""``taxvault batch ingest|match|settings``: the batch jobs on Spark (local mode or a cluster by settings).

Each command starts (or joins) the process's SparkSession from ``TAXVAULT_SPARK_*``
(see :mod:`taxvault.batch.config` and docs/batch.md), acts as the jobs' system
principals through the door, and prints what ``taxvault ingest`` and
``taxvault match run`` print: counts and refs, never a TIN. It lives in ``jobs/``
(as ``matching_cli`` does) because ``batch match`` drives the matching job.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from taxvault.batch.config import BatchConfig, batch_config
from taxvault.errors import TaxvaultError
from taxvault.terminal import fail, parse_date

app = typer.Typer(
    no_args_is_help=True,
    help="Batch jobs on Spark (local or a cluster): legacy-file ingest, matching runs.",
)
console = Console()

MasterOption = typer.Option(None, "--master", help="Spark master URL (default TAXVAULT_SPARK_MASTER or local[2]).")


def _config(master: str | None) -> BatchConfig:
    try:
        return batch_config(master=master)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None


def _where(url: str) -> str:
    """The store as printed: driver, host and database, never a password."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    return f"{u.drivername}://{u.host or ''}{':' + str(u.port) if u.port else ''}/{u.database or ''}"


@app.command("settings")
def settings(master: str | None = MasterOption) -> None:
    """Print the Spark master, the Spark settings and the store the executors write to."""
    from taxvault.batch.config import spark_settings

    config = _config(master)
    console.print(f"master: {config.master}", highlight=False, markup=False)
    console.print(f"store (executors): {_where(config.database_url)}", highlight=False, markup=False)
    console.print(f"keys dir (executors): {config.keys_dir}", highlight=False, markup=False)
    for key, value in sorted(spark_settings(config).items()):
        console.print(f"  {key}={value}", highlight=False, markup=False)


@app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(..., help="Legacy files, or directories of them."),
    master: str | None = MasterOption,
) -> None:
    """Ingest legacy files as a Spark job: parse and validate in parallel, commit each file through the door."""
    from taxvault.batch.ingest import ingest_job
    from taxvault.ingest.cli import print_summary, report_line
    from taxvault.ingest.pipeline import FileReport
    from taxvault.store import make_engine

    config = _config(master)
    engine = make_engine()
    if engine.dialect.name != "postgresql":
        raise fail("the Spark ingest writes to PostgreSQL (TAXVAULT_DATABASE_URL); use `taxvault ingest` here")
    started = time.perf_counter()
    done: list[FileReport] = []

    def show(report: FileReport) -> None:
        done.append(report)
        console.print(report_line(report), highlight=False, markup=False)

    try:
        job = ingest_job(engine, paths, config, on_file=show)
    except TaxvaultError as exc:
        print_summary(done, time.perf_counter() - started)
        raise fail(f"{exc}; the files listed above are loaded, the rest are not") from None
    print_summary(done, time.perf_counter() - started)
    spent = ", ".join(f"{k} {v:.1f} s" for k, v in job.seconds.items())
    console.print(f"job {job.job}: {job.phases} phase(s); {spent}", highlight=False, markup=False)


@app.command("match")
def match(
    agreement: str | None = typer.Option(None, "--agreement", help="One agreement (default: every active one)."),
    date: str | None = typer.Option(None, "--date", help="Run as of this day (YYYY-MM-DD; default today)."),
    master: str | None = MasterOption,
) -> None:
    """Run matching agreements with the linkage on Spark (same runs, leads and audit as `taxvault match run`)."""
    from taxvault.jobs.batch_match import match_job
    from taxvault.store import make_engine

    config = _config(master)
    today = parse_date(date) if date else None
    try:
        reports = match_job(make_engine(), config, agreement_ref=agreement, today=today)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    if not reports:
        console.print("no active agreement to run", highlight=False, markup=False)
    for r in reports:
        console.print(
            f"run {r.run_ref} ({r.program}, agreement {r.agreement_ref}): compared {r.pairs_compared:,}, "
            f"matched {r.matched:,}, findings {r.findings:,}, new leads {r.leads_new:,}",
            highlight=False,
            markup=False,
        )
