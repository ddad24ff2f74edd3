"""tins at rest: keyed-hash lookup columns and encrypted TINs replace the clear TIN columns

Existing rows are converted in place (hash, ciphertext and last four computed from
the clear value, which is then dropped); this needs the TIN keys in the keys dir,
and creates them on a store that has none yet. See ``taxvault/store/tins.py``.

Revision ID: 0008
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("tins",)
depends_on: str | Sequence[str] | None = None

_BATCH = 20_000
_TABLES = {"entities": ("tin",), "information_returns": ("payer_tin", "payee_tin")}


def _hash_cols(name: str) -> list[sa.Column[bytes] | sa.Column[str]]:
    return [
        sa.Column(f"{name}_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column(f"{name}_enc", sa.LargeBinary(length=64), nullable=True),
        sa.Column(f"{name}_last4", sa.String(length=4), nullable=True),
    ]


def _convert(conn: sa.Connection, table: str, names: Sequence[str]) -> None:
    """Fill the protected columns from the clear ones, a batch of rows at a time."""
    from taxvault.store.tins import aad, tin_vault

    cols: list[sa.ColumnClause[Any]] = [sa.column("id"), sa.column("ref"), *(sa.column(n) for n in names)]
    tbl = sa.table(table, *cols, *(sa.column(f"{n}_{s}") for n in names for s in ("hash", "enc", "last4")))
    last = -1
    while True:
        rows = conn.execute(sa.select(*cols).where(cols[0] > last).order_by(cols[0]).limit(_BATCH)).all()
        if not rows:
            return
        vault = tin_vault(conn)
        updates: list[dict[str, object]] = [{"b_id": r[0]} for r in rows]
        for k, name in enumerate(names):
            tins = [str(r[2 + k]) for r in rows]
            hashes = vault.lookup_hashes(tins)
            encs = vault.encrypt_many(conn, tins, [aad(table, name, str(r[1])) for r in rows])
            for u, h, e, t in zip(updates, hashes, encs, tins, strict=True):
                u |= {f"b_{name}_hash": h, f"b_{name}_enc": e, f"b_{name}_last4": t[-4:]}
        values: dict[str, Any] = {
            f"{n}_{s}": sa.bindparam(f"b_{n}_{s}") for n in names for s in ("hash", "enc", "last4")
        }
        conn.execute(tbl.update().where(tbl.c.id == sa.bindparam("b_id")).values(values), updates)
        last = int(rows[-1][0])


def _restore(conn: sa.Connection, table: str, names: Sequence[str]) -> None:
    """Downgrade: decrypt the protected columns back into clear ones."""
    from taxvault.store.tins import aad, tin_vault

    cols: list[sa.ColumnClause[Any]] = [sa.column("id"), sa.column("ref"), *(sa.column(f"{n}_enc") for n in names)]
    tbl = sa.table(table, *cols, *(sa.column(n) for n in names))
    last = -1
    while True:
        rows = conn.execute(sa.select(*cols).where(cols[0] > last).order_by(cols[0]).limit(_BATCH)).all()
        if not rows:
            return
        vault = tin_vault(conn)
        updates: list[dict[str, object]] = [{"b_id": r[0]} for r in rows]
        for k, name in enumerate(names):
            clear = vault.decrypt_many(conn, [r[2 + k] for r in rows], [aad(table, name, str(r[1])) for r in rows])
            for u, t in zip(updates, clear, strict=True):
                u[f"b_{name}"] = t
        conn.execute(
            tbl.update().where(tbl.c.id == sa.bindparam("b_id")).values({n: sa.bindparam(f"b_{n}") for n in names}),
            updates,
        )
        last = int(rows[-1][0])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # freed pages (the clear TINs) are zeroed, not left in the file
        op.execute("PRAGMA secure_delete=ON")
    op.create_table(
        "tin_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(length=64), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("uses", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("purpose IN ('lookup', 'data')", name=op.f("ck_tin_keys_purpose")),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_tin_keys")),
    )
    for table, names in _TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in names:
                for col in _hash_cols(name):
                    batch_op.add_column(col)
        _convert(op.get_bind(), table, names)

    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entities_tin_tin_type"))
        batch_op.drop_column("tin")
        for suffix in ("hash", "enc", "last4"):
            batch_op.alter_column(f"tin_{suffix}", nullable=False)
        batch_op.create_index(batch_op.f("ix_entities_tin_hash_tin_type"), ["tin_hash", "tin_type"], unique=True)
    with op.batch_alter_table("information_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_information_returns_payee_tin_tax_year"))
        batch_op.drop_index(batch_op.f("ix_information_returns_payer_tin_tax_year"))
        for name in ("payer_tin", "payee_tin"):
            batch_op.drop_column(name)
            for suffix in ("hash", "enc", "last4"):
                batch_op.alter_column(f"{name}_{suffix}", nullable=False)
        batch_op.create_index(
            batch_op.f("ix_information_returns_payee_tin_hash_tax_year"), ["payee_tin_hash", "tax_year"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_information_returns_payer_tin_hash_tax_year"), ["payer_tin_hash", "tax_year"], unique=False
        )


def downgrade() -> None:
    for table, names in _TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in names:
                batch_op.add_column(sa.Column(name, sa.String(length=9), nullable=True))
        _restore(op.get_bind(), table, names)
    with op.batch_alter_table("information_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_information_returns_payer_tin_hash_tax_year"))
        batch_op.drop_index(batch_op.f("ix_information_returns_payee_tin_hash_tax_year"))
        for name in ("payer_tin", "payee_tin"):
            for suffix in ("hash", "enc", "last4"):
                batch_op.drop_column(f"{name}_{suffix}")
            batch_op.alter_column(name, nullable=False)
        batch_op.create_index(
            batch_op.f("ix_information_returns_payer_tin_tax_year"), ["payer_tin", "tax_year"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_information_returns_payee_tin_tax_year"), ["payee_tin", "tax_year"], unique=False
        )
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entities_tin_hash_tin_type"))
        for suffix in ("hash", "enc", "last4"):
            batch_op.drop_column(f"tin_{suffix}")
        batch_op.alter_column("tin", nullable=False)
        batch_op.create_index(batch_op.f("ix_entities_tin_tin_type"), ["tin", "tin_type"], unique=True)
    op.drop_table("tin_keys")
