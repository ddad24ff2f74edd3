"""The authorization matrix, through the real HTTP stack (app, auth, Cedar, masking, audit).

Each row: who asks, for what, with which purpose (and break-glass justification);
the expected status, the deciding policy, which fields come back masked or in
full, and the audit event that must have been written (exactly one per request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from access_world import ENTITIES, World, count_rows, entity_ref, module_ref, tin_of

from taxvault.access.tables import break_glass_reviews

JUSTIFY = "Taxpayer on the phone reports identity theft; supervisor approved urgent check."


@dataclass(frozen=True)
class Row:
    id: str
    who: str
    route: (
        str  # entity | modules | transcript | returns | info | cases | report | sth | events | queue | adjust | lookup
    )
    target: str | None
    purpose: str
    status: int
    policy: str
    justification: str | None = None
    masked: frozenset[str] = frozenset()  # fields that must come back masked
    full: frozenset[str] = frozenset()  # fields that must come back in full
    withheld: frozenset[str] = frozenset()
    amount: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def R(*args: Any, **kw: Any) -> Row:
    fields: dict[str, Any] = {k: frozenset(v) if k in {"masked", "full", "withheld"} else v for k, v in kw.items()}
    return Row(*args, **fields)


MATRIX: list[Row] = [
    # caseworkers on their assigned cases, for the case's purpose
    R("cw-transcript-assigned", "cw-alice", "transcript", "tp", "collection", 200, "caseworker-assigned-read"),
    R("cw-entity-assigned-collection", "cw-alice", "entity", "tp", "collection", 200, "caseworker-assigned-read",
      full={"tin"}, masked={"birth_date"}),
    R("cw-modules-assigned", "cw-alice", "modules", "tp", "collection", 200, "caseworker-assigned-read"),
    R("cw-returns-collection-bank-full", "cw-alice", "returns", "tp", "collection", 200, "caseworker-assigned-read",
      full={"bank_account", "bank_routing"}),
    R("cw-wrong-purpose", "cw-alice", "transcript", "tp", "examination", 403, "default-deny"),
    R("cw-assistance-purpose-not-her-case", "cw-alice", "entity", "tp", "taxpayer_assistance", 403, "default-deny"),
    R("exam-entity-full", "cw-bob", "entity", "tp", "examination", 200, "caseworker-assigned-read",
      full={"tin", "birth_date"}),
    R("exam-returns-full-bank", "cw-bob", "returns", "tp", "examination", 200, "caseworker-assigned-read",
      full={"bank_account", "bank_routing"}),
    R("exam-info-returns-full", "cw-bob", "info", "tp", "examination", 200, "caseworker-assigned-read",
      full={"payee_tin", "payer_tin"}),
    R("assistance-entity-masked", "cw-gina", "entity", "tp", "taxpayer_assistance", 200, "caseworker-assigned-read",
      masked={"tin", "birth_date"}),
    R("assistance-returns-bank-masked", "cw-gina", "returns", "tp", "taxpayer_assistance", 200,
      "caseworker-assigned-read", masked={"bank_account", "bank_routing"}),
    R("assistance-info-masked", "cw-gina", "info", "tp", "taxpayer_assistance", 200, "caseworker-assigned-read",
      masked={"payee_tin", "payer_tin"}),
    R("cw-unassigned", "cw-bob", "entity", "tp2", "examination", 403, "default-deny"),
    R("cw-closed-case", "cw-alice", "entity", "tp2", "collection", 403, "default-deny"),
    # never her own, her spouse's, relatives', or her address - whatever the cases say
    R("own-account", "cw-alice", "entity", "alice_self", "collection", 403, "forbid-own-or-related-account"),
    R("own-transcript", "cw-alice", "transcript", "alice_self", "collection", 403, "forbid-own-or-related-account"),
    R("spouse-entity", "cw-alice", "entity", "alice_spouse", "collection", 403, "forbid-own-or-related-account"),
    R("spouse-transcript", "cw-alice", "transcript", "alice_spouse", "collection", 403,
      "forbid-own-or-related-account"),
    R("relative-returns", "cw-alice", "returns", "alice_relative", "collection", 403, "forbid-own-or-related-account"),
    R("same-address", "cw-alice", "entity", "neighbour", "collection", 403, "forbid-own-or-related-account"),
    R("same-address-info", "cw-alice", "info", "neighbour", "collection", 403, "forbid-own-or-related-account"),
    # restricted and employee accounts
    R("restricted-outside-special", "cw-alice", "entity", "restricted", "collection", 403,
      "forbid-restricted-without-special-assignment"),
    R("restricted-special-assigned", "sp-erin", "entity", "restricted", "collection", 200, "caseworker-assigned-read"),
    R("special-unassigned", "sp-erin", "entity", "tp", "collection", 403, "default-deny"),
    R("employee-outside-unit", "cw-alice", "entity", "employee", "collection", 403,
      "forbid-employee-account-outside-unit"),
    R("employee-accounts-unit", "ea-frank", "entity", "employee", "collection", 200, "caseworker-assigned-read"),
    R("employee-accounts-unassigned", "ea-frank", "entity", "tp2", "collection", 403, "default-deny"),
    # break-glass
    R("break-glass-without-justification", "mgr-carol", "entity", "tp2", "collection", 403, "default-deny"),
    R("break-glass-justified", "mgr-carol", "entity", "tp2", "collection", 200, "break-glass",
      justification=JUSTIFY, masked={"tin", "birth_date"}),
    R("break-glass-transcript", "mgr-carol", "transcript", "tp2", "collection", 200, "break-glass",
      justification=JUSTIFY),
    R("break-glass-never-restricted", "mgr-carol", "entity", "restricted", "collection", 403,
      "forbid-restricted-without-special-assignment", justification=JUSTIFY),
    R("break-glass-never-employee", "mgr-carol", "entity", "employee", "collection", 403,
      "forbid-employee-account-outside-unit", justification=JUSTIFY),
    R("break-glass-needs-the-right", "cw-alice", "entity", "tp2", "collection", 403, "default-deny",
      justification=JUSTIFY),
    R("break-glass-never-own-related", "cw-alice", "entity", "alice_spouse", "collection", 403,
      "forbid-own-or-related-account", justification=JUSTIFY),
    # engineers: only inside an active, unexpired grant, within its scope
    R("engineer-in-grant", "eng-001", "entity", "tp", "legacy_migration_validation", 200, "engineer-within-grant",
      masked={"tin"}, withheld={"birth_date"}),
    R("engineer-in-grant-transcript", "eng-001", "transcript", "tp", "legacy_migration_validation", 200,
      "engineer-within-grant"),
    R("engineer-other-purpose", "eng-001", "entity", "tp", "schema_mapping", 403, "default-deny"),
    R("engineer-dataset-outside-grant", "eng-001", "returns", "tp", "legacy_migration_validation", 403,
      "default-deny"),
    R("engineer-expired-grant", "eng-002", "info", "tp", "ingest_defect_analysis", 403, "default-deny"),
    R("engineer-revoked-grant", "eng-002", "returns", "tp", "schema_mapping", 403, "default-deny"),
    R("engineer-without-grant", "eng-lead", "entity", "tp", "legacy_migration_validation", 403, "default-deny"),
    # analysts and oversight
    R("analyst-single-record", "ana-001", "entity", "tp", "statistics", 403, "forbid-analyst-single-record"),
    R("analyst-audit-log", "ana-001", "events", None, "statistics", 403, "default-deny"),
    R("oversight-taxpayer-data", "ovs-privacy", "transcript", "tp", "oversight_review", 403,
      "forbid-oversight-taxpayer-data"),
    R("oversight-events", "ovs-privacy", "events", None, "oversight_review", 200, "oversight-audit-log"),
    R("oversight-sth", "ovs-privacy", "sth", None, "oversight_review", 200, "oversight-audit-log"),
    R("oversight-queue", "ovs-privacy", "queue", None, "oversight_review", 200, "oversight-audit-log"),
    R("caseworker-audit-log", "cw-alice", "events", None, "collection", 403, "default-deny"),
    # taxpayers: their own transcript and access report, nothing else
    R("taxpayer-own-modules", "taxpayer", "modules", "tp", "self_service", 200, "taxpayer-own-transcript"),
    R("taxpayer-own-transcript", "taxpayer", "transcript", "tp", "self_service", 200, "taxpayer-own-transcript"),
    R("taxpayer-own-entity", "taxpayer", "entity", "tp", "self_service", 403, "default-deny"),
    R("taxpayer-own-returns", "taxpayer", "returns", "tp", "self_service", 403, "default-deny"),
    R("taxpayer-other-transcript", "taxpayer", "transcript", "tp2", "self_service", 403,
      "forbid-taxpayer-other-records"),
    R("taxpayer-access-report", "taxpayer", "report", None, "self_service", 200, "taxpayer-own-access-report"),
    R("caseworker-access-report", "cw-alice", "report", None, "collection", 403, "default-deny"),
    R("taxpayer-audit-log", "taxpayer", "events", None, "self_service", 403, "forbid-taxpayer-other-records"),
    # my cases
    R("my-cases", "cw-alice", "cases", None, "collection", 200, "caseworker-my-cases"),
    R("taxpayer-my-cases", "taxpayer", "cases", None, "self_service", 403, "forbid-taxpayer-other-records"),
    # writes within dollar authority
    # (over authority the request is accepted too, and waits for a manager: tests/ledger/test_ledger_api.py)
    R("adjust-within-authority", "cw-alice", "adjust", "tp", "collection", 202, "caseworker-request-adjustment",
      amount=400_000),
    R("adjust-over-authority", "cw-alice", "adjust", "tp", "collection", 202, "caseworker-request-adjustment",
      amount=600_000),
    R("adjust-unassigned", "cw-alice", "adjust", "tp2", "collection", 403, "default-deny", amount=100),
    R("adjust-spouse", "cw-alice", "adjust", "alice_spouse", "collection", 403, "forbid-own-or-related-account",
      amount=100),
    R("adjust-manager-authority", "mgr-carol", "adjust", "tp", "collection", 403, "default-deny", amount=100),
    # notices, accruals, the approval queue
    R("notices-assigned", "cw-alice", "notices", "tp", "collection", 200, "caseworker-assigned-read"),
    R("notices-unassigned", "cw-alice", "notices", "tp2", "collection", 403, "default-deny"),
    R("notices-taxpayer-own", "taxpayer", "notices", "tp", "self_service", 200, "taxpayer-own-transcript"),
    R("notices-taxpayer-other", "taxpayer", "notices", "tp2", "self_service", 403, "forbid-taxpayer-other-records"),
    R("notices-engineer-no-grant", "eng-001", "notices", "tp", "legacy_migration_validation", 403, "default-deny"),
    R("accruals-assigned", "cw-alice", "accruals", "tp", "collection", 200, "caseworker-assigned-read"),
    R("accruals-analyst", "ana-001", "accruals", "tp", "research", 403, "forbid-analyst-single-record"),
    R("approvals-manager", "mgr-carol", "approvals", None, "collection", 200, "manager-approval-queue"),
    R("approvals-caseworker", "cw-alice", "approvals", None, "collection", 403, "default-deny"),
    # TIN look-up (TIN in the body): denied looks like not found
    R("lookup-assigned", "cw-alice", "lookup", "tp", "collection", 200, "caseworker-assigned-read"),
    R("lookup-unassigned", "cw-alice", "lookup", "tp2", "collection", 404, "default-deny"),
]  # fmt: skip

_PATHS: dict[str, Callable[[Any], str]] = {
    "entity": lambda t: f"/v1/taxpayers/{entity_ref(t)}",
    "modules": lambda t: f"/v1/taxpayers/{entity_ref(t)}/modules",
    "transcript": lambda t: f"/v1/modules/{module_ref(t)}/transcript",
    "returns": lambda t: f"/v1/taxpayers/{entity_ref(t)}/returns",
    "info": lambda t: f"/v1/taxpayers/{entity_ref(t)}/information-returns",
    "cases": lambda t: "/v1/me/cases",
    "report": lambda t: "/v1/me/access-report",
    "events": lambda t: "/v1/audit/events",
    "sth": lambda t: "/v1/audit/sth",
    "queue": lambda t: "/v1/audit/break-glass",
    "adjust": lambda t: f"/v1/modules/{module_ref(t)}/adjustments",
    "lookup": lambda t: "/v1/taxpayers/lookup",
    "notices": lambda t: f"/v1/modules/{module_ref(t)}/notices",
    "accruals": lambda t: f"/v1/modules/{module_ref(t)}/accruals?as_of=2026-03-31",
    "approvals": lambda t: "/v1/me/approvals",
}
_RESOURCE_REF = {"transcript": module_ref, "adjust": module_ref, "notices": module_ref, "accruals": module_ref}


def _records(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body.get("items", [body]))


@pytest.mark.parametrize("row", MATRIX, ids=[r.id for r in MATRIX])
def test_authorization_matrix(world: World, row: Row) -> None:
    before = world.size()
    queued = count_rows(world.engine, break_glass_reviews)
    headers = world.headers(row.who, row.purpose, row.justification)
    path = _PATHS[row.route](row.target)
    if row.route == "adjust":
        response = world.client.post(
            path, headers=headers, json={"tc": 290, "amount_cents": row.amount, "reason_code": 51}
        )
    elif row.route == "lookup":
        assert row.target is not None
        response = world.client.post(path, headers=headers, json={"tin": tin_of(row.target)})
    else:
        response = world.client.get(path, headers=headers)

    # the decision
    assert response.status_code == row.status, response.text
    # exactly one audit event, naming the deciding policy, the opaque resource and the purpose
    assert world.size() == before + 1
    event = world.event(before)
    assert event.principal == world.principal_of(row.who)
    assert row.policy in (event.policy or "").split(","), event
    assert event.decision.value == ("allow" if row.status < 300 else "deny")
    assert event.purpose == row.purpose
    if row.target is not None:
        expected_ref = _RESOURCE_REF.get(row.route, entity_ref)(row.target)
        assert event.resource == expected_ref
    raw = event.to_bytes().decode()
    assert not any(tin in raw for tin, *_ in ((e[1],) for e in ENTITIES.values()))

    if row.status >= 300:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert event.fields == ()
        assert "items" not in response.json() and "tin" not in response.json()
        return

    body = response.json()
    records = _records(body)
    # the audit event lists the disclosed field names (masked ones marked); an empty page discloses none
    assert bool(event.fields) == bool(records), event.fields
    for name in row.masked:
        assert f"{name}:masked" in event.fields
        assert name in body["masked"]
    for name in row.full:
        assert name in event.fields and name not in body["masked"]
    for name in row.withheld:
        assert name in body["withheld"]
    for rec in records:
        for name in row.masked:
            value = rec.get(name)
            assert value is not None
            if name == "birth_date":
                assert len(value) == 4
            else:
                assert value.startswith("*") and len(value.strip("*")) == 4
        for name in row.full:
            assert rec.get(name) is not None and "*" not in str(rec[name])
            if name == "birth_date":
                assert len(rec[name]) == 10
        for name in row.withheld:
            assert rec.get(name) is None
    # break-glass: allowed, flagged, queued for review
    flagged = row.policy == "break-glass"
    assert ("break-glass" in response.headers) == flagged
    assert count_rows(world.engine, break_glass_reviews) == queued + (1 if flagged else 0)
