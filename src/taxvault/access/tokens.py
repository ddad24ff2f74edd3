"""Bearer tokens: JWTs verified with PyJWT against a configured JWKS.

Production points ``TAXVAULT_JWKS_FILE`` (a JWKS document), ``TAXVAULT_JWT_ISSUER``
and ``TAXVAULT_JWT_AUDIENCE`` at the agency's identity provider. The embedded
default is its own issuer: an Ed25519 key under ``./var/keys`` signs tokens minted
by ``taxvault token issue``. Verification checks signature, issuer, audience,
expiry and not-before; each key is bound to its one algorithm, so ``alg: none``
and algorithm confusion (e.g. HS256 keyed with a public key) are rejected.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from taxvault.keys import load_or_create_secret

EMBEDDED_ISSUER = "urn:taxvault:embedded"
DEFAULT_AUDIENCE = "taxvault-api"
DEFAULT_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 12 * 3600
_KEY_NAME = "token-signing-ed25519"
_ALLOWED_ALGS = frozenset({"EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


class TokenError(Exception):
    """The bearer token is missing, malformed, or fails verification (401)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims the API uses."""

    subject: str
    expires_at: int
    token_id: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def embedded_signing_key() -> Ed25519PrivateKey:
    """The embedded issuer's Ed25519 key (created under ./var/keys on first use)."""
    return Ed25519PrivateKey.from_private_bytes(load_or_create_secret(_KEY_NAME, 32)[:32])


def public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    """The public JWK of an Ed25519 key, with a key id derived from it."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64(raw),
        "kid": hashlib.sha256(raw).hexdigest()[:16],
        "alg": "EdDSA",
        "use": "sig",
    }


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """Who issues the tokens the API accepts, and for which audience."""

    issuer: str
    audience: str
    jwks: dict[str, Any]
    leeway_seconds: int = 30

    @classmethod
    def from_env(cls) -> TokenConfig:
        """``TAXVAULT_JWKS_FILE`` etc. if set, else the embedded issuer."""
        jwks_file = os.environ.get("TAXVAULT_JWKS_FILE")
        audience = os.environ.get("TAXVAULT_JWT_AUDIENCE", DEFAULT_AUDIENCE)
        if jwks_file:
            issuer = os.environ.get("TAXVAULT_JWT_ISSUER")
            if not issuer:
                raise TokenError("TAXVAULT_JWKS_FILE is set but TAXVAULT_JWT_ISSUER is not")
            return cls(issuer, audience, json.loads(Path(jwks_file).read_text(encoding="utf-8")))
        return cls.embedded(audience)

    @classmethod
    def embedded(cls, audience: str = DEFAULT_AUDIENCE) -> TokenConfig:
        """The embedded issuer's configuration."""
        return cls(EMBEDDED_ISSUER, audience, {"keys": [public_jwk(embedded_signing_key())]})


class TokenVerifier:
    """Verifies bearer tokens; verified tokens are remembered until they expire."""

    def __init__(self, config: TokenConfig, *, cache_size: int = 4096) -> None:
        self.config = config
        self._keys: dict[str, tuple[Any, str]] = {}
        for jwk in config.jwks.get("keys", []):
            if jwk.get("use", "sig") != "sig":
                continue
            pyjwk = jwt.PyJWK(jwk)
            alg = pyjwk.algorithm_name
            if alg not in _ALLOWED_ALGS:
                continue
            self._keys[str(jwk.get("kid", ""))] = (pyjwk.key, alg)
        if not self._keys:
            raise TokenError("the configured JWKS holds no usable signing key")
        self._cache: OrderedDict[str, Claims] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str) -> Claims:
        """The token's claims, or TokenError."""
        now = time.time()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and hit.expires_at > now:
            return hit
        claims = self._verify(token)
        with self._lock:
            self._cache[token] = claims
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed bearer token") from None
        kid = str(header.get("kid", ""))
        entry = self._keys.get(kid)
        if entry is None and len(self._keys) == 1 and not kid:
            entry = next(iter(self._keys.values()))
        if entry is None:
            raise TokenError("bearer token signed by an unknown key")
        key, alg = entry
        if header.get("alg") != alg:
            raise TokenError("bearer token algorithm does not match its key")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("bearer token has expired") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"bearer token rejected: {type(exc).__name__}") from None
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenError("bearer token has no subject")
        return Claims(subject, int(payload["exp"]), payload.get("jti"))


def issue_token(
    principal_id: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    audience: str = DEFAULT_AUDIENCE,
    key: Ed25519PrivateKey | None = None,
    now: float | None = None,
) -> str:
    """Mint a token of the embedded issuer for ``principal_id``."""
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"token lifetime must be between 1 s and {MAX_TTL_SECONDS} s")
    key = key or embedded_signing_key()
    issued = int(now if now is not None else time.time())
    payload = {
        "iss": EMBEDDED_ISSUER,
        "aud": audience,
        "sub": principal_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": public_jwk(key)["kid"]})
