"""``taxvault audit``: signed tree heads, proofs, export and independent verification.

Mounted by the main CLI as ``taxvault audit``. Every failure is one line on stderr
and a non-zero exit; ``verify`` exits 1 when the log does not verify.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from taxvault.audit.errors import AuditError
from taxvault.audit.export import export_log, verify_store
from taxvault.audit.log import AuditLog
from taxvault.audit.merkle import verify_extension, verify_inclusion_hash
from taxvault.audit.periodic import sth_interval_seconds
from taxvault.audit.verifier import (
    PHASES,
    Progress,
    VerificationReport,
    VerifierInputError,
    read_trusted_heads,
    verify_export,
)

app = typer.Typer(
    help="The tamper-evident access log: signed tree heads, proofs, export, verification.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def _log() -> Iterator[AuditLog]:
    """The configured store's log; audit and store errors become one line and exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from taxvault.store import make_engine

    log: AuditLog | None = None
    try:
        log = AuditLog(make_engine())
        yield log
    except (AuditError, VerifierInputError, OSError, ValueError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        err.print(f"[bold red]error:[/] store: {str(exc).splitlines()[0]}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        if log is not None:
            log.close()


def _print(obj: Any) -> None:
    out.print_json(json.dumps(obj))


def append_witness(path: Path, head: dict[str, Any]) -> None:
    """Append one head as a JSON line to an auditor's witness file (0600; its folder 0700 if created).

    The witness lives outside the store: a head kept there still convicts a log
    that was rewritten and re-signed afterwards (``audit verify --trusted-sth``).
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(head, sort_keys=True) + "\n")


@app.command("sth")
def sth_command(
    latest: Annotated[bool, typer.Option("--latest", help="Show the latest STH instead of issuing one.")] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Also append the head as one JSON line to this witness file (kept by an auditor)."),
    ] = None,
) -> None:
    """Issue (and store) a signed tree head for the current log, and print it."""
    with _log() as log:
        sth = log.latest_sth() if latest else log.sign_tree_head()
        if sth is None:
            raise AuditError("no signed tree head has been issued yet")
        if out_file is not None:
            append_witness(out_file, sth.to_json())
        _print(sth.to_json())


@app.command("prove")
def prove_command(
    index: Annotated[int, typer.Option("--index", "-i", help="Leaf index of the event.")],
    size: Annotated[int | None, typer.Option("--size", "-n", help="Tree size (default: current).")] = None,
) -> None:
    """Inclusion proof of event INDEX in the tree of SIZE events (RFC 9162 2.1.3)."""
    with _log() as log:
        proof = log.inclusion_proof(index, size)
        body = proof.to_json()
        body["event"] = log.event(index).to_dict()
        body["verifies"] = verify_inclusion_hash(
            proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.path, proof.root_hash
        )
        _print(body)


@app.command("consistency")
def consistency_command(
    old: Annotated[int, typer.Option("--from", help="The older tree size M.")],
    new: Annotated[int | None, typer.Option("--to", help="The newer tree size N (default: current).")] = None,
) -> None:
    """Consistency proof between tree sizes M and N (RFC 9162 2.1.4)."""
    with _log() as log:
        proof = log.consistency_proof(old, new)
        body = proof.to_json()
        body["verifies"] = verify_extension(  # from size 0: no proof, the empty-tree root
            proof.old_size, proof.new_size, proof.old_root, proof.new_root, proof.path
        )
        _print(body)


@app.command("export")
def export_command(
    directory: Annotated[Path, typer.Argument(help="Empty (or new) directory to write the export to.")],
    sign: Annotated[bool, typer.Option("--sign/--no-sign", help="Issue a fresh STH first.")] = True,
) -> None:
    """Export events, STHs, leaf hashes and the public key for the independent verifier."""
    with _log() as log:
        summary = export_log(log, directory, sign=sign)
        out.print(
            f"exported {summary.events:,} events and {summary.sths} signed tree heads to {summary.directory}",
            highlight=False,
        )


def _report(report: VerificationReport) -> None:
    (out if report.ok else err).print(report.summary(), highlight=False)
    for line in report.problems:
        err.print(f"  {line}", highlight=False)
    for line in report.notes:
        out.print(f"  {line}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("verify")
def verify_command(
    directory: Annotated[
        Path | None, typer.Argument(help="An export directory (default: verify the store directly).")
    ] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="Trusted Ed25519 public key (PEM).")] = None,
    check_events: Annotated[
        bool, typer.Option("--check-events", help="Also check each event is canonical JSON.")
    ] = False,
    trusted_sth: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-sth",
            help="Heads kept outside the store (JSON, or JSON lines as `audit sth --out` writes); "
            "fails unless the log still extends every one.",
        ),
    ] = None,
    sth_interval: Annotated[
        float | None,
        typer.Option(
            "--sth-interval",
            help="Seconds an event may stay unsigned (default: TAXVAULT_AUDIT_STH_SECONDS, 1); 0: not checked.",
        ),
    ] = None,
) -> None:
    """Verify the log from scratch: every stored hash, every STH signature and root, the unsigned tail."""
    run: Callable[[], VerificationReport]
    with _log() as log:
        pem = public_key.read_bytes() if public_key else None
        trusted = [head for path in trusted_sth or [] for head in read_trusted_heads(path)]
        interval = sth_interval_seconds() if sth_interval is None else sth_interval
        tail = interval if interval > 0 else None
        with _progress_bar() as progress:
            if directory is not None:
                run = lambda: verify_export(  # noqa: E731
                    directory, pem, check_events=check_events, trusted=trusted, sth_interval=tail, progress=progress
                )
            else:
                run = lambda: verify_store(  # noqa: E731
                    log, pem, check_events=check_events, trusted=trusted, sth_interval=tail, progress=progress
                )
            report = run()
    _report(report)


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A rich bar per verifier phase on stderr when it is a terminal (None otherwise: nothing is counted).

    Why stderr: the verdict on stdout stays one clean line for scripts.
    """
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        tasks = {phase: bar.add_task(phase, total=None) for phase in PHASES}

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(tasks[phase], completed=done, total=max(total, done))

        yield progress
