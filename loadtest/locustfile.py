"""Locust users for the load test: caseworkers and taxpayers over loopback, each response recorded.

Run by ``loadtest/run.py`` as a subprocess (locust monkeypatches with gevent: never import this
into a test process). Reads the plan named by ``LOADTEST_PLAN`` (``plan.py`` writes it: tokens,
module refs, TINs of each caseworker's open cases, other units' refs for refusals) and appends
one JSON line per request to ``LOADTEST_RECORDS`` (one file per locust process)::

    {"t": 1733412345.1, "rid": "<X-Request-ID returned>", "sent": "<X-Request-ID sent>",
     "route": "transcript", "method": "GET", "status": 200, "ms": 12.3,
     "resource": "<opaque ref or null>", "adj": "<adjustment id of a 2xx write or null>",
     "problem": false, "key": "<Idempotency-Key of a write or null>", "attempt": 0, "replayed": false}

Writes carry an ``Idempotency-Key``; a write answered 502/503/504 or not at all (the server
killed, PostgreSQL restarting) is retried with the same key, up to ``LOADTEST_RETRIES`` times
(default 3): the checker then asserts that no key's write was applied twice.

The completeness checker (``loadtest/check.py``) matches every record against the audit log.
TINs travel only in POST bodies, never in a URL, a header or a record.
"""

from __future__ import annotations

import json
import os
import random
import string
import threading
import time
from typing import Any

from locust import FastHttpUser, between, task

_PLAN: dict[str, Any] = json.loads(open(os.environ["LOADTEST_PLAN"], encoding="utf-8").read())  # noqa: SIM115
_OUT = open(os.environ["LOADTEST_RECORDS"], "a", encoding="utf-8", buffering=1)  # noqa: SIM115
_LOCK = threading.Lock()
_LETTERS = string.ascii_lowercase
_WAIT = float(os.environ.get("LOADTEST_WAIT", "1.0"))
_RETRIES = int(os.environ.get("LOADTEST_RETRIES", "3"))
_RETRY_ON = (0, 502, 503, 504)  # no answer, or "unavailable": the write may or may not have been applied


def _new_id() -> str:
    # Letters only: the API refuses client ids with digit runs shaped like a TIN, and would answer with its own.
    return "lt" + "".join(random.choices(_LETTERS, k=22))


class _Recorder(FastHttpUser):
    """Sends one request, records (request id, route, status, latency); never raises on errors."""

    abstract = True
    last_status = 0
    wait_time = between(0.2 * _WAIT, 1.8 * _WAIT)
    network_timeout = 60.0
    connection_timeout = 10.0
    headers: dict[str, str]

    def call(
        self,
        route: str,
        method: str,
        path: str,
        *,
        purpose: str | None = None,
        body: dict[str, Any] | None = None,
        resource: str | None = None,
        key: str | None = None,
        attempt: int = 0,
    ) -> dict[str, Any] | None:
        sent = _new_id()
        headers = {**self.headers, "X-Request-ID": sent}
        if purpose is not None:
            headers["Purpose-Of-Use"] = purpose
        if key is not None:
            headers["Idempotency-Key"] = key
        replayed = False
        started = time.time()
        t0 = time.perf_counter()
        payload: dict[str, Any] | None = None
        with self.client.request(method, path, name=route, headers=headers, json=body, catch_response=True) as resp:
            ms = (time.perf_counter() - t0) * 1000
            status = int(resp.status_code or 0)
            rid = resp.headers.get("x-request-id") if resp.headers else None
            ctype = (resp.headers.get("content-type") or "") if resp.headers else ""
            replayed = bool(resp.headers) and resp.headers.get("idempotent-replayed") == "true"
            if 200 <= status < 300:
                try:
                    payload = resp.json()
                except ValueError:
                    payload = None
                resp.success()
            elif status in (403, 404, 422):
                resp.success()  # refusals are part of the mix; the checker asks for their audit events
            elif key is not None and status in _RETRY_ON and attempt < _RETRIES:
                resp.success()  # retried with the same key (the retry's record says how it ended)
            else:
                resp.failure(f"status {status}")
        adj = payload.get("id") if payload is not None and route == "adjust" else None
        if route == "lookup" and payload is not None:
            resource = payload.get("id")
        record = {
            "t": round(started, 4),
            "rid": rid,
            "sent": sent,
            "route": route,
            "method": method,
            "status": status,
            "ms": round(ms, 2),
            "resource": resource,
            "adj": adj,
            "problem": "problem+json" in ctype,
            "key": key,
            "attempt": attempt,
            "replayed": replayed,
        }
        with _LOCK:
            _OUT.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.last_status = status
        return payload

    def write(self, route: str, path: str, *, purpose: str, body: dict[str, Any], resource: str) -> None:
        """A write with an Idempotency-Key, retried with the same key while it may not have been applied."""
        key = "lt-" + _new_id()
        for attempt in range(_RETRIES + 1):
            if attempt:
                time.sleep(min(0.25 * 2**attempt, 2.0))  # gevent-patched: other users go on meanwhile
            self.call(route, "POST", path, purpose=purpose, body=body, resource=resource, key=key, attempt=attempt)
            if self.last_status not in _RETRY_ON:
                return


class Caseworker(_Recorder):
    """A caseworker working her open cases; now and then a refusal (wrong purpose, another unit)."""

    weight = 9

    def on_start(self) -> None:
        me = random.choice(_PLAN["caseworkers"])
        self.me = me
        self.headers = {"Authorization": f"Bearer {me['token']}"}

    def _subject(self) -> dict[str, Any]:
        subject: dict[str, Any] = random.choice(self.me["subjects"])
        return subject

    @task(4)
    def lookup(self) -> None:
        s = self._subject()
        self.call(
            "lookup",
            "POST",
            "/v1/taxpayers/lookup",
            purpose=s["purpose"],
            body={"tin": s["tin"], "tin_type": s["tin_type"]},
        )

    @task(6)
    def transcript(self) -> None:
        s = self._subject()
        m = s["module"]
        self.call("transcript", "GET", f"/v1/modules/{m}/transcript", purpose=s["purpose"], resource=m)

    @task(3)
    def notices(self) -> None:
        s = self._subject()
        m = s["module"]
        self.call("notices", "GET", f"/v1/modules/{m}/notices", purpose=s["purpose"], resource=m)

    @task(1)
    def adjust(self) -> None:
        s = self._subject()
        m = s["module"]
        body = {"tc": 290, "amount_cents": random.randint(100, 5000), "reason_code": 51}
        self.write("adjust", f"/v1/modules/{m}/adjustments", purpose=s["purpose"], body=body, resource=m)

    @task(1)
    def wrong_purpose(self) -> None:
        s = self._subject()
        m = s["module"]
        other = "examination" if s["purpose"] != "examination" else "collection"
        self.call("refuse-purpose", "GET", f"/v1/modules/{m}/transcript", purpose=other, resource=m)

    @task(1)
    def other_unit(self) -> None:
        foreign = self.me["foreign"]
        if not foreign:
            return
        m = random.choice(foreign)
        self.call("refuse-other-unit", "GET", f"/v1/modules/{m}/transcript", purpose="collection", resource=m)


class Taxpayer(_Recorder):
    """A taxpayer asking who looked at her records."""

    weight = 1

    def on_start(self) -> None:
        me = random.choice(_PLAN["taxpayers"])
        self.me = me
        self.headers = {"Authorization": f"Bearer {me['token']}"}

    @task
    def access_report(self) -> None:
        self.call(
            "access-report", "GET", "/v1/me/access-report?limit=20", purpose="self_service", resource=self.me["ref"]
        )
