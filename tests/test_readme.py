"""The README as a new user meets it: its worked example runs as written.

The worked example is the ``sh`` block of the section "## Worked example"; the ``text``
block before it holds the values ``./dev up`` prints (``taxvault demo``). The slow test
makes a store exactly as ``./dev up`` does (``init --synthetic``, then ``synth`` with the size and seed
read from ``./dev``), serves it with a real ``taxvault serve`` on a free port, and runs the
block with bash: ``localhost:8000`` becomes that port, curl fails on any status >= 400
(a small httpx stand-in when curl is not installed). The demo TIN may appear only in the
request body: never in what the commands print nor in the server's log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEV = ROOT / "dev"
TAXVAULT = [sys.executable, "-c", "from taxvault.cli import main; main()"]

CURL_STANDIN = """
import sys, httpx
args, method, headers, data, url = sys.argv[1:], "GET", {}, None, None
while args:
    a = args.pop(0)
    if a == "-X": method = args.pop(0)
    elif a == "-H": k, _, v = args.pop(0).partition(":"); headers[k.strip()] = v.strip()
    elif a == "-d": data = args.pop(0); method = "POST" if method == "GET" else method
    elif a.startswith("-"): continue
    else: url = a if "://" in a else "http://" + a
r = httpx.request(method, url, headers=headers, content=data, timeout=60)
print(r.text)
sys.exit(22 if r.status_code >= 400 else 0)
"""


@dataclass(frozen=True)
class Example:
    values: dict[str, str]  # the text block: principal, tin, module, ...
    script: str  # the sh block


def worked_example() -> Example:
    section = README.read_text().split("\n## Worked example\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    text = next(body for lang, body in blocks if lang == "text")
    script = next(body for lang, body in blocks if lang == "sh")
    values = dict(line.split()[1:3] for line in text.strip().splitlines())
    return Example(values, script)


def dev_up_synth() -> tuple[int, int]:
    """The population ``./dev up`` makes: (default size, seed)."""
    dev = DEV.read_text()
    up = dev.split("\n  up)\n", 1)[1].split("\n    ;;\n", 1)[0]
    m = re.search(r'synth --taxpayers "\$\{TAXVAULT_DEMO_TAXPAYERS:-(\d+)\}" --seed (\d+)', up)
    assert m, "./dev up no longer runs synth as this test expects"
    assert '"$venv/bin/taxvault" demo' in up, "./dev up no longer prints the worked example's values"
    assert '"$venv/bin/taxvault" init --synthetic' in up, "./dev up no longer makes a demo (synthetic-only) store"
    return int(m.group(1)), int(m.group(2))


def test_the_worked_example_uses_the_values_it_shows() -> None:
    ex = worked_example()
    assert set(ex.values) >= {"principal", "purpose", "tin", "taxpayer", "module"}
    for key in ("principal", "purpose", "tin", "module"):
        assert ex.values[key] in ex.script, key
    assert re.fullmatch(r"9\d{8}", ex.values["tin"])  # a synthetic SSN (area 900-999)
    assert ex.script.count(ex.values["tin"]) == 1  # in one request body, nowhere else
    assert "localhost:8000" in ex.script
    dev_up_synth()


def test_the_readme_links_only_what_a_clone_has() -> None:
    text = README.read_text()
    assert "../shared" not in text
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert {"docs/architecture.md", "docs/data-model.md", "docs/irs-facts.md", "docs/threat-model.md"} <= set(links)
    for link in links:
        if "://" not in link:
            assert (ROOT / link).is_file(), link


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    env: dict[str, str]
    home: Path
    port: int
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A store made as ``./dev up`` makes it, served on a free port; a shell set up like the README's."""
    home = tmp_path_factory.mktemp("readme")
    bindir = home / "bin"
    bindir.mkdir()
    shim = bindir / "taxvault"  # the `taxvault` of this interpreter, whatever PATH holds
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "from taxvault.cli import main; main()" "$@"\n')
    shim.chmod(0o755)
    if not shutil.which("curl"):
        standin = bindir / "curl"
        standin.write_text(f"#!{sys.executable}\n{CURL_STANDIN}")
        standin.chmod(0o755)
    activate = home / ".venv" / "bin" / "activate"  # what `source .venv/bin/activate` finds
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export PATH="{bindir}:$PATH"\n')
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXVAULT_")}
    env.update(TAXVAULT_VAR_DIR=str(home / "var"), TAXVAULT_PORT=str(port), COLUMNS="120")
    size, seed = dev_up_synth()
    for args in (["init", "--synthetic"], ["synth", "--taxpayers", str(size), "--seed", str(seed)]):
        subprocess.run([*TAXVAULT, *args], env=env, cwd=home, check=True, capture_output=True, timeout=600)
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*TAXVAULT, "serve"], env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.3)
        yield Served(env, home, port, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _taxvault(served: Served, *args: str) -> str:
    done = subprocess.run([*TAXVAULT, *args], env=served.env, cwd=served.home, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_dev_up_prints_the_readmes_values(served: Served) -> None:
    printed = dict(line.split()[1:3] for line in _taxvault(served, "demo").strip().splitlines())
    assert printed == worked_example().values


@pytest.mark.slow
def test_the_worked_example_runs_as_written(served: Served) -> None:
    ex = worked_example()
    tin = ex.values["tin"]
    script = ex.script.replace("localhost:8000", f"localhost:{served.port}")
    curls = len(re.findall(r"^curl ", script, re.M))
    prelude = 'curl() { command curl --fail-with-body --show-error "$@"; echo; }\n' if shutil.which("curl") else ""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + script],
        env=served.env,
        cwd=served.home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert ex.values["module"] in out  # her cases name the module (opaque ids only)
    assert f'"id":"{ex.values["taxpayer"]}"' in out  # the look-up answers the taxpayer's opaque id
    assert '"payoff_cents"' in out  # the transcript as of the date: accruals and payoff
    assert "notices" in out and "OK:" in out  # the CLI through the door; the audit log verifies
    assert "Plan: List" in out and "row(s)" in out  # the question: its plan in words, then her rows
    assert "scanned leaves" in out  # the oversight scan read what was just done
    requests = [json.loads(line) for line in served.log.read_text().splitlines() if line.startswith("{")]
    answered = [r for r in requests if r.get("message") == "request" and r["path"].startswith("/v1/")]
    assert [r["status"] for r in answered] == [200] * curls
    for where, text in (("stdout", out), ("stderr", done.stderr), ("server log", served.log.read_text())):
        assert tin not in text, f"the TIN appears in the {where}"


@pytest.mark.slow
def test_another_principal_or_another_purpose_is_refused(served: Served) -> None:
    ex = worked_example()
    url = f"http://127.0.0.1:{served.port}/v1/modules/{ex.values['module']}/transcript"
    for who, purpose in ((ex.values["principal"], "examination"), ("eng-001", ex.values["purpose"])):
        token = _taxvault(served, "token", "issue", "--principal", who).strip()
        r = httpx.get(url, headers={"Authorization": f"Bearer {token}", "Purpose-Of-Use": purpose}, timeout=30)
        assert r.status_code in (403, 404), (who, purpose, r.status_code)
