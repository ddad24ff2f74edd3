"""``taxvault grants`` and ``taxvault export``: grants that expire and exports under them, from the command line.

The same services and door as ``/v1/grants`` and ``/v1/exports``: the operator names who
acts (``--as``); every step is decided by the policies and audited. ``grants expire`` is
the job (``sys-grants``): it ends grants past their time box and shreds their keys, each
destruction certified in the audit log.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer

from taxvault.access.door import Door, Session, new_request_id
from taxvault.access.local import local_door
from taxvault.access.policy import PolicyError
from taxvault.audit.errors import AuditError
from taxvault.errors import TaxvaultError, Unauthenticated
from taxvault.store import make_engine
from taxvault.store.migrate import pending_heads
from taxvault.terminal import fail

app = typer.Typer(help="Grants that expire: request, approve, renew, revoke, expire.", no_args_is_help=True)
export_app = typer.Typer(help="Exports under a grant: sealed, canaries, two-person.", no_args_is_help=True)

AsOption = typer.Option(..., "--as", help="The principal acting (see `taxvault principals`).")
JsonOption = typer.Option(False, "--json", help="Print JSON.")


@contextmanager
def _door() -> Iterator[Door]:
    try:
        engine = make_engine()
        if pending_heads(engine):
            raise fail("the store is not initialised or not current: run `taxvault init`")
        opened = local_door(engine)
        door = opened.__enter__()
    except (sa.exc.SQLAlchemyError, OSError, AuditError, PolicyError) as exc:
        raise fail(f"the store cannot be opened ({type(exc).__name__})") from None
    try:
        yield door
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    except sa.exc.IntegrityError:
        raise fail("the store refused the change (a rule of the store was broken)") from None
    except (sa.exc.SQLAlchemyError, AuditError) as exc:
        raise fail(f"the store failed ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(AuditError, sa.exc.SQLAlchemyError):
            opened.__exit__(None, None, None)


def _session(door: Door, who: str, purpose: str) -> Session:
    rid = new_request_id("cli")
    try:
        caller = door.caller(who, request_id=rid)
    except Unauthenticated:
        raise TaxvaultError("no active principal with that id") from None
    return door.session(caller, purpose, channel="cli", request_id=rid)


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    items = data if isinstance(data, list) else [data]
    for g in items:
        typer.echo("  ".join(f"{k}={v}" for k, v in g.items() if v not in (None, [], "")))


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command("request")
def request(
    who: str = AsOption,
    datasets: str = typer.Option(..., "--datasets", help="Comma-separated datasets (entities, tax_modules, ...)."),
    fields: str = typer.Option(..., "--fields", help="Comma-separated field categories (name, address, ...)."),
    purpose: str = typer.Option(..., "--purpose", help="The one purpose the grant covers."),
    days: int = typer.Option(..., "--days", help="1 to 120."),
    reason: str = typer.Option(..., "--reason", help="Why (10 to 500 characters)."),
    holder: str | None = typer.Option(None, "--for", help="The engineer the grant is for (default: yourself)."),
    as_json: bool = JsonOption,
) -> None:
    """Request a grant (it discloses nothing until a second person approves it)."""
    from taxvault.oversight import grants

    with _door() as door:
        session = _session(door, who, "grant_administration")
        _print(
            grants.request_grant(
                door, session, holder=holder, datasets=_list(datasets), fields=_list(fields), purpose=purpose,
                days=days, reason=reason,
            ),
            as_json,
        )  # fmt: skip


@app.command("approve")
def approve(grant_id: str, who: str = AsOption, as_json: bool = JsonOption) -> None:
    """Approve a requested grant (a grant approver who is neither holder nor requester)."""
    from taxvault.oversight import grants

    with _door() as door:
        _print(grants.approve_grant(door, _session(door, who, "grant_administration"), grant_id), as_json)


@app.command("renew")
def renew(
    grant_id: str,
    who: str = AsOption,
    days: int = typer.Option(..., "--days", help="The new end, 1 to 120 days from now."),
    as_json: bool = JsonOption,
) -> None:
    """Renew an active grant, once."""
    from taxvault.oversight import grants

    with _door() as door:
        _print(grants.renew_grant(door, _session(door, who, "grant_administration"), grant_id, days=days), as_json)


@app.command("revoke")
def revoke(
    grant_id: str,
    who: str = AsOption,
    reason: str = typer.Option(..., "--reason", help="Why (5 to 200 characters)."),
    as_json: bool = JsonOption,
) -> None:
    """Revoke a grant now; its key is shredded and the destruction certified."""
    from taxvault.oversight import grants

    with _door() as door:
        session = _session(door, who, "grant_administration")
        _print(grants.revoke_grant(door, session, grant_id, reason=reason), as_json)


@app.command("list")
def list_(
    who: str = AsOption,
    state: str | None = typer.Option(None, "--state", help="requested, active, expired or revoked."),
    as_json: bool = JsonOption,
) -> None:
    """The grants you may see."""
    from taxvault.oversight import grants

    with _door() as door:
        _print(grants.list_grants(door, _session(door, who, "grant_administration"), state=state), as_json)


@app.command("certificates")
def certificates(grant_id: str, who: str = AsOption) -> None:
    """The grant's destruction certificates (JSON), each verified: signature and its audit event."""
    from taxvault.oversight import grants
    from taxvault.oversight.shred import certificate_public_key_pem

    with _door() as door:
        found = grants.certificates(door, _session(door, who, "grant_administration"), grant_id)
    _print({"certificates": found, "public_key": certificate_public_key_pem()}, True)


@app.command("expire")
def expire(as_json: bool = JsonOption) -> None:
    """The job: end grants past their time box, shred their keys, certify each destruction."""
    from taxvault.oversight import grants

    with _door() as door:
        outcomes = grants.expire_due(door, grants.job_session(door))
        _print(
            [
                {
                    "grant": o.grant_ref,
                    "exports_shredded": o.exports,
                    "certificate": o.certificate.digest if o.certificate else None,
                }
                for o in outcomes
            ]
            or [{"expired": 0}],
            as_json,
        )


@export_app.command("request")
def export_request(
    who: str = AsOption,
    grant: str = typer.Option(..., "--grant", help="Your grant's id."),
    dataset: str = typer.Option("entities", "--dataset"),
    fields: str = typer.Option(..., "--fields", help="Comma-separated columns (first_name, last_name, zip, tin...)."),
    records: int = typer.Option(..., "--records", help="How many records at most."),
    purpose: str = typer.Option(..., "--purpose", help="The grant's purpose."),
    state: str | None = typer.Option(None, "--state", help="Only taxpayers of this state (two letters)."),
    as_json: bool = JsonOption,
) -> None:
    """Export rows under your grant (over the threshold, it waits for a manager's approval)."""
    from taxvault.oversight import exports

    with _door() as door:
        session = _session(door, who, purpose)
        _print(
            exports.request_export(
                door, session, grant_ref=grant, dataset=dataset, fields=_list(fields), records=records, state=state
            ),
            as_json,
        )


@export_app.command("approve")
def export_approve(export_id: str, who: str = AsOption, as_json: bool = JsonOption) -> None:
    """Approve a pending export as the second person (a manager, not the requester)."""
    from taxvault.oversight import exports

    with _door() as door:
        _print(exports.approve_export(door, _session(door, who, "export_approval"), export_id), as_json)


@export_app.command("open")
def export_open(
    export_id: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The sealed export file."),
    who: str = AsOption,
    purpose: str = typer.Option(..., "--purpose", help="The grant's purpose."),
) -> None:
    """Decrypt an export (its grant's holder, while the grant is in force): JSON on stdout."""
    from taxvault.oversight import exports

    with _door() as door:
        body = exports.open_export(door, _session(door, who, purpose), export_id, file.read_bytes())
    typer.echo(json.dumps(body, indent=2, sort_keys=True))


@export_app.command("list")
def export_list(who: str = AsOption, as_json: bool = JsonOption) -> None:
    """The exports you may see."""
    from taxvault.oversight import exports

    with _door() as door:
        _print(exports.list_exports(door, _session(door, who, "export_review")), as_json)
