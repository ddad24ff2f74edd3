"""Create or upgrade the store with Alembic (``taxvault init``).

Each domain keeps its own branch of revisions (``branch_labels``) rooted at the
foundation revision, so domains evolve their tables independently; ``upgrade
heads`` applies every branch.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the store to the newest revision of every branch."""
    command.upgrade(alembic_config(engine), "heads")


def is_new_store(engine: Engine) -> bool:
    """True when no migration has run on the store yet (``taxvault init`` is creating it)."""
    with engine.connect() as conn:
        return not MigrationContext.configure(conn).get_current_heads()


def pending_heads(engine: Engine) -> set[str]:
    """Heads of the migration scripts the store has not reached yet (empty = current)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    # A revision another one depends on (depends_on) stays a head of the scripts but not of the
    # store; it is reached when it is an ancestor or a dependency of what the store has.
    reached = {r.revision for r in script.revision_map.iterate_revisions(current, "base") if r} if current else set()
    return set(script.get_heads()) - reached


def table_counts(engine: Engine, tables: list[sa.Table]) -> dict[str, int]:
    """Row counts per table, in the order given."""
    with engine.connect() as conn:
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()) for t in tables}
