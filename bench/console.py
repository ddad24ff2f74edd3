"""Benchmark: server time per main console page, p50 and p95, at two population sizes (SQLite).

For each size a fresh synthetic store (``init --synthetic`` equivalent, ``synth``, one posting
cycle), the whole app in process (API + console), and one signed-in session per role through
the embedded issuer. Each page is requested ``--requests`` times after a warm-up, in rounds
that alternate between pages so all see the same machine conditions; the time is the request's
wall time through httpx's in-process transport (server work: session, door, Cedar, fetch,
masking, durable audit append, template). Anchors measured in the same run: the JSON twins
of two pages (``/v1/me/cases``, ``/v1/modules/{m}/transcript``: same door, bearer token instead
of the session) and ``/health`` (no door, but not free: it checks the store is reachable and its
migrations current).

Aim (issue 15): p50 < 50 ms per main page on SQLite.

    python bench/console.py                         # 2,000 and 20,000 taxpayers
    python bench/console.py --sizes 5000 --requests 50 --json out.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AIM_P50_MS = 50.0
CYCLE = dt.date(2026, 6, 26)
_AUTH_REQUEST = re.compile(r'name="auth_request" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PLAN_ID = re.compile(r'name="plan_id" value="(p[0-9a-f]{24})"')


@dataclass
class Probe:
    """One page (or anchor) to time: who asks, how."""

    name: str
    client: Any
    method: str
    path: str
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    anchor: bool = False


def _prepare(var: Path, people: int) -> Any:
    """A synthetic SQLite store with ``people`` taxpayers and one posting cycle; its engine."""
    from taxvault.access.local import local_door
    from taxvault.jobs.cycle import run_cycle
    from taxvault.store import make_engine
    from taxvault.store.migrate import upgrade
    from taxvault.store.settings import set_synthetic_store
    from taxvault.synth.load import synthesize

    engine = make_engine(f"sqlite:///{var / 'taxvault.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        set_synthetic_store(conn, True)
    synthesize(engine, people, seed=1)
    with local_door(engine) as door:
        run_cycle(door, CYCLE)
    return engine


def _sign_in(app: Any, engine: Any, principal: str, purpose: str | None) -> tuple[Any, str]:
    """A TestClient with a console session for ``principal`` (the whole sign-in flow); its CSRF token."""
    from fastapi.testclient import TestClient

    from taxvault.web.codes import mint_sign_in_code

    client = TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=True)
    start = client.get("/web/sign-in")
    found = _AUTH_REQUEST.search(start.text)
    assert found, "the issuer showed no sign-in form"
    with engine.begin() as conn:
        code = mint_sign_in_code(conn, principal)
    done = client.post("/idp/authorize", data={"auth_request": found.group(1), "sign_in_code": code})
    assert done.status_code == 200, done.status_code
    token = _CSRF.search(client.get("/web/").text)
    assert token
    if purpose is not None:
        client.post("/web/purpose", data={"purpose": purpose, "csrf_token": token.group(1), "back": "/web/"})
    return client, token.group(1)


def _seed(engine: Any, caseworker: str, module_ref: str, taxpayer_ref: str) -> tuple[str, str, int]:
    """Work for the manager and oversight pages: an adjustment awaiting approval, a break-glass access, an alert."""
    import sqlalchemy as sa

    from taxvault.access.principals import ensure_taxpayer_principal
    from taxvault.access.tables import break_glass_reviews
    from taxvault.audit.tables import audit_events
    from taxvault.ledger import adjustments
    from taxvault.oversight.alerts import AlertDraft, raise_alerts
    from taxvault.store.tables import principals, tax_modules

    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        manager = str(conn.execute(sa.select(principals.c.manager_id).where(principals.c.id == caseworker)).scalar())
        module_id = int(conn.execute(sa.select(tax_modules.c.id).where(tax_modules.c.ref == module_ref)).scalar_one())
        adjustments.request(
            conn, module_id, tc=290, amount_cents=1_500_000, reason_code=None, requested_by=caseworker,
            request_id="bench-console", within_authority=False,
        )  # fmt: skip
        leaf = int(conn.execute(sa.select(sa.func.max(audit_events.c.leaf_index))).scalar_one())
        conn.execute(
            break_glass_reviews.insert().values(
                leaf_index=leaf, request_id="bench-0000000000000000", principal_id=caseworker,
                action="read:module_transcript", resource=module_ref, purpose="collection",
                justification="bench: taxpayer on the phone", created_at=now, state="pending",
            )
        )  # fmt: skip
        draft = AlertDraft(
            rule="browsing", severity="high", summary="bench alert", leaves=[leaf], principal_id=caseworker,
            subject=taxpayer_ref, window=(now, now), dedupe=f"bench:{leaf}",
        )  # fmt: skip
        raise_alerts(conn, [draft], now=now)
        taxpayer = ensure_taxpayer_principal(conn, taxpayer_ref)
    return manager, taxpayer, leaf


def _probes(app: Any, engine: Any) -> list[Probe]:
    from fastapi.testclient import TestClient

    from taxvault.access.tokens import issue_token
    from taxvault.synth.demo import pick_demo

    demo = pick_demo(engine)
    manager, taxpayer, leaf = _seed(engine, demo.principal, demo.module_ref, demo.taxpayer_ref)
    cw, cw_csrf = _sign_in(app, engine, demo.principal, "collection")
    tp, _ = _sign_in(app, engine, taxpayer, None)
    mgr, _ = _sign_in(app, engine, manager, "collection")
    ovs, _ = _sign_in(app, engine, "ovs-privacy", "oversight_review")
    proposed = cw.post("/web/ask/", data={"question": "How many notices were issued each year?", "csrf_token": cw_csrf})
    plan = _PLAN_ID.search(proposed.text)
    assert plan, "the ask page proposed no plan"
    api = TestClient(app, base_url="http://127.0.0.1:8000")
    bearer = {"Authorization": f"Bearer {issue_token(demo.principal)}", "Purpose-Of-Use": "collection"}
    transcript = f"/v1/modules/{demo.module_ref}/transcript"
    question = {"question": "How many notices were issued each year?", "csrf_token": cw_csrf}
    run = {"plan_id": plan.group(1), "csrf_token": cw_csrf}
    rare = f"/web/oversight/events?principal={manager}"  # few events of hers: the page scans its whole bound
    return [
        Probe("anchor: GET /health", api, "GET", "/health", anchor=True),
        Probe("anchor: GET /v1/me/cases (JSON)", api, "GET", "/v1/me/cases", headers=bearer, anchor=True),
        Probe("anchor: GET /v1/modules/{m}/transcript (JSON)", api, "GET", transcript, headers=bearer, anchor=True),
        Probe("caseworker: my cases", cw, "GET", "/web/cases/"),
        Probe("caseworker: taxpayer summary", cw, "GET", f"/web/cases/taxpayers/{demo.taxpayer_ref}"),
        Probe("caseworker: module transcript", cw, "GET", f"/web/cases/modules/{demo.module_ref}"),
        Probe("taxpayer: my account", tp, "GET", "/web/me/"),
        Probe("taxpayer: my notices", tp, "GET", "/web/me/notices"),
        Probe("taxpayer: access report", tp, "GET", "/web/me/access-report"),
        Probe("manager: approvals", mgr, "GET", "/web/approvals/"),
        Probe("manager: break-glass reviews", mgr, "GET", "/web/reviews/"),
        Probe("oversight: audit log", ovs, "GET", "/web/oversight/events"),
        Probe("oversight: audit log, filtered (rare principal)", ovs, "GET", rare),
        Probe("oversight: event + inclusion proof", ovs, "GET", f"/web/oversight/events/{leaf}"),
        Probe("oversight: signed tree heads", ovs, "GET", "/web/oversight/heads"),
        Probe("oversight: alerts", ovs, "GET", "/web/oversight/alerts"),
        Probe("ask: translate + show the plan", cw, "POST", "/web/ask/", data=question),
        Probe("ask: run the plan", cw, "POST", "/web/ask/run", data=run),
    ]


def _time(probe: Probe) -> float:
    started = time.perf_counter()
    if probe.method == "GET":
        answer = probe.client.get(probe.path, headers=probe.headers)
    else:
        answer = probe.client.post(probe.path, data=probe.data, headers=probe.headers)
    took = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"{probe.name}: HTTP {answer.status_code}")
    return took


def measure(people: int, requests: int, warmup: int) -> dict[str, Any]:
    """One population size: every probe's p50 and p95 in milliseconds."""
    import logging

    logging.getLogger("taxvault").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        var = Path(tmp) / "var"
        var.mkdir()
        os.environ["TAXVAULT_VAR_DIR"] = str(var)
        os.environ["TAXVAULT_KEYS_DIR"] = str(var / "keys")
        os.environ.pop("TAXVAULT_DATABASE_URL", None)
        os.environ["TAXVAULT_OVERSIGHT_SCAN_SECONDS"] = "0"
        from taxvault.access.ratelimit import RateLimiter
        from taxvault.api.app import create_app

        t0 = time.perf_counter()
        engine = _prepare(var, people)
        prepared = time.perf_counter() - t0
        app = create_app(engine, rate_limiter=RateLimiter(1e9, 10**9))
        probes = _probes(app, engine)
        times: dict[str, list[float]] = {p.name: [] for p in probes}
        for _ in range(warmup):
            for p in probes:
                _time(p)
        for _ in range(requests):
            for p in probes:
                times[p.name].append(_time(p))
        engine.dispose()
    rows = []
    for p in probes:
        xs = sorted(times[p.name])
        p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
        rows.append({"page": p.name, "anchor": p.anchor, "p50_ms": statistics.median(xs), "p95_ms": p95})
    return {"taxpayers": people, "prepare_s": round(prepared, 1), "requests": requests, "rows": rows}


def report(result: dict[str, Any]) -> bool:
    """Print one size's table; True when every page's p50 meets the aim."""
    print(f"\n{result['taxpayers']:,} taxpayers (store prepared in {result['prepare_s']} s), "
          f"{result['requests']} requests per page")  # fmt: skip
    print(f"{'page':<52} {'p50 ms':>8} {'p95 ms':>8}  aim p50 < {AIM_P50_MS:g} ms")
    ok = True
    for r in result["rows"]:
        verdict = "anchor" if r["anchor"] else ("ok" if r["p50_ms"] < AIM_P50_MS else "OVER")
        ok = ok and (r["anchor"] or r["p50_ms"] < AIM_P50_MS)
        print(f"{r['page']:<52} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f}  {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000", help="taxpayers per store, comma-separated")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"console page timing, SQLite, in-process; load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    results = [measure(n, args.requests, args.warmup) for n in sizes]
    ok = all([report(r) for r in results])  # noqa: C419 (print every table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("\nall main pages within the aim" if ok else "\nsome pages over the aim (see OVER)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
