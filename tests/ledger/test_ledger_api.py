"""Adjustments through the API: over the limit they cannot post without a different approver; all of it audited."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from access_world import ENTITIES, World, make_world, module_ref
from pypdf import PdfReader
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.policy import PolicyEngine
from taxvault.access.system_principals import ensure_system_principals
from taxvault.jobs.cycle import CycleReport, run_cycle
from taxvault.ledger.tables import ledger_adjustments
from taxvault.store.bulk import reset_sequences
from taxvault.store.tables import notices, principals, sources, transactions

TP = "tp"


@pytest.fixture
def world(db_engine: Engine) -> Iterator[World]:
    w = make_world(db_engine)
    with db_engine.begin() as conn:  # cw-alice and cw-bob report to mgr-carol
        reset_sequences(conn, [sources, transactions, notices])  # the world inserts explicit ids
        conn.execute(
            principals.update().where(principals.c.id.in_(["cw-alice", "cw-bob"])).values(manager_id="mgr-carol")
        )
        ensure_system_principals(conn)  # as `taxvault init` does: sys-posting and sys-notices run the cycle
    yield w
    w.client.close()
    w.audit.close()


def _cycle(world: World, on: dt.date) -> CycleReport:
    return run_cycle(Door(world.engine, world.audit, PolicyEngine()), on, underreporter=False)


def _request(world: World, who: str, amount: int, tc: int = 290, target: str = TP) -> dict[str, object]:
    r = world.client.post(
        f"/v1/modules/{module_ref(target)}/adjustments",
        headers=world.headers(who, "collection"),
        json={"tc": tc, "amount_cents": amount, "reason_code": 51},
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def _decide(world: World, who: str, adj: str, verb: str = "approve", target: str = TP) -> int:
    r = world.client.post(
        f"/v1/modules/{module_ref(target)}/adjustments/{adj}/{verb}",
        headers=world.headers(who, "collection"),
        json={"note": "checked the file"},
    )
    return int(r.status_code)


def _posted(engine: Engine, tc: int) -> list[int]:
    with engine.connect() as conn:
        return [
            int(a)
            for (a,) in conn.execute(
                sa.select(transactions.c.amount_cents).where(
                    transactions.c.module_id == ENTITIES[TP][0], transactions.c.tc == tc
                )
            )
        ]


def test_over_the_limit_waits_for_a_different_approver_then_posts_at_the_cycle(world: World) -> None:
    start = world.size()
    within = _request(world, "cw-alice", 400_000)
    over = _request(world, "cw-alice", 600_000)
    assert within["state"] == "pending" and within["within_authority"] is True
    assert over["state"] == "awaiting_approval" and over["within_authority"] is False
    assert over["amount_cents"] == 600_000

    # the requester cannot approve her own request, whatever her roles
    assert _decide(world, "cw-alice", str(over["id"])) == 403
    # a manager who does not manage the requester cannot either; nor one over her own authority
    with world.engine.begin() as conn:
        conn.execute(principals.update().where(principals.c.id == "cw-alice").values(manager_id=None))
    assert _decide(world, "mgr-carol", str(over["id"])) == 403
    with world.engine.begin() as conn:
        conn.execute(principals.update().where(principals.c.id == "cw-alice").values(manager_id="mgr-carol"))

    # the approval queue shows it to her manager, who approves
    queue = world.client.get("/v1/me/approvals", headers=world.headers("mgr-carol", "collection"))
    assert queue.status_code == 200
    assert [i["id"] for i in queue.json()["items"]] == [over["id"]]
    assert _decide(world, "mgr-carol", str(over["id"])) == 200
    assert _decide(world, "mgr-carol", str(over["id"])) == 409, "decided once"

    # nothing posts before the cycle; the cycle posts both
    assert _posted(world.engine, 290) == []
    report = _cycle(world, dt.date(2026, 5, 4))
    assert report.posted == 2
    assert sorted(_posted(world.engine, 290)) == [400_000, 600_000]

    # all of it audited: request, denied approvals, queue read, approval, postings, in order
    events = [world.event(i) for i in range(start, world.size())]
    actions = [(e.principal, e.action, e.decision.value) for e in events]
    assert ("cw-alice", "request_adjustment:module_transcript", "allow") in actions
    assert ("cw-alice", "approve_adjustment:module_transcript", "deny") in actions
    assert ("mgr-carol", "approve_adjustment:module_transcript", "deny") in actions
    assert ("mgr-carol", "approve_adjustment:module_transcript", "allow") in actions
    assert sum(1 for a in actions if a == ("sys-posting", "post:module_transcript", "allow")) == 2
    denied_own = next(e for e in events if e.principal == "cw-alice" and e.action.startswith("approve_adjustment"))
    assert "forbid-approve-own-request" in (denied_own.policy or "")


def test_the_store_refuses_a_self_approval_even_past_the_api(world: World) -> None:
    over = _request(world, "cw-alice", 600_000)
    with pytest.raises(sa.exc.IntegrityError), world.engine.begin() as conn:
        conn.execute(
            ledger_adjustments.update()
            .where(ledger_adjustments.c.ref == over["id"])
            .values(state="pending", decided_by="cw-alice")
        )


def test_rejected_never_posts_and_abatement_takes_the_credit_sign(world: World) -> None:
    over = _request(world, "cw-alice", 700_000)
    assert _decide(world, "mgr-carol", str(over["id"]), "reject") == 200
    abate = _request(world, "cw-alice", 1_000, tc=291)
    assert abate["amount_cents"] == -1_000
    _cycle(world, dt.date(2026, 5, 4))
    assert _posted(world.engine, 290) == []
    assert _posted(world.engine, 291) == [-1_000]


def test_a_reversal_with_nothing_to_reverse_goes_unpostable_and_is_listed(world: World) -> None:
    _request(world, "cw-alice", 5_000, tc=671)  # no TC 670 on the module
    report = _cycle(world, dt.date(2026, 5, 4))
    assert report.unpostable == 1 and report.posted == 0
    r = world.client.get(f"/v1/modules/{module_ref(TP)}/unpostables", headers=world.headers("cw-alice", "collection"))
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["tc"] == 671 and item["unpostable_code"] == "no_matching_transaction"


def test_accruals_and_notice_pdf_through_the_api(world: World) -> None:
    r = world.client.get(
        f"/v1/modules/{module_ref(TP)}/accruals?as_of=2026-03-31", headers=world.headers("cw-alice", "collection")
    )
    assert r.status_code == 200
    body = r.json()
    assert (
        body["payoff_cents"]
        == body["tax_cents"] + body["penalty_ftf_cents"] + body["penalty_ftp_cents"] + body["interest_cents"]
    )
    assert body["interest_cents"] > 0
    late = world.client.get(
        f"/v1/modules/{module_ref(TP)}/accruals?as_of=2099-01-01", headers=world.headers("cw-alice", "collection")
    )
    assert late.status_code == 422

    _cycle(world, dt.date(2026, 5, 4))
    listed = world.client.get(f"/v1/modules/{module_ref(TP)}/notices", headers=world.headers("cw-alice", "collection"))
    assert listed.status_code == 200
    [notice] = listed.json()["items"]
    assert notice["notice_type"] == "CP14"
    before = world.size()
    pdf = world.client.get(
        f"/v1/modules/{module_ref(TP)}/notices/{notice['id']}/pdf", headers=world.headers("cw-alice", "collection")
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    tin = ENTITIES[TP][1]
    assert f"XXX-XX-{tin[-4:]}" in text and tin not in text
    assert world.size() == before + 1
    assert "notice_pdf" in world.event(before).fields
    # the taxpayer reads her own notice; another caseworker without a case cannot
    own = world.client.get(
        f"/v1/modules/{module_ref(TP)}/notices/{notice['id']}/pdf", headers=world.headers("taxpayer", "self_service")
    )
    assert own.status_code == 200
    other = world.client.get(
        f"/v1/modules/{module_ref(TP)}/notices/{notice['id']}/pdf", headers=world.headers("cw-gina", "collection")
    )
    assert other.status_code == 403


def test_transcript_with_accruals_as_of_a_date(world: World) -> None:
    h = world.headers("cw-alice", "collection")
    plain = world.client.get(f"/v1/modules/{module_ref(TP)}/transcript", headers=h).json()
    assert plain["accruals"] is None
    dated = world.client.get(f"/v1/modules/{module_ref(TP)}/transcript?as_of=2026-03-31", headers=h).json()
    alone = world.client.get(f"/v1/modules/{module_ref(TP)}/accruals?as_of=2026-03-31", headers=h).json()
    assert dated["accruals"]["payoff_cents"] == alone["payoff_cents"] > dated["balance_cents"] > 0
