"""The store on SQLite and on PostgreSQL: migrations match the tables, rows round-trip, rules hold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from taxvault.store import tables as t
from taxvault.store.bulk import BulkLoadError, insert_columns
from taxvault.store.migrate import pending_heads
from taxvault.store.partitions import schema_check_options
from taxvault.store.registry import all_metadata
from taxvault.store.tins import aad, protect_columns, protect_rows, tin_vault

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _source(conn: sa.Connection) -> int:
    return int(
        conn.execute(
            t.sources.insert().values(kind="synth", name="test", seed=1, created_at=NOW).returning(t.sources.c.id)
        ).scalar_one()
    )


def _entity(source_id: int, i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": i, "ref": f"e{i:020d}", "tin": f"9010{i:05d}", "tin_type": "SSN", "kind": "individual",
        "last_name": "O'Neil-Smith", "first_name": "Zoë", "middle_name": None, "business_name": None,
        "name_control": "ONEI", "address_line": "1 Main St Apt 4", "city": "St. Paul", "state": "MN",
        "zip": "55101", "birth_date": dt.date(1960, 2, 29), "death_date": None, "spouse_id": None,
        "household_id": 7, "is_employee": False, "is_restricted": True, "is_deceased": False,
        "ip_pin_hash": None, "source_id": source_id, "source_record": i,
    }  # fmt: skip
    row.update(over)
    return row


def _clear(conn: sa.Connection, row: sa.RowMapping) -> dict[str, object]:
    """A stored entity row as it was given: the protected TIN columns replaced by the decrypted TIN."""
    out = {k: v for k, v in row.items() if not k.startswith("tin_") or k == "tin_type"}
    out["tin"] = tin_vault(conn).decrypt(conn, row["tin_enc"], aad("entities", "tin", row["ref"]))
    assert row["tin_last4"] == out["tin"][-4:]
    return out


def test_schema_is_current_and_matches_the_tables(db_engine: Engine) -> None:
    assert not pending_heads(db_engine)
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=schema_check_options(conn.dialect.name))
        assert compare_metadata(context, all_metadata()) == []


def test_orm_free_round_trip(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        source = _source(conn)
        conn.execute(
            t.entities.insert(),
            protect_rows(conn, "entities", [_entity(source, 1), _entity(source, 2, spouse_id=1, tin_type="SSN")]),
        )
        conn.execute(
            t.information_returns.insert(),
            protect_rows(conn, "information_returns", [{
                "id": 1, "ref": "i1", "form": "1099-INT", "tax_year": 2024, "payer_tin": "001234567",
                "payer_tin_type": "EIN", "payee_tin": "901000001", "payee_tin_type": "SSN",
                "payer_id": None, "payee_id": 1, "payee_name_control": "ONEI",
                "income_cents": 9_999_999_999_99, "withholding_cents": 0, "boxes": {"1": 9_999_999_999_99},
                "source_id": source, "source_record": 1,
            }]),
        )  # fmt: skip
    with db_engine.connect() as conn:
        got = conn.execute(sa.select(t.entities).order_by(t.entities.c.id)).mappings().all()
        ir = conn.execute(sa.select(t.information_returns)).mappings().one()
        assert _clear(conn, got[0]) == _entity(source, 1)
        payee = tin_vault(conn).decrypt(conn, ir["payee_tin_enc"], aad("information_returns", "payee_tin", "i1"))
    assert payee == "901000001" and ir["payee_tin_last4"] == "0001"
    assert ir["payee_tin_hash"] == got[0]["tin_hash"]  # the join key agrees across tables
    assert got[1]["spouse_id"] == 1
    assert ir["boxes"] == {"1": 9_999_999_999_99} and ir["income_cents"] == 9_999_999_999_99


def test_bulk_load_reads_back_like_orm_rows(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        source = _source(conn)
        n = 50
        cols = {k: [v] * n for k, v in _entity(source, 0).items()}
        cols["id"] = np.arange(1, n + 1, dtype=np.int64)  # type: ignore[assignment]
        cols["ref"] = [f"e{i:020d}" for i in range(1, n + 1)]
        cols["tin"] = [f"9010{i:05d}" for i in range(1, n + 1)]
        cols["source_record"] = list(range(1, n + 1))
        cols["birth_date"] = np.full(n, np.datetime64("1960-02-29"))  # type: ignore[assignment]
        cols["is_deceased"] = np.zeros(n, dtype=bool)  # type: ignore[assignment]
        assert insert_columns(conn, t.entities, protect_columns(conn, "entities", cols)) == n
    with db_engine.connect() as conn:
        got = conn.execute(sa.select(t.entities).where(t.entities.c.id == 7)).mappings().one()
        assert _clear(conn, got) == _entity(source, 7)


def test_bulk_load_refuses_unknown_or_ragged_columns(db_engine: Engine) -> None:
    with db_engine.begin() as conn, pytest.raises(BulkLoadError):
        insert_columns(conn, t.entities, {"no_such_column": [1]})
    with db_engine.begin() as conn, pytest.raises(BulkLoadError):
        insert_columns(conn, t.entities, {"id": [1, 2], "ref": ["a"]})


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"tin_type": "XYZ"}, "unknown TIN type"),
        ({"kind": "alien"}, "unknown entity kind"),
        ({"ref": "e00000000000000000001"}, "duplicate ref"),
        ({"tin": "901000001"}, "duplicate TIN"),
        ({"spouse_id": 999}, "spouse that does not exist"),
    ],
)
def test_store_rules_refuse_bad_rows(db_engine: Engine, change: dict[str, object], why: str) -> None:
    with db_engine.begin() as conn:
        source = _source(conn)
        conn.execute(t.entities.insert(), protect_rows(conn, "entities", [_entity(source, 1)]))
    bad = _entity(source, 2, **change)
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.execute(t.entities.insert(), protect_rows(conn, "entities", [bad]))


def test_grant_rules_in_the_store(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(
            t.principals.insert(),
            [
                {"id": p, "kind": "contractor", "display_name": p, "roles": "engineer", "created_at": NOW}
                for p in ("a", "b")
            ],
        )
    base = {
        "id": 1, "ref": "g1", "principal_id": "a", "datasets": ["entities"], "fields": ["name"], "purpose": "p",
        "starts_at": NOW, "ends_at": NOW + dt.timedelta(days=30), "approver_id": "b", "state": "active",
        "created_at": NOW,
    }  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.execute(t.grants.insert(), [{**base, "approver_id": "a"}])  # self-approval
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.execute(t.grants.insert(), [{**base, "ends_at": NOW}])  # ends when it starts
    with db_engine.begin() as conn:
        conn.execute(t.grants.insert(), [base])
