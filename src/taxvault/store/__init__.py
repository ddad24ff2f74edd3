"""The store: engine, tables and migrations; SQLite embedded, PostgreSQL in production."""

from taxvault.store.engine import make_engine, transaction
from taxvault.store.tables import metadata

__all__ = ["make_engine", "metadata", "transaction"]
