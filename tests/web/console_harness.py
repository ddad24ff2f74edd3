"""Console test harness (fixtures re-exported by conftest.py): a store per module, sign-in, a real browser.

Quick tests (``client``, ``sign_in``) drive the app in process through httpx. Browser tests
(``live_server``, ``browser``, ``browser_page``) start ``taxvault serve`` on a free loopback
port over the same store and drive Debian's chromium through Playwright (its own browser
download is not available): ``TAXVAULT_CHROMIUM`` (default /usr/bin/chromium). Without
chromium they skip locally and fail when ``CI=true``. Screenshots go to
``var/test-artifacts/screenshots/`` (gitignored) at 1280 and 390 px.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from taxvault.access.local import local_door
from taxvault.api.app import create_app
from taxvault.jobs.cycle import run_cycle
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade
from taxvault.synth.demo import Demo, pick_demo
from taxvault.synth.load import synthesize
from taxvault.web.codes import mint_sign_in_code

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "screenshots"
WIDTHS = (1280, 390)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TAXPAYERS, SEED, CYCLE_DATE = 600, 1, dt.date(2026, 6, 26)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_AUTH_REQUEST = re.compile(r'name="auth_request" value="([^"]+)"')


@dataclass(frozen=True, slots=True)
class World:
    """A synthesized store and its worked-example values (``demo``: a collection caseworker)."""

    var_dir: Path
    keys_dir: Path
    url: str
    engine: Engine
    demo: Demo

    def code_for(self, principal: str) -> str:
        """A one-time sign-in code, as ``taxvault console sign-in-code --as`` mints it."""
        with self.engine.begin() as conn:
            return mint_sign_in_code(conn, principal)

    def scalar(self, stmt: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar()


def _mark_synthetic(engine: Engine) -> None:
    """A store that holds only synthetic TINs (when the store settings exist: issue 17's init --synthetic)."""
    try:
        from taxvault.store.settings import set_synthetic_store  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return
    with engine.begin() as conn:
        set_synthetic_store(conn, True)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Once per test session (all console tests share it): init + synth (600 people) + one posting cycle.

    Tests add to it (adjustments, leads, audit events) but leave it as they found it otherwise
    (a deactivated principal is reactivated); assert on what a test itself did, not on totals.
    """
    var_dir = tmp_path_factory.mktemp("web") / "var"
    keys_dir = var_dir / "keys"
    saved = {k: os.environ.get(k) for k in ("TAXVAULT_VAR_DIR", "TAXVAULT_KEYS_DIR", "TAXVAULT_DATABASE_URL")}
    os.environ["TAXVAULT_VAR_DIR"] = str(var_dir)
    os.environ["TAXVAULT_KEYS_DIR"] = str(keys_dir)
    os.environ.pop("TAXVAULT_DATABASE_URL", None)
    url = f"sqlite:///{var_dir / 'taxvault.db'}"
    var_dir.mkdir(parents=True)
    engine = make_engine(url)
    upgrade(engine)
    _mark_synthetic(engine)
    synthesize(engine, TAXPAYERS, SEED)
    with local_door(engine) as door:
        run_cycle(door, CYCLE_DATE)
    demo = pick_demo(engine)
    try:
        yield World(var_dir, keys_dir, url, engine, demo)
    finally:
        engine.dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(autouse=True)
def _world_keys(_isolated_var_dir: None, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of a module share its store's keys (token signing, TIN vault) whatever ./var they get."""
    if "world" in request.fixturenames:
        w: World = request.getfixturevalue("world")
        monkeypatch.setenv("TAXVAULT_VAR_DIR", str(w.var_dir))
        monkeypatch.setenv("TAXVAULT_KEYS_DIR", str(w.keys_dir))


@pytest.fixture(scope="session")
def app(world: World) -> FastAPI:
    """The whole app (API and console) over the module's store."""
    return create_app(world.engine)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """A fresh browser-like client on loopback (its own cookie jar)."""
    return TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=True)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


SignIn = Callable[..., str]


@pytest.fixture
def sign_in(world: World) -> SignIn:
    """``sign_in(client, principal, purpose=None)``: the whole OIDC-style flow; returns the CSRF token."""

    def run(client: TestClient, principal: str, purpose: str | None = None) -> str:
        start = client.get("/web/sign-in", follow_redirects=True)
        assert start.status_code == 200, start.text
        auth = _AUTH_REQUEST.search(start.text)
        assert auth, "the issuer showed no sign-in form"
        done = client.post(
            "/idp/authorize", data={"auth_request": auth.group(1), "sign_in_code": world.code_for(principal)}
        )
        assert done.status_code == 200, done.text
        home = client.get("/web/")
        assert home.status_code == 200
        token = csrf_of(home.text)
        if purpose is not None:
            chosen = client.post("/web/purpose", data={"purpose": purpose, "csrf_token": token, "back": "/web/"})
            assert chosen.status_code == 200
        return token

    return run


def audit_events_of(world: World, principal: str) -> list[dict[str, Any]]:
    """The principal's audit events (parsed), oldest first."""
    from taxvault.audit.tables import audit_events

    cols = audit_events.c
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(cols.event).order_by(cols.leaf_index)).all()
    events = [json.loads(bytes(raw)) for (raw,) in rows]
    return [ev for ev in events if ev["principal"] == principal]


# -- the browser harness -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class LiveServer:
    """``taxvault serve`` in a subprocess over the module's store; its log in ``log_path``."""

    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def live_server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    env = dict(os.environ, TAXVAULT_VAR_DIR=str(world.var_dir), TAXVAULT_KEYS_DIR=str(world.keys_dir))
    env.pop("TAXVAULT_DATABASE_URL", None)
    env["TAXVAULT_OVERSIGHT_SCAN_SECONDS"] = "0"
    exe = shutil.which("taxvault", path=str(Path(sys.executable).parent)) or "taxvault"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [exe, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: a loaded CI machine starts uvicorn slowly
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        yield LiveServer(base, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def chromium_path() -> str | None:
    path = os.environ.get("TAXVAULT_CHROMIUM", "/usr/bin/chromium")
    return path if Path(path).exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module (Debian's package, through Playwright)."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (scripts/ensure-chromium installs it)")
        pytest.skip("no chromium (set TAXVAULT_CHROMIUM or install Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def screenshot(page: Any, name: str) -> list[Path]:
    """The page at 1280 and 390 px wide (full page), under var/test-artifacts/screenshots/.

    Also checks the page fits each width (no sideways scrolling of the whole page; a wide
    table scrolls inside its own box).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow} px wide at {width} px: it scrolls sideways"
        path = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return saved


def browser_sign_in(page: Any, server: LiveServer, world: World, principal: str, purpose: str | None = None) -> None:
    """Sign in through the issuer's form with a fresh one-time code, then choose the purpose."""
    page.goto(server.base_url + "/web/")
    page.get_by_label("Sign-in code").fill(world.code_for(principal))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base_url + "/web/")
    if purpose is not None:
        page.get_by_label("Purpose of use").select_option(purpose)
        page.get_by_role("button", name="Set").click()
        page.wait_for_load_state()


def aur_caseworker(world: World) -> str:
    """An AUR caseworker (the unit the matching-lead policy lets verify leads)."""
    from taxvault.store.tables import principals

    p = principals.c
    found = world.scalar(
        sa.select(p.id).where(p.unit == "aur", p.roles == "caseworker", p.active).order_by(p.id).limit(1)
    )
    assert found, "the synthetic staff has no AUR caseworker"
    return str(found)


def seed_lead(world: World) -> str:
    """One new death-refund lead, as a matching run leaves it (an approved agreement, a run, a finding)."""
    from taxvault.matching import agreements as ag
    from taxvault.matching import leads
    from taxvault.matching.keys import create_key, load_keys
    from taxvault.matching.tables import matching_leads, matching_runs
    from taxvault.store.tables import entities

    existing = world.scalar(sa.select(matching_leads.c.ref).where(matching_leads.c.state == "new").limit(1))
    if existing:
        return str(existing)
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with world.engine.begin() as conn:
        a = ag.draft_agreement(
            conn,
            partner_id="partner-ssa",
            program="death_refunds",
            purpose="Refunds issued after a death",
            legal_authority="26 USC 6103(d)",
            agency_fields=["first_name", "last_name", "refunds_846"],
            partner_fields=["first_name", "last_name", "death_date"],
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 6, 30),
            destroy_on=dt.date(2027, 12, 31),
            created_by="E000000",
        )
        a = ag.approve_agreement(conn, a.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
        create_key(a.ref)
        run = {
            "ref": "u" + secrets.token_hex(12), "agreement_id": a.id, "program": a.program, "run_by": "sys-matching",
            "as_of": t0.date(), "started_at": t0, "finished_at": t0, "fields_read": [], "agency_rows": 1,
            "partner_records": 1, "pairs_compared": 1, "matched": 1, "leads_new": 1, "threshold": 0.9,
        }  # fmt: skip
        run_id = conn.execute(matching_runs.insert().values(**run).returning(matching_runs.c.id)).scalar_one()
        e = entities.c
        eid = conn.execute(
            sa.select(e.id).where(e.kind == "individual", ~e.is_restricted, ~e.is_employee).order_by(e.id).limit(1)
        ).scalar_one()
        finding = leads.Finding(
            eid, "b" * 64, "846:m123", 2024, 0.995, {"first_name": 40.0, "last_name": 120.5},
            {"refund_cents": 81_234}, {"death_date": "2024-11-02"},
        )  # fmt: skip
        leads.insert_findings(conn, a, load_keys(a.ref), run_id, [finding], actor="sys-matching", note="run", now=t0)
        return str(conn.execute(sa.select(matching_leads.c.ref).where(matching_leads.c.state == "new")).scalar_one())
