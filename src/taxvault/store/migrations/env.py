"""Alembic environment: runs online against the engine taxvault hands it.

On SQLite, batch migrations rebuild a table (copy, drop, rename); dropping a table
that others reference fails while foreign keys are enforced, so they are switched
off for the migration (the pragma only takes effect outside a transaction) and
checked once at the end, as SQLite's documented table-rebuild procedure does.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from taxvault.store.registry import all_metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(connection=connection, target_metadata=all_metadata(), render_as_batch=True)
            context.run_migrations()
            if sqlite:
                orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(3)
                if orphans:
                    raise RuntimeError(f"migration left rows without their parent in {sorted({r[0] for r in orphans})}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
