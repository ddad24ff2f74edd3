"""One key per matching agreement, and crypto-shredding on its destruction date.

Each approved agreement gets a random 32-byte key, kept by the one crypto-shredding
mechanism of taxvault (:mod:`taxvault.oversight.shred`: wrapped by the key-encryption
key, a 0600 file under ``<keys dir>/matching/``; production mounts a secret store).
Two keys are derived from it (HKDF-SHA256, one ``info`` per use, so neither use can be
turned against the other):

- the **linkage key**: keyed tokens (HMAC-SHA256) of identifiers and the keyed
  privacy-preserving encodings of names, dates and addresses, on both sides;
- the **payload key**: AES-256-GCM over every stored partner row and every lead's
  partner evidence, bound to the agreement and the row's token (associated data), so
  a sealed row cannot be moved to another agreement or record and still open.

Destroying the key file (overwritten, synced, unlinked) makes every sealed byte of
the agreement unreadable wherever it went (replicas, backups, exports): that is the
destruction, and it is certified (:func:`destroy_and_certify`: a signed destruction
certificate, recorded in the audit log by the matching job). The rows are deleted too
and the agreement is marked ``destroyed`` (:func:`shred_rows`, in the caller's
transaction); the matching job (:func:`taxvault.jobs.matching.shred_agreement`)
decides, audits (who, when, which agreement, how many rows) and commits through the
door in one unit of work, and destroys the key only once that committed, so that a
failed append destroys nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Connection

from taxvault.errors import Conflict, Invalid, Unavailable
from taxvault.matching.agreements import Agreement, AgreementError, MatchingError
from taxvault.matching.tables import matching_agreements, matching_leads, matching_partner_rows
from taxvault.oversight import shred

KEY_BYTES = 32
NONCE_BYTES = 12
_LINKAGE_INFO = b"taxvault matching linkage key v1"
_PAYLOAD_INFO = b"taxvault matching payload key v1"
SHRED_PURPOSE = "agreement_destruction"


class AgreementKeyError(MatchingError, Unavailable):
    """An agreement's key is missing, or a sealed value does not open with it."""

    status, kind = Unavailable.status, Unavailable.kind


class AgreementDestroyed(Conflict, AgreementKeyError):
    """The agreement's key was destroyed: nothing of its partner data can be read back."""

    status, kind = Conflict.status, Conflict.kind


class ShredError(MatchingError, Conflict):
    """A destruction that cannot happen (not due yet, or the audit append failed)."""

    status, kind = Conflict.status, Conflict.kind


def _handle(agreement_ref: str) -> shred.KeyHandle:
    if not agreement_ref.isalnum():
        raise AgreementKeyError("an agreement reference is letters and digits only")
    try:
        return shred.KeyHandle("matching", f"agreement-{agreement_ref}")
    except Invalid:
        raise AgreementKeyError("an agreement reference is lower-case letters and digits") from None


def key_path(agreement_ref: str) -> Path:
    """Where the agreement's (wrapped) key lives."""
    return _handle(agreement_ref).path


def has_key(agreement_ref: str) -> bool:
    """Whether the agreement's key exists."""
    return shred.has_key(_handle(agreement_ref))


def create_key(agreement_ref: str) -> None:
    """Create the agreement's random key (wrapped, mode 0600) unless it exists."""
    shred.create_key(_handle(agreement_ref))


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True, slots=True)
class AgreementKeys:
    """The keys derived from one agreement's key."""

    agreement_ref: str
    linkage: bytes = field(repr=False)
    _aead: AESGCM = field(repr=False)

    def _aad(self, context: str) -> bytes:
        return f"{self.agreement_ref}|{context}".encode()

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """AES-GCM: nonce || ciphertext+tag, bound to the agreement and ``context``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad(context))

    def open(self, sealed: bytes, context: str) -> bytes:
        """The plaintext of :meth:`seal` (AgreementKeyError if it was not sealed so)."""
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad(context))
        except (InvalidTag, ValueError):
            raise AgreementKeyError(
                f"a sealed value does not open with the key of agreement {self.agreement_ref}"
            ) from None


def load_keys(agreement_ref: str) -> AgreementKeys:
    """The agreement's derived keys (AgreementKeyError if its key does not exist)."""
    try:
        master = shred.load_key(_handle(agreement_ref))
    except shred.KeyMissing:
        raise AgreementKeyError(f"agreement {agreement_ref} has no key (never imported into, or destroyed)") from None
    except shred.SealError:
        raise AgreementKeyError(f"the key file of agreement {agreement_ref} is damaged") from None
    if len(master) != KEY_BYTES:
        raise AgreementKeyError(f"the key file of agreement {agreement_ref} is damaged")
    return AgreementKeys(agreement_ref, _derive(master, _LINKAGE_INFO), AESGCM(_derive(master, _PAYLOAD_INFO)))


def keys_for(agreement: Agreement) -> AgreementKeys:
    """The keys of an agreement whose data may still be read (AgreementDestroyed after its destruction)."""
    if agreement.state == "destroyed":
        when = agreement.destroyed_at.date().isoformat() if agreement.destroyed_at else "its destruction date"
        raise AgreementDestroyed(
            f"agreement {agreement.ref} was destroyed on {when}: its key is gone and "
            "nothing of the partner's data can be read back"
        )
    return load_keys(agreement.ref)


def destroy_key(agreement_ref: str) -> bool:
    """Overwrite the key file with random bytes, sync, unlink; True if there was one."""
    return shred.destroy_key(_handle(agreement_ref)) is not None


def destroy_and_certify(
    agreement_ref: str, *, by: str, details: dict[str, int | str] | None = None
) -> shred.DestructionCertificate | None:
    """Destroy the key and sign the certificate of its destruction (None if there was no key)."""
    destroyed = shred.destroy_key(_handle(agreement_ref))
    if destroyed is None:
        return None
    return shred.sign_certificate(destroyed, what=f"matching_agreement:{agreement_ref}", by=by, details=details)


# -- crypto-shredding -------------------------------------------------------------------------


def check_can_shred(agreement: Agreement, today: dt.date) -> None:
    """Raise unless ``agreement`` may be destroyed on ``today`` (its destruction date, or once revoked)."""
    if agreement.state == "draft":
        raise AgreementError(f"agreement {agreement.ref} is a draft: it holds nothing to destroy")
    if agreement.state != "revoked" and today < agreement.destroy_on:
        raise ShredError(f"agreement {agreement.ref} is destroyed on {agreement.destroy_on.isoformat()}, not before")


@dataclass(frozen=True, slots=True)
class ShredReport:
    """What one destruction did."""

    agreement_ref: str
    partner_rows: int
    lead_evidence: int
    key_destroyed: bool
    audit_leaf: int | None
    certificate: shred.DestructionCertificate | None = None


def shred_counts(conn: Connection, agreement: Agreement) -> tuple[int, int]:
    """(partner rows, leads with sealed evidence) the destruction of ``agreement`` removes."""
    rows = conn.execute(
        sa.select(sa.func.count())
        .select_from(matching_partner_rows)
        .where(matching_partner_rows.c.agreement_id == agreement.id)
    ).scalar_one()
    evidence = conn.execute(
        sa.select(sa.func.count())
        .select_from(matching_leads)
        .where(matching_leads.c.agreement_id == agreement.id, matching_leads.c.evidence.is_not(None))
    ).scalar_one()
    return int(rows), int(evidence)


def shred_rows(conn: Connection, agreement: Agreement, *, actor: str, rows: int, now: dt.datetime) -> None:
    """Delete the partner rows, clear the leads' evidence and mark the agreement destroyed (caller's transaction)."""
    conn.execute(matching_partner_rows.delete().where(matching_partner_rows.c.agreement_id == agreement.id))
    conn.execute(
        matching_leads.update()
        .where(matching_leads.c.agreement_id == agreement.id, matching_leads.c.evidence.is_not(None))
        .values(evidence=None)
    )
    conn.execute(
        matching_agreements.update()
        .where(matching_agreements.c.id == agreement.id)
        .values(state="destroyed", destroyed_by=actor, destroyed_at=now, destroyed_rows=rows)
    )


def due_for_destruction(conn: Connection, today: dt.date) -> tuple[list[str], list[str]]:
    """(agreements whose destruction date has come, destroyed agreements whose key is still on disk)."""
    a = matching_agreements.c
    due = [
        str(r)
        for (r,) in conn.execute(
            sa.select(a.ref)
            .where(a.state.in_(("approved", "revoked")), a.destroy_on <= today)
            .order_by(a.destroy_on, a.id)
        )
    ]
    leftovers = [str(r) for (r,) in conn.execute(sa.select(a.ref).where(a.state == "destroyed")) if has_key(r)]
    return due, leftovers
