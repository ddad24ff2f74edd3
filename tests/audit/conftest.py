"""Fixtures for the audit tests; stores come from the shared ``db_engine`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    """Where this test's signing key lives."""
    return tmp_path / "keys" / "audit-ed25519.pem"
