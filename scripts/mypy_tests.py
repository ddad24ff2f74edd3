"""mypy --strict over tests/, resolving imports the way pytest does.

Usage: python scripts/mypy_tests.py [extra mypy options]   (./dev check runs it)

Why a script and two passes: test directories are not packages. pytest puts
each test file's directory on sys.path, so a test imports its sibling helpers
as top-level modules (``from access_world import World``), and the jobs, api
and ledger conftests add tests/access (or tests/ledger) the same way. mypy
resolves those imports only if every test directory is a module root
(MYPYPATH with explicit package bases); but then the conftest.py of each
directory would be one and the same top-level module ``conftest``. So pass 1
checks every test file but the conftests with every test directory as a root,
and pass 2 checks the conftests with only src and tests/access (the helpers a
conftest imports) as roots, where they are ``tests.<dir>.conftest``.
The settings (strict, overrides for untyped libraries) come from pyproject.toml.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _run(files: list[Path], roots: list[Path], extra: list[str]) -> int:
    env = dict(os.environ, MYPYPATH=os.pathsep.join(str(r) for r in roots))
    cmd = [sys.executable, "-m", "mypy", "--strict", "--explicit-package-bases", *extra]
    cmd += [str(f.relative_to(ROOT)) for f in files]
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def main(extra: list[str]) -> int:
    files = sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)
    conftests = [p for p in files if p.name == "conftest.py"]
    others = [p for p in files if p.name != "conftest.py"]
    test_dirs = sorted({p.parent for p in others})
    first = _run(others, [ROOT / "src", *test_dirs], extra)
    second = _run(conftests, [ROOT / "src", TESTS / "access"], extra)
    return first or second


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
