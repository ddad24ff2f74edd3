"""``taxvault grants`` and ``taxvault export`` on the embedded store: the lifecycle, one-line refusals, the job."""

from __future__ import annotations

import json
from typing import Any

from custody_world import APPROVER, HOLDER, PURPOSE, make_custody
from typer.testing import CliRunner

from taxvault.oversight.grants_cli import app, export_app
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade

runner = CliRunner()


def ok(target: Any, args: list[str]) -> Any:
    result = runner.invoke(target, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_grants_cli_requests_approves_exports_opens_revokes_and_expires() -> None:
    engine = make_engine()
    upgrade(engine)
    world = make_custody(engine)
    made = ok(app, ["request", "--as", HOLDER, "--datasets", "entities", "--fields", "name,tin", "--purpose",
                    PURPOSE, "--days", "20", "--reason", "check the converted TINs"])  # fmt: skip
    grant = made["id"]
    refused = runner.invoke(app, ["approve", grant, "--as", HOLDER])
    assert refused.exit_code == 1 and refused.output.startswith("error: not authorized")
    assert ok(app, ["approve", grant, "--as", APPROVER])["state"] == "active"
    assert grant in [g["id"] for g in ok(app, ["list", "--as", HOLDER, "--state", "active"])]
    export = ok(export_app, ["request", "--as", HOLDER, "--grant", grant, "--fields", "last_name,tin",
                             "--records", "5", "--purpose", PURPOSE])  # fmt: skip
    assert export["state"] == "produced"
    opened = runner.invoke(export_app, ["open", export["id"], export["file"], "--as", HOLDER, "--purpose", PURPOSE])
    assert opened.exit_code == 0 and len(json.loads(opened.output)["rows"]) == 5 + 3
    assert ok(app, ["revoke", grant, "--as", APPROVER, "--reason", "done early"])["shredded"] is True
    closed = runner.invoke(export_app, ["open", export["id"], export["file"], "--as", HOLDER, "--purpose", PURPOSE])
    assert closed.exit_code == 1 and "not authorized" in closed.output
    swept = ok(app, ["expire"])  # the job: the store's older ended grants are marked shredded, nothing left after
    assert isinstance(swept, list) and ok(app, ["expire"]) == [{"expired": 0}]
    world.log.close()
