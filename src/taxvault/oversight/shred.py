"""Crypto-shredding: one data key per grant or agreement, destroyed with a signed certificate.

Why keys and not deletes: copies of data go where deletes cannot follow (an export on a
contractor's laptop, a replica, a backup). Everything sealed under one key becomes
unreadable wherever it went once that key is gone, so destroying the key *is* the
destruction. This module is the one mechanism for it (grants' exports and matching
agreements' partner data alike):

- **envelope encryption**: each owner (``grants/grant-<ref>``, ``matching/agreement-<ref>``)
  has a random 256-bit data key, stored only wrapped (AES-256-GCM) by the key-encryption
  key ``shred-kek.key`` in the keys dir, bound to the owner's name as associated data, in
  a 0600 file ``<keys dir>/<namespace>/<owner>.key`` (production mounts a secret store);
- **destroy**: the wrapped key file is overwritten with random bytes, synced and unlinked
  (and the directory synced); :class:`Destroyed` names the key id and the SHA-256 of the
  bytes that were destroyed;
- **certificate**: a :class:`DestructionCertificate` (what, key id, when, by whom, hash
  of what was destroyed, counts) signed with Ed25519 (``destruction-ed25519.pem`` in the
  keys dir), stored in ``destruction_certificates`` and bound into the audit log by an
  event whose fields carry the certificate's digest (:func:`record_certificate`, through
  the door). :func:`verify_certificate` checks the signature and that binding.

A key file of exactly 32 bytes is a raw (unwrapped) key written before this module
(matching agreements' keys); it is still read, and destroyed the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from taxvault.audit.signing import key_id as public_key_id
from taxvault.audit.signing import load_or_create_key
from taxvault.errors import Conflict, Invalid, Unavailable
from taxvault.keys import keys_dir, load_or_create_secret
from taxvault.oversight.custody_tables import destruction_certificates

if TYPE_CHECKING:
    from taxvault.access.door import Unit
    from taxvault.access.policy import PolicyDecision
    from taxvault.access.resources import Resource
    from taxvault.audit import AuditLog

KEY_BYTES = 32
NONCE_BYTES = 12
KEK_FILE = "shred-kek.key"
SIGNING_KEY_FILE = "destruction-ed25519.pem"
CERTIFY_ACTION = "certify_destruction"
_MAGIC = b"TVK1"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_OWNER = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_WRAPPED_LEN = len(_MAGIC) + NONCE_BYTES + KEY_BYTES + 16


class KeyMissing(Unavailable):
    """The owner's key does not exist (never created, or destroyed)."""


class SealError(Unavailable):
    """A sealed value does not open with the owner's key (wrong key, wrong context, tampered)."""


class KeyDestroyed(Conflict):
    """The owner's key was destroyed: nothing sealed under it can be read back."""


@dataclass(frozen=True, slots=True)
class KeyHandle:
    """Names one owner's key: ``<keys dir>/<namespace>/<owner>.key``."""

    namespace: str
    owner: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.namespace) or not _OWNER.fullmatch(self.owner):
            raise Invalid("a key is named by a lower-case namespace and owner (letters, digits, - and _)")

    @property
    def path(self) -> Path:
        return keys_dir() / self.namespace / f"{self.owner}.key"

    @property
    def aad(self) -> bytes:
        return f"taxvault data key|{self.namespace}/{self.owner}".encode()


def _kek() -> AESGCM:
    return AESGCM(load_or_create_secret(KEK_FILE, KEY_BYTES)[:KEY_BYTES])


def key_id_of(data_key: bytes) -> str:
    """A public name of a data key (a hash of it: reveals nothing, identifies it in a certificate)."""
    return hashlib.sha256(b"taxvault key id|" + data_key).hexdigest()[:32]


def has_key(handle: KeyHandle) -> bool:
    """Whether the owner's key file exists."""
    return handle.path.exists()


def create_key(handle: KeyHandle) -> bool:
    """Create the owner's random data key, wrapped, mode 0600; False if it already exists."""
    path = handle.path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_key = secrets.token_bytes(KEY_BYTES)
    nonce = secrets.token_bytes(NONCE_BYTES)
    wrapped = _MAGIC + nonce + _kek().encrypt(nonce, data_key, handle.aad)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(wrapped)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def load_key(handle: KeyHandle) -> bytes:
    """The owner's data key, unwrapped (KeyMissing if there is none; SealError if it does not unwrap)."""
    try:
        raw = handle.path.read_bytes()
    except FileNotFoundError:
        raise KeyMissing(f"no key for {handle.namespace}/{handle.owner} (never created, or destroyed)") from None
    return _unwrap(handle, raw)


def _unwrap(handle: KeyHandle, raw: bytes) -> bytes:
    if len(raw) == KEY_BYTES:  # a raw key written before envelope encryption
        return raw
    if len(raw) != _WRAPPED_LEN or not raw.startswith(_MAGIC):
        raise SealError(f"the key file of {handle.namespace}/{handle.owner} is damaged")
    body = raw[len(_MAGIC) :]
    try:
        return _kek().decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], handle.aad)
    except InvalidTag:
        raise SealError(f"the key of {handle.namespace}/{handle.owner} does not unwrap with this store's KEK") from None


@dataclass(frozen=True, slots=True)
class Destroyed:
    """What :func:`destroy_key` destroyed: the key's id and the hash of the bytes overwritten."""

    handle: KeyHandle
    key_id: str | None  # None when the file did not unwrap (damaged): it is destroyed all the same
    destroyed_sha256: str
    at: dt.datetime


def destroy_key(handle: KeyHandle, *, now: dt.datetime | None = None) -> Destroyed | None:
    """Overwrite the key file with random bytes, sync, unlink, sync the directory; None if there was none."""
    path = handle.path
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        raw = b""
        while chunk := os.read(fd, 4096):
            raw += chunk
        try:
            kid: str | None = key_id_of(_unwrap(handle, raw))
        except SealError:
            kid = None
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, secrets.token_bytes(max(len(raw), KEY_BYTES)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return Destroyed(handle, kid, hashlib.sha256(raw).hexdigest(), now or dt.datetime.now(dt.UTC))


# -- sealing under an owner's key ------------------------------------------------------------------


def seal(data_key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM: nonce || ciphertext+tag, bound to ``context`` (associated data)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, context)


def unseal(data_key: bytes, sealed: bytes, context: bytes) -> bytes:
    """The plaintext of :func:`seal` (SealError if it was not sealed so)."""
    try:
        return AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        raise SealError("a sealed value does not open with this key and context") from None


_BLOB_MAGIC = b"TVX1"


def encrypt_blob(handle: KeyHandle, plaintext: bytes, context: str) -> bytes:
    """A self-describing sealed file: magic, key id, then :func:`seal` under the owner's key."""
    data_key = load_key(handle)
    kid = key_id_of(data_key).encode()
    return _BLOB_MAGIC + kid + seal(data_key, plaintext, _BLOB_MAGIC + kid + context.encode())


def decrypt_blob(handle: KeyHandle, blob: bytes, context: str) -> bytes:
    """The plaintext of :func:`encrypt_blob`; KeyMissing once the owner's key is destroyed."""
    if not blob.startswith(_BLOB_MAGIC) or len(blob) < len(_BLOB_MAGIC) + 32 + NONCE_BYTES:
        raise SealError("not a taxvault sealed file")
    kid = blob[len(_BLOB_MAGIC) : len(_BLOB_MAGIC) + 32]
    data_key = load_key(handle)
    if key_id_of(data_key).encode() != kid:
        raise SealError("the file was sealed under another key")
    return unseal(data_key, blob[len(_BLOB_MAGIC) + 32 :], _BLOB_MAGIC + kid + context.encode())


# -- destruction certificates ---------------------------------------------------------------------------


def _signing_key() -> Ed25519PrivateKey:
    return load_or_create_key(keys_dir() / SIGNING_KEY_FILE)


def certificate_public_key() -> Ed25519PublicKey:
    """The public key destruction certificates are verified with."""
    return _signing_key().public_key()


def certificate_public_key_pem() -> str:
    """That key as SubjectPublicKeyInfo PEM (what a verifier outside taxvault is given)."""
    pem = certificate_public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@dataclass(frozen=True, slots=True)
class DestructionCertificate:
    """A signed statement: this key, of this thing, was destroyed then, by that principal."""

    what: str  # "<kind>:<opaque ref>", e.g. "grant:g1234..." or "matching_agreement:a..."
    key_id: str
    destroyed_at: str  # ISO 8601 UTC
    destroyed_by: str
    destroyed_sha256: str  # SHA-256 of the key file bytes that were overwritten
    details: dict[str, int | str] = field(default_factory=dict)
    signer: str = ""  # SHA-256 of the raw Ed25519 public key
    signature: str = ""  # hex

    def payload(self) -> bytes:
        """The canonical bytes the signature covers (sorted keys, no whitespace)."""
        body = {
            "v": 1,
            "what": self.what,
            "key_id": self.key_id,
            "destroyed_at": self.destroyed_at,
            "destroyed_by": self.destroyed_by,
            "destroyed_sha256": self.destroyed_sha256,
            "details": self.details,
            "signer": self.signer,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        """SHA-256 over payload and signature: what the audit event carries."""
        return hashlib.sha256(self.payload() + bytes.fromhex(self.signature)).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {**json.loads(self.payload()), "signature": self.signature, "digest": self.digest}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DestructionCertificate:
        return cls(
            str(obj["what"]),
            str(obj["key_id"]),
            str(obj["destroyed_at"]),
            str(obj["destroyed_by"]),
            str(obj["destroyed_sha256"]),
            dict(obj.get("details") or {}),
            str(obj["signer"]),
            str(obj["signature"]),
        )


def sign_certificate(
    destroyed: Destroyed, *, what: str, by: str, details: dict[str, int | str] | None = None
) -> DestructionCertificate:
    """The signed certificate of one destruction."""
    key = _signing_key()
    unsigned = DestructionCertificate(
        what,
        destroyed.key_id or "unknown",
        destroyed.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        by,
        destroyed.destroyed_sha256,
        dict(details or {}),
        public_key_id(key.public_key()),
    )
    return dataclasses.replace(unsigned, signature=key.sign(unsigned.payload()).hex())


def certificate_fields(cert: DestructionCertificate) -> list[str]:
    """The audit event's fields for a certificate (names and digests, never data)."""
    return [f"certificate={cert.digest}", f"key_id={cert.key_id}", f"destroyed_sha256={cert.destroyed_sha256}"]


def record_certificate(
    unit: Unit, resource: Resource, target_ref: str, decision: PolicyDecision, cert: DestructionCertificate
) -> None:
    """Store the certificate and audit it in the unit (a write unit: both commit together)."""
    unit.conn.execute(
        destruction_certificates.insert().values(
            digest=cert.digest,
            what=cert.what,
            key_id=cert.key_id,
            destroyed_at=dt.datetime.fromisoformat(cert.destroyed_at.replace("Z", "+00:00")),
            destroyed_by=cert.destroyed_by,
            body=cert.to_json(),
        )
    )
    unit.audit(CERTIFY_ACTION, resource, target_ref, decision, certificate_fields(cert))


def certificates_for(conn: Connection, what: str) -> list[DestructionCertificate]:
    """The certificates stored for ``what`` (oldest first)."""
    c = destruction_certificates.c
    rows = conn.execute(sa.select(c.body).where(c.what == what).order_by(c.id)).scalars()
    return [DestructionCertificate.from_json(dict(b)) for b in rows]


def verify_certificate(
    cert: DestructionCertificate,
    *,
    public_key: Ed25519PublicKey | None = None,
    log: AuditLog | None = None,
    leaf: int | None = None,
) -> bool:
    """True when the signature is valid (and, with ``log`` and ``leaf``, the log's event carries its digest)."""
    key = public_key or certificate_public_key()
    if cert.signer != public_key_id(key):
        return False
    try:
        key.verify(bytes.fromhex(cert.signature), cert.payload())
    except (InvalidSignature, ValueError):
        return False
    if log is None:
        return True
    if leaf is None:
        return False
    event = log.event(leaf)
    return event.action.startswith(CERTIFY_ACTION + ":") and f"certificate={cert.digest}" in event.fields


def find_certificate_leaf(log: AuditLog, cert: DestructionCertificate, *, newest: int = 10_000) -> int | None:
    """The leaf of the event that records ``cert``: a scan of the ``newest`` leaves, newest first."""
    needle = f"certificate={cert.digest}"
    size = log.tree_head().tree_size
    for index in range(size - 1, max(size - newest, 0) - 1, -1):
        if needle in log.event(index).fields:
            return index
    return None
