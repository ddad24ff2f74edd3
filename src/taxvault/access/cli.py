"""``taxvault token issue`` and ``taxvault principals``: identities of the embedded issuer.

SQLAlchemy and the store are imported inside the commands, so that the help of
these commands does not pay for them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from taxvault.access.tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS
from taxvault.terminal import fail as _fail

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

ROLES: dict[str, str] = {
    # role -> what a principal holding it may be used for, in a few words (the Cedar policies decide);
    # "" for a label that only qualifies another role (oversight, system) and permits nothing itself
    "caseworker": "her open cases' accounts",
    "manager": "approvals over a limit",
    "break_glass": "emergency reads (reviewed)",
    "engineer": "granted datasets only",
    "grant_approver": "approves grants, agreements",
    "analyst": "aggregates only",
    "oversight": "audit log, no taxpayer data",
    "privacy_officer": "",
    "inspector_general": "",
    "auditor": "",
    "partner": "own match outcomes",
    "taxpayer": "own records, who looked",
    "system": "",
    "synth": "job: synth",
    "ingest": "job: ingest",
    "posting": "job: posting cycle",
    "notices": "job: notices",
    "matching": "job: matching",
    "grants": "job: grant expiry, shredding",
}
"""Every role the policies and the code know, with a short "use for" text."""

JOB_ROLES = frozenset({"system", "synth", "ingest", "posting", "notices", "matching", "grants", "taxpayer"})
"""Roles of system and taxpayer principals, which are never added by hand."""
ADDABLE_KINDS = ("employee", "contractor", "analyst", "oversight", "partner")
"""Kinds an administrator adds by hand (``init`` makes the system ones, tokens the taxpayer ones)."""
UNITS = ("assistance", "collection", "examination", "aur", "special", "employee_accounts", "modernisation")
ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")

token_app = typer.Typer(help="Bearer tokens of the embedded issuer.", no_args_is_help=True)
principals_app = typer.Typer(
    help="List the principals: who may act, open cases, what each may be used for (never a TIN).",
    invoke_without_command=True,
)
console = Console()
err = Console(stderr=True)


@token_app.command("issue")
def issue(
    principal: str | None = typer.Option(None, "--principal", "-p", help="Principal id (see `taxvault principals`)."),
    taxpayer: str | None = typer.Option(
        None, "--taxpayer-ref", help="Opaque taxpayer id: mint for that taxpayer (created on demand)."
    ),
    ttl: int = typer.Option(DEFAULT_TTL_SECONDS, "--ttl", min=1, max=MAX_TTL_SECONDS, help="Lifetime in seconds."),
) -> None:
    """Mint a bearer token for a principal of the store (printed on stdout)."""
    import sqlalchemy as sa

    from taxvault.access.principals import ensure_taxpayer_principal
    from taxvault.access.tokens import issue_token
    from taxvault.store import make_engine
    from taxvault.store.tables import principals as principals_table

    if (principal is None) == (taxpayer is None):
        raise _fail("give exactly one of --principal or --taxpayer-ref", 2)
    engine = make_engine()
    try:
        with engine.begin() as conn:
            if taxpayer is not None:
                principal = ensure_taxpayer_principal(conn, taxpayer)
            row = conn.execute(sa.select(principals_table.c.active).where(principals_table.c.id == principal)).first()
    except sa.exc.SQLAlchemyError:
        raise _fail("the store is not initialised: run `taxvault init`") from None
    except LookupError as exc:
        raise _fail(str(exc)) from None
    if row is None or not row.active:
        raise _fail("no active principal with that id")
    assert principal is not None
    typer.echo(issue_token(principal, ttl_seconds=ttl))


def use_for(roles: str) -> str:
    """What a principal with these (space-separated) roles may be used for, in a few words."""
    texts = [ROLES[r] for r in roles.split() if ROLES.get(r)]
    return "; ".join(dict.fromkeys(texts)) or "nothing (no known role)"


@principals_app.callback()
def principals(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, "--kind", help="Only this kind (employee, contractor, ...)."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many rows."),
) -> None:
    """List the principals: who may act, open cases, what each may be used for (never a TIN).

    `taxvault principals add` adds one (`taxvault init` makes only the jobs' system principals).
    """
    if ctx.invoked_subcommand is not None:
        return
    import sqlalchemy as sa

    from taxvault.store import make_engine
    from taxvault.store.tables import cases
    from taxvault.store.tables import principals as principals_table

    p, c = principals_table.c, cases.c
    open_cases = (
        sa.select(c.assigned_to, sa.func.count().label("n"))
        .where(c.status == "open")
        .group_by(c.assigned_to)
        .subquery()
    )
    q = (
        sa.select(p.id, p.kind, p.roles, p.unit, p.active, sa.func.coalesce(open_cases.c.n, 0).label("open_cases"))
        .select_from(principals_table.outerjoin(open_cases, open_cases.c.assigned_to == p.id))
        .order_by(p.kind, p.id)
        .limit(limit)
    )
    if kind:
        q = q.where(p.kind == kind)
    try:
        with make_engine().connect() as conn:
            rows = conn.execute(q).all()
    except sa.exc.SQLAlchemyError:
        raise _fail("the store is not initialised: run `taxvault init`") from None
    table = Table(title="principals", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("unit", overflow="fold")
    table.add_column("open", justify="right", no_wrap=True)  # open cases assigned
    table.add_column("roles", ratio=2)  # the long texts share the rest of the width, and wrap
    table.add_column("use for", ratio=3)
    for r in rows:
        who = r.id if r.active else f"{r.id} (inactive)"
        table.add_row(who, r.kind, r.unit or "", f"{r.open_cases:,}", r.roles, use_for(r.roles))
    console.print(table)
    if not kind and all(r.kind == "system" for r in rows):
        console.print("only the jobs' principals: `taxvault synth` makes a demo staff, `taxvault principals add` one")


@principals_app.command("add")
def add(
    principal_id: str = typer.Argument(
        ..., metavar="ID", help="New principal id (a letter, then letters, digits, - _)."
    ),
    kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(ADDABLE_KINDS)}."),
    roles: str = typer.Option(..., "--roles", help='Space-separated roles, e.g. "caseworker" (see the README).'),
    unit: str | None = typer.Option(None, "--unit", help=f"Organisational unit: {', '.join(UNITS)}."),
    limit_cents: int = typer.Option(0, "--limit-cents", min=0, help="Dollar authority for adjustments, in cents."),
    name: str | None = typer.Option(None, "--name", help="Display name (default: the id)."),
    manager: str | None = typer.Option(None, "--manager", help="Her manager's principal id (approves over her limit)."),
) -> None:
    """Add a principal (not audited in the access log: no taxpayer data; the row keeps its creation time)."""
    import datetime as dt

    import sqlalchemy as sa

    from taxvault.store import make_engine

    problem = _check_new(principal_id, kind, roles, unit)
    if problem:
        raise _fail(problem)
    try:
        with make_engine().begin() as conn:
            refused = _check_existing(conn, principal_id, manager)
            if refused:
                raise _fail(refused)
            from taxvault.store.tables import principals as principals_table

            conn.execute(
                principals_table.insert().values(
                    id=principal_id,
                    kind=kind,
                    display_name=name or principal_id,
                    roles=" ".join(dict.fromkeys(roles.split())),
                    unit=unit,
                    entity_id=None,
                    manager_id=manager,
                    dollar_limit_cents=limit_cents,
                    active=True,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
    except sa.exc.SQLAlchemyError:
        raise _fail("the store is not initialised: run `taxvault init`") from None
    console.print(f"principal {principal_id} added ({kind}; {use_for(roles)})", highlight=False)


def _check_new(principal_id: str, kind: str, roles: str, unit: str | None) -> str | None:
    """Why the new principal's fields are refused, in one line (None if they are fine)."""
    if not ID_PATTERN.match(principal_id):
        return "an id is a letter then up to 39 letters, digits, '-' or '_'"
    if kind not in ADDABLE_KINDS:
        return f"kind must be one of: {', '.join(ADDABLE_KINDS)} (init makes system principals)"
    names = roles.split()
    unknown = [r for r in names if r not in ROLES]
    if not names or unknown:
        addable = ", ".join(r for r in ROLES if r not in JOB_ROLES)
        return f"unknown role {' '.join(unknown) or '(none given)'!r}; roles: {addable}"
    if JOB_ROLES & set(names):
        return f"roles {', '.join(sorted(JOB_ROLES & set(names)))} belong to system or taxpayer principals"
    if unit is not None and unit not in UNITS:
        return f"unit must be one of: {', '.join(UNITS)}"
    if "caseworker" in names and unit is None:
        return "a caseworker needs --unit (her cases come from it)"
    return None


def _check_existing(conn: Connection, principal_id: str, manager: str | None) -> str | None:
    """Why the store refuses the new principal (a duplicate id, an unknown manager), or None."""
    import sqlalchemy as sa

    from taxvault.store.tables import principals as principals_table

    p = principals_table.c
    if conn.execute(sa.select(p.id).where(sa.func.lower(p.id) == principal_id.lower())).first():
        return f"a principal {principal_id!r} already exists"
    if manager is not None:
        row = conn.execute(sa.select(p.roles, p.active).where(p.id == manager)).first()
        if row is None or not row.active or "manager" not in row.roles.split():
            return f"{manager!r} is not an active principal with the manager role"
    return None
