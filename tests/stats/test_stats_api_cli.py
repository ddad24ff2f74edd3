"""``/v1/stats`` and ``taxvault stats`` over a real store: analysts only, the budget left on
every answer, refusals as 403 / one-line errors, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.access.ratelimit import RateLimiter
from taxvault.access.tokens import issue_token
from taxvault.api.app import create_app
from taxvault.audit import AuditLog, Decision
from taxvault.cli import app as cli_app
from taxvault.stats.tables import stats_charges
from taxvault.synth.load import synthesize

runner = CliRunner()
COUNT = {"measure": "count", "by": ["state"], "year": 2024, "epsilon": 0.5}


@pytest.fixture
def population(db_engine: Engine) -> Engine:
    """A smaller population than the conftest's: budgets do not depend on its size."""
    synthesize(db_engine, 500, 5)
    return db_engine


@pytest.fixture
def api(population: Engine) -> Iterator[tuple[TestClient, AuditLog]]:
    log = AuditLog(population)
    client = TestClient(create_app(population, audit_log=log, rate_limiter=RateLimiter(1e6, 10**6)))
    yield client, log
    client.close()
    log.close()


def _h(who: str, purpose: str = "research") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(who)}", "Purpose-Of-Use": purpose}


def test_the_api_answers_analysts_with_the_budget_left(api: tuple[TestClient, AuditLog]) -> None:
    client, log = api
    before = client.get("/v1/stats", headers=_h("ana-001"))
    assert before.status_code == 200 and before.json()["epsilon_left"] == 5.0
    r = client.post("/v1/stats", json=COUNT, headers=_h("ana-001"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["budget"]["epsilon_left"] == 4.5 and body["noise_scale"] == 2.0
    assert {g["state"] for g in body["groups"]} >= {"CA", "TX", "WY"}
    assert all(g["value"] is None for g in body["groups"] if g["suppressed"])
    wages = {**COUNT, "measure": "sum", "field": "wages_cents", "bounds_cents": [0, 20_000_000], "epsilon": 4.5}
    assert client.post("/v1/stats", json=wages, headers=_h("ana-001")).json()["budget"]["epsilon_left"] == 0
    spent = client.post("/v1/stats", json=COUNT, headers=_h("ana-001"))
    assert spent.status_code == 403 and "privacy budget spent" in spent.json()["detail"]
    last = log.event(log.tree_head().tree_size - 1)
    assert last.decision == Decision.DENY and "privacy-budget-spent" in (last.policy or "")


def test_the_api_refuses_others_and_bad_shapes(api: tuple[TestClient, AuditLog], population: Engine) -> None:
    client, _ = api
    assert client.post("/v1/stats", json=COUNT).status_code == 401
    assert client.post("/v1/stats", json=COUNT, headers=_h("eng-001")).status_code == 403
    assert client.get("/v1/stats", headers=_h("ovs-privacy", "oversight_review")).status_code == 403
    bad = client.post("/v1/stats", json={**COUNT, "measure": "sum"}, headers=_h("ana-001"))
    assert bad.status_code == 422  # a sum needs a field and bounds
    assert client.post("/v1/stats", json={**COUNT, "k": 2}, headers=_h("ana-001")).status_code == 422
    assert client.post("/v1/stats", json={**COUNT, "sql": "DROP"}, headers=_h("ana-001")).status_code == 422
    with population.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(stats_charges)).scalar_one() == 0


@pytest.fixture
def cli_store(population: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TAXVAULT_DATABASE_URL", population.url.render_as_string(hide_password=False))
    return population


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli_app, ["stats", *args])
    return result.exit_code, result.output


def test_the_cli_counts_sums_and_shows_the_budget(cli_store: Engine) -> None:
    code, out = _cli("count", "--by", "state", "--year", "2024", "--as", "ana-001", "--purpose", "research")
    assert code == 0, out
    assert "suppressed (< 10)" in out and "budget left: epsilon 4.5 of 5" in out
    code, out = _cli(
        "sum", "wages_cents", "--bounds", "0:200000", "--by", "state", "--year", "2024", "--as", "ana-001", "--json"
    )
    assert code == 0, out
    answer = json.loads(out)
    assert answer["bounds"] == [0, 20_000_000] and answer["budget"]["epsilon_left"] == 4.0
    code, out = _cli("budget", "--as", "ana-001")
    assert code == 0 and "epsilon 4 left of 5" in out
    code, out = _cli("set-budget", "ana-001", "--epsilon", "1.2", "--as", "ovs-privacy")
    assert code == 0, out
    code, out = _cli("count", "--as", "ana-001", "--year", "2024", "--epsilon", "0.5")
    assert code == 1 and out.count("error:") == 1 and "privacy budget spent" in out and "Traceback" not in out


def test_the_cli_refuses_in_one_line(cli_store: Engine) -> None:
    code, out = _cli("count", "--by", "state", "--as", "eng-001")
    assert code == 1 and "error: not authorized" in out
    code, out = _cli("sum", "wages_cents", "--bounds", "x", "--as", "ana-001")
    assert code == 2 and "LOW:HIGH" in out
    code, out = _cli("sum", "names", "--bounds", "0:1", "--as", "ana-001")
    assert code == 1 and "a sum of returns adds one of" in out
