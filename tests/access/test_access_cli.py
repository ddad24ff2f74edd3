"""``taxvault token issue`` and ``taxvault principals``."""

from __future__ import annotations

import pytest
from access_world import ENTITIES, build_world, entity_ref
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.access.tokens import TokenConfig, TokenVerifier
from taxvault.cli import app


@pytest.fixture
def store_env(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TAXVAULT_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    build_world(db_engine)
    return db_engine


def test_token_issue_for_a_principal(store_env: Engine) -> None:
    result = CliRunner().invoke(app, ["token", "issue", "--principal", "cw-alice", "--ttl", "600"])
    assert result.exit_code == 0, result.output
    claims = TokenVerifier(TokenConfig.embedded()).verify(result.output.strip())
    assert claims.subject == "cw-alice"


def test_token_issue_for_a_taxpayer_and_unknowns(store_env: Engine) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["token", "issue", "--taxpayer-ref", entity_ref("tp2")])
    assert result.exit_code == 0, result.output
    subject = TokenVerifier(TokenConfig.embedded()).verify(result.output.strip()).subject
    assert subject.startswith("tp-") and ENTITIES["tp2"][1] not in subject
    assert runner.invoke(app, ["token", "issue", "--principal", "nobody"]).exit_code == 1
    assert runner.invoke(app, ["token", "issue", "--taxpayer-ref", "e" + "0" * 20]).exit_code == 1
    assert runner.invoke(app, ["token", "issue"]).exit_code == 2


def test_principals_lists_ids_roles_units_and_no_tins(store_env: Engine) -> None:
    result = CliRunner().invoke(app, ["principals"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cw-alice" in result.output and "collection" in result.output and "oversight" in result.output
    assert not any(e[1] in result.output for e in ENTITIES.values())
