"""Console tests: the fixtures live in console_harness.py (a sibling module tests import helpers from)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_harness import _world_keys, app, browser, client, live_server, sign_in, world  # type: ignore[import-not-found,unused-ignore]

__all__ = ["_world_keys", "app", "browser", "client", "live_server", "sign_in", "world"]
