"""Identity Protection PINs: stored as keyed salted hashes, only ever verified.

A six-digit PIN has a million values, so a plain salted hash is brute-forced in
a second. The hash is therefore keyed (HMAC-SHA256 with a server-side pepper
kept outside the database): a stolen table alone does not reveal any PIN.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from taxvault.keys import load_or_create_secret

_SCHEME = "hmac-sha256"
PEPPER_NAME = "ip_pin_pepper"


class InvalidPIN(ValueError):
    """An IP PIN is not six digits."""


def hash_pin(pin: str, pepper: bytes | None = None, salt: bytes | None = None) -> str:
    """The stored form of ``pin``: scheme, salt and keyed digest; never the PIN."""
    if len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise InvalidPIN("an IP PIN is six digits")
    pepper = pepper if pepper is not None else load_or_create_secret(PEPPER_NAME)
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hmac.new(pepper, salt + pin.encode(), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${salt.hex()}${digest}"


def verify_pin(pin: str, stored: str, pepper: bytes | None = None) -> bool:
    """True when ``pin`` matches ``stored``; constant-time comparison."""
    try:
        scheme, salt_hex, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != _SCHEME or len(pin) != 6 or not pin.isdigit():
        return False
    pepper = pepper if pepper is not None else load_or_create_secret(PEPPER_NAME)
    expected = hmac.new(pepper, bytes.fromhex(salt_hex) + pin.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)
