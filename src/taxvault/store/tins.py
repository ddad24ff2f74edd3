"""TINs at rest: a keyed hash to find them, envelope encryption to keep them.

Why: a copy of the database (a backup, a stolen file, an engineer's query) must not
hand over every taxpayer's TIN. So no table holds a clear TIN:

- ``*_hash``: HMAC-SHA256 of the nine digits under the **lookup key**. Equality
  (look-ups, joins, duplicate checks) works on it; without the key it cannot be
  reversed by trying the billion nine-digit numbers.
- ``*_enc``: the TIN encrypted with AES-256-GCM under a **data key**; the row's
  identity (table, column, ref) is the associated data, so a ciphertext copied onto
  another row does not decrypt. Data keys are random, stored in ``tin_keys`` wrapped
  (AES-GCM) by the **key-encryption key** (KEK). Layout: ``01 | kid (8) | nonce (12)
  | ciphertext+tag (25)``.
- ``*_last4``: the last four digits, what masked displays print (not the TIN).

The lookup key and the KEK are files in the keys dir (``TAXVAULT_KEYS_DIR`` or
``<var_dir>/keys``; 0600 in a 0700 folder), never in the store, the repository or a
log. The store records each key's fingerprint, so a missing or foreign key is a clear
:class:`~taxvault.errors.Unavailable`, never a silent miss or a traceback.

Decrypting is for the door only: a record carries its TIN as a :class:`SealedTin`,
a ``str`` whose text is the masked form; :func:`reveal` (called by the masking step
when the policy discloses the field in full) decrypts it. System jobs under an
agreement (matching, legacy export, notices' own guard) use :meth:`TinVault.decrypt_many`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from taxvault.errors import Unavailable
from taxvault.keys import keys_dir
from taxvault.store.tables import tin_keys

LOOKUP_KEY_FILE = "tin-lookup.key"
KEK_FILE = "tin-kek.key"
_VERSION = b"\x01"
_KID_LEN = 8
_NONCE_LEN = 12
_HEADER = 1 + _KID_LEN + _NONCE_LEN
DEK_MAX_USES = 1 << 30
"""Encryptions under one data key before a new one is made (random 96-bit nonces stay far from collision)."""

# The TIN-bearing columns of the canonical tables: clear column -> its stored forms.
PROTECTED: Mapping[str, tuple[str, ...]] = {
    "entities": ("tin",),
    "information_returns": ("payer_tin", "payee_tin"),
}


def aad(table: str, column: str, ref: str) -> bytes:
    """The associated data binding a ciphertext to its row: table, column and the row's ref."""
    return f"{table}.{column}:{ref}".encode()


class SealedTin(str):
    """A stored TIN as a record carries it: the text is the masked form (``*****6789``).

    Anything that treats it as a string (JSON, logs, masking) sees only the masked
    form; :meth:`reveal` decrypts, for a disclosure the policy allows.
    """

    __slots__ = ("_aad", "_aead", "_enc")
    _aead: AESGCM
    _enc: bytes
    _aad: bytes

    def __new__(cls, last4: str, enc: bytes, associated: bytes, aead: AESGCM) -> SealedTin:
        self = super().__new__(cls, "*****" + last4)
        self._enc, self._aad, self._aead = enc, associated, aead
        return self

    def reveal(self) -> str:
        """The clear TIN (Unavailable if the stored value fails its integrity check)."""
        return _open(self._aead, self._enc, self._aad)

    def __repr__(self) -> str:
        return f"SealedTin({str.__str__(self)})"

    def __reduce__(self) -> Any:  # never pickled with its key
        return (str, (str.__str__(self),))


def reveal(value: Any) -> Any:
    """The door's hook for a full disclosure: the clear TIN of a :class:`SealedTin`, other values unchanged."""
    return value.reveal() if isinstance(value, SealedTin) else value


def _open(aead: AESGCM, enc: bytes, associated: bytes) -> str:
    try:
        return aead.decrypt(enc[1 + _KID_LEN : _HEADER], enc[_HEADER:], associated).decode()
    except InvalidTag:
        raise Unavailable("a stored TIN failed its integrity check (altered or moved between rows)") from None


def _fingerprint(key: bytes) -> str:
    """Names a key without revealing it: the first 8 bytes of an HMAC under it, hex."""
    return hmac.digest(key, b"taxvault key fingerprint", "sha256")[:8].hex()


def _read_key(path: Path) -> bytes | None:
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        raise Unavailable(f"key file {path.name} is readable by others; chmod 600 it", code="key-exposed")
    data = path.read_bytes()
    if len(data) != 32:
        raise Unavailable(f"key file {path.name} is not a 32-byte key", code="key-invalid")
    return data


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    data = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        key = _read_key(path)
        assert key is not None
        return key
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data


class TinVault:
    """The lookup key, the KEK and the unwrapped data keys of one keys dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._lookup: bytes | None = None
        self._hmac_pads: tuple[Any, Any] | None = None
        self._kek: bytes | None = None
        self._deks: dict[bytes, AESGCM] = {}
        self._checked: set[str] = set()

    # -- keys ---------------------------------------------------------------------------------

    def _key(self, name: str, *, create: bool) -> bytes:
        path = self.directory / name
        key = _read_key(path)
        if key is None:
            if not create:
                raise Unavailable(
                    f"the TIN key {name} is missing from the keys dir; this store's TINs cannot be used without it",
                    code="key-missing",
                    hint="restore the key file into TAXVAULT_KEYS_DIR",
                )
            key = _create_key(path)
        return key

    def _lookup_key(self) -> bytes:
        if self._lookup is None:
            self._lookup = self._key(LOOKUP_KEY_FILE, create=True)
        return self._lookup

    def _kek_key(self, *, create: bool) -> bytes:
        if self._kek is None:
            self._kek = self._key(KEK_FILE, create=create)
        return self._kek

    def check(self, conn: Connection) -> TinVault:
        """Verify once per store that the key files are the ones its TINs were protected with."""
        where = conn.engine.url.render_as_string(hide_password=True)
        if where in self._checked:
            return self
        rows = conn.execute(sa.select(tin_keys.c.purpose, tin_keys.c.kid, tin_keys.c.kek_id)).all()
        lookup = [r.kid for r in rows if r.purpose == "lookup"]
        keks = {r.kek_id for r in rows if r.purpose == "data"}
        if lookup:
            if (self.directory / LOOKUP_KEY_FILE).exists() or self._lookup is not None:
                if _fingerprint(self._lookup_key()) not in lookup:
                    raise Unavailable(
                        f"the TIN key {LOOKUP_KEY_FILE} does not belong to this store", code="key-foreign"
                    )
            else:
                self._key(LOOKUP_KEY_FILE, create=False)
        if keks and _fingerprint(self._kek_key(create=False)) not in keks:
            raise Unavailable(f"the TIN key {KEK_FILE} does not belong to this store", code="key-foreign")
        self._checked.add(where)
        return self

    def _register_lookup(self, conn: Connection) -> None:
        kid = _fingerprint(self._lookup_key())
        have = conn.execute(sa.select(tin_keys.c.kid).where(tin_keys.c.purpose == "lookup")).scalars().all()
        if kid in have:
            return
        if have:
            raise Unavailable(f"the TIN key {LOOKUP_KEY_FILE} does not belong to this store", code="key-foreign")
        conn.execute(tin_keys.insert().values(kid=kid, purpose="lookup", created_at=dt.datetime.now(dt.UTC)))

    # -- look-up hashes -----------------------------------------------------------------------

    def _pads(self) -> tuple[Any, Any]:
        """SHA-256 states after the HMAC inner and outer pads (RFC 2104), computed once per key."""
        if self._hmac_pads is None:
            key = self._lookup_key().ljust(64, b"\0")
            inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
            outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
            self._hmac_pads = (inner, outer)
        return self._hmac_pads

    def lookup_hash(self, tin: str) -> bytes:
        """HMAC-SHA256 of the nine digits under the lookup key (what ``*_tin_hash`` columns hold)."""
        return self.lookup_hashes([tin])[0]

    def lookup_hashes(self, tins: Iterable[str | bytes] | np.ndarray[Any, Any]) -> list[bytes]:
        """:meth:`lookup_hash` of each TIN (str, or bytes as numpy ``S9`` columns hold them).

        HMAC from the precomputed pad states: four times faster than ``hmac.digest``
        per value, which is what a bulk load of millions spends its time on.
        """
        inner, outer = self._pads()
        new_inner, new_outer = inner.copy, outer.copy
        values = tins.tolist() if isinstance(tins, np.ndarray) else tins
        out = []
        for t in values:
            i = new_inner()
            i.update(t if isinstance(t, bytes) else t.encode())
            o = new_outer()
            o.update(i.digest())
            out.append(o.digest())
        return out

    # -- envelope encryption -------------------------------------------------------------------

    def _unwrap(self, kid: bytes, wrapped: bytes) -> AESGCM:
        kek = AESGCM(self._kek_key(create=False))
        try:
            dek = kek.decrypt(wrapped[:_NONCE_LEN], wrapped[_NONCE_LEN:], b"tin-dek:" + kid)
        except InvalidTag:
            raise Unavailable(f"the TIN key {KEK_FILE} does not belong to this store", code="key-foreign") from None
        return AESGCM(dek)

    def _data_key(self, conn: Connection, kid: bytes) -> AESGCM:
        aead = self._deks.get(kid)
        if aead is None:
            wrapped = conn.execute(
                sa.select(tin_keys.c.wrapped).where(tin_keys.c.kid == kid.hex())
            ).scalar_one_or_none()
            if wrapped is None:
                raise Unavailable("a stored TIN names a data key this store does not hold", code="key-missing")
            aead = self._deks[kid] = self._unwrap(kid, bytes(wrapped))
        return aead

    def _active_data_key(self, conn: Connection, n: int) -> tuple[bytes, AESGCM]:
        kek = self._kek_key(create=True)
        kek_id = _fingerprint(kek)
        k = tin_keys.c
        row = conn.execute(
            sa.select(k.kid, k.uses)
            .where(k.purpose == "data", k.kek_id == kek_id, k.uses + n <= DEK_MAX_USES)
            .order_by(k.created_at.desc(), k.kid)
            .limit(1)
        ).first()
        if row is not None:
            kid = bytes.fromhex(row.kid)
            conn.execute(tin_keys.update().where(k.kid == row.kid).values(uses=k.uses + n))
            return kid, self._data_key(conn, kid)
        kid, dek, nonce = os.urandom(_KID_LEN), AESGCM.generate_key(bit_length=256), os.urandom(_NONCE_LEN)
        wrapped = nonce + AESGCM(kek).encrypt(nonce, dek, b"tin-dek:" + kid)
        conn.execute(
            tin_keys.insert().values(
                kid=kid.hex(),
                purpose="data",
                wrapped=wrapped,
                kek_id=kek_id,
                uses=n,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        aead = self._deks[kid] = AESGCM(dek)
        return kid, aead

    def encrypt_many(self, conn: Connection, tins: Sequence[str], aads: Sequence[bytes]) -> list[bytes]:
        """Encrypt each TIN under the active data key, bound to its row's associated data."""
        if len(tins) != len(aads):
            raise ValueError("one associated data per TIN")
        with self._lock:
            self.check(conn)
            self._register_lookup(conn)
            kid, aead = self._active_data_key(conn, len(tins))
        head = _VERSION + kid
        nonces = os.urandom(_NONCE_LEN * len(tins))
        enc = aead.encrypt
        out = []
        for i, (tin, ad) in enumerate(zip(tins, aads, strict=True)):
            nonce = nonces[i * _NONCE_LEN : (i + 1) * _NONCE_LEN]
            out.append(head + nonce + enc(nonce, tin.encode(), ad))
        return out

    def encrypt_bytes(self, conn: Connection, values: Sequence[bytes], aads: Sequence[bytes]) -> list[bytes]:
        """Encrypt raw records that may hold TINs (a quarantined legacy record), same envelope and layout."""
        if len(values) != len(aads):
            raise ValueError("one associated data per value")
        with self._lock:
            self.check(conn)
            kid, aead = self._active_data_key(conn, len(values))
        head = _VERSION + kid
        out = []
        for value, ad in zip(values, aads, strict=True):
            nonce = os.urandom(_NONCE_LEN)
            out.append(head + nonce + aead.encrypt(nonce, bytes(value), ad))
        return out

    def decrypt_bytes(self, conn: Connection, enc: bytes, associated: bytes) -> bytes:
        """The raw record back (for the person or job that must correct it)."""
        enc = bytes(enc)
        try:
            return self._aead_for(conn, enc).decrypt(enc[1 + _KID_LEN : _HEADER], enc[_HEADER:], associated)
        except InvalidTag:
            raise Unavailable("a stored record failed its integrity check (altered or moved between rows)") from None

    def _aead_for(self, conn: Connection, enc: bytes) -> AESGCM:
        if len(enc) <= _HEADER or enc[:1] != _VERSION:
            raise Unavailable("a stored TIN is not in a format this version reads", code="tin-format")
        return self._data_key(conn, enc[1 : 1 + _KID_LEN])

    def decrypt(self, conn: Connection, enc: bytes, associated: bytes) -> str:
        """The clear TIN (for the door's full disclosures and system jobs under an agreement)."""
        enc = bytes(enc)
        return _open(self._aead_for(conn, enc), enc, associated)

    def decrypt_many(self, conn: Connection, encs: Sequence[bytes], aads: Sequence[bytes]) -> list[str]:
        """:meth:`decrypt` for a column of values (bulk jobs)."""
        out = []
        for enc, ad in zip(encs, aads, strict=True):
            enc = bytes(enc)
            out.append(_open(self._aead_for(conn, enc), enc, ad))
        return out

    def seal(self, conn: Connection, enc: bytes | None, associated: bytes, last4: str) -> SealedTin | None:
        """The TIN as a record carries it to the door: masked text, decryptable by :func:`reveal`."""
        if enc is None:
            return None
        enc = bytes(enc)
        return SealedTin(last4, enc, associated, self._aead_for(conn, enc))


_VAULTS: dict[Path, TinVault] = {}
_VAULTS_LOCK = threading.Lock()


def tin_vault(conn: Connection | None = None) -> TinVault:
    """The process's vault for the configured keys dir; with ``conn``, checked against that store."""
    directory = keys_dir().resolve()
    with _VAULTS_LOCK:
        vault = _VAULTS.get(directory)
        if vault is None:
            vault = _VAULTS[directory] = TinVault(directory)
    return vault.check(conn) if conn is not None else vault


def protect_columns(conn: Connection, table: str, columns: Mapping[str, Any]) -> dict[str, Any]:
    """Columns for ``table`` with each clear TIN column replaced by its ``_hash``, ``_enc`` and ``_last4``.

    Bulk loads hand their columns here just before the insert (the refs must be set:
    they are the associated data). Other tables pass through unchanged.
    """
    out = dict(columns)
    names = [c for c in PROTECTED.get(table, ()) if c in out]
    if not names:
        return out
    refs = out["ref"]
    refs = refs.tolist() if isinstance(refs, np.ndarray) else list(refs)
    if not refs:
        for name in names:
            del out[name]
            out |= {f"{name}_hash": [], f"{name}_enc": [], f"{name}_last4": []}
        return out
    vault = tin_vault(conn)
    for name in names:
        values = out.pop(name)
        tins: list[str] = [
            v.decode() if isinstance(v, bytes) else str(v)
            for v in (values.tolist() if isinstance(values, np.ndarray) else values)
        ]
        distinct, inverse = np.unique(np.asarray(tins, dtype="U9"), return_inverse=True)  # payers repeat
        out[f"{name}_hash"] = np.array(vault.lookup_hashes(distinct.tolist()), dtype=object)[inverse]
        out[f"{name}_enc"] = vault.encrypt_many(conn, tins, [aad(table, name, r) for r in refs])
        out[f"{name}_last4"] = [t[-4:] for t in tins]
    return out


def protect_rows(conn: Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`protect_columns` for row dicts (small inserts, tests, seeds)."""
    if not rows:
        return []
    keys = list(rows[0])
    cols = protect_columns(conn, table, {k: [r[k] for r in rows] for k in keys})
    return [{k: v[i] for k, v in cols.items()} for i in range(len(rows))]


def protect_row(conn: Connection, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`protect_columns` for one row dict (``insert().values(**protect_row(...))``)."""
    return protect_rows(conn, table, [row])[0]
