"""The one crypto-shredding module: wrapped keys, destruction, signed certificates; matching's agreements use it too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from custody_world import Custody, make_custody
from sqlalchemy.engine import Engine

from taxvault.jobs import matching as jm
from taxvault.keys import keys_dir
from taxvault.matching import agreements as ag
from taxvault.matching.keys import create_key, key_path, load_keys
from taxvault.oversight import shred
from taxvault.oversight.custody_tables import destruction_certificates

H = shred.KeyHandle("grants", "grant-g0123456789abcdef")


def test_a_key_is_stored_only_wrapped_and_seals_until_destroyed() -> None:
    assert shred.create_key(H) and not shred.create_key(H)  # created once
    raw = H.path.read_bytes()
    key = shred.load_key(H)
    assert len(key) == 32 and key not in raw and H.path.stat().st_mode & 0o777 == 0o600
    blob = shred.encrypt_blob(H, b"taxpayer rows", "export:x1")
    assert shred.decrypt_blob(H, blob, "export:x1") == b"taxpayer rows"
    with pytest.raises(shred.SealError):  # bound to its context
        shred.decrypt_blob(H, blob, "export:x2")
    other = shred.KeyHandle("grants", "grant-gfedcba9876543210")
    other.path.write_bytes(raw)  # a wrapped key moved to another owner does not unwrap
    with pytest.raises(shred.SealError):
        shred.load_key(other)

    destroyed = shred.destroy_key(H, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert destroyed is not None and not H.path.exists()
    assert destroyed.key_id == shred.key_id_of(key) and destroyed.destroyed_sha256 == hashlib.sha256(raw).hexdigest()
    assert shred.destroy_key(H) is None
    with pytest.raises(shred.KeyMissing):
        shred.decrypt_blob(H, blob, "export:x1")
    # the key-encryption key alone opens nothing
    assert (keys_dir() / shred.KEK_FILE).exists()


def test_a_raw_key_of_before_is_still_read_and_destroyed() -> None:
    H.path.parent.mkdir(parents=True, exist_ok=True)
    H.path.write_bytes(b"\x07" * 32)
    assert shred.load_key(H) == b"\x07" * 32
    destroyed = shred.destroy_key(H)
    assert destroyed is not None and destroyed.key_id == shred.key_id_of(b"\x07" * 32)


def test_a_certificate_verifies_and_a_changed_one_does_not() -> None:
    shred.create_key(H)
    destroyed = shred.destroy_key(H)
    assert destroyed is not None
    cert = shred.sign_certificate(destroyed, what="grant:g0123456789abcdef", by="sys-grants", details={"exports": 2})
    assert shred.verify_certificate(cert)
    assert shred.DestructionCertificate.from_json(cert.to_json()) == cert
    for change in ({"what": "grant:g1"}, {"destroyed_by": "someone"}, {"details": {"exports": 0}}):
        assert not shred.verify_certificate(dataclasses.replace(cert, **change))
    assert not shred.verify_certificate(cert, public_key=Ed25519PrivateKey.generate().public_key())
    assert "BEGIN PUBLIC KEY" in shred.certificate_public_key_pem()


@pytest.fixture
def world(db_engine: Engine) -> Iterator[Custody]:
    w = make_custody(db_engine)
    yield w
    w.log.close()


@pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)
def test_a_matching_agreement_is_destroyed_by_the_same_mechanism_with_a_certificate(world: Custody) -> None:
    w = world
    with w.engine.begin() as conn:
        draft = ag.draft_agreement(
            conn, partner_id="partner-ssa", program="death_refunds", purpose="Refunds issued after a death",
            legal_authority="26 USC 6103(d)", agency_fields=["first_name", "last_name", "tin", "refunds_846"],
            partner_fields=["first_name", "last_name", "tin", "death_date"], starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2026, 6, 30), destroy_on=dt.date(2026, 9, 30), created_by="E000000",
        )  # fmt: skip
        a = ag.approve_agreement(conn, draft.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
    create_key(a.ref)
    assert load_keys(a.ref).agreement_ref == a.ref
    assert key_path(a.ref).parent.name == "matching" and len(key_path(a.ref).read_bytes()) > 32  # wrapped
    job = jm.job_session(w.door, jm.SHRED_PURPOSE)
    report = jm.shred_agreement(w.door, job, a.ref, today=dt.date(2026, 10, 1))
    assert report.key_destroyed and report.certificate is not None and not key_path(a.ref).exists()
    cert = report.certificate
    assert cert.what == f"matching_agreement:{a.ref}" and cert.destroyed_by == "sys-matching"
    leaf = shred.find_certificate_leaf(w.log, cert)
    assert leaf is not None and shred.verify_certificate(cert, log=w.log, leaf=leaf)
    with w.engine.connect() as conn:
        stored = conn.execute(sa.select(destruction_certificates.c.digest)).scalars().all()
    assert stored == [cert.digest]
