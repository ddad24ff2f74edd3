"""Jobs tests reuse the ledger's seed rows (tests/ledger/ledger_seed.py) and the access world."""

from __future__ import annotations

import sys
from pathlib import Path

for helpers in ("ledger", "access"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / helpers))
