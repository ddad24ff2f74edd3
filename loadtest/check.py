"""Audit completeness of a load run: every response the clients saw, matched against the audit log.

For each record the locust users wrote (request id, route, status):

- a 2xx must have exactly one audit event with its request id, allowed, with the route's action
  (``read:module_transcript``, ``lookup:entity``, ...) and, where the client knew it, the resource;
- a refusal (403, 404) must have its refusal event (a denied event with its request id);
- a 503 must be a problem+json (no data); the 503s are counted, never excused when a 2xx is wrong;
- every 2xx adjustment (an acknowledged write) must be in the store (``lost acknowledged writes``);
- a replayed 2xx (``Idempotent-Replayed: true``: a retry of a write that was applied) must have its
  one ``replay:<resource>`` event instead of a second write event;
- no write retried with the same ``Idempotency-Key`` may be applied twice (``doubled writes``: the
  adjustments whose request id is one of the key's attempts, at most one per key).

The events are read through the audit module's reader (:meth:`LogStore.iter_events`, then
:meth:`AuditEvent.from_bytes`), not by hand. A random sample of the matched events is proved
included in the latest signed tree head: the head's signature is checked with the standalone
verifier's code (:mod:`taxvault.audit.verifier`: ``ExportedSth.signed_message``,
``load_public_key``), and the inclusion path is folded here with hashlib alone (RFC 9162
2.1.3.2), independently of the server's Merkle code.

    python -m loadtest.check RECORDS_DIR [--json OUT] [--sample 50] [--inject-unaudited N]

Prints ``unaudited responses: 0`` (or the list) and exits 1 if anything is unaudited or lost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import string
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.engine import Engine

from taxvault.audit import AuditEvent, AuditLog, Decision
from taxvault.audit.storage import LogStore
from taxvault.audit.verifier import ExportedSth, load_public_key
from taxvault.ledger.tables import ledger_adjustments
from taxvault.store import make_engine

EXPECTED_ACTION = {
    "lookup": "lookup:entity",
    "transcript": "read:module_transcript",
    "notices": "read:notices",
    "adjust": "request_adjustment:module_transcript",
    "refuse-purpose": "read:module_transcript",
    "refuse-other-unit": "read:module_transcript",
    "access-report": "read:access_report",
}
REPLAYED_ACTION = {"adjust": "replay:module_transcript"}
REFUSALS = (403, 404)


@dataclass
class Finding:
    """One response without the audit event it needs (or a lost write)."""

    rid: str
    route: str
    status: int
    why: str


@dataclass
class Result:
    """What the checker found for one set of records."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unaudited: list[Finding] = field(default_factory=list)
    lost_writes: list[str] = field(default_factory=list)
    acknowledged_writes: int = 0
    doubled_writes: list[str] = field(default_factory=list)  # Idempotency-Keys applied more than once
    retried_writes: int = 0  # keys sent more than once
    replayed: int = 0
    proofs_checked: int = 0
    proofs_failed: int = 0
    sth_size: int = 0
    events_read: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "unaudited": [f.__dict__ for f in self.unaudited],
            "lost_writes": self.lost_writes,
            "acknowledged_writes": self.acknowledged_writes,
            "doubled_writes": self.doubled_writes,
            "retried_writes": self.retried_writes,
            "replayed": self.replayed,
            "proofs_checked": self.proofs_checked,
            "proofs_failed": self.proofs_failed,
            "sth_size": self.sth_size,
            "events_read": self.events_read,
        }


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every record of every ``*.jsonl`` file in ``directory`` (a torn last line is skipped)."""
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def fake_unaudited(n: int) -> list[dict[str, Any]]:
    """Records of 2xx responses no server ever gave: the checker must name each of them."""
    now = time.time()
    return [
        {
            "t": now,
            "rid": "ltfake" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(18)),
            "route": "transcript",
            "method": "GET",
            "status": 200,
            "ms": 1.0,
            "resource": None,
            "adj": None,
            "problem": False,
        }
        for _ in range(n)
    ]


def _events_by_request(engine: Engine, wanted: set[str]) -> tuple[dict[str, list[tuple[int, AuditEvent]]], int]:
    """The events whose request id is one of ``wanted``, with their leaf indexes (the audit reader)."""
    found: dict[str, list[tuple[int, AuditEvent]]] = defaultdict(list)
    count = 0
    with engine.connect() as conn:
        for index, data in LogStore.iter_events(conn):
            count += 1
            ev = AuditEvent.from_bytes(data)
            if ev.request_id in wanted:
                found[ev.request_id].append((index, ev))
    return found, count


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(leaf_hash: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root an inclusion path implies (None if the path is malformed).

    Malformed includes a leaf hash or path node that is not 32 bytes (as audit/merkle.py, issue 17).
    """
    if not 0 <= index < size or len(leaf_hash) != 32 or any(len(p) != 32 for p in path):
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def _prove_sample(engine: Engine, indexes: list[int], sample: int, result: Result) -> None:
    """Inclusion of a random sample of matched events in the latest STH, its signature checked."""
    log = AuditLog(engine)
    try:
        sth = log.latest_sth()
        if sth is None:
            result.proofs_failed = len(indexes[:sample]) or 1
            return
        pem = log.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        head = ExportedSth(sth.tree_size, sth.timestamp_ms, sth.root_hash, sth.signature, sth.key_id, None)
        key = load_public_key(pem)
        try:
            key.verify(head.signature, head.signed_message())
        except Exception:
            result.proofs_failed = 1
            return
        result.sth_size = head.tree_size
        covered = [i for i in indexes if i < head.tree_size]
        for index in random.sample(covered, min(sample, len(covered))):
            proof = log.inclusion_proof(index, head.tree_size)
            with engine.connect() as conn:
                data = LogStore.event(conn, index)
            ok = (
                data is not None
                and root_from_path(_leaf_hash(data), index, head.tree_size, proof.path) == head.root_hash
            )
            result.proofs_checked += 1
            result.proofs_failed += 0 if ok else 1
    finally:
        log.close()


def check(records: list[dict[str, Any]], engine: Engine, *, sample: int = 50) -> Result:
    """Match every record against the audit log and the store; see the module's docstring."""
    result = Result(requests=len(records))
    wanted = {str(r["rid"]) for r in records if r.get("rid")}
    events, result.events_read = _events_by_request(engine, wanted)
    matched: list[int] = []
    acknowledged: list[str] = []
    for r in records:
        status, route, rid = int(r["status"]), str(r["route"]), r.get("rid")
        result.statuses[status] += 1
        if status == 0:
            continue  # no answer reached the client (server killed, connection refused)
        if 200 <= status < 300:
            if not rid:
                result.unaudited.append(Finding("-", route, status, "no request id on the response"))
                continue
            evs = events.get(rid, [])
            allowed = [(i, e) for i, e in evs if e.decision == Decision.ALLOW]
            why = None
            if len(evs) != 1 or len(allowed) != 1:
                why = f"{len(allowed)} allowed of {len(evs)} events (want exactly one)"
            else:
                index, ev = allowed[0]
                want = (REPLAYED_ACTION if r.get("replayed") else EXPECTED_ACTION).get(route, ev.action)
                if ev.action != want:
                    why = f"action {ev.action} (want {want})"
                elif r.get("resource") and ev.resource != r["resource"]:
                    why = "the event names another resource"
                else:
                    matched.append(index)
            if why:
                result.unaudited.append(Finding(rid, route, status, why))
            if route == "adjust" and str(r.get("adj")) not in acknowledged:
                acknowledged.append(str(r.get("adj")))
            result.replayed += 1 if r.get("replayed") else 0
        elif status in REFUSALS:
            evs = events.get(rid or "", [])
            if not any(e.decision == Decision.DENY for _, e in evs):
                result.unaudited.append(Finding(rid or "-", route, status, "refused without a refusal event"))
        elif status >= 500 and not r.get("problem"):
            result.unaudited.append(Finding(rid or "-", route, status, "a 5xx that is not a problem+json"))
    result.acknowledged_writes = len(acknowledged)
    if acknowledged:
        with engine.connect() as conn:
            have: set[str] = set()
            for k in range(0, len(acknowledged), 500):
                chunk = acknowledged[k : k + 500]
                have.update(
                    str(x)
                    for (x,) in conn.execute(
                        sa.select(ledger_adjustments.c.ref).where(ledger_adjustments.c.ref.in_(chunk))
                    )
                )
        result.lost_writes = [a for a in acknowledged if a not in have]
    result.doubled_writes, result.retried_writes = doubled_writes(records, engine)
    if sample > 0:
        _prove_sample(engine, matched, sample, result)
    return result


def doubled_writes(records: list[dict[str, Any]], engine: Engine) -> tuple[list[str], int]:
    """The Idempotency-Keys whose attempts applied more than one adjustment, and how many keys were retried.

    An attempt's request id is the one the client sent (the server keeps a well-formed one, and the
    adjustment row records it), so an attempt that got no answer is counted too.
    """
    key_of: dict[str, str] = {}
    attempts: Counter[str] = Counter()
    for r in records:
        key = r.get("key")
        if key and r.get("route") == "adjust":
            attempts[str(key)] += 1
            for rid in {r.get("sent"), r.get("rid")} - {None}:
                key_of[str(rid)] = str(key)
    applied: Counter[str] = Counter()
    rids = sorted(key_of)
    with engine.connect() as conn:
        for k in range(0, len(rids), 500):
            chunk = rids[k : k + 500]
            q = sa.select(ledger_adjustments.c.request_id).where(ledger_adjustments.c.request_id.in_(chunk))
            applied.update(key_of[str(rid)] for (rid,) in conn.execute(q))
    return sorted(k for k, n in applied.items() if n > 1), sum(1 for n in attempts.values() if n > 1)


def report(result: Result) -> None:
    """Print the completeness check."""
    print(
        f"audit completeness: {result.requests} responses checked against {result.events_read} audit events; "
        f"statuses {dict(sorted(result.statuses.items()))}"
    )
    print(f"unaudited responses: {len(result.unaudited)}")
    for f in result.unaudited[:50]:
        print(f"  {f.rid} {f.route} {f.status}: {f.why}")
    if len(result.unaudited) > 50:
        print(f"  ... and {len(result.unaudited) - 50} more")
    print(f"lost acknowledged writes: {len(result.lost_writes)} of {result.acknowledged_writes}")
    print(
        f"doubled writes: {len(result.doubled_writes)} ({result.retried_writes} writes retried with their "
        f"Idempotency-Key, {result.replayed} answered by a replay)"
    )
    for key in result.doubled_writes[:20]:
        print(f"  applied twice: {key}")
    print(
        f"inclusion proofs: {result.proofs_checked - result.proofs_failed}/{result.proofs_checked} verified "
        f"against the signed tree head of size {result.sth_size}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, help="directory of the locust users' *.jsonl records")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--sample", type=int, default=50, help="inclusion proofs to verify")
    parser.add_argument("--inject-unaudited", type=int, default=0, help="add N fake 2xx records (self-test)")
    args = parser.parse_args(argv)
    records = read_records(args.records) + fake_unaudited(args.inject_unaudited)
    engine = make_engine()
    result = check(records, engine, sample=args.sample)
    engine.dispose()
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result.to_json()), encoding="utf-8")
    bad = result.unaudited or result.lost_writes or result.doubled_writes or result.proofs_failed
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
