"""Settings from ``TAXVAULT_*`` environment variables.

The embedded default needs no server: everything lives under ``./var/`` (a SQLite
store, signing keys). ``TAXVAULT_DATABASE_URL`` selects PostgreSQL, the production
store. Settings are read once per call of :func:`get_settings` so tests can point a
process at a temporary directory by setting the environment first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration of one taxvault process."""

    var_dir: Path
    database_url: str
    host: str
    port: int

    @property
    def is_embedded(self) -> bool:
        """True when the store is the embedded SQLite file, not a server."""
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    """Read the settings from the environment, with the embedded defaults."""
    var_dir = Path(os.environ.get("TAXVAULT_VAR_DIR", "var")).resolve()
    url = os.environ.get("TAXVAULT_DATABASE_URL") or f"sqlite:///{var_dir / 'taxvault.db'}"
    return Settings(
        var_dir=var_dir,
        database_url=normalise_database_url(url),
        host=os.environ.get("TAXVAULT_HOST", "127.0.0.1"),
        port=int(os.environ.get("TAXVAULT_PORT", "8000")),
    )


def normalise_database_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs to the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
