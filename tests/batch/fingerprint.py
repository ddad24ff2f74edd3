"""Content fingerprints of a store: row counts and a hash over sorted canonical rows per table.

Canonical rows leave out what differs by construction between two loads of the same
input (generated ids, refs, ``source_id``, load timestamps, ciphertexts with their
random nonces) and name referenced rows by *their* canonical rows instead of by id.
TINs compare by their HMAC lookup hashes (both stores share the keys dir); each
ciphertext is decrypted and checked against its hash, so a row whose sealed TIN is
wrong or bound to the wrong row fails here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.ingest.pipeline import quarantined_raw
from taxvault.ingest.tables import ingest_quarantine
from taxvault.store import tables as t
from taxvault.store.tins import PROTECTED, aad, tin_vault

CANONICAL = (
    "entities",
    "principals",
    "principal_relations",
    "tax_modules",
    "transactions",
    "returns",
    "return_dependents",
    "notices",
    "information_returns",
    "cases",
    "case_subjects",
)
"""What legacy files load (``sources``, keys, grants and the audit tables are compared otherwise, or not)."""
DROPPED = {"id", "ref", "source_id", "created_at"}


def _norm(v: Any) -> Any:
    if isinstance(v, bytes | memoryview):
        return bytes(v).hex()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _check_sealed(engine: Engine) -> int:
    """Decrypt every sealed TIN and check it against its lookup hash; returns how many were checked."""
    checked = 0
    with engine.connect() as conn:
        vault = tin_vault(conn)
        for table, columns in PROTECTED.items():
            tb = t.metadata.tables[table]
            for col in columns:
                rows = conn.execute(sa.select(tb.c.ref, tb.c[f"{col}_enc"], tb.c[f"{col}_hash"])).all()
                clear = vault.decrypt_many(conn, [bytes(r[1]) for r in rows], [aad(table, col, r[0]) for r in rows])
                assert vault.lookup_hashes(clear) == [bytes(r[2]) for r in rows], f"{table}.{col}: sealed != hash"
                checked += len(rows)
    return checked


def _canon(
    tb: sa.Table, kept: list[sa.Column[Any]], keys: dict[str, dict[Any, tuple[Any, ...]]], row: Any, *, self_refs: bool
) -> tuple[Any, ...]:
    """A row's values; a reference to a row of a compared table is that row's canonical tuple."""
    values: list[Any] = []
    for c in kept:
        v = row[c.name]
        fk = next(iter(c.foreign_keys), None)
        ref = fk.column.table.name if fk is not None else ""
        if v is not None and ref == tb.name:
            v = keys[ref][v] if self_refs else None  # a self-reference (spouse) by the row's own key
        elif v is not None and ref in keys:
            v = keys[ref][v]
        values.append(v if isinstance(v, tuple) else _norm(v))
    return tuple(values)


def fingerprints(engine: Engine) -> dict[str, tuple[int, str]]:
    """table -> (row count, sha256 over its sorted canonical rows); ``ingest_quarantine`` with raw bytes opened."""
    _check_sealed(engine)
    keys: dict[str, dict[Any, tuple[Any, ...]]] = {}
    out: dict[str, tuple[int, str]] = {}
    tables = [tb for tb in t.metadata.sorted_tables if tb.name in CANONICAL]
    with engine.connect() as conn:
        for tb in tables:
            rows = [r._mapping for r in conn.execute(sa.select(tb))]
            kept = [c for c in tb.c if c.name not in DROPPED and not c.name.endswith("_enc")]

            first = {row["id"]: _canon(tb, kept, keys, row, self_refs=False) for row in rows} if "id" in tb.c else {}
            keys[tb.name] = first
            canonical = sorted(repr(_canon(tb, kept, keys, row, self_refs=True)) for row in rows)
            out[tb.name] = (len(canonical), hashlib.sha256("\n".join(canonical).encode()).hexdigest())
        q = ingest_quarantine.c
        quarantined = sorted(
            repr((name, int(n), rt, f, reason, quarantined_raw(conn, int(src), int(n), bytes(raw)).hex()))
            for name, n, rt, f, reason, raw, src in conn.execute(
                sa.select(q.file_name, q.record_number, q.record_type, q.field, q.reason, q.raw, q.source_id)
            )
        )
        out["ingest_quarantine"] = (len(quarantined), hashlib.sha256("\n".join(quarantined).encode()).hexdigest())
    return out
