"""Load-test checker tests reuse the access world (tests/access/access_world.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "access"))
