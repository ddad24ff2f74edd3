"""Keyed hashes and sealed values for the console (keys live in the keys dir, never in the store).

Why keyed: a sign-in code, an authorization code or a session id stolen from a copy of the
store must not be usable, and a short code must not be brute-forced offline from its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from taxvault.keys import load_or_create_secret

_HASH_KEY = "web-console-hmac"
_SEAL_KEY = "web-console-seal"


def keyed_hash(kind: str, secret: str) -> str:
    """HMAC-SHA256 of ``secret`` under the console key, separated by ``kind`` (64 hex)."""
    key = load_or_create_secret(_HASH_KEY)
    return hmac.new(key, f"{kind}\x00{secret}".encode(), hashlib.sha256).hexdigest()


def _fernet() -> Fernet:
    import base64

    raw = load_or_create_secret(_SEAL_KEY)[:32]
    return Fernet(base64.urlsafe_b64encode(raw))


def seal(value: dict[str, Any]) -> str:
    """An authenticated, encrypted token of ``value`` (the browser can neither read nor forge it)."""
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")


def unseal(token: str, ttl_seconds: int) -> dict[str, Any] | None:
    """The value sealed at most ``ttl_seconds`` ago, or None (forged, altered or too old)."""
    try:
        data = _fernet().decrypt(token.encode("ascii"), ttl=ttl_seconds)
    except (InvalidToken, UnicodeEncodeError, ValueError):
        return None
    value = json.loads(data)
    return value if isinstance(value, dict) else None
