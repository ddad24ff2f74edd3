"""Principals that are not agency caseworkers: engineers, analysts, oversight, partners, jobs.

Caseworkers and managers come with the households (they are taxpayers too, which
is exactly what the access rules must handle); these few exist once per store.
"""

from __future__ import annotations

from typing import Any

from taxvault.synth.population import CREATED_AT

FIXED_PRINCIPALS: tuple[tuple[str, str, str, str, str | None], ...] = (
    # id, kind, display name, roles, unit
    ("sys-ingest", "system", "Ingest pipeline", "system ingest", None),
    ("sys-posting", "system", "Posting cycle", "system posting", None),
    ("sys-matching", "system", "Matching job", "system matching", None),
    ("sys-notices", "system", "Notice issuance", "system notices", None),
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
    """Rows for the principals table (entity-less principals)."""
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
