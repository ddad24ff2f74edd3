"""Exports under a grant: two people above the threshold, sealed with the grant's key, shredded with it, canaries."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from custody_world import APPROVER, HOLDER, OTHER_ENGINEER, PURPOSE, Custody, make_custody
from sqlalchemy.engine import Engine

from taxvault.errors import Conflict, Denied
from taxvault.ingest import ingest_paths
from taxvault.jobs import matching as jm
from taxvault.matching import agreements as ag
from taxvault.oversight import canaries, shred
from taxvault.oversight import exports as ex
from taxvault.oversight import grants as g
from taxvault.oversight.custody_tables import export_canaries, exports
from taxvault.oversight.tables import oversight_alerts
from taxvault.synth.legacy import write_legacy

FIELDS = ["first_name", "last_name", "zip", "tin"]


@pytest.fixture
def world(db_engine: Engine) -> Iterator[Custody]:
    w = make_custody(db_engine)
    yield w
    w.log.close()


def _grant(w: Custody, fields: tuple[str, ...] = ("name", "address", "tin")) -> str:
    made = g.request_grant(
        w.door, w.session(HOLDER, "grant_administration"), holder=None, datasets=["entities"],
        fields=list(fields), purpose=PURPOSE, days=30, reason="reconcile the migrated entity extract",
    )  # fmt: skip
    g.approve_grant(w.door, w.session(APPROVER, "grant_administration"), str(made["id"]))
    return str(made["id"])


def _export(w: Custody, grant: str, records: int, fields: list[str] = FIELDS) -> dict[str, object]:
    return ex.request_export(
        w.door, w.session(HOLDER), grant_ref=grant, dataset="entities", fields=fields, records=records
    )


def _open(w: Custody, ref: str) -> dict[str, object]:
    return ex.open_export(w.door, w.session(HOLDER), ref, ex.export_path(ref).read_bytes())


def _alerts(w: Custody) -> list[tuple[str, str, str, str]]:
    a = oversight_alerts.c
    with w.engine.connect() as conn:
        rows = conn.execute(sa.select(a.rule, a.severity, a.principal_id, a.summary).order_by(a.id)).all()
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def test_small_export_is_sealed_with_canaries_and_opens_for_the_holder(world: Custody) -> None:
    w = world
    grant = _grant(w)
    made = _export(w, grant, 20)
    assert (made["state"], made["records"], made["needs_second_approver"]) == ("produced", 20, False)
    sealed = ex.export_path(str(made["id"])).read_bytes()
    body = _open(w, str(made["id"]))
    rows = body["rows"]
    assert isinstance(rows, list) and len(rows) == 20 + ex.CANARIES
    assert body["fields"] == ["ref", *(f for f in ex.EXPORT_COLUMNS["entities"] if f in FIELDS)]
    assert all(len(str(r["tin"])) == 9 for r in rows)  # the grant names "tin": in full
    assert all(str(r["tin"]).encode() not in sealed for r in rows)  # but never in clear on disk
    with w.engine.connect() as conn:
        planted = {str(r) for (r,) in conn.execute(sa.select(export_canaries.c.ref))}
    assert len(planted) == ex.CANARIES and planted <= {str(r["ref"]) for r in rows}
    # Outside the grant's field categories, or for another purpose: refused.
    with pytest.raises(Denied):
        _export(w, grant, 5, ["first_name", "birth_date"])
    with pytest.raises(Denied):  # not her grant
        ex.request_export(
            w.door, w.session(OTHER_ENGINEER), grant_ref=grant, dataset="entities", fields=FIELDS, records=5
        )
    with pytest.raises(Denied):  # another purpose: no grant for it (Cedar refuses, audited)
        ex.request_export(
            w.door, w.session(HOLDER, "debugging"), grant_ref=grant, dataset="entities", fields=FIELDS, records=5
        )


def test_an_export_over_the_threshold_waits_for_a_manager_not_the_requester(
    world: Custody, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    monkeypatch.setenv(ex.THRESHOLD_ENV, "10")
    grant = _grant(w)
    small = _export(w, grant, 10)
    assert small["state"] == "produced"
    big = _export(w, grant, 11)
    ref = str(big["id"])
    assert (big["state"], big["needs_second_approver"], big["records"]) == ("pending", True, 11)
    assert not ex.export_path(ref).exists()
    with pytest.raises(Denied):  # the requester herself
        ex.approve_export(w.door, w.session(HOLDER, "export_approval"), ref)
    with pytest.raises(Denied):  # a grant approver is not a manager
        ex.approve_export(w.door, w.session(APPROVER, "export_approval"), ref)
    done = ex.approve_export(w.door, w.session(w.manager, "export_approval"), ref)
    assert (done["state"], done["approver"]) == ("produced", w.manager)
    assert len(_open(w, ref)["rows"]) == 11 + ex.CANARIES  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        ex.approve_export(w.door, w.session(w.manager, "export_approval"), ref)
    with pytest.raises(sa.exc.IntegrityError), w.engine.begin() as conn:  # the store holds the rule too
        conn.execute(exports.update().where(exports.c.ref == ref).values(approver_id=HOLDER))


def test_after_the_grant_ends_the_export_cannot_be_decrypted_and_the_certificate_verifies(world: Custody) -> None:
    w = world
    grant = _grant(w)
    ref = str(_export(w, grant, 15)["id"])
    blob = ex.export_path(ref).read_bytes()
    handle = g.key_handle(grant)
    assert json.loads(shred.decrypt_blob(handle, blob, f"export:{ref}"))["export"] == ref
    key_file = handle.path.read_bytes()
    g.revoke_grant(w.door, w.session(APPROVER, "grant_administration"), grant, reason="contract ended early")

    assert not handle.path.exists()
    with pytest.raises(shred.KeyMissing):  # even with the KEK and the store's keys still there
        shred.decrypt_blob(handle, blob, f"export:{ref}")
    with pytest.raises(Denied):  # and the door refuses the holder anyway: no grant in force
        ex.open_export(w.door, w.session(HOLDER), ref, blob)
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(exports.c.state).where(exports.c.ref == ref)).scalar_one() == "shredded"
        (cert,) = shred.certificates_for(conn, f"grant:{grant}")
    leaf = shred.find_certificate_leaf(w.log, cert)
    assert leaf is not None and shred.verify_certificate(cert, log=w.log, leaf=leaf)
    assert cert.destroyed_sha256 == hashlib.sha256(key_file).hexdigest()
    assert cert.details == {"exports": 1} and cert.destroyed_by == "sys-grants"
    assert not shred.verify_certificate(dataclasses.replace(cert, what="grant:g00000000"))  # altered: fails
    assert not shred.verify_certificate(cert, log=w.log, leaf=leaf - 1)  # another event does not carry it


def _canary_tin(w: Custody, ref: str) -> str:
    body = _open(w, ref)
    with w.engine.connect() as conn:
        planted = {str(r) for (r,) in conn.execute(sa.select(export_canaries.c.ref))}
    return next(str(r["tin"]) for r in body["rows"] if r["ref"] in planted)  # type: ignore[attr-defined]


def test_a_canary_in_an_ingest_file_raises_a_critical_alert_naming_the_export(world: Custody, tmp_path: Path) -> None:
    w = world
    ref = str(_export(w, _grant(w), 10)["id"])
    tin = _canary_tin(w, ref)
    legacy = tmp_path / "legacy"
    write_legacy(w.engine, legacy)
    p1220 = legacy / "irp_1099.p1220"
    data = bytearray(p1220.read_bytes())
    offset = 2 * (750 + 2) + 12 - 1  # record 3 (the first B record), payee TIN at 12
    data[offset : offset + 9] = tin.encode()
    leaked = tmp_path / "leaked"
    leaked.mkdir()
    (leaked / "irp_1099.p1220").write_bytes(bytes(data))
    assert _alerts(w) == []
    ingest_paths(w.engine, [leaked])
    ((rule, severity, who, summary),) = _alerts(w)
    assert (rule, severity, who) == ("canary", "critical", HOLDER)
    assert ref in summary and "ingest file" in summary and tin not in summary


@pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)
def test_a_canary_in_a_partners_file_raises_an_alert(world: Custody, tmp_path: Path) -> None:
    w = world
    ref = str(_export(w, _grant(w), 10)["id"])
    tin = _canary_tin(w, ref)
    with w.engine.begin() as conn:
        draft = ag.draft_agreement(
            conn, partner_id="partner-ssa", program="death_refunds", purpose="Refunds issued after a death",
            legal_authority="26 USC 6103(d)", agency_fields=["first_name", "last_name", "tin", "refunds_846"],
            partner_fields=["first_name", "last_name", "tin", "death_date"], starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2027, 6, 30), destroy_on=dt.date(2027, 9, 30), created_by="E000000",
        )  # fmt: skip
        a = ag.approve_agreement(conn, draft.ref, approver="eng-lead", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
    partner = tmp_path / "deaths.csv"
    partner.write_text(
        f"rid,fn,ln,ssn,dod\n1,Ann,Lee,900-01-0001,2026-02-01\n2,Bo,Ray,{tin[:3]}-{tin[3:5]}-{tin[5:]},2026-02-02\n"
    )
    mapping = {"first_name": "fn", "last_name": "ln", "tin": "ssn", "death_date": "dod"}
    jm.import_partner_file(
        w.door, jm.job_session(w.door), a.ref, partner, id_column="rid", mapping=mapping, today=dt.date(2026, 3, 1)
    )
    ((rule, severity, who, summary),) = _alerts(w)
    assert (rule, severity, who) == ("canary", "critical", HOLDER)
    assert ref in summary and "partner file import" in summary and canaries.defang(a.ref) in summary
