"""The console against an identity provider configured like a real one (TAXVAULT_OIDC_*), and the CLI.

The "external" provider is the embedded issuer reached over HTTP (its /idp/token endpoint), so
the code path is the production one: the token request is an HTTP POST, the ID token is
verified against the configured JWKS file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from console_harness import World
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from taxvault.access.tokens import EMBEDDED_ISSUER
from taxvault.cli import app as taxvault_cli
from taxvault.errors import Invalid
from taxvault.web import idp
from taxvault.web.codes import redeem_sign_in_code
from taxvault.web.oidc import Provider

BASE = "http://127.0.0.1:8000"


def _configure(monkeypatch: pytest.MonkeyPatch, jwks_file: Path) -> None:
    env = {
        "ISSUER": EMBEDDED_ISSUER,
        "AUTHORIZE_URL": BASE + "/idp/authorize",
        "TOKEN_URL": BASE + "/idp/token",
        "JWKS_FILE": str(jwks_file),
        "CLIENT_ID": idp.CONSOLE_CLIENT_ID,
        "CLIENT_SECRET": idp.embedded_client_secret(),
        "REDIRECT_URI": BASE + "/web/callback",
    }
    for name, value in env.items():
        monkeypatch.setenv(f"TAXVAULT_OIDC_{name}", value)


def test_a_configured_provider_needs_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_OIDC_ISSUER", "https://login.agency.example")
    with pytest.raises(Invalid, match="TAXVAULT_OIDC_TOKEN_URL"):
        Provider.from_env()
    monkeypatch.delenv("TAXVAULT_OIDC_ISSUER")
    assert Provider.from_env().embedded


def test_sign_in_through_a_provider_configured_by_settings(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = TestClient(app, base_url=BASE)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(client.get("/idp/jwks").json()))
    _configure(monkeypatch, jwks_file)
    provider = Provider.from_env()
    assert not provider.embedded and provider.token_url == BASE + "/idp/token"
    state = app.state.console
    saved = state.provider
    state.provider = Provider(**{**{f: getattr(provider, f) for f in provider.__dataclass_fields__}, "http": client})
    try:
        start = client.get("/web/sign-in", follow_redirects=True)
        auth = re.search(r'name="auth_request" value="([^"]+)"', start.text)
        assert auth
        landed = client.post(
            "/idp/authorize", data={"auth_request": auth.group(1), "sign_in_code": world.code_for(world.demo.principal)}
        )
        assert landed.status_code == 200
        assert world.demo.principal in client.get("/web/").text
        # a provider that refuses the code: no session
        other = TestClient(app, base_url=BASE)
        start = other.get("/web/sign-in", follow_redirects=False)
        callback = other.get(f"{BASE}/web/callback?code=forged-code-1234567890&state=whatever", follow_redirects=False)
        assert callback.status_code == 401
        assert start.status_code == 303
    finally:
        state.provider = saved


def test_cli_mints_a_code_that_signs_in_once(world: World) -> None:
    runner = CliRunner()
    minted = runner.invoke(taxvault_cli, ["console", "sign-in-code", "--as", world.demo.principal])
    assert minted.exit_code == 0, minted.output
    code = minted.output.strip()
    assert re.fullmatch(r"[A-Z2-9]{5}(-[A-Z2-9]{5}){3}", code)
    with world.engine.begin() as conn:
        assert redeem_sign_in_code(conn, code.lower()) == world.demo.principal
    taxpayer = runner.invoke(taxvault_cli, ["console", "sign-in-code", "--taxpayer-ref", world.demo.taxpayer_ref])
    assert taxpayer.exit_code == 0
    assert runner.invoke(taxvault_cli, ["console", "sign-in-code"]).exit_code == 2
    nobody = runner.invoke(taxvault_cli, ["console", "sign-in-code", "--as", "nobody"])
    assert nobody.exit_code == 1
    assert "no active principal" in nobody.output
