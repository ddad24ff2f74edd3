"""pg partitions: the big tables partitioned on PostgreSQL (SQLite unchanged)

- ``transactions``: HASH (module_id), 16 partitions. Every read names a module (a
  transcript, a posting's check-then-insert), so a module's rows sit in one partition.
  The primary key becomes (id, module_id); a reversal names its original by
  (reverses_id, module_id), which the posting engine already guarantees (a reversal
  reverses a transaction of its own module; a store holding one that does not stops
  the upgrade, which then changes nothing).
- ``information_returns``: RANGE (tax_year), a partition per year 2015-2034, one
  before, a default after. Matching, transcripts and the payee/payer look-ups name the
  year; an old year is detached whole when it leaves retention. Primary key (id,
  tax_year); ``ref`` is unique with its year (a ref is 128 random bits: global
  uniqueness is by construction, the index serves the look-up).
- ``audit_events``: RANGE (leaf_index), 2^24 leaves per partition (audit appends go to
  the newest one; proofs and the verifier read by leaf range). Partitions are made
  ahead of the log (:func:`taxvault.store.partitions.ensure_audit_partitions`); a
  default partition catches anything beyond them, so an append never fails for want
  of one. The append-only trigger is on the parent (PostgreSQL 13+ clones it).
- ``audit_subjects``: HASH (subject), 16 partitions: the access report and oversight
  read one taxpayer's leaves.

Existing rows move over in the migration's transaction: the old table is renamed,
a partitioned one created like it, rows copied, the old table dropped, then indexes,
keys and triggers built once on the full partitions (PostgreSQL's ``CREATE INDEX`` on a
partitioned table builds each partition's). The id sequences are kept, not reset.
Reversible: ``downgrade`` converts back the same way (data kept).

Revision ID: 0015
Revises: 0001
Depends on: 0009 (audit_subjects; itself after 0002, audit_events), 0008 (information_returns' protected TIN columns)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("pg_partitions",)
depends_on: str | Sequence[str] | None = ("0008", "0009")

AUDIT_PARTITION_LEAVES = 1 << 24
"""Leaves per audit_events partition (16.8M: about two days at the agency's estimated volume)."""
AUDIT_PARTITIONS_AHEAD = 2
HASH_PARTITIONS = 16
FIRST_YEAR, LAST_YEAR = 2015, 2034


class Index(NamedTuple):
    name: str
    columns: str
    unique: bool = False


class Shape(NamedTuple):
    """One table's keys and indexes, as plain or as partitioned."""

    pk: str
    indexes: tuple[Index, ...]
    fks: tuple[tuple[str, str], ...] = ()  # (name, definition)


class Spec(NamedTuple):
    table: str
    partition_by: str
    plain: Shape
    partitioned: Shape
    sequence: str | None = None  # the id sequence the table owns
    triggers: tuple[str, ...] = ()  # CREATE TRIGGER statements (on either shape)


_TX_INDEXES = (
    Index("ix_transactions_module_id_posted_date", "module_id, posted_date"),
    Index("ix_transactions_reverses_id", "reverses_id"),
)
_TX_FKS = (
    ("fk_transactions_module_id_tax_modules", "FOREIGN KEY (module_id) REFERENCES tax_modules (id)"),
    ("fk_transactions_source_id_sources", "FOREIGN KEY (source_id) REFERENCES sources (id)"),
)
_IR_INDEXES = (
    Index("ix_information_returns_payee_id_tax_year", "payee_id, tax_year"),
    Index("ix_information_returns_payee_tin_hash_tax_year", "payee_tin_hash, tax_year"),
    Index("ix_information_returns_payer_id", "payer_id"),
    Index("ix_information_returns_payer_tin_hash_tax_year", "payer_tin_hash, tax_year"),
)
_IR_FKS = (
    ("fk_information_returns_payee_id_entities", "FOREIGN KEY (payee_id) REFERENCES entities (id)"),
    ("fk_information_returns_payer_id_entities", "FOREIGN KEY (payer_id) REFERENCES entities (id)"),
    ("fk_information_returns_source_id_sources", "FOREIGN KEY (source_id) REFERENCES sources (id)"),
)
_AUDIT_TRIGGER = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
)

SPECS = (
    Spec(
        "transactions",
        "HASH (module_id)",
        plain=Shape(
            "id",
            _TX_INDEXES,
            (
                *_TX_FKS,
                (
                    "fk_transactions_reverses_id_transactions",
                    "FOREIGN KEY (reverses_id) REFERENCES transactions (id)",
                ),
            ),
        ),
        partitioned=Shape(
            "id, module_id",
            _TX_INDEXES,
            (
                *_TX_FKS,
                (
                    "fk_transactions_reverses_id_transactions",
                    "FOREIGN KEY (reverses_id, module_id) REFERENCES transactions (id, module_id)",
                ),
            ),
        ),
        sequence="transactions_id_seq",
    ),
    Spec(
        "information_returns",
        "RANGE (tax_year)",
        plain=Shape("id", (*_IR_INDEXES, Index("ix_information_returns_ref", "ref", unique=True)), _IR_FKS),
        partitioned=Shape(
            "id, tax_year",
            (*_IR_INDEXES, Index("ix_information_returns_ref_tax_year", "ref, tax_year", unique=True)),
            _IR_FKS,
        ),
        sequence="information_returns_id_seq",
    ),
    Spec(
        "audit_events",
        "RANGE (leaf_index)",
        plain=Shape("leaf_index", ()),
        partitioned=Shape("leaf_index", ()),
        triggers=(_AUDIT_TRIGGER,),
    ),
    Spec(
        "audit_subjects",
        "HASH (subject)",
        plain=Shape("subject, leaf_index", ()),
        partitioned=Shape("subject, leaf_index", ()),
    ),
)


def _partitions(spec: Spec, max_leaf: int) -> list[tuple[str, str]]:
    """(partition name, FOR VALUES ...) of each partition the table starts with."""
    name = spec.table
    if spec.partition_by.startswith("HASH"):
        return [
            (f"{name}_h{i:02d}", f"FOR VALUES WITH (MODULUS {HASH_PARTITIONS}, REMAINDER {i})")
            for i in range(HASH_PARTITIONS)
        ]
    if name == "information_returns":
        years = [(f"{name}_old", f"FOR VALUES FROM (MINVALUE) TO ({FIRST_YEAR})")]
        years += [(f"{name}_y{y}", f"FOR VALUES FROM ({y}) TO ({y + 1})") for y in range(FIRST_YEAR, LAST_YEAR + 1)]
        return [*years, (f"{name}_default", "DEFAULT")]
    n = max_leaf // AUDIT_PARTITION_LEAVES + 1 + AUDIT_PARTITIONS_AHEAD
    leaves = [
        (f"{name}_p{i:04d}", f"FOR VALUES FROM ({i * AUDIT_PARTITION_LEAVES}) TO ({(i + 1) * AUDIT_PARTITION_LEAVES})")
        for i in range(n)
    ]
    return [*leaves, (f"{name}_default", "DEFAULT")]


def _convert(spec: Spec, *, partition: bool) -> None:
    """Rebuild ``spec.table`` as partitioned (or back as plain), keeping its rows."""
    table, old = spec.table, f"{spec.table}_unconverted"
    before, after = (spec.plain, spec.partitioned) if partition else (spec.partitioned, spec.plain)
    execute = op.execute
    # Free the names (constraints, indexes, triggers) the new table will take.
    for name, _ in before.fks:
        execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for ix in before.indexes:
        execute(f"DROP INDEX {ix.name}")
    for stmt in spec.triggers:
        execute(f"DROP TRIGGER {stmt.split()[2]} ON {table}")
    execute(f"ALTER TABLE {table} RENAME TO {old}")
    execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    if spec.sequence:  # the sequence outlives the old table: the new one takes it over
        execute(f"ALTER SEQUENCE {spec.sequence} OWNED BY NONE")
    clause = f" PARTITION BY {spec.partition_by}" if partition else ""
    execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){clause}")
    if partition:
        max_leaf = 0
        if table == "audit_events":
            bind = op.get_bind()
            max_leaf = int(bind.exec_driver_sql(f"SELECT COALESCE(MAX(leaf_index), 0) FROM {old}").scalar_one())  # noqa: S608
        for part, bounds in _partitions(spec, max_leaf):
            execute(f"CREATE TABLE {part} PARTITION OF {table} {bounds}")
    execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608 (names are this module's constants)
    execute(f"DROP TABLE {old}")
    if spec.sequence:
        execute(f"ALTER SEQUENCE {spec.sequence} OWNED BY {table}.id")
    execute("SET LOCAL maintenance_work_mem = '256MB'")
    execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({after.pk})")
    for ix in after.indexes:
        execute(f"CREATE {'UNIQUE ' if ix.unique else ''}INDEX {ix.name} ON {table} ({ix.columns})")
    for name, definition in after.fks:
        execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for stmt in spec.triggers:
        execute(stmt)
    execute(f"ANALYZE {table}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for spec in SPECS:
        _convert(spec, partition=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for spec in reversed(SPECS):
        _convert(spec, partition=False)
