"""``taxvault principals``: who may act, her open cases, what for; ``principals add`` on a bare store."""

from __future__ import annotations

import re

import sqlalchemy as sa
from typer.testing import CliRunner

from taxvault.access.cli import ROLES
from taxvault.store import make_engine
from taxvault.store.tables import cases, principals

runner = CliRunner()
WIDE = {"COLUMNS": "220"}


def _rows(output: str) -> dict[str, list[str]]:
    """id -> the cells of its first line in the listing."""
    out: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 4 and cells[0] != "id" and re.fullmatch(r"[A-Za-z][\w-]*", cells[0]):
            out.setdefault(cells[0], cells)
    return out


def test_the_listing_shows_open_cases_and_what_each_is_for() -> None:
    from taxvault.cli import app

    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0
    assert runner.invoke(app, ["synth", "--taxpayers", "400", "--seed", "3"]).exit_code == 0
    with make_engine().connect() as conn:
        open_by: dict[str, int] = dict(
            conn.execute(
                sa.select(cases.c.assigned_to, sa.func.count())
                .where(cases.c.status == "open", cases.c.assigned_to.is_not(None))
                .group_by(cases.c.assigned_to)
            ).all()
        )
        staff = conn.execute(sa.select(principals.c.id).where(principals.c.kind == "employee")).scalars().all()
    busiest = max(open_by, key=lambda k: open_by[k])
    result = runner.invoke(app, ["principals", "--kind", "employee"], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert set(rows) == set(staff)
    for pid in staff:
        assert rows[pid][3] == str(open_by.get(pid, 0)), pid  # id, kind, unit, open
    assert open_by[busiest] > 0 and ROLES["caseworker"] in result.output
    system = runner.invoke(app, ["principals", "--kind", "system"], env=WIDE)
    assert "job: ingest" in system.output and "job: posting cycle" in system.output


def test_add_to_a_store_init_made_then_use_it() -> None:
    from taxvault.cli import app

    assert runner.invoke(app, ["init"]).exit_code == 0
    bare = runner.invoke(app, ["principals"], env=WIDE)
    assert bare.exit_code == 0 and "only the jobs' principals" in bare.output and "principals add" in bare.output
    add = ["principals", "add"]
    ok = runner.invoke(
        app,
        [
            *add,
            "mgr-ann",
            "--kind",
            "employee",
            "--roles",
            "caseworker manager",
            "--unit",
            "collection",
            "--limit-cents",
            "25000000",
        ],
    )
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(
        app,
        [
            *add,
            "cw-bob",
            "--kind",
            "employee",
            "--roles",
            "caseworker",
            "--unit",
            "collection",
            "--limit-cents",
            "500000",
            "--manager",
            "mgr-ann",
            "--name",
            "Bob B",
        ],
    )
    assert ok.exit_code == 0, ok.output
    with make_engine().connect() as conn:
        bob = conn.execute(sa.select(principals).where(principals.c.id == "cw-bob")).one()
    assert (bob.kind, bob.roles, bob.unit, bob.manager_id, bob.dollar_limit_cents, bob.display_name, bob.active) == (
        "employee",
        "caseworker",
        "collection",
        "mgr-ann",
        500000,
        "Bob B",
        True,
    )
    listed = runner.invoke(app, ["principals"], env=WIDE)
    assert _rows(listed.output)["cw-bob"][:4] == ["cw-bob", "employee", "collection", "0"]
    assert "only the jobs' principals" not in listed.output
    token = runner.invoke(app, ["token", "issue", "--principal", "cw-bob"])
    assert token.exit_code == 0 and token.output.count(".") == 2  # a JWT for the new principal


def test_add_refuses_in_one_line() -> None:
    from taxvault.cli import app

    assert runner.invoke(app, ["init"]).exit_code == 0
    base = ["principals", "add"]
    assert runner.invoke(app, [*base, "ana-9", "--kind", "analyst", "--roles", "analyst"]).exit_code == 0
    refusals = {
        "already exists": [*base, "ANA-9", "--kind", "analyst", "--roles", "analyst"],
        "unknown role": [*base, "x1", "--kind", "analyst", "--roles", "analyst wizard"],
        "kind must be one of": [*base, "x2", "--kind", "system", "--roles", "analyst"],
        "belong to system or taxpayer": [
            *base,
            "x3",
            "--kind",
            "employee",
            "--roles",
            "caseworker ingest",
            "--unit",
            "collection",
        ],
        "needs --unit": [*base, "x4", "--kind", "employee", "--roles", "caseworker"],
        "unit must be one of": [*base, "x5", "--kind", "employee", "--roles", "caseworker", "--unit", "mars"],
        "an id is a letter": [*base, "900112345", "--kind", "analyst", "--roles", "analyst"],
        "not an active principal with the manager role": [
            *base,
            "x6",
            "--kind",
            "employee",
            "--roles",
            "caseworker",
            "--unit",
            "collection",
            "--manager",
            "ana-9",
        ],
    }
    for reason, args in refusals.items():
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (reason, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and reason in lines[0], (reason, result.output)
        assert "900112345" not in result.output
    with make_engine().connect() as conn:
        ids = set(conn.execute(sa.select(principals.c.id).where(principals.c.kind != "system")).scalars())
    assert ids == {"ana-9"}


def test_every_role_the_policies_name_is_known() -> None:
    from pathlib import Path

    import taxvault.access.policies as policies_pkg

    folder = Path(policies_pkg.__path__[0])
    named = set(re.findall(r'roles\.contains\("(\w+)"\)', "".join(p.read_text() for p in folder.glob("*.cedar"))))
    assert named and named <= set(ROLES)
