"""TINs at rest: no clear TIN in the store's files, look-ups by keyed hash, ciphertexts bound to their
rows, private key files, a clear error when a key is missing or foreign, and the upgrade of a store
that still holds clear TINs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from taxvault.errors import Unavailable
from taxvault.keys import keys_dir
from taxvault.records.service import entity, entity_ref_by_tin
from taxvault.store import make_engine
from taxvault.store import tables as t
from taxvault.store.migrate import alembic_config, upgrade
from taxvault.store.tins import KEK_FILE, LOOKUP_KEY_FILE, SealedTin, TinVault, aad, reveal, tin_vault
from taxvault.synth.load import synthesize


def _clear(engine: Engine, table: str = "entities", column: str = "tin") -> dict[str, str]:
    tb = t.metadata.tables[table]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tb.c.ref, tb.c[f"{column}_enc"])).all()
        clear = tin_vault(conn).decrypt_many(conn, [r[1] for r in rows], [aad(table, column, r[0]) for r in rows])
    return dict(zip([str(r[0]) for r in rows], clear, strict=True))


@pytest.fixture
def people(db_engine: Engine) -> Engine:
    synthesize(db_engine, 300, seed=4)
    return db_engine


def test_no_clear_tin_reaches_the_sqlite_files(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    synthesize(engine, 400, seed=2)
    tins = set(_clear(engine).values()) | set(_clear(engine, "information_returns", "payer_tin").values())
    assert len(tins) > 400
    with engine.connect() as conn:  # the lookup hash and last four are there, the digits are not
        assert conn.execute(sa.select(sa.func.count()).where(t.entities.c.tin_last4 != "")).scalar_one() > 400
    engine.dispose()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))  # the database, its WAL and SHM
    assert len(blobs) > 100_000
    leaked = [tin for tin in tins if tin.encode() in blobs]
    assert not leaked, f"{len(leaked)} clear TINs in the database files"
    assert all(len(key.read_bytes()) == 32 for key in (keys_dir() / LOOKUP_KEY_FILE, keys_dir() / KEK_FILE))


def test_key_files_are_private(people: Engine) -> None:
    for name in (LOOKUP_KEY_FILE, KEK_FILE):
        assert (keys_dir() / name).stat().st_mode & 0o777 == 0o600
    assert keys_dir().stat().st_mode & 0o777 == 0o700


def test_lookup_by_tin_uses_the_keyed_hash(people: Engine) -> None:
    clear = _clear(people)
    ref, tin = next(iter(clear.items()))
    with people.connect() as conn:
        assert entity_ref_by_tin(conn, tin, None) == ref
        assert entity_ref_by_tin(conn, tin, "EIN" if tin.startswith("9") else "SSN") is None
        stored = conn.execute(sa.select(t.entities.c.tin_hash).where(t.entities.c.ref == ref)).scalar_one()
        assert bytes(stored) == tin_vault(conn).lookup_hash(tin)
    other = TinVault(keys_dir().parent / "elsewhere")  # another key: another hash, nothing to find
    assert other.lookup_hash(tin) != tin_vault().lookup_hash(tin)


def test_a_record_carries_the_tin_sealed_and_only_reveal_opens_it(people: Engine) -> None:
    ref, tin = next(iter(_clear(people).items()))
    with people.connect() as conn:
        pk = conn.execute(sa.select(t.entities.c.id).where(t.entities.c.ref == ref)).scalar_one()
        record = entity(conn, pk)
    sealed = record["tin"]
    assert isinstance(sealed, SealedTin) and "tin_enc" not in record and "tin_last4" not in record
    assert str(sealed) == "*****" + tin[-4:] and tin not in f"{sealed} {sealed!r} {json.dumps(record, default=str)}"
    assert pickle.loads(pickle.dumps(sealed)) == "*****" + tin[-4:]  # noqa: S301 - our own bytes
    assert reveal(sealed) == tin and reveal("plain") == "plain"


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(people: Engine) -> None:
    e = t.entities.c
    with people.begin() as conn:
        (_, a_enc), (b, _) = conn.execute(sa.select(e.ref, e.tin_enc).order_by(e.id).limit(2)).all()
        conn.execute(t.entities.update().where(e.ref == b).values(tin_enc=a_enc))
    with people.connect() as conn, pytest.raises(Unavailable, match="integrity"):
        tin_vault(conn).decrypt(conn, a_enc, aad("entities", "tin", b))


def test_missing_or_foreign_keys_are_a_clear_error(people: Engine, tmp_path: Path) -> None:
    saved = tmp_path / "saved-keys"
    shutil.copytree(keys_dir(), saved)
    ref, tin = next(iter(_clear(people).items()))
    enc = _enc(people, ref)
    (keys_dir() / KEK_FILE).unlink()
    with people.connect() as conn, pytest.raises(Unavailable, match=KEK_FILE) as missing:
        TinVault(keys_dir()).check(conn)
    assert tin not in str(missing.value)
    (keys_dir() / LOOKUP_KEY_FILE).unlink()
    with people.connect() as conn, pytest.raises(Unavailable, match=LOOKUP_KEY_FILE):
        TinVault(keys_dir()).check(conn)
    foreign = tmp_path / "foreign"
    TinVault(foreign).lookup_hash("900010001")  # makes a lookup key of its own
    with people.connect() as conn, pytest.raises(Unavailable, match="does not belong"):
        TinVault(foreign).check(conn)
    with people.connect() as conn:  # the saved keys still open everything
        assert TinVault(saved).check(conn).decrypt(conn, enc, aad("entities", "tin", ref)) == tin


def _enc(engine: Engine, ref: str) -> bytes:
    with engine.connect() as conn:
        return bytes(conn.execute(sa.select(t.entities.c.tin_enc).where(t.entities.c.ref == ref)).scalar_one())


def test_a_readable_key_file_is_refused(people: Engine) -> None:
    os.chmod(keys_dir() / KEK_FILE, 0o644)
    ref = next(iter(_clear(people)))
    with people.connect() as conn, pytest.raises(Unavailable, match="chmod 600"):
        TinVault(keys_dir()).decrypt(conn, _enc(people, ref), aad("entities", "tin", ref))


def test_upgrade_protects_the_clear_tins_of_an_existing_store(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0001")  # the store as it was before 0008
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (id, kind, name, created_at) VALUES (1, 'synth', 'old', '2025-01-01 00:00:00')"
        )
        for i, tin, spouse in ((2, "900022222", None), (1, "900011111", 2)):
            conn.execute(
                sa.text(
                    "INSERT INTO entities (id, ref, tin, tin_type, kind, name_control, address_line, city, state,"
                    " zip, spouse_id, source_id, source_record) VALUES (:i, :ref, :tin, 'SSN', 'individual', 'OLD',"
                    " '1 Main St', 'X', 'VA', '22000', :spouse, 1, :i)"
                ),
                {"i": i, "ref": f"e{i}", "tin": tin, "spouse": spouse},
            )
        conn.exec_driver_sql(
            "INSERT INTO information_returns (id, ref, form, tax_year, payer_tin, payer_tin_type, payee_tin,"
            " payee_tin_type, payee_id, income_cents, withholding_cents, boxes, source_id, source_record) VALUES"
            " (1, 'i1', 'W-2', 2024, '001234567', 'EIN', '900011111', 'SSN', 1, 100, 0, '{}', 1, 1)"
        )
    upgrade(engine)
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("entities")}
        assert "tin" not in columns and {"tin_hash", "tin_enc", "tin_last4"} <= columns
        assert entity_ref_by_tin(conn, "900022222", "SSN") == "e2"
        assert conn.execute(sa.select(t.entities.c.spouse_id).where(t.entities.c.id == 1)).scalar_one() == 2
        ir = conn.execute(sa.select(t.information_returns)).mappings().one()
        vault = tin_vault(conn)
        assert vault.decrypt(conn, ir["payer_tin_enc"], aad("information_returns", "payer_tin", "i1")) == "001234567"
        assert bytes(ir["payee_tin_hash"]) == vault.lookup_hash("900011111")
        assert not conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("old.db*"))
    assert b"900022222" not in blobs and b"001234567" not in blobs
