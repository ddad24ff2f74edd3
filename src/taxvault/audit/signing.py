"""Signed tree heads (STH): tree size, timestamp, root hash, Ed25519 signature.

The signed message is RFC 9162's TreeHeadDataV2 (section 4.10), TLS-encoded:
``timestamp u64 || tree_size u64 || len u8 || root_hash || extensions_len u16 (0)``,
timestamp in milliseconds since the epoch. The key lives outside the store (under
``<var_dir>/keys/`` by default, mode 0600, or ``TAXVAULT_AUDIT_KEY``), so someone
who can rewrite the database still cannot sign a rewritten tree.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from taxvault.audit.errors import AuditKeyError
from taxvault.config import get_settings
from taxvault.files import private_dir

KEY_ENV = "TAXVAULT_AUDIT_KEY"
KEY_FILE_NAME = "audit-ed25519.pem"


def tree_head_bytes(tree_size: int, timestamp_ms: int, root_hash: bytes) -> bytes:
    """The TLS encoding of TreeHeadDataV2 with no extensions: what the key signs."""
    if len(root_hash) != 32:
        raise ValueError("root hash must be 32 bytes")
    return struct.pack(">QQB", timestamp_ms, tree_size, len(root_hash)) + root_hash + b"\x00\x00"


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: names the key an STH was signed with."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, the form exports carry and verifiers accept."""
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """One signed statement: "the log had ``tree_size`` leaves with this root at this time"."""

    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    signature: bytes
    key_id: str

    def message(self) -> bytes:
        """The bytes the signature covers."""
        return tree_head_bytes(self.tree_size, self.timestamp_ms, self.root_hash)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature is valid for ``public_key``."""
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        """JSON form (hex hashes and signature), as exported and printed by the CLI."""
        return {
            "tree_size": self.tree_size,
            "timestamp_ms": self.timestamp_ms,
            "root_hash": self.root_hash.hex(),
            "signature": self.signature.hex(),
            "key_id": self.key_id,
        }


def default_key_path() -> Path:
    """``TAXVAULT_AUDIT_KEY``, else ``TAXVAULT_KEYS_DIR`` or ``<var_dir>/keys``, file audit-ed25519.pem."""
    configured = os.environ.get(KEY_ENV)
    if configured:
        return Path(configured)
    keys_dir = os.environ.get("TAXVAULT_KEYS_DIR")
    base = Path(keys_dir) if keys_dir else get_settings().var_dir / "keys"
    return base / KEY_FILE_NAME


def load_or_create_key(path: Path | None = None, *, create: bool = True) -> Ed25519PrivateKey:
    """Load the Ed25519 signing key, creating it (mode 0600) on first use when ``create``."""
    path = path or default_key_path()
    if not path.exists():
        if not create:
            raise AuditKeyError(f"no audit signing key at {path}")
        return _create_key(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AuditKeyError(f"audit signing key {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuditKeyError(f"audit signing key {path} cannot be read: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"audit signing key {path} is not an Ed25519 key")
    return key


def _create_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        private_dir(path.parent)  # 0700, and so is any missing parent (var/)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return load_or_create_key(path, create=False)
    except OSError as exc:
        raise AuditKeyError(f"cannot create audit signing key {path}: {exc}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


class TreeHeadSigner:
    """Signs tree heads with one Ed25519 key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_path(cls, path: Path | None = None) -> TreeHeadSigner:
        """The signer for the key at ``path`` (default: :func:`default_key_path`), created if missing."""
        return cls(load_or_create_key(path))

    def sign(self, tree_size: int, root_hash: bytes, timestamp_ms: int | None = None) -> SignedTreeHead:
        """Sign a tree head now (or at ``timestamp_ms``)."""
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        signature = self._key.sign(tree_head_bytes(tree_size, ts, root_hash))
        return SignedTreeHead(tree_size, ts, root_hash, signature, self.key_id)
