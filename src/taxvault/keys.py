"""Local secrets under ``<var_dir>/keys/``: created once, readable by the owner only.

Secrets never live in the repository. Production deployments point
``TAXVAULT_KEYS_DIR`` at a mounted secret store instead of ./var/keys.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from taxvault.config import get_settings
from taxvault.files import private_dir


def keys_dir() -> Path:
    """The directory holding local keys (``TAXVAULT_KEYS_DIR`` or ``<var_dir>/keys``)."""
    configured = os.environ.get("TAXVAULT_KEYS_DIR")
    return Path(configured) if configured else get_settings().var_dir / "keys"


def load_or_create_secret(name: str, nbytes: int = 32) -> bytes:
    """Return the named random secret, creating it (mode 0600) on first use."""
    path = keys_dir() / name
    if path.exists():
        data = path.read_bytes()
        if len(data) < 16:
            raise RuntimeError(f"key file {path.name} is too short to be a secret")
        return data
    private_dir(path.parent, tighten=True)
    data = secrets.token_bytes(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data
