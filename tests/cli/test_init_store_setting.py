"""``taxvault init [--synthetic | --real-data]``: the store's ``synthetic`` setting, chosen when it is made.

A demo store (``--synthetic``, as ``./dev up`` makes) takes a generated population; a store for
real data (plain ``init``) refuses ``synth``, so no generated taxpayer or demo staff mixes with
real ones. An existing store keeps its setting; the other one is refused once it holds taxpayers.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from taxvault.cli import app
from taxvault.store import make_engine
from taxvault.store.settings import is_synthetic_store
from taxvault.store.tables import entities

runner = CliRunner()
CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"


def _synthetic() -> bool:
    with make_engine().connect() as conn:
        return is_synthetic_store(conn)


def _people() -> int:
    with make_engine().connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(entities)).scalar_one())


def test_plain_init_makes_a_store_for_real_data_and_synth_is_refused_there() -> None:
    made = runner.invoke(app, ["init"])
    assert made.exit_code == 0 and "real data" in made.output
    assert not _synthetic()
    refused = runner.invoke(app, ["synth", "--taxpayers", "10"])
    assert refused.exit_code == 1, refused.output
    assert "store setting `synthetic` = false" in refused.output and "init --synthetic" in refused.output
    assert "Traceback" not in refused.output
    assert _people() == 0


def test_a_synthetic_store_keeps_its_setting_and_refuses_to_become_real_once_populated() -> None:
    made = runner.invoke(app, ["init", "--synthetic"])
    assert made.exit_code == 0 and "synthetic-only" in made.output
    again = runner.invoke(app, ["init"])  # ./dev up runs init on every start: the setting stays
    assert again.exit_code == 0 and "synthetic-only" in again.output and _synthetic()
    assert runner.invoke(app, ["synth", "--taxpayers", "10", "--seed", "2"]).exit_code == 0
    flip = runner.invoke(app, ["init", "--real-data"])
    assert flip.exit_code == 1 and "already holds taxpayers" in flip.output and "`synthetic`" in flip.output
    assert _synthetic() and _people() > 0


def test_an_empty_store_may_still_change_its_setting() -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0 and not _synthetic()
    assert runner.invoke(app, ["init", "--real-data"]).exit_code == 0 and not _synthetic()
    changed = runner.invoke(app, ["init", "--synthetic"])
    assert changed.exit_code == 0 and "synthetic-only" in changed.output and _synthetic()


def test_ingest_names_the_setting_when_a_demo_store_refuses_real_files() -> None:
    """What the user sees: per file, the quarantine reasons, and the setting that decided them."""
    fire = sorted((CONFORMANCE / "pub1220" / "others").glob("*.txt"))
    assert runner.invoke(app, ["init", "--synthetic"]).exit_code == 0
    demo = runner.invoke(app, ["ingest", *map(str, fire)], env={"COLUMNS": "400"})
    assert demo.exit_code == 0, demo.output
    assert demo.output.count("loaded 0, quarantined 2") == 3
    assert demo.output.count("2 x payer TIN outside the synthetic ranges; this store is synthetic-only") == 3
    assert "`taxvault init --synthetic`" in demo.output


def test_ingest_loads_them_into_a_store_for_real_data() -> None:
    fire = sorted((CONFORMANCE / "pub1220" / "others").glob("*.txt"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    real = runner.invoke(app, ["ingest", *map(str, fire)], env={"COLUMNS": "400"})
    assert real.exit_code == 0, real.output
    assert real.output.count("loaded 2, quarantined 0") == 3 and " x " not in real.output


def test_a_store_from_before_the_setting_is_a_demo_store_after_init() -> None:
    """Migration 0016 on an existing store records ``synthetic = true``: all stores before it were demo stores."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from taxvault.store.migrate import alembic_config, pending_heads
    from taxvault.synth.load import synthesize

    engine = make_engine()
    cfg = alembic_config(engine)
    for head in ScriptDirectory.from_config(cfg).get_heads():
        if head != "0016":
            command.upgrade(cfg, head)
    assert pending_heads(engine) == {"0016"} and not sa.inspect(engine).has_table("store_settings")
    synthesize(engine, 20, seed=3)  # a demo population, as ./dev up made
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 0 and "synthetic-only" in again.output, again.output
    assert _synthetic() and not pending_heads(engine)
    assert runner.invoke(app, ["init", "--real-data"]).exit_code == 1
