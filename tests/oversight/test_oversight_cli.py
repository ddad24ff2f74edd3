"""``taxvault oversight``: the queue as JSON, reviews with clear one-line refusals, the report, break-glass."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from review_world import alert, entity_ref, module_ref, reads_by, world
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.access.local import local_door
from taxvault.access.tables import break_glass_reviews
from taxvault.cli import app

__all__ = ["world"]  # fixture

runner = CliRunner()
REASON = "the access was duty-related after all"


@pytest.fixture
def store(world: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TAXVAULT_DATABASE_URL", world.url.render_as_string(hide_password=False))
    return world


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["oversight", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_alerts_review_report(store: Engine) -> None:
    with local_door(store) as door:
        leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    ref = alert(store, "cw-alice", entity_ref("tp"), leaves, "k1")

    code, output = _run("alerts", "--json")  # as the oversight job: no --as needed to read the queue
    assert code == 0, output
    rows = json.loads(output)
    assert [r["ref"] for r in rows] == [ref]
    assert {"ref", "rule", "severity", "state", "principal", "subject", "leaves", "window", "summary"} <= set(rows[0])
    assert rows[0]["leaves"] == leaves and rows[0]["state"] == "open" and rows[0]["principal"] == "cw-alice"

    code, output = _run("review", ref, "--confirm", "--as", "ovs-a")
    assert code == 0 and "open -> confirming" in output and "second, different reviewer" in output
    code, output = _run("review", ref, "--confirm", "--as", "ovs-a")
    assert code == 1 and "error: you already confirmed this alert" in output
    code, output = _run("review", ref, "--dismiss", REASON, "--as", "cw-alice")
    assert code == 1 and "error:" in output  # the employee under review (not oversight either)
    code, output = _run("review", ref, "--confirm", "--as", "ovs-b", "--json")
    assert code == 0, output
    body = json.loads(output)
    assert body["state"] == "confirmed" and len(body["letters"]) == 1

    code, output = _run("review", "l00000000000000000000", "--dismiss", REASON, "--as", "ovs-a")
    assert code == 1 and "error: no such alert" in output
    code, output = _run("review", ref, "--dismiss", REASON, "--confirm", "--as", "ovs-a")
    assert code == 1 and "exactly one of" in output
    code, output = _run("review", ref, "--dismiss", REASON, "--as", "ovs-b")
    assert code == 1 and "already confirmed" in output

    code, output = _run("alerts", "--json", "--state", "confirmed", "--as", "ovs-b")
    assert code == 0 and [r["ref"] for r in json.loads(output)] == [ref]
    code, output = _run("alert", ref)
    assert code == 0 and [h["reviewer"] for h in json.loads(output)["reviews"]] == ["ovs-a", "ovs-b"]
    code, output = _run("report", "--json")
    assert code == 0
    report = json.loads(output)
    assert report["letters"] == 1 and report["alerts"]["by_rule"]["household_lookup"] == {"confirmed": 1}
    code, output = _run("report")
    assert code == 0 and "UNAX letters sent: 1" in output


def test_break_glass_and_scan(store: Engine) -> None:
    with local_door(store) as door:
        leaf = reads_by(door, "cw-alice", [module_ref("tp")])[0]
    with store.begin() as conn:
        conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=leaf, request_id="cli-0000000000000000", principal_id="cw-alice",
                action="read:module_transcript", resource=module_ref("tp"), purpose="collection",
                justification="taxpayer on the phone, urgent levy", state="pending",
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=5),
            )
        )  # fmt: skip
        review_id = conn.execute(sa.select(sa.func.max(break_glass_reviews.c.id))).scalar_one()

    code, output = _run("scan", "--json")  # the unreviewed break-glass alerts
    assert code == 0, output
    assert json.loads(output)["break_glass_unreviewed"] == 1
    code, output = _run("alerts", "--json", "--rule", "break_glass_unreviewed")
    assert code == 0 and [r["principal"] for r in json.loads(output)] == ["cw-alice"]

    code, output = _run("break-glass-queue", "--as", "mgr-carol", "--json")
    assert code == 0 and [r["id"] for r in json.loads(output)] == [review_id]
    code, output = _run("break-glass", str(review_id), "--uphold", REASON, "--as", "cw-alice")
    assert code == 1 and "error: nobody reviews her own break-glass access" in output
    code, output = _run("break-glass", str(review_id), "--refer", REASON, "--as", "mgr-carol")
    assert code == 0 and "referred" in output and "alert" in output
