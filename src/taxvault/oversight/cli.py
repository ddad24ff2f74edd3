"""``taxvault oversight``: scan the audit log for browsing, work the alert queue, report.

Every command acts through the door. ``--as`` names the reviewer (an oversight
principal); without it, ``alerts``, ``alert`` and ``report`` act as the oversight job
(``sys-oversight``), which may read the queue but never review. Errors are one line on
stderr and exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from taxvault.access.door import Door, Session
from taxvault.errors import TaxvaultError
from taxvault.terminal import fail

app = typer.Typer(
    help="Oversight: scan the audit log for browsing (UNAX), work the alert queue, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)

PURPOSE = "oversight_review"
As = Annotated[str | None, typer.Option("--as", help="The reviewer acting (default: the oversight job, read only).")]
Purpose = Annotated[str, typer.Option("--purpose", help="Purpose of use.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def _door() -> Iterator[Door]:
    """A door over the configured store (migrated, with its system principals), errors as one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from taxvault.access.local import local_door
    from taxvault.access.system_principals import ensure_system_principals
    from taxvault.store import make_engine
    from taxvault.store.migrate import pending_heads

    try:
        engine = make_engine()
        if pending_heads(engine):
            raise fail("the store is not initialised or not current: run `taxvault init`")
        with engine.begin() as conn:
            ensure_system_principals(conn)  # idempotent: a store made before sys-oversight existed gets it
        with local_door(engine) as door:
            yield door
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"store: {str(exc).splitlines()[0]}") from None


def _session(door: Door, who: str | None, purpose: str) -> Session:
    from taxvault.access.door import new_request_id
    from taxvault.access.system_principals import OVERSIGHT

    rid = new_request_id("cli")
    if who is None:
        return door.session(door.caller(OVERSIGHT, request_id=rid), purpose, channel="cli", request_id=rid)
    return door.session(door.caller(who, request_id=rid), purpose, channel="cli", request_id=rid)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))


@app.command("scan")
def scan_command(
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Scan at most this many events.")] = None,
    as_json: Json = False,
) -> None:
    """Scan the audit log from where the last scan stopped; raise alerts; write the letters owed."""
    from taxvault.oversight.job import run_once

    with _door() as door:
        try:
            report = run_once(door, limit=limit)
        except (TaxvaultError, typer.Exit):
            raise
        except Exception as exc:  # a detector failure: one line, the cursor did not move past it
            raise fail(
                f"the scan failed ({type(exc).__name__}); nothing after the last good batch was marked scanned"
            ) from None
    if as_json:
        _print_json(report)
        return
    out.print(
        f"scanned leaves {report.get('start_leaf', 0)}..{report.get('end_leaf', 0)}: {report.get('events', 0)} events "
        f"({report.get('events_per_second', 0)}/s), {report.get('new_alerts', 0)} new alerts, "
        f"{report['break_glass_unreviewed']} unreviewed break-glass, {report['letters']} letters",
        highlight=False,
    )
    for rule, n in sorted((report.get("by_rule") or {}).items()):
        out.print(f"  {escape(rule)}: {n}", highlight=False)


@app.command("alerts")
def alerts_command(
    who: As = None,
    purpose: Purpose = PURPOSE,
    state: Annotated[str | None, typer.Option("--state", help="open|confirming|dismissed|confirmed|referred")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 10_000,
    as_json: Json = False,
) -> None:
    """The alert queue, newest first."""
    from taxvault.oversight.queue import list_alerts

    with _door() as door:
        rows = list_alerts(door, _session(door, who, purpose), state=state, rule=rule, limit=limit)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("no alerts", highlight=False)
        return
    table = Table("ref", "rule", "severity", "state", "principal", "subject", "leaves", "summary")
    for a in rows:
        table.add_row(
            a["ref"], a["rule"], a["severity"], a["state"], a["principal"] or "-", a["subject"] or "-",
            str(len(a["leaves"])), escape(a["summary"]),
        )  # fmt: skip
    out.print(table)


@app.command("alert")
def alert_command(
    alert_id: Annotated[str, typer.Argument(help="Alert id (see `taxvault oversight alerts`).")],
    who: As = None,
    purpose: Purpose = PURPOSE,
) -> None:
    """One alert with its review history (JSON)."""
    from taxvault.oversight.queue import get_alert

    with _door() as door:
        body = get_alert(door, _session(door, who, purpose), alert_id)
    _print_json(body)


@app.command("review")
def review_command(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    who: Annotated[str, typer.Option("--as", help="The reviewer (an oversight principal).")],
    confirm: Annotated[bool, typer.Option("--confirm", help="Confirm UNAX (a second reviewer must too).")] = False,
    dismiss: Annotated[str | None, typer.Option("--dismiss", metavar="REASON", help="Dismiss, with a reason.")] = None,
    refer: Annotated[str | None, typer.Option("--refer", metavar="REASON", help="Refer, with a reason.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="A reason for a confirmation (optional).")] = None,
    purpose: Purpose = PURPOSE,
    as_json: Json = False,
) -> None:
    """Confirm, dismiss or refer an alert; the second confirmation writes the taxpayer's letter."""
    from taxvault.oversight.service import review

    chosen = [
        a for a, on in (("confirm", confirm), ("dismiss", dismiss is not None), ("refer", refer is not None)) if on
    ]
    if len(chosen) != 1:
        raise fail("give exactly one of --confirm, --dismiss REASON, --refer REASON")
    action = chosen[0]
    text = reason if action == "confirm" else dismiss if action == "dismiss" else refer
    with _door() as door:
        result = review(door, _session(door, who, purpose), alert_id, action, text)  # type: ignore[arg-type]
    done = result.reviewed
    body = {"ref": done.ref, "previous": done.previous, "state": done.state, "letters": result.letters}
    if as_json:
        _print_json(body)
        return
    message = f"alert {done.ref}: {done.previous} -> {done.state}"
    if done.state == "confirming":
        message += " (a second, different reviewer must confirm)"
    if result.letters:
        message += f"; letter {', '.join(result.letters)} written to the taxpayer"
    if result.letter_error:
        message += "; the letter could not be written now (the scan will retry)"
    out.print(message, highlight=False)


@app.command("report")
def report_command(who: As = None, purpose: Purpose = PURPOSE, as_json: Json = False) -> None:
    """Alerts by rule and state, break-glass reviews by state, letters sent."""
    from taxvault.oversight.queue import report

    with _door() as door:
        body = report(door, _session(door, who, purpose))
    if as_json:
        _print_json(body)
        return
    alerts = body["alerts"]
    out.print(f"alerts by state: {_counts(alerts['by_state'])}", highlight=False)
    out.print(f"open by severity: {_counts(alerts['open_by_severity'])}", highlight=False)
    for rule, states in alerts["by_rule"].items():
        out.print(f"  {escape(rule)}: {_counts(states)}", highlight=False)
    bg = body["break_glass"]
    out.print(f"break-glass reviews: {_counts(bg['by_state'])}; oldest pending {bg['oldest_pending'] or '-'}")
    out.print(f"UNAX letters sent: {body['letters']}", highlight=False)


@app.command("break-glass")
def break_glass_command(
    review_id: Annotated[int, typer.Argument(min=1, help="Break-glass review id.")],
    who: Annotated[str, typer.Option("--as", help="The employee's manager.")],
    uphold: Annotated[str | None, typer.Option("--uphold", metavar="REASON", help="Uphold, with a reason.")] = None,
    refer: Annotated[str | None, typer.Option("--refer", metavar="REASON", help="Refer, with a reason.")] = None,
    purpose: Purpose = "break_glass_review",
) -> None:
    """Uphold or refer a break-glass access (the employee's manager)."""
    from taxvault.oversight.break_glass import review_break_glass

    if (uphold is None) == (refer is None):
        raise fail("give exactly one of --uphold REASON, --refer REASON")
    action: Literal["uphold", "refer"] = "uphold" if uphold is not None else "refer"
    with _door() as door:
        done = review_break_glass(door, _session(door, who, purpose), review_id, action, uphold or refer)
    extra = f"; alert {done.alert} raised" if done.alert else ""
    out.print(f"break-glass review {done.id}: {done.state}{extra}", highlight=False)


@app.command("break-glass-queue")
def break_glass_queue_command(
    who: Annotated[str, typer.Option("--as", help="The manager.")],
    state: Annotated[str | None, typer.Option("--state", help="pending (default), upheld or referred.")] = "pending",
    purpose: Purpose = "break_glass_review",
    as_json: Json = False,
) -> None:
    """The break-glass accesses of the people who report to you, oldest first."""
    from taxvault.oversight.break_glass import manager_queue

    with _door() as door:
        rows = manager_queue(door, _session(door, who, purpose), state=state)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("no break-glass accesses to review", highlight=False)
        return
    table = Table("id", "employee", "action", "record", "when", "state", "justification")
    for r in rows:
        table.add_row(
            str(r["id"]), r["principal"], r["action"], r["resource"], r["created_at"][:16], r["state"],
            escape(r["justification"]),
        )  # fmt: skip
    out.print(table)


@app.command("evaluate")
def evaluate_command(
    truth: Annotated[Path, typer.Option("--truth", help="The truth file `simulate` wrote.")],
    as_json: Json = False,
) -> None:
    """Recall and precision of the alerts raised against a simulation's truth file (scan first)."""
    from taxvault.oversight.simulate import evaluate
    from taxvault.store import make_engine

    if not truth.is_file():
        raise fail(f"no truth file at {truth}")
    scores = evaluate(make_engine(), truth)
    rows = {
        k: {"planted": s.planted, "found": s.found, "alerts": s.alerts, "true_alerts": s.true_alerts,
            "recall": round(s.recall, 4), "precision": round(s.precision, 4)}
        for k, s in sorted(scores.items())
    }  # fmt: skip
    if as_json:
        _print_json(rows)
        return
    table = Table("kind", "planted", "found", "alerts", "recall", "precision")
    for k, r in rows.items():
        table.add_row(k, str(r["planted"]), str(r["found"]), str(r["alerts"]), f"{r['recall']:.3f}",
                      f"{r['precision']:.3f}")  # fmt: skip
    out.print(table)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _mount_simulate() -> None:
    """``taxvault oversight simulate`` (O1's simulator; its module imports nothing heavy)."""
    from taxvault.oversight.simulate_cli import simulate

    app.command("simulate")(simulate)


_mount_simulate()
