"""Columnar bulk loads: executemany on SQLite, COPY on PostgreSQL.

Bulk paths hand over whole columns (numpy arrays or lists) instead of one ORM
object per row. Values are converted here to exactly what SQLAlchemy itself
would store, so rows loaded in bulk read back through SQLAlchemy like any other:
dates as ISO text and booleans as 0/1 on SQLite, JSON as text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from taxvault.store.tables import applies_to

Column = Sequence[Any] | np.ndarray[Any, Any]
Columns = Mapping[str, Column]


class BulkLoadError(RuntimeError):
    """A bulk load was handed columns that do not fit its table."""


def insert_columns(conn: Connection, table: sa.Table, columns: Columns) -> int:
    """Insert the rows held in ``columns`` (name -> equal-length column); returns the count."""
    names = list(columns)
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise BulkLoadError(f"{table.name} has no column(s) {', '.join(unknown)}")
    lengths = {len(columns[n]) for n in names}
    if len(lengths) > 1:
        raise BulkLoadError(f"columns for {table.name} differ in length")
    n_rows = lengths.pop() if lengths else 0
    if n_rows == 0:
        return 0
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, names, columns)
    else:
        _executemany(conn, table, names, columns)
    return n_rows


_SQLITE_DIALECT = sqlite_dialect.dialect()
_PG_INDEX_BUILD_MEMORY = "256MB"


def _sqlite_column(col: Column, sa_type: sa.types.TypeEngine[Any]) -> list[Any]:
    """A column as SQLAlchemy itself would bind it on SQLite (so it reads back alike)."""
    if isinstance(col, np.ndarray):
        if np.issubdtype(col.dtype, np.datetime64):
            out: list[Any] = col.astype("datetime64[D]").astype(str).tolist()
            return [None if v == "NaT" else v for v in out]
        if col.dtype == np.bool_:
            col = col.astype(np.int8)
        as_list: list[Any] = col.tolist()
        return as_list
    values = list(col)
    if isinstance(sa_type, sa.JSON):  # JSON text passes through; objects are serialised
        return [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
    process = sa_type.bind_processor(_SQLITE_DIALECT)
    return [process(v) for v in values] if process else values


def _executemany(conn: Connection, table: sa.Table, names: list[str], columns: Columns) -> None:
    cols = [_sqlite_column(columns[n], table.c[n].type) for n in names]
    placeholders = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({placeholders})'  # noqa: S608
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.executemany(sql, zip(*cols, strict=True))  # rows streamed, never held as a list


def _arrow_column(col: Column, sa_type: sa.types.TypeEngine[Any]) -> pa.Array:
    if isinstance(sa_type, sa.LargeBinary):  # COPY's text form of bytea: \x and hex digits
        binary = col.tolist() if isinstance(col, np.ndarray) else col
        return pa.array([None if v is None else "\\x" + bytes(v).hex() for v in binary], pa.string())
    if isinstance(col, np.ndarray):
        if np.issubdtype(col.dtype, np.datetime64):
            return pa.array(col.astype("datetime64[D]"), type=pa.date32())
        return pa.array(col)
    values = list(col)
    if isinstance(sa_type, sa.JSON):
        values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
    return pa.array(values)


def _copy_postgres(conn: Connection, table: sa.Table, names: list[str], columns: Columns) -> None:
    arrow = pa.table({n: _arrow_column(columns[n], table.c[n].type) for n in names})
    buf = io.BytesIO()
    pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        copy_sql = f'COPY "{table.name}" ({", ".join(names)}) FROM STDIN WITH (FORMAT csv)'
        with cur.copy(copy_sql) as copy:
            view = buf.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])


def next_ids(conn: Connection, tables: Sequence[sa.Table]) -> dict[str, int]:
    """The next free integer id of each table (max + 1), for loads that assign ids."""
    out = {}
    for t in tables:
        current = conn.execute(sa.select(sa.func.max(t.c.id))).scalar_one()
        out[t.name] = int(current or 0) + 1
    return out


def reset_sequences(conn: Connection, tables: Sequence[sa.Table]) -> None:
    """After explicit-id loads on PostgreSQL, move each id sequence past the max id."""
    if conn.dialect.name != "postgresql":
        return
    for t in tables:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "  # noqa: S608
            f'COALESCE((SELECT MAX(id) FROM "{t.name}"), 0) + 1, false)'
        )


@contextmanager
def indexes_built_after(conn: Connection, tables: Sequence[sa.Table]) -> Iterator[None]:
    """Drop the tables' secondary indexes for a bulk load and build them afterwards.

    Building an index once from sorted data is many times faster than keeping it
    up to date through millions of random inserts. Unique indexes are rebuilt
    too, so a duplicate still fails the load (and the transaction rolls back).
    On PostgreSQL a partitioned table's index is dropped and built for every
    partition at once; indexes of the other store (``only_on``) are left alone.
    """
    dialect = conn.dialect.name
    dropped = [ix for t in tables for ix in t.indexes if applies_to(ix, dialect)]
    for ix in dropped:
        conn.execute(DropIndex(ix))
    yield
    if conn.dialect.name == "postgresql" and dropped:  # sort in memory, not in temporary files
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_PG_INDEX_BUILD_MEMORY}'")
    for ix in dropped:
        conn.execute(CreateIndex(ix))


@contextmanager
def foreign_keys_validated_after(conn: Connection, tables: Sequence[sa.Table]) -> Iterator[None]:
    """On PostgreSQL, drop the tables' foreign keys for a bulk load and add them back afterwards.

    A foreign key checks each inserted row with its own query (and a row lock on
    the parent); adding the constraint back validates all rows with one join, many
    times faster for a big load. Each constraint is restored exactly as the catalog
    held it (``pg_get_constraintdef``), so an orphaned row still fails the load
    and the caller's transaction rolls back. Locks: like dropping indexes, this
    holds the tables exclusively until the transaction ends, and blocks writes to
    the parent tables while the constraint is added back. No-op on other dialects
    (SQLite: :func:`sqlite_foreign_keys_checked_at_end`).
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    quote = conn.dialect.identifier_preparer.quote
    query = sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        # conparentid = 0: a partitioned table's own keys, not the clones PostgreSQL keeps per partition
        "WHERE contype = 'f' AND conrelid = CAST(:table AS regclass) AND conparentid = 0 ORDER BY conname"
    )
    dropped: list[tuple[str, str, str]] = []
    for t in tables:
        for name, definition in conn.execute(query, {"table": quote(t.name)}).all():
            dropped.append((quote(t.name), quote(str(name)), str(definition)))
    for table, name, _ in dropped:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    yield
    for table, name, definition in dropped:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


@contextmanager
def sqlite_foreign_keys_checked_at_end(conn: Connection) -> Iterator[None]:
    """On SQLite, check foreign keys once after the load rather than row by row.

    Must be entered before the connection's transaction begins (SQLite ignores
    the pragma inside one). Raises :class:`BulkLoadError` if any row is orphaned;
    the caller's transaction then rolls back.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()  # end SQLAlchemy's autobegun (empty) transaction so the caller can begin()
    try:
        yield
    finally:
        conn.rollback()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


def defer_foreign_keys(conn: Connection) -> None:
    """On SQLite, inside an open transaction: check foreign keys at COMMIT, not row by row.

    For a bulk load inside a unit of work that already holds the write lock (where
    ``PRAGMA foreign_keys`` can no longer change): rows may then arrive in any order
    (spouses naming each other, staff naming managers). SQLite resets it at the end of
    the transaction. Call :func:`assert_foreign_keys` before committing for a clear
    error. No-op on PostgreSQL (a statement's rows are checked at its end).
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")


def assert_foreign_keys(conn: Connection) -> None:
    """Raise :class:`BulkLoadError` when a row points at a missing parent (SQLite)."""
    if conn.dialect.name != "sqlite":
        return
    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(3)
    if bad:
        tables = sorted({str(row[0]) for row in bad})
        raise BulkLoadError(f"bulk load left rows without their parent in: {', '.join(tables)}")
