"""Principals that are not agency caseworkers: engineers, analysts, oversight, partners.

Caseworkers and managers come with the households (they are taxpayers too, which
is exactly what the access rules must handle); these few exist once per store.
The jobs' system principals (``sys-synth``, ``sys-ingest``, ...) are not synthetic:
``taxvault init`` creates them in every store (:mod:`taxvault.access.system_principals`),
and synth creates any that are missing before it loads, as ``sys-synth``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from taxvault.synth.identifiers import refs
from taxvault.synth.population import CREATED_AT

FIXED_PRINCIPALS: tuple[tuple[str, str, str, str, str | None], ...] = (
    # id, kind, display name, roles, unit
    ("eng-001", "contractor", "Modernisation engineer 1", "engineer", "modernisation"),
    ("eng-002", "contractor", "Modernisation engineer 2", "engineer", "modernisation"),
    (
        "eng-lead",
        "employee",
        "Modernisation lead (grant approver)",
        "engineer grant_approver",
        "modernisation",
    ),
    ("ana-001", "analyst", "Statistics analyst", "analyst", "research"),
    ("ana-002", "analyst", "Policy analyst", "analyst", "research"),
    ("ovs-privacy", "oversight", "Privacy officer", "oversight privacy_officer", "privacy"),
    ("ovs-tigta", "oversight", "Inspector general agent", "oversight inspector_general", "tigta"),
    ("ovs-audit", "oversight", "External auditor", "oversight auditor", "audit"),
    ("partner-ssa", "partner", "Social Security Administration", "partner", None),
    ("partner-state-ca", "partner", "State of California wage records", "partner", None),
    ("partner-fiscal", "partner", "Treasury Bureau of the Fiscal Service", "partner", None),
)


def fixed_principal_rows() -> dict[str, Any]:
    """Rows for the principals table (entity-less principals; the system ones are not among them)."""
    n = len(FIXED_PRINCIPALS)
    return {
        "id": [p[0] for p in FIXED_PRINCIPALS],
        "kind": [p[1] for p in FIXED_PRINCIPALS],
        "display_name": [p[2] for p in FIXED_PRINCIPALS],
        "roles": [p[3] for p in FIXED_PRINCIPALS],
        "unit": [p[4] for p in FIXED_PRINCIPALS],
        "entity_id": [None] * n,
        "manager_id": [None] * n,
        "dollar_limit_cents": [0] * n,
        "active": [True] * n,
        "created_at": [CREATED_AT] * n,
    }


def _utc(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=dt.UTC)


# (holder, datasets, fields, purpose, start, end, state, renewals): one grant that is
# active in late 2026, one that expired, one revoked; each approved by eng-lead.
_GRANTS = (
    ("eng-001", ["entities", "tax_modules", "transactions"], ["name", "address", "tin_last4"],
     "legacy_migration_validation", _utc(2026, 10, 1), _utc(2027, 1, 28), "active", 0),
    ("eng-002", ["information_returns"], ["payer_tin", "payee_tin", "amounts"],
     "ingest_defect_analysis", _utc(2025, 1, 6), _utc(2025, 5, 5), "expired", 1),
    ("eng-002", ["returns"], ["filing_status", "line_items"],
     "schema_mapping", _utc(2026, 9, 1), _utc(2026, 12, 29), "revoked", 0),
)  # fmt: skip


def fixed_grant_rows(first_id: int, rng: np.random.Generator) -> dict[str, Any]:
    """Time-boxed grants for the engineers (each at most 120 days, approved by a second person)."""
    n = len(_GRANTS)
    return {
        "id": np.arange(first_id, first_id + n, dtype=np.int64),
        "ref": refs(rng, "g", n),
        "principal_id": [g[0] for g in _GRANTS],
        "datasets": [g[1] for g in _GRANTS],
        "fields": [g[2] for g in _GRANTS],
        "purpose": [g[3] for g in _GRANTS],
        "starts_at": [g[4] for g in _GRANTS],
        "ends_at": [g[5] for g in _GRANTS],
        "approver_id": ["eng-lead"] * n,
        "renewals": [g[7] for g in _GRANTS],
        "state": [g[6] for g in _GRANTS],
        "created_at": [g[4] for g in _GRANTS],
    }
