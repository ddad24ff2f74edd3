"""A caseworker issues a notice (issue 15): policy table, the API route, the console form, idempotence.

The shared console world ran its posting cycle on 2026-06-26; the published interest rates end
2026-06-30, so the door's clock is set to a day in between (a simulator's hook). Each test gives
a module of the demo caseworker's open collection case a new assessment (TC 290) the day before,
which starts a new balance-due series: CP14 is due on that module, and only CP14.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from console_harness import SignIn, World, audit_events_of, csrf_of
from fastapi import FastAPI
from fastapi.testclient import TestClient

from taxvault.access.local import local_access, local_door
from taxvault.access.principals import ensure_taxpayer_principal
from taxvault.access.resources import Resource
from taxvault.access.tokens import issue_token
from taxvault.errors import Denied, Invalid
from taxvault.notices import on_request
from taxvault.notices.documents import NoticeType
from taxvault.notices.router import issue_notice
from taxvault.store.tables import (
    case_subjects,
    cases,
    entities,
    notices,
    principals,
    sources,
    tax_modules,
    transactions,
)

DAY = dt.date(2026, 6, 29)
SEED_BY = "test-notice-seed"


@dataclass(frozen=True)
class Seeded:
    module_ref: str
    module_id: int
    owner_ref: str


def _seed(world: World, day: dt.date = DAY) -> Seeded:
    """A fresh module of her open collection case on which CP14 is due on ``day``."""
    m, e, c, cs, t = tax_modules.c, entities.c, cases.c, case_subjects.c, transactions.c
    seeded = sa.select(t.module_id).where(t.posted_by == SEED_BY)
    with world.engine.begin() as conn:
        rows = conn.execute(
            sa.select(m.id, m.ref, e.ref.label("owner"))
            .select_from(
                cases.join(case_subjects, cs.case_id == c.id)
                .join(entities, e.id == cs.entity_id)
                .join(tax_modules, sa.and_(m.entity_id == e.id, sa.or_(cs.module_id.is_(None), cs.module_id == m.id)))
            )
            .where(
                c.assigned_to == world.demo.principal, c.status == "open", c.purpose == "collection", m.mft == 30,
                ~e.is_restricted, ~e.is_employee, m.ref != world.demo.module_ref, m.id.not_in(seeded),
            )
            .order_by(m.id)
        ).all()  # fmt: skip
        source_id = conn.execute(sa.select(sa.func.min(sources.c.id))).scalar_one()
        for row in rows:
            conn.execute(
                transactions.insert().values(
                    module_id=row.id, tc=290, amount_cents=50_000, posted_date=day - dt.timedelta(days=1),
                    cycle=202625, dln="28277999999999", posted_by=SEED_BY, source_id=source_id, source_record=1,
                )
            )  # fmt: skip
            if on_request.issuable(conn, int(row.id), day) == (NoticeType.CP14,):
                return Seeded(str(row.ref), int(row.id), str(row.owner))
    raise AssertionError("no module of her case can be given a CP14")


@pytest.fixture
def on_day(app: FastAPI) -> Iterator[dt.date]:
    """The app's door clock set to DAY for the test."""
    door = app.state.services.get().door
    saved = door.clock
    door.clock = lambda: dt.datetime.combine(DAY, dt.time(15), tzinfo=dt.UTC)
    try:
        yield DAY
    finally:
        door.clock = saved


def _principal(world: World, **where: str) -> str:
    p = principals.c
    cond = [getattr(p, k) == v for k, v in where.items()]
    return str(world.scalar(sa.select(p.id).where(*cond, p.active, p.id != world.demo.principal).order_by(p.id)))


def _notices_of(world: World, module_id: int) -> list[tuple[str, str]]:
    n = notices.c
    rows = world.engine.connect().execute(
        sa.select(n.notice_type, n.issued_date).where(n.module_id == module_id, n.issued_date == DAY)
    )
    return [(str(a), str(b)) for a, b in rows]


# -- the policy, through the real door (Cedar, forbids, audit) ------------------------------------------

# (row id, who, purpose, deciding policy): who is "her", "other_caseworker", "taxpayer", "analyst" or "oversight"
ALLOWED = "caseworker-issue-notice"
POLICY_TABLE = [
    ("her-case-collection", "her", "collection", ALLOWED),
    ("her-case-wrong-purpose", "her", "taxpayer_assistance", "default-deny"),
    ("her-case-examination-purpose", "her", "examination", "default-deny"),
    ("another-caseworker", "other_caseworker", "collection", "default-deny"),
    ("the-taxpayer-herself", "taxpayer", "self_service", "default-deny"),
    ("analyst", "analyst", "collection", "forbid-analyst-single-record"),
    ("oversight", "oversight", "collection", "forbid-oversight-taxpayer-data"),
]


@pytest.fixture(scope="module")
def policy_module(world: World) -> Seeded:
    return _seed(world)


@pytest.mark.parametrize(("row", "who", "purpose", "policy"), POLICY_TABLE, ids=[r[0] for r in POLICY_TABLE])
def test_who_may_issue_a_notice(
    world: World, policy_module: Seeded, row: str, who: str, purpose: str, policy: str
) -> None:
    """Allowed only on her open case for the collection purpose; every refusal is audited, naming the rule."""
    allowed = policy == ALLOWED
    with world.engine.begin() as conn:
        taxpayer = ensure_taxpayer_principal(conn, policy_module.owner_ref)
    principal = {
        "her": world.demo.principal,
        "other_caseworker": _principal(world, kind="employee", roles="caseworker", unit="collection"),
        "taxpayer": taxpayer,
        "analyst": _principal(world, kind="analyst"),
        "oversight": _principal(world, kind="oversight"),
    }[who]
    before = len(audit_events_of(world, principal))
    with local_door(world.engine) as door:
        door.clock = lambda: dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC)
        access = local_access(door, principal, Resource.NOTICES, policy_module.module_ref, purpose)
        if allowed:
            issued = issue_notice(access, "CP14")
            assert issued["notice_type"] == "CP14" and issued["issued_date"] == DAY.isoformat()
        else:
            with pytest.raises(Denied):
                issue_notice(access, "CP14")
    events = [e for e in audit_events_of(world, principal)[before:] if e["action"] == "issue_notice:notices"]
    assert len(events) == 1, row
    assert events[0]["decision"] == ("allow" if allowed else "deny")
    assert events[0]["policy"] == policy
    assert events[0]["resource"] == policy_module.module_ref  # the opaque ref, never a TIN
    assert events[0]["fields"] == (sorted(on_request.REQUEST_FIELDS) if allowed else [])


def test_a_notice_not_due_is_refused_with_the_notice_due(world: World) -> None:
    seeded = _seed(world)
    with local_door(world.engine) as door:
        door.clock = lambda: dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC)
        access = local_access(door, world.demo.principal, Resource.NOTICES, seeded.module_ref, "collection")
        with pytest.raises(Invalid, match=r"CP504 cannot be issued.*the notice due is CP14"):
            issue_notice(access, "CP504")
        with pytest.raises(Invalid, match="unknown notice type"):
            issue_notice(access, "CP9999")
    assert _notices_of(world, seeded.module_id) == []


def test_a_day_past_the_published_rates_is_refused_with_the_reason(world: World) -> None:
    seeded = _seed(world)
    late = dt.date(2099, 1, 5)
    with local_door(world.engine) as door:
        door.clock = lambda: dt.datetime.combine(late, dt.time(12), tzinfo=dt.UTC)
        access = local_access(door, world.demo.principal, Resource.NOTICES, seeded.module_ref, "collection")
        with pytest.raises(Invalid, match=r"cannot be computed on 2099-01-05 \(RateNotPublished") as refused:
            issue_notice(access, "CP14")
    assert refused.value.hint and "TAXVAULT_UNDERPAYMENT_RATES" in refused.value.hint  # says how to mend it
    n = notices.c
    assert world.scalar(sa.select(sa.func.count()).where(n.module_id == seeded.module_id, n.issued_date == late)) == 0


# -- the API route ------------------------------------------------------------------------------------


def test_api_issues_once_a_day_and_answers_the_same_notice(client: TestClient, world: World, on_day: dt.date) -> None:
    seeded = _seed(world)
    headers = {"Authorization": f"Bearer {issue_token(world.demo.principal)}", "Purpose-Of-Use": "collection"}
    url = f"/v1/modules/{seeded.module_ref}/notices"
    first = client.post(url, json={"notice_type": "CP14"}, headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True and body["notice_type"] == "CP14" and body["module_id"] == seeded.module_ref
    again = client.post(url, json={"notice_type": "cp14"}, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["created"] is False
    assert _notices_of(world, seeded.module_id) == [("CP14", on_day.isoformat())]
    listed = client.get(url, headers=headers).json()["items"]
    assert body["id"] in [i["id"] for i in listed]
    pdf = client.get(f"{url}/{body['id']}/pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    refused = client.post(url, json={"notice_type": "CP501"}, headers=headers)
    assert refused.status_code == 422 and "CP501 cannot be issued" in refused.text
    wrong = client.post(url, json={"notice_type": "CP14"}, headers={**headers, "Purpose-Of-Use": "examination"})
    assert wrong.status_code == 403


# -- the console form ---------------------------------------------------------------------------------


def test_console_form_issues_lists_and_opens_the_pdf(
    client: TestClient, world: World, sign_in: SignIn, on_day: dt.date
) -> None:
    seeded = _seed(world)
    csrf = sign_in(client, world.demo.principal, purpose="collection")
    page = client.get(f"/web/cases/modules/{seeded.module_ref}")
    assert page.status_code == 200
    assert f'action="/web/cases/modules/{seeded.module_ref}/notices"' in page.text
    assert 'name="notice_type"' in page.text and 'name="csrf_token"' in page.text
    sent = client.post(
        f"/web/cases/modules/{seeded.module_ref}/notices",
        data={"notice_type": "CP14", "csrf_token": csrf_of(page.text) or csrf},
    )
    assert sent.status_code == 200 and sent.url.params.get("issued")
    ref = sent.url.params["issued"]
    assert 'id="issued"' in sent.text
    assert f"/web/cases/modules/{seeded.module_ref}/notices/{ref}.pdf" in sent.text  # listed, with its PDF link
    pdf = client.get(f"/web/cases/modules/{seeded.module_ref}/notices/{ref}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert _notices_of(world, seeded.module_id) == [("CP14", on_day.isoformat())]
    events = [e for e in audit_events_of(world, world.demo.principal) if e["action"] == "issue_notice:notices"]
    assert events[-1]["decision"] == "allow" and events[-1]["channel"] == "web"
    not_due = client.post(
        f"/web/cases/modules/{seeded.module_ref}/notices", data={"notice_type": "CP504", "csrf_token": csrf}
    )
    assert not_due.status_code == 400 and "CP504 cannot be issued" in not_due.text


def test_console_form_without_csrf_is_refused(
    client: TestClient, world: World, sign_in: SignIn, on_day: dt.date
) -> None:
    seeded = _seed(world)
    sign_in(client, world.demo.principal, purpose="collection")
    refused = client.post(f"/web/cases/modules/{seeded.module_ref}/notices", data={"notice_type": "CP14"})
    assert refused.status_code == 403
    assert _notices_of(world, seeded.module_id) == []
