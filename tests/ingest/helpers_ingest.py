"""Shared helpers for the ingest tests: a synthetic population written as legacy files, and
the store's canonical rows keyed by natural keys (TINs, module keys), not by internal ids."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.keys import keys_dir
from taxvault.store import make_engine
from taxvault.store.migrate import table_counts
from taxvault.store.registry import all_metadata
from taxvault.store.tins import TinVault, aad
from taxvault.synth.legacy import write_legacy
from taxvault.synth.load import synthesize

COMPARED = (
    "entities",
    "tax_modules",
    "transactions",
    "returns",
    "return_dependents",
    "information_returns",
    "principals",
    "principal_relations",
    "cases",
    "case_subjects",
    "notices",
)
"""Tables compared between synth-into-store and synth -> legacy -> ingest. Not compared:
``sources`` (one row per file vs one synth row), ``grants`` (taxvault-only, in no legacy
file), the audit tables and ``ingest_quarantine``; nor the system principals (each store's
own, made by ``taxvault init``, in no legacy file)."""


def legacy_population(tmp: Path, sqlite_template: Path, taxpayers: int, seed: int = 3) -> tuple[Engine, Path]:
    """A SQLite store holding a synthetic population, and the directory of its legacy files."""
    db = tmp / "synth.db"
    shutil.copyfile(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    synthesize(engine, taxpayers, seed)
    _KEYS[str(engine.url)] = keys_dir()  # a module-scoped store keeps the keys it was made with
    out = tmp / "legacy"
    write_legacy(engine, out)
    return engine, out


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of every table the store has (all domains, audit and quarantine included)."""
    present = set(sa.inspect(engine).get_table_names())
    return table_counts(engine, [t for t in all_metadata().sorted_tables if t.name in present])


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def _norm(v: Any) -> Any:
    """One spelling per value whatever the dialect: dates ISO, times UTC ISO, JSON sorted, bools 0/1."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        if v.startswith("{"):
            return json.dumps(json.loads(v), sort_keys=True)
        if _STAMP.match(v):
            return _norm(dt.datetime.fromisoformat(v))
    return v


_KEYS: dict[str, Path] = {}
_TIN_COLUMN = re.compile(r"\b(\w+)\.(tin|payer_tin|payee_tin)\b")


def _clear_tins(engine: Engine) -> dict[bytes, str]:
    """Lookup hash -> clear TIN of every entity (stores keep no clear TIN; natural keys need it)."""
    vault = TinVault(_KEYS.get(str(engine.url), keys_dir()))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT tin_hash, tin_enc, ref FROM entities")).all()
        clear = vault.decrypt_many(conn, [r[1] for r in rows], [aad("entities", "tin", r[2]) for r in rows])
    return {bytes(r[0]): tin for r, tin in zip(rows, clear, strict=True)}


def canonical_rows(engine: Engine) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every compared table as a multiset of rows in natural keys (TINs by their clear value)."""
    q: dict[str, str] = {
        "entities": """SELECT e.tin, e.tin_type, e.kind, e.last_name, e.first_name, e.middle_name,
            e.business_name, e.name_control, e.address_line, e.city, e.state, e.zip, e.birth_date,
            e.death_date, s.tin, e.is_employee, e.is_restricted, e.is_deceased
            FROM entities e LEFT JOIN entities s ON s.id = e.spouse_id""",
        "tax_modules": """SELECT e.tin, m.mft, m.tax_period, m.status FROM tax_modules m
            JOIN entities e ON e.id = m.entity_id""",
        "transactions": """SELECT e.tin, m.mft, m.tax_period, x.tc, x.amount_cents, x.posted_date, x.cycle,
            x.dln, x.reason_code, x.posted_by FROM transactions x JOIN tax_modules m ON m.id = x.module_id
            JOIN entities e ON e.id = m.entity_id""",
        "returns": """SELECT e.tin, m.mft, m.tax_period, o.tin, s.tin, r.tax_year, r.form, r.filing_status,
            r.dependents, r.filed_date, r.dln, r.wages_cents, r.interest_cents, r.dividends_cents,
            r.business_income_cents, r.retirement_income_cents, r.total_income_cents, r.agi_cents,
            r.deduction_cents, r.taxable_income_cents, r.tax_cents, r.credits_cents, r.total_tax_cents,
            r.withholding_cents, r.payments_cents, r.refund_cents, r.balance_due_cents, r.bank_routing,
            r.bank_account FROM returns r JOIN tax_modules m ON m.id = r.module_id
            JOIN entities e ON e.id = m.entity_id JOIN entities o ON o.id = r.entity_id
            LEFT JOIN entities s ON s.id = r.spouse_id""",
        "return_dependents": """SELECT e.tin, m.tax_period, d2.tin, d.relationship FROM return_dependents d
            JOIN returns r ON r.id = d.return_id JOIN tax_modules m ON m.id = r.module_id
            JOIN entities e ON e.id = m.entity_id JOIN entities d2 ON d2.id = d.entity_id""",
        "information_returns": """SELECT i.form, i.tax_year, i.payer_tin, i.payer_tin_type, i.payee_tin,
            i.payee_tin_type, p.tin, q.tin, i.payee_name_control, i.income_cents, i.withholding_cents, i.boxes
            FROM information_returns i LEFT JOIN entities p ON p.id = i.payer_id
            LEFT JOIN entities q ON q.id = i.payee_id""",
        "principals": """SELECT p.id, p.kind, p.display_name, p.roles, p.unit, e.tin, p.manager_id,
            p.dollar_limit_cents, p.active, p.created_at FROM principals p
            LEFT JOIN entities e ON e.id = p.entity_id WHERE p.kind <> 'system'""",
        "principal_relations": """SELECT r.principal_id, e.tin, r.relation FROM principal_relations r
            JOIN entities e ON e.id = r.entity_id""",
        "cases": """SELECT c.unit, c.kind, c.purpose, c.assigned_to, c.status, c.opened_at, c.closed_at
            FROM cases c""",
        "case_subjects": """SELECT c.unit, c.kind, c.opened_at, c.assigned_to, e.tin, o.tin, m.mft,
            m.tax_period FROM case_subjects s JOIN cases c ON c.id = s.case_id
            JOIN entities e ON e.id = s.entity_id LEFT JOIN tax_modules m ON m.id = s.module_id
            LEFT JOIN entities o ON o.id = m.entity_id""",
        "notices": """SELECT e.tin, m.mft, m.tax_period, n.notice_type, n.issued_date, n.amount_due_cents,
            n.tax_cents, n.penalty_cents, n.interest_cents, n.respond_by FROM notices n
            JOIN tax_modules m ON m.id = n.module_id JOIN entities e ON e.id = m.entity_id""",
    }
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    tins = _clear_tins(engine)
    with engine.connect() as conn:
        for name, sql in q.items():
            rows: Counter[tuple[Any, ...]] = Counter()
            for row in conn.execute(sa.text(_TIN_COLUMN.sub(r"\1.\2_hash", sql))):
                values = [
                    tins.get(bytes(v), bytes(v).hex()) if isinstance(v, bytes | memoryview) else _norm(v) for v in row
                ]
                rows[tuple(values)] += 1
            out[name] = rows
    return out
