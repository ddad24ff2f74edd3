"""Every look-up path reads an index, never a whole big table; on PostgreSQL, one partition when it names the key.

The statements are the real ones: the service functions run and their SQL is captured
(SQLAlchemy's ``before_cursor_execute``), then explained with the same parameters. The
store holds enough rows (a few hundred thousand, analysed) that the planner would pick a
sequential scan without the index; the control case shows it does.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from taxvault.audit.storage import LogStore
from taxvault.audit.subject_index import events_about
from taxvault.audit.tables import audit_events, audit_subjects
from taxvault.ledger.posting import load_posted
from taxvault.notices.service import notice_list
from taxvault.oversight.tables import oversight_alerts
from taxvault.records.service import entity_ref_by_tin, information_return_list, transcript
from taxvault.store import tables as t
from taxvault.store.bulk import foreign_keys_validated_after, indexes_built_after, insert_columns
from taxvault.store.partitions import (
    PARTITIONED,
    PartitionKeeper,
    ensure_audit_partitions,
    ensure_year_partitions,
    partition_check_seconds,
)
from taxvault.store.tins import protect_columns

N_ENTITIES = 10_000
TX_PER_MODULE = 5
N_LEAVES = 60_000
YEARS = (2022, 2023, 2024)
BIG = {"entities", "tax_modules", "transactions", "information_returns", "notices", "audit_events", "audit_subjects"}
BIG |= {"oversight_alerts"}
NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def _load(conn: Connection, n: int = N_ENTITIES) -> None:
    """A small agency: 10k taxpayers, a module each, 50k transactions, 30k information returns over three
    years, a notice per second module, 60k audit events each about one taxpayer, 3k alerts."""
    rng = np.random.default_rng(16)
    source = conn.execute(
        t.sources.insert().values(kind="synth", name="plans", seed=16, created_at=NOW).returning(t.sources.c.id)
    ).scalar_one()
    ids = np.arange(1, n + 1)
    src = np.full(n, source)
    insert_columns(conn, t.entities, {
        "id": ids, "ref": [f"e{i:031d}" for i in ids], "tin_hash": [rng.bytes(32) for _ in ids],
        "tin_enc": [rng.bytes(40) for _ in ids], "tin_last4": ["0000"] * n, "tin_type": ["SSN"] * n,
        "kind": ["individual"] * n, "name_control": ["PLAN"] * n, "address_line": [f"{i} Main St" for i in ids],
        "city": ["Springfield"] * n, "state": ["IL"] * n, "zip": ["62701"] * n,
        "source_id": src, "source_record": ids,
    })  # fmt: skip
    insert_columns(conn, t.tax_modules, {
        "id": ids, "ref": [f"m{i:031d}" for i in ids], "entity_id": ids, "mft": np.full(n, 30),
        "tax_period": np.full(n, 202412), "status": ["open"] * n, "source_id": src, "source_record": ids,
    })  # fmt: skip
    k = n * TX_PER_MODULE
    tx_ids = np.arange(1, k + 1)
    insert_columns(conn, t.transactions, {
        "id": tx_ids, "module_id": np.repeat(ids, TX_PER_MODULE), "tc": np.full(k, 150),
        "amount_cents": rng.integers(-10_000, 10_000, k), "posted_date": np.full(k, np.datetime64("2025-04-15")),
        "cycle": np.full(k, 202516), "dln": ["29211105012345"] * k, "posted_by": ["plans"] * k,
        "reverses_id": [2 - 1 if i == 2 else None for i in tx_ids.tolist()],
        "source_id": np.full(k, source), "source_record": tx_ids,
    })  # fmt: skip
    m = n * len(YEARS)
    ir_ids = np.arange(1, m + 1)
    insert_columns(conn, t.information_returns, protect_columns(conn, "information_returns", {
        "id": ir_ids, "ref": [f"i{i:031d}" for i in ir_ids], "form": ["W-2"] * m,
        "tax_year": np.repeat(np.array(YEARS), n), "payer_tin": [f"{i % 1000:09d}" for i in ir_ids],
        "payer_tin_type": ["EIN"] * m, "payee_tin": [f"9{i:08d}" for i in ir_ids], "payee_tin_type": ["SSN"] * m,
        "payee_id": np.tile(ids, len(YEARS)), "income_cents": rng.integers(0, 10**7, m),
        "withholding_cents": np.zeros(m, dtype=np.int64), "boxes": ['{"1": 100}'] * m,
        "source_id": np.full(m, source), "source_record": ir_ids,
    }))  # fmt: skip
    half = ids[::2]
    insert_columns(conn, t.notices, {
        "id": np.arange(1, len(half) + 1), "ref": [f"n{i:031d}" for i in half], "module_id": half,
        "notice_type": ["CP14"] * len(half), "issued_date": np.full(len(half), np.datetime64("2025-06-01")),
        "source_id": np.full(len(half), source), "source_record": half,
    })  # fmt: skip
    n_leaves = N_LEAVES * n // N_ENTITIES
    leaves = np.arange(n_leaves)
    subjects = rng.integers(1, n + 1, n_leaves)
    insert_columns(conn, audit_events, {"leaf_index": leaves, "event": [b'{"v":2}'] * n_leaves})
    insert_columns(conn, audit_subjects, {"subject": [f"e{s:031d}" for s in subjects], "leaf_index": leaves})
    a = 3_000 * n // N_ENTITIES
    insert_columns(conn, oversight_alerts, {
        "id": np.arange(1, a + 1), "ref": [f"a{i:031d}" for i in range(a)], "rule": ["burst"] * a,
        "severity": ["high"] * a, "state": ["open" if i % 50 == 0 else "dismissed" for i in range(a)],
        "principal_id": [f"emp-{i % 400}" for i in range(a)], "summary": ["x"] * a, "leaves": ["[1]"] * a,
        "dedupe": [f"d{i}" for i in range(a)], "created_at": [NOW - dt.timedelta(minutes=i) for i in range(a)],
        "updated_at": [NOW] * a,
    })  # fmt: skip
    conn.exec_driver_sql("ANALYZE")  # planner statistics, as autovacuum would have them


@pytest.fixture
def loaded(db_engine: Engine) -> Engine:
    with db_engine.begin() as conn:
        _load(conn)
    return db_engine


Statement = tuple[str, Any]


@pytest.fixture
def captured(loaded: Engine) -> Callable[[Callable[[Connection], object]], list[Statement]]:
    """Run a look-up and return the statements it sent (SELECTs only)."""

    def run(lookup: Callable[[Connection], object]) -> list[Statement]:
        seen: list[Statement] = []

        def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append((statement, params))

        event.listen(loaded, "before_cursor_execute", capture)
        try:
            with loaded.connect() as conn:
                lookup(conn)
        finally:
            event.remove(loaded, "before_cursor_execute", capture)
        assert seen, "the look-up sent no SELECT"
        return seen

    return run


def _pg_scans(conn: Connection, statement: Statement) -> list[tuple[str, str]]:
    """(node type, relation) of every scan in the plan."""
    sql, params = statement
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    out: list[tuple[str, str]] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            out.append((str(node["Node Type"]), str(node["Relation Name"])))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return out


def _sqlite_scans(conn: Connection, statement: Statement) -> list[tuple[str, str]]:
    """("SCAN" or "SEARCH", table) of every table access in SQLite's query plan."""
    sql, params = statement
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    out = []
    for row in rows:
        words = str(row[-1]).split()
        if words and words[0] in ("SCAN", "SEARCH"):
            out.append((words[0], words[1]))
    return out


def _table_of(relation: str) -> str:
    for parent in PARTITIONED:
        if relation.startswith(parent + "_"):
            return parent
    return relation


def _scans(engine: Engine, statements: list[Statement]) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return [s for st in statements for s in _pg_scans(conn, st)]
        return [s for st in statements for s in _sqlite_scans(conn, st)]


def _sizes(engine: Engine) -> dict[str, float]:
    """Rows per relation as the planner knows them (PostgreSQL); SQLite: none known, every table counts."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'").all()
    return {str(name): float(n) for name, n in rows}


def _full_scans(scans: list[tuple[str, str]], sizes: dict[str, float]) -> list[tuple[str, str]]:
    """Whole-table scans of a big table (an empty partition, read in one page, does not count)."""
    return [
        (kind, rel)
        for kind, rel in scans
        if kind in ("Seq Scan", "SCAN") and _table_of(rel) in BIG and sizes.get(rel, 1e9) >= 1_000
    ]


def _partitions_read(scans: list[tuple[str, str]], table: str) -> set[str]:
    return {rel for _, rel in scans if rel != table and _table_of(rel) == table}


MODULE = 4_321
ENTITY = 777
SUBJECT = f"e{ENTITY:031d}"


def _paths() -> dict[str, Callable[[Connection], object]]:
    ir = t.information_returns.c
    a = oversight_alerts.c
    return {
        "TIN look-up by HMAC": lambda c: entity_ref_by_tin(c, "123456789", "SSN"),
        "module transcript": lambda c: transcript(c, MODULE),
        "posting reads a module": lambda c: load_posted(c, MODULE),
        "notices of a module": lambda c: notice_list(c, MODULE),
        "information returns of a payee in a year": lambda c: information_return_list(
            c, ENTITY, tax_year=2024, form=None, limit=50, offset=0
        ),
        "information returns of a payee": lambda c: information_return_list(
            c, ENTITY, tax_year=None, form=None, limit=50, offset=0
        ),
        "matching: a payee TIN in a year": lambda c: c.execute(
            sa.select(ir.id).where(ir.payee_tin_hash == b"\1" * 32, ir.tax_year == 2023)
        ).all(),
        "audit event by leaf": lambda c: LogStore.event(c, 54_321),
        "access report by subject": lambda c: events_about(c, SUBJECT, limit=50),
        "open alerts, newest first": lambda c: c.execute(
            sa.select(oversight_alerts).where(a.state == "open").order_by(a.created_at.desc(), a.id.desc()).limit(50)
        ).all(),
        "alerts about an employee": lambda c: c.execute(
            sa.select(oversight_alerts.c.ref).where(a.principal_id == "emp-7")
        ).all(),
    }


@pytest.mark.slow
def test_lookup_paths_read_indexes_and_one_partition(
    loaded: Engine, captured: Callable[[Callable[[Connection], object]], list[Statement]]
) -> None:
    """No look-up scans a big table (both stores); on PostgreSQL, one partition when it names the key,
    and the control: without its index the same query does scan (so the data is big enough to tell)."""
    paths = _paths()
    scans = {name: _scans(loaded, captured(lookup)) for name, lookup in paths.items()}
    sizes = _sizes(loaded)
    bad = {name: _full_scans(s, sizes) for name, s in scans.items() if _full_scans(s, sizes)}
    assert bad == {}
    if loaded.dialect.name != "postgresql":
        return
    assert len(_partitions_read(scans["module transcript"], "transactions")) == 1
    assert len(_partitions_read(scans["posting reads a module"], "transactions")) == 1
    year = _partitions_read(scans["information returns of a payee in a year"], "information_returns")
    assert year == {"information_returns_y2024"}
    every_year = _partitions_read(scans["information returns of a payee"], "information_returns")
    assert {f"information_returns_y{y}" for y in YEARS} <= every_year
    assert _partitions_read(scans["matching: a payee TIN in a year"], "information_returns") == {
        "information_returns_y2023"
    }
    assert _partitions_read(scans["audit event by leaf"], "audit_events") == {"audit_events_p0000"}
    assert len(_partitions_read(scans["access report by subject"], "audit_subjects")) == 1
    assert not _full_scans(scans["module transcript"], sizes)
    # The control, in a transaction rolled back: the transcript's query without the module index.
    statements = captured(paths["module transcript"])
    with loaded.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE transactions DROP CONSTRAINT fk_transactions_reverses_id_transactions")
        conn.exec_driver_sql("ALTER TABLE transactions DROP CONSTRAINT pk_transactions")
        conn.exec_driver_sql("DROP INDEX ix_transactions_module_id_posted_date")
        without = [s for st in statements for s in _pg_scans(conn, st)]
        conn.rollback()
    assert _full_scans(without, sizes), without


def test_range_partitions_are_made_ahead(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        made = ensure_year_partitions(conn, [2035, 2024, 2010])
        again = ensure_year_partitions(conn, [2035])
        leaves = ensure_audit_partitions(conn, ahead=2)  # the migration made the first three
        more = ensure_audit_partitions(conn, ahead=4)
    if db_engine.dialect.name == "postgresql":
        assert made == ["information_returns_y2035"] and again == []  # 2024 exists, 2010 is in _old
        assert leaves == [] and more == ["audit_events_p0003", "audit_events_p0004"]
    else:
        assert made == again == leaves == more == []


def _keys_and_indexes(conn: Connection) -> tuple[list[tuple[str, str]], list[str]]:
    if conn.dialect.name != "postgresql":
        rows = conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name").all()
        return [], [str(r[0]) for r in rows]
    keys = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 "
        "AND conrelid IN ('transactions'::regclass, 'information_returns'::regclass) ORDER BY conname"
    ).all()
    indexes = conn.exec_driver_sql("SELECT indexname FROM pg_indexes ORDER BY indexname").all()
    return [(str(n), str(d)) for n, d in keys], [str(r[0]) for r in indexes]


def test_bulk_load_into_partitioned_tables_restores_keys_and_indexes(db_engine: Engine) -> None:
    """The big-load path of ingest and synth (keys dropped, indexes built after) on the partitioned tables."""
    big = [t.transactions, t.information_returns]
    with db_engine.begin() as conn:
        before = _keys_and_indexes(conn)
        with foreign_keys_validated_after(conn, big), indexes_built_after(conn, big):
            _load(conn, 500)  # parents, children and a reversal all land in one go
        after = _keys_and_indexes(conn)
    assert after == before
    if db_engine.dialect.name == "postgresql":  # the keys came back validated: an orphan still fails
        with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
            conn.exec_driver_sql("UPDATE transactions SET reverses_id = 999999 WHERE id = 1")


def test_the_server_keeps_audit_partitions_ahead(db_engine: Engine) -> None:
    """serve's keeper makes the partitions the log will need next (PostgreSQL); on SQLite it never starts."""
    keeper = PartitionKeeper(db_engine, every_seconds=3600, ahead=3).start()
    try:
        deadline = time.monotonic() + 30
        while db_engine.dialect.name == "postgresql" and not keeper.made and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.stop()
    if db_engine.dialect.name == "postgresql":
        assert keeper.made == ["audit_events_p0003"] and keeper.failures == 0
        with db_engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT to_regclass('audit_events_p0003')").scalar_one() is not None
    else:
        assert keeper.made == [] and keeper.tick() == []


@pytest.mark.parametrize(("raw", "ok"), [("0", 0.0), ("90", 90.0), ("-1", None), ("hourly", None)])
def test_partition_check_setting(monkeypatch: pytest.MonkeyPatch, raw: str, ok: float | None) -> None:
    monkeypatch.setenv("TAXVAULT_PARTITION_CHECK_SECONDS", raw)
    if ok is None:
        with pytest.raises(ValueError, match="TAXVAULT_PARTITION_CHECK_SECONDS"):
            partition_check_seconds()
    else:
        assert partition_check_seconds() == ok
