"""The batch tests share one SparkSession per process (one JVM) and one keys dir per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module", autouse=True)
def module_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's stores (embedded and Spark-loaded) share the TIN keys, so HMAC lookups compare."""
    path = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAXVAULT_KEYS_DIR", str(path))
        yield path


@pytest.fixture(autouse=True)
def _keys_follow_the_stores(module_keys_dir: Path, _isolated_var_dir: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXVAULT_KEYS_DIR", str(module_keys_dir))
