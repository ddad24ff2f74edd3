"""SIGKILL an ingest part-way, several times at different points; re-running converges to the
state of one clean run (no duplicate, no missing record)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_ingest import COMPARED, canonical_rows, counts, legacy_population
from sqlalchemy.engine import Engine

_RUN = (
    "from pathlib import Path; import sys; from taxvault.ingest import ingest_paths; "
    "from taxvault.store import make_engine; ingest_paths(make_engine(), [Path(sys.argv[1])])"
)


def _start(directory: Path, url: str, env_base: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**env_base, "TAXVAULT_DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-c", _RUN, str(directory)], env=env)


def _files(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM sources").scalar_one())


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> tuple[Engine, Path]:
    return legacy_population(tmp_path_factory.mktemp("kill"), sqlite_template, 2500, seed=11)


def test_sigkill_at_several_points_then_rerun_converges(db_engine: Engine, legacy: tuple[Engine, Path]) -> None:
    source, directory = legacy
    url = db_engine.url.render_as_string(hide_password=False)
    env = dict(os.environ)
    n_files = len(list(directory.iterdir()))
    seen = []
    # Kill right after file k commits (k = 1, 3, 6), a moment into the next file; and once
    # early, before anything commits. Each run resumes where the last one stopped.
    for k, pause in ((0, 0.7), (1, 0.05), (3, 0.2), (6, 0.1)):
        proc = _start(directory, url, env)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _files(db_engine) < k and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(pause)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen.append(_files(db_engine))
    assert any(0 < s < n_files for s in seen), seen  # killed part-way
    final = _start(directory, url, env)
    assert final.wait(timeout=300) == 0
    after = counts(db_engine)
    assert after["sources"] == n_files
    assert after["ingest_quarantine"] == 0
    assert {t: after[t] for t in COMPARED} == {t: counts(source)[t] for t in COMPARED}
    assert canonical_rows(db_engine) == canonical_rows(source)
