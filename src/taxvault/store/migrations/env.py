"""Alembic environment: runs online against the engine taxvault hands it.

On SQLite, batch migrations rebuild a table (copy, drop, rename); dropping a table
that others reference fails while foreign keys are enforced, so they are switched
off for the migration (the pragma only takes effect outside a transaction) and
checked once at the end, as SQLite's documented table-rebuild procedure does.

Autogenerate (``alembic revision --autogenerate``, ``alembic check``) compares with the
options the schema test uses (:func:`taxvault.store.partitions.schema_check_options`):
PostgreSQL's partitions (migration 0015, e.g. ``transactions_h03``, ``audit_events_p0001``)
are storage of a declared table, not tables to drop, and keys or indexes declared for the
other store only are left out; so a migrated store of either kind shows no difference.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from taxvault.store.partitions import schema_check_options
from taxvault.store.registry import all_metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        options = schema_check_options(connection.dialect.name)
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=all_metadata(),
                render_as_batch=True,
                include_name=options["include_name"],
                include_object=options["include_object"],
            )
            context.run_migrations()
            if sqlite:
                orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(3)
                if orphans:
                    raise RuntimeError(f"migration left rows without their parent in {sorted({r[0] for r in orphans})}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
