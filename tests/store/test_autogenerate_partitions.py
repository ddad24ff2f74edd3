"""Alembic autogenerate through env.py on a migrated store: no difference, partitions left out.

Why: migration 0015 splits the big tables into partitions on PostgreSQL; they are not in the
metadata, so an unfiltered autogenerate proposes dropping every one (and their keys).
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from taxvault.store.migrate import alembic_config
from taxvault.store.partitions import PARTITIONED, is_partition, schema_check_options
from taxvault.store.registry import all_metadata


def _tables(diff: list[Any]) -> set[str]:
    """Every table a diff entry names (its own, or the table of its index or key)."""
    out: set[str] = set()
    for entry in diff:
        for item in entry if isinstance(entry, list) else [entry]:
            for part in item[1:]:
                table = part if isinstance(part, sa.Table) else getattr(part, "table", None)
                if isinstance(table, sa.Table):
                    out.add(table.name)
                elif isinstance(part, str):
                    out.add(part)
                for fk in getattr(part, "elements", ()):
                    out.add(fk.column.table.name)
    return out


def test_autogenerate_through_env_finds_nothing(db_engine: Engine) -> None:
    """``alembic check`` runs env.py's autogenerate: it raises on any difference."""
    command.check(alembic_config(db_engine))


def test_the_filter_drops_partition_names_and_keeps_real_tables() -> None:
    include_name = schema_check_options("postgresql")["include_name"]
    for name in ("transactions_h00", "transactions_h15", "audit_events_p0001", "audit_events_default",
                 "information_returns_y2024", "information_returns_old", "audit_subjects_h07"):  # fmt: skip
        assert not include_name(name, "table", {"schema_name": None}), name
    for name in (*PARTITIONED, "entities", "tax_modules", "audit_sths", "transactions_archive", "audit_events_p1"):
        assert include_name(name, "table", {"schema_name": None}), name


@pytest.mark.postgres
def test_unfiltered_autogenerate_would_drop_the_partitions(db_engine: Engine) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")
    tables_only = "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r'"
    with db_engine.connect() as conn:
        partitions = {r[0] for r in conn.exec_driver_sql(tables_only)}
        assert partitions and all(is_partition(p) for p in partitions)  # every partition is recognised
        bare = MigrationContext.configure(conn, opts={"target_metadata": all_metadata()})
        assert _tables(list(compare_metadata(bare, all_metadata()))) >= partitions  # each one a table to drop
        kept = MigrationContext.configure(conn, opts=schema_check_options("postgresql"))
        assert list(compare_metadata(kept, all_metadata())) == []
