"""Grants that expire: a second person approves, one renewal, scope and expiry enforced on the next request."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from custody_world import APPROVER, HOLDER, OTHER_ENGINEER, PURPOSE, Custody, make_custody
from sqlalchemy.engine import Engine

from taxvault.access.door import Access
from taxvault.access.resources import Resource
from taxvault.errors import Conflict, Denied, Invalid, NotFound
from taxvault.oversight import grants as g
from taxvault.oversight import shred
from taxvault.store.tables import entities, grants


@pytest.fixture
def world(db_engine: Engine) -> Iterator[Custody]:
    w = make_custody(db_engine)
    yield w
    w.log.close()


def _request(w: Custody, who: str = HOLDER, *, holder: str | None = None, days: int = 30) -> str:
    made = g.request_grant(
        w.door,
        w.session(who, "grant_administration"),
        holder=holder,
        datasets=["entities"],
        fields=["name", "address"],
        purpose=PURPOSE,
        days=days,
        reason="validate the migrated name and address fields",
    )
    assert made["state"] == "requested" and made["approver"] is None
    return str(made["id"])


def _events(w: Custody, since: int) -> list[tuple[str, str, str]]:
    return [
        (e.principal, e.action, e.decision.value)
        for e in (w.log.event(i) for i in range(since, w.log.tree_head().tree_size))
    ]


def _entity_ref(w: Custody) -> str:
    with w.engine.connect() as conn:
        q = sa.select(entities.c.ref).where(entities.c.is_restricted.is_(False), entities.c.is_employee.is_(False))
        return str(conn.execute(q.order_by(entities.c.id).limit(1)).scalar_one())


def _read(w: Custody, ref: str, purpose: str = PURPOSE) -> dict[str, object]:
    session = w.session(HOLDER, purpose)
    access = Access(w.door, session, Resource.ENTITY, ref)
    return access.serve(lambda conn, t: {"id": t.ref, "first_name": "x", "tin": "y"})


def test_approval_needs_a_second_person_with_grant_approver(world: Custody) -> None:
    w = world
    ref = _request(w)
    before = w.log.tree_head().tree_size
    with pytest.raises(Denied):  # the holder herself
        g.approve_grant(w.door, w.session(HOLDER, "grant_administration"), ref)
    with pytest.raises(Denied):  # an engineer without grant_approver
        g.approve_grant(w.door, w.session(OTHER_ENGINEER, "grant_administration"), ref)
    assert _events(w, before) == [
        (HOLDER, "approve_grant:grant", "deny"),
        (OTHER_ENGINEER, "approve_grant:grant", "deny"),
    ]
    # Requested by the approver for the engineer: the requester cannot approve it either.
    for_her = _request(w, APPROVER, holder=HOLDER)
    with pytest.raises(Denied):
        g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), for_her)
    done = g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), ref)
    assert (done["state"], done["approver"], done["in_force"]) == ("active", APPROVER, True)
    assert shred.has_key(g.key_handle(ref))
    # and the store refuses a self-approval even if a service forgot to ask
    with pytest.raises(sa.exc.IntegrityError), w.engine.begin() as conn:
        conn.execute(grants.update().where(grants.c.ref == for_her).values(approver_id=APPROVER, state="active"))


def test_terms_are_checked_and_at_most_120_days(world: Custody) -> None:
    w = world
    with pytest.raises(Invalid, match="1 to 120 days"):
        _request(w, days=121)
    with pytest.raises(Invalid, match="datasets"):
        g.request_grant(
            w.door, w.session(HOLDER, "grant_administration"), holder=None, datasets=["audit_events"],
            fields=["name"], purpose=PURPOSE, days=10, reason="a reason long enough",
        )  # fmt: skip
    with pytest.raises(Denied):  # an engineer cannot request for someone else
        _request(w, HOLDER, holder=OTHER_ENGINEER)


def test_renewed_once_by_an_approver_never_past_120_days_from_the_renewal(world: Custody) -> None:
    w = world
    ref = _request(w, days=10)
    g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), ref)
    with pytest.raises(Denied):  # the holder cannot renew her own grant
        g.renew_grant(w.door, w.session(HOLDER, "grant_administration"), ref, days=60)
    with pytest.raises(Invalid):
        g.renew_grant(w.door, w.session(APPROVER, "grant_administration"), ref, days=121)
    before = dt.datetime.now(dt.UTC)
    renewed = g.renew_grant(w.door, w.session(APPROVER, "grant_administration"), ref, days=120)
    ends = dt.datetime.fromisoformat(renewed["ends_at"])
    assert renewed["renewals"] == 1 and renewed["renewed_by"] == APPROVER
    assert before + dt.timedelta(days=119, hours=23) < ends <= dt.datetime.now(dt.UTC) + dt.timedelta(days=120)
    with pytest.raises(Conflict, match="renewed once"):
        g.renew_grant(w.door, w.session(APPROVER, "grant_administration"), ref, days=30)


def test_scope_and_expiry_are_enforced_on_the_next_request(world: Custody) -> None:
    w = world
    ref = _request(w, days=30)
    target = _entity_ref(w)
    with pytest.raises(Denied):  # requested is not approved
        _read(w, target)
    g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), ref)
    body = _read(w, target)
    assert body["first_name"] == "x" and body["tin"] is None  # tin_last4 is not among the grant's fields
    with pytest.raises(Denied):  # another purpose than the grant's
        _read(w, target, purpose="debugging")
    # The time box ends in a moment: the next request after it is refused.
    with w.engine.begin() as conn:
        conn.execute(
            grants.update()
            .where(grants.c.ref == ref)
            .values(ends_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.0))
        )
    _read(w, target)
    time.sleep(1.05)
    before = w.log.tree_head().tree_size
    with pytest.raises(Denied):
        _read(w, target)
    assert _events(w, before) == [(HOLDER, "read:entity", "deny")]
    # The job marks it expired and shreds its key, with a certificate.
    (outcome,) = [o for o in g.expire_due(w.door, w.job()) if o.grant_ref == ref]
    assert outcome.certificate is not None  # (the store's older ended grants had no key: nothing to certify)
    assert not shred.has_key(g.key_handle(ref))
    assert shred.verify_certificate(outcome.certificate, log=w.log, leaf=w.log.tree_head().tree_size - 1)
    with w.engine.connect() as conn:
        assert g.get_grant(conn, ref).state == "expired"
    assert g.expire_due(w.door, w.job()) == []  # nothing more to do
    assert g.run_expiry(w.door) == 0  # the scheduled pass (serve's oversight job) finds nothing either


def test_revoked_mid_session_the_next_request_is_refused(world: Custody) -> None:
    w = world
    ref = _request(w)
    g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), ref)
    target = _entity_ref(w)
    session = w.session(HOLDER)
    access = Access(w.door, session, Resource.ENTITY, target)
    assert access.serve(lambda conn, t: {"id": t.ref})["id"] == target
    revoked = g.revoke_grant(w.door, w.session(APPROVER, "grant_administration"), ref, reason="deployment over")
    assert (revoked["state"], revoked["revoked_by"], revoked["shredded"]) == ("revoked", APPROVER, True)
    with pytest.raises(Denied):  # the same session, its next request
        Access(w.door, session, Resource.ENTITY, target).serve(lambda conn, t: {"id": t.ref})
    with pytest.raises(Conflict):
        g.revoke_grant(w.door, w.session(APPROVER, "grant_administration"), ref, reason="twice")
    (cert,) = shred.certificates_for(w.engine.connect(), f"grant:{ref}")
    leaf = shred.find_certificate_leaf(w.log, cert)
    assert leaf is not None and shred.verify_certificate(cert, log=w.log, leaf=leaf)
    assert w.log.event(leaf).principal == "sys-grants"


def test_unknown_grants_are_a_clear_not_found_and_audited(world: Custody) -> None:
    w = world
    before = w.log.tree_head().tree_size
    with pytest.raises(NotFound, match="no such grant"):
        g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), "g0000000000000000")
    with pytest.raises(NotFound):
        g.revoke_grant(w.door, w.session(APPROVER, "grant_administration"), "not-a-ref", reason="no such thing")
    events = [w.log.event(i) for i in range(before, w.log.tree_head().tree_size)]
    assert [(e.action, e.resource, e.decision.value, e.policy) for e in events] == [
        ("approve_grant:grant", "g0000000000000000", "deny", "not-found"),
        ("revoke_grant:grant", "none", "deny", "not-found"),
    ]
