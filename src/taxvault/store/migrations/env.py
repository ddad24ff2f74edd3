"""Alembic environment: runs online against the engine taxvault hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from taxvault.store.registry import all_metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=all_metadata(), render_as_batch=True)
    context.run_migrations()
