"""``taxvault console``: the console's commands (sign-in codes for the embedded issuer)."""

from __future__ import annotations

import typer

from taxvault.terminal import fail

app = typer.Typer(help="The web console: one-time sign-in codes for the embedded issuer.", no_args_is_help=True)


@app.command("sign-in-code")
def sign_in_code(
    principal: str | None = typer.Option(None, "--as", help="Principal id of the person who will sign in."),
    taxpayer: str | None = typer.Option(
        None, "--taxpayer-ref", help="Opaque taxpayer id: a code for that taxpayer (her principal made on demand)."
    ),
) -> None:
    """Mint a one-time sign-in code (10 minutes, single use, stored hashed) for the console's sign-in page."""
    import sqlalchemy as sa

    from taxvault.access.principals import ensure_taxpayer_principal
    from taxvault.errors import NotFound
    from taxvault.store import make_engine
    from taxvault.web.codes import mint_sign_in_code

    if (principal is None) == (taxpayer is None):
        raise fail("give exactly one of --as or --taxpayer-ref", 2)
    try:
        with make_engine().begin() as conn:
            who = ensure_taxpayer_principal(conn, taxpayer) if taxpayer is not None else str(principal)
            code = mint_sign_in_code(conn, who)
    except sa.exc.SQLAlchemyError:
        raise fail("the store is not initialised or not current: run `taxvault init`") from None
    except (LookupError, NotFound) as exc:
        raise fail(str(exc)) from None
    typer.echo(code)
