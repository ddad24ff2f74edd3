"""Migration 0015 converts tables that hold rows, both ways, on PostgreSQL (SQLite: nothing to do)."""

# ruff: noqa: S608  (SQL built from this file's own literals)

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from taxvault.store.migrate import alembic_config, upgrade
from taxvault.store.partitions import PARTITIONED, is_partition

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
YEARS = (2010, 2024, 2040)  # before the yearly partitions, in one, after them (the default)


def _fill(engine: Engine) -> dict[str, int]:
    with engine.begin() as conn:
        x = conn.exec_driver_sql
        x("INSERT INTO sources (id, kind, name, created_at) VALUES (1, 'synth', 'migration', now())")
        for i in (1, 2):
            x(
                "INSERT INTO entities (id, ref, tin_hash, tin_enc, tin_last4, tin_type, kind, name_control, "
                "address_line, city, state, zip, source_id, source_record) VALUES "
                f"({i}, 'e{i}', decode(repeat('0{i}', 32), 'hex'), '\\x00', '0000', 'SSN', 'individual', 'X', "
                f"'1 Main', 'Town', 'IL', '62701', 1, {i})"
            )
            x(
                "INSERT INTO tax_modules (id, ref, entity_id, mft, tax_period, status, source_id, source_record) "
                f"VALUES ({i}, 'm{i}', {i}, 30, 202412, 'open', 1, {i})"
            )
        for i, (module, reverses) in enumerate([(1, None), (1, 1), (2, None)], start=1):
            x(
                "INSERT INTO transactions (id, module_id, tc, amount_cents, posted_date, cycle, dln, "
                "reverses_id, posted_by, source_id, source_record) VALUES "
                f"({i}, {module}, 150, 100, '2025-04-15', 202516, 'd', {reverses or 'NULL'}, 't', 1, {i})"
            )
        for i, year in enumerate(YEARS, start=1):
            x(
                "INSERT INTO information_returns (id, ref, form, tax_year, payer_tin_hash, payer_tin_enc, "
                "payer_tin_last4, payer_tin_type, payee_tin_hash, payee_tin_enc, payee_tin_last4, payee_tin_type, "
                "payee_id, boxes, source_id, source_record) VALUES "
                f"({i}, 'i{i}', 'W-2', {year}, '\\x01', '\\x01', '0000', 'EIN', '\\x02', '\\x02', '0000', 'SSN', "
                f"1, '{{}}', 1, {i})"
            )
        for leaf in range(5):
            x(f"INSERT INTO audit_events (leaf_index, event) VALUES ({leaf}, '\\x7b7d')")
            x(f"INSERT INTO audit_subjects (subject, leaf_index) VALUES ('e{leaf % 2 + 1}', {leaf})")
        return {t: int(x(f"SELECT count(*) FROM {t}").scalar_one()) for t in PARTITIONED}


def _partitioned(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        ).all()
    return {str(r[0]) for r in rows}


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()) for t in PARTITIONED}


def _refused(engine: Engine, sql: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    except sa.exc.DBAPIError:
        return True
    return False


@pytest.mark.postgres
@pytest.mark.parametrize("db_engine", ["postgresql"], indirect=True)
def test_rows_survive_both_ways_and_land_in_their_partitions(db_engine: Engine) -> None:
    filled = _fill(db_engine)
    with db_engine.begin() as conn:
        conn.exec_driver_sql("SELECT setval('transactions_id_seq', 41)")
    assert _partitioned(db_engine) == set(PARTITIONED)

    command.downgrade(alembic_config(db_engine), "pg_partitions@-1")
    assert _partitioned(db_engine) == set()
    assert _counts(db_engine) == filled
    assert not any(is_partition(n) for n in sa.inspect(db_engine).get_table_names())
    # plain again: a reversal may name any transaction, and the ref alone is unique
    assert not _refused(db_engine, "UPDATE transactions SET reverses_id = 3 WHERE id = 2")
    assert _refused(db_engine, "UPDATE information_returns SET ref = 'i1' WHERE id = 2")
    assert _refused(db_engine, "DELETE FROM audit_events WHERE leaf_index = 0")

    # A reversal across modules (never made by the posting engine) stops the upgrade, which changes nothing.
    with pytest.raises(sa.exc.IntegrityError, match="fk_transactions_reverses_id_transactions"):
        upgrade(db_engine)
    assert _partitioned(db_engine) == set()
    assert _counts(db_engine) == filled
    with db_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE transactions SET reverses_id = 1 WHERE id = 2")

    upgrade(db_engine)  # from plain tables holding rows
    assert _partitioned(db_engine) == set(PARTITIONED)
    assert _counts(db_engine) == filled
    with db_engine.connect() as conn:
        ir = conn.exec_driver_sql("SELECT tax_year, tableoid::regclass::text FROM information_returns").all()
        where = {int(year): str(part) for year, part in ir}
        leaves = {r[0] for r in conn.exec_driver_sql("SELECT tableoid::regclass::text FROM audit_events")}
        modules = conn.exec_driver_sql("SELECT count(DISTINCT tableoid) FROM transactions WHERE module_id = 1")
        assert modules.scalar_one() == 1
    assert where == {
        2010: "information_returns_old",
        2024: "information_returns_y2024",
        2040: "information_returns_default",
    }
    assert leaves == {"audit_events_p0000"}
    # partitioned: a reversal stays in its module, the log stays append-only, the id sequence goes on
    assert _refused(db_engine, "UPDATE transactions SET reverses_id = 3 WHERE id = 2")
    assert _refused(db_engine, "DELETE FROM audit_events WHERE leaf_index = 0")
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_get_serial_sequence('transactions', 'id')").scalar_one() == (
            "public.transactions_id_seq"
        )
        assert conn.exec_driver_sql("SELECT nextval('transactions_id_seq')").scalar_one() == 42
