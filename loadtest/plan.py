"""The load test's plan: who the simulated users are and what they may ask for, read from the store.

Why a plan file: the locust users must not open the store (they are clients), yet they need
tokens, the module refs of each caseworker's open cases and those taxpayers' TINs (a look-up
sends the TIN in its body). The TINs are decrypted here the way ``taxvault demo`` does it: as
``sys-synth`` through the door (``export_synthetic``, decided and audited), never from a clear
column. The plan lives in the run's private work directory and holds synthetic data only.

    python -m loadtest.plan PLAN.json   (with TAXVAULT_VAR_DIR / TAXVAULT_DATABASE_URL of the store)
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.access.tokens import MAX_TTL_SECONDS, issue_token
from taxvault.store import make_engine
from taxvault.store import tables as t
from taxvault.store.tins import aad, tin_vault
from taxvault.synth.reading import synthetic_export


def _subjects(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Per active caseworker: the subjects of her open cases she has no relation to (plain ones)."""
    p, c, cs, e, m = t.principals.c, t.cases.c, t.case_subjects.c, t.entities.c, t.tax_modules.c
    related = {
        (str(r.principal_id), int(r.entity_id))
        for r in conn.execute(sa.select(t.principal_relations.c.principal_id, t.principal_relations.c.entity_id))
    }
    rows = conn.execute(
        sa.select(c.assigned_to, c.purpose, e.id, e.ref, e.tin_enc, e.tin_type, m.ref.label("module"))
        .select_from(
            t.cases.join(t.case_subjects, cs.case_id == c.id)
            .join(t.entities, e.id == cs.entity_id)
            .join(t.tax_modules, m.id == cs.module_id)
            .join(t.principals, p.id == c.assigned_to)
        )
        .where(c.status == "open", p.active, p.kind == "employee", ~e.is_restricted, ~e.is_employee)
        .order_by(c.assigned_to, c.id, e.id)
    ).all()
    vault = tin_vault(conn)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if (str(r.assigned_to), int(r.id)) in related:
            continue
        found[str(r.assigned_to)].append(
            {
                "purpose": str(r.purpose),
                "entity": str(r.ref),
                "tin": vault.decrypt(conn, r.tin_enc, aad("entities", "tin", r.ref)),
                "tin_type": str(r.tin_type),
                "module": str(r.module),
            }
        )
    return found


def build_plan(max_caseworkers: int, max_taxpayers: int, seed: int = 1) -> dict[str, Any]:
    """Caseworkers with tokens and subjects; other units' modules for refusals; taxpayers with tokens."""
    engine = make_engine()
    rng = random.Random(seed)
    with synthetic_export(engine, "loadtest-plan") as export:
        by_worker = _subjects(export.conn)
        export.wrote = ["principal_id", "tin", "module_ref"]
    if not by_worker:
        raise SystemExit("error: no caseworker with open cases in this store (run `taxvault synth` first)")
    workers = sorted(by_worker)[:max_caseworkers]
    every_module = [(w, s["module"]) for w in by_worker for s in by_worker[w]]
    caseworkers = []
    for w in workers:
        mine = {s["module"] for s in by_worker[w]}
        foreign = [mod for other, mod in every_module if other != w and mod not in mine]
        rng.shuffle(foreign)
        caseworkers.append(
            {
                "principal": w,
                "token": issue_token(w, ttl_seconds=MAX_TTL_SECONDS),
                "subjects": by_worker[w],
                "foreign": foreign[:20],
            }
        )
    refs = sorted({s["entity"] for w in workers for s in by_worker[w]})
    rng.shuffle(refs)
    taxpayers = []
    with engine.begin() as conn:
        for ref in refs[:max_taxpayers]:
            principal = ensure_taxpayer_principal(conn, ref)
            taxpayers.append({"principal": principal, "ref": ref})
    for tp in taxpayers:
        tp["token"] = issue_token(tp["principal"], ttl_seconds=MAX_TTL_SECONDS)
    engine.dispose()
    return {"caseworkers": caseworkers, "taxpayers": taxpayers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--caseworkers", type=int, default=60)
    parser.add_argument("--taxpayers", type=int, default=60)
    args = parser.parse_args()
    plan = build_plan(args.caseworkers, args.taxpayers)
    args.out.write_text(json.dumps(plan), encoding="utf-8")
    args.out.chmod(0o600)
    subjects = sum(len(c["subjects"]) for c in plan["caseworkers"])
    print(f"plan: {len(plan['caseworkers'])} caseworkers, {subjects} case subjects, {len(plan['taxpayers'])} taxpayers")


if __name__ == "__main__":
    main()
