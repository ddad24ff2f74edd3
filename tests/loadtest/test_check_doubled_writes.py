"""The load test's checker names a write applied twice under one Idempotency-Key (and only that one).

Two adjustments are made through the API with known request ids; records that say both were
attempts of one key must be reported as a doubled write, a key with one applied attempt (and one
attempt that got no answer) must not. The checker runs as the load test runs it (a subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_world import make_world, module_ref
from sqlalchemy.engine import Engine

from store_factory import new_store  # type: ignore[import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parents[2]
BODY = {"tc": 290, "amount_cents": 1_000, "reason_code": 51}


def _record(rid: str | None, sent: str, key: str, status: int, attempt: int, adj: str | None) -> dict[str, Any]:
    return {
        "t": 0.0, "rid": rid, "sent": sent, "route": "adjust", "method": "POST", "status": status, "ms": 1.0,
        "resource": module_ref("tp"), "adj": adj, "problem": status >= 500, "key": key, "attempt": attempt,
        "replayed": False,
    }  # fmt: skip


@pytest.fixture
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: the checker's queries are the same on both stores, and its subprocess reads the file."""
    yield from new_store("sqlite", request, tmp_path)


def test_the_checker_names_a_key_whose_write_was_applied_twice(db_engine: Engine, tmp_path: Path) -> None:
    world = make_world(db_engine)
    made = []
    for sent in ("ltdoubledfirstaaaaaaaaaa", "ltdoubledsecondaaaaaaaaa", "ltcleanonlyaaaaaaaaaaaaa"):
        headers = {**world.headers("cw-alice", "collection"), "X-Request-ID": sent}
        r = world.client.post(f"/v1/modules/{module_ref('tp')}/adjustments", headers=headers, json=BODY)
        assert r.status_code == 202, r.text
        made.append(str(r.json()["id"]))
    world.client.close()
    world.audit.close()
    records = [
        _record("ltdoubledfirstaaaaaaaaaa", "ltdoubledfirstaaaaaaaaaa", "lt-key-doubled", 202, 0, made[0]),
        _record("ltdoubledsecondaaaaaaaaa", "ltdoubledsecondaaaaaaaaa", "lt-key-doubled", 202, 1, made[1]),
        _record(None, "ltnoanswerzzzzzzzzzzzzzz", "lt-key-clean", 0, 0, None),
        _record("ltcleanonlyaaaaaaaaaaaaa", "ltcleanonlyaaaaaaaaaaaaa", "lt-key-clean", 202, 1, made[2]),
    ]
    out = tmp_path / "records"
    out.mkdir()
    (out / "locust.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXVAULT_")}
    env |= {"TAXVAULT_DATABASE_URL": str(db_engine.url), "TAXVAULT_VAR_DIR": os.environ["TAXVAULT_VAR_DIR"]}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.check", str(out), "--sample", "0", "--json", str(tmp_path / "c.json")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unaudited responses: 0" in done.stdout and "lost acknowledged writes: 0 of 3" in done.stdout
    assert "doubled writes: 1 (2 writes retried" in done.stdout
    assert json.loads((tmp_path / "c.json").read_text())["doubled_writes"] == ["lt-key-doubled"]
