"""Write the synthetic population held in the store as the agency's legacy files.

Why: the whole path legacy files -> ingest -> store -> API must run and be
tested on data whose truth is known. After ``taxvault synth`` has loaded the
store, this reads it back and writes every canonical record the way the legacy
systems would hold it (each file says it is synthetic or a test, but what ingest
accepts is the store's setting, never these marks: :mod:`taxvault.store.settings`):

* ``bmf_entity.ebc``, ``imf_entity.ebc`` - BMF/IMF entity extracts (EBCDIC);
* ``cms_staff.ebc`` - the case-management staff extract (principals, declared
  related TINs);
* ``bmf_module.ebc``, ``imf_module.ebc`` - tax modules with their transactions;
* ``imf_return.ebc`` - TC 150 return detail with the dependents claimed;
* ``imf_notice.ebc`` - notices issued on modules (CP14 ...);
* ``irp_1099.p1220`` - 1099s as a Publication 1220 file (T record test flag
  set, as in any test transmission);
* ``w2.efw2`` - W-2s as an EFW2 file (RA user id ``SYNTHETC``: synthetic);
* ``cms_cases.ebc`` - cases with their subjects.

Not carried (by design): time-boxed grants (they exist only in taxvault),
internal ids and opaque refs (ingest assigns new ones), ``household_id`` (a
generator artefact; households reach the access rules through the staff
extract's declared relations) and ``ip_pin_hash`` (a secret never leaves the
IP PIN system). EBCDIC extracts use the layouts and
envelope of :mod:`taxvault.ingest.extracts`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.files import private_dir, write_private_bytes
from taxvault.formats.efw2 import EmployeeInput, EmployerInput, SubmitterInput, write_efw2
from taxvault.formats.pub1220 import PayeeInput, PayerInput, TransmitterInput, code_for_box, write_pub1220
from taxvault.ingest.extracts import dollars, write_extract
from taxvault.store import tables as t
from taxvault.store.tins import aad, tin_vault
from taxvault.synth.reading import synthetic_export

SYNTHETIC_EFW2_USER = "SYNTHETC"
"""RA submitter user id that marks an EFW2 file as synthetic."""
PAYMENT_YEAR = 2024
RUN_DATE = dt.date(2025, 12, 31)
FILING_STATUS_CODE = {"S": 1, "MFJ": 2, "MFS": 3, "HOH": 4, "QSS": 5}
FILING_STATUS_BY_CODE = {v: k for k, v in FILING_STATUS_CODE.items()}
W2_AMOUNT_BY_BOX = {
    "1": "wages_tips_other_comp",
    "2": "federal_income_tax_withheld",
    "3": "social_security_wages",
    "4": "social_security_tax_withheld",
    "5": "medicare_wages_and_tips",
    "6": "medicare_tax_withheld",
}
#: The amount codes each 1099 form declares on its A record, so zero boxes survive.
FORM_CODES = {"1099-NEC": "1", "1099-INT": "1", "1099-DIV": "12", "1099-R": "124", "1099-MISC": "1"}
RETURN_AMOUNTS = (
    "wages",
    "interest",
    "dividends",
    "business_income",
    "retirement_income",
    "total_income",
    "agi",
    "deduction",
    "taxable_income",
    "tax",
    "credits",
    "total_tax",
    "withholding",
    "payments",
    "refund",
    "balance_due",
)


def write_legacy(engine: Engine, directory: Path) -> dict[str, int]:
    """Write the store's population into ``directory``; returns {file path: data records}."""
    directory = Path(directory)
    private_dir(directory)  # legacy files carry clear TINs: 0600 in a 0700 folder
    written: dict[str, int] = {}
    try:
        with synthetic_export(engine, "legacy-files") as export:
            _write_all(export.conn, directory, written)
            export.wrote = sorted(Path(p).name for p in written)
    except BaseException:
        for path in written:  # no audit event, no files: what this export wrote does not stay
            Path(path).unlink(missing_ok=True)
        raise
    return written


def _write_all(conn: Connection, directory: Path, written: dict[str, int]) -> None:
    tins = _tin_by_entity(conn)
    for name, extract_id, records in (
        ("bmf_entity.ebc", "BMFENTTY", _bmf_entities(conn, tins)),
        ("imf_entity.ebc", "IMFENTTY", _imf_entities(conn, tins)),
        ("cms_staff.ebc", "CMSSTAFF", _staff(conn, tins)),
        ("bmf_module.ebc", "BMFMODUL", _modules(conn, tins, business=True)),
        ("imf_module.ebc", "IMFMODUL", _modules(conn, tins, business=False)),
        ("imf_return.ebc", "IMFRETRN", _returns(conn, tins)),
        ("imf_notice.ebc", "IMFNOTIC", _notices(conn, tins)),
        ("cms_cases.ebc", "CMSCASES", _cases(conn, tins)),
    ):
        rows = list(records)
        _write(directory / name, write_extract(extract_id, rows, synthetic=True, run_date=RUN_DATE))
        written[str(directory / name)] = len(rows)
    data, n = _pub1220(conn, tins)
    if n:
        _write(directory / "irp_1099.p1220", data)
        written[str(directory / "irp_1099.p1220")] = n
    data, n = _efw2(conn, tins)
    if n:
        _write(directory / "w2.efw2", data)
        written[str(directory / "w2.efw2")] = n


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    write_private_bytes(tmp, data)
    tmp.replace(path)


def _tin_by_entity(conn: Connection) -> dict[int, str]:
    """Every entity's clear TIN, decrypted in bulk: the export is a system job writing the files ingest reads."""
    e = t.entities.c
    rows = conn.execute(sa.select(e.id, e.ref, e.tin_enc)).all()
    clear = tin_vault(conn).decrypt_many(conn, [r.tin_enc for r in rows], [aad("entities", "tin", r.ref) for r in rows])
    return {int(r.id): tin for r, tin in zip(rows, clear, strict=True)}


def _date_num(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return int(value.strftime("%Y%m%d"))


def _zip(z: str) -> dict[str, str]:
    return {"ZIP_5": z[:5], "ZIP_4": z[5:9]}


def _bmf_entities(conn: Connection, tins: dict[int, str]) -> Iterator[dict[str, Any]]:
    e = t.entities.c
    q = sa.select(e.id, e.kind, e.name_control, e.business_name, e.address_line, e.city, e.state, e.zip)
    for r in conn.execute(q.where(e.tin_type == "EIN").order_by(e.id)):
        z = _zip(r.zip)
        yield {
            "BEN_EIN": tins[r.id],
            "BEN_KIND": "E" if r.kind == "exempt_org" else "B",
            "BEN_NAME_CONTROL": r.name_control,
            "BEN_NAME_LINE": r.business_name or "",
            "BEN_ADDRESS": {
                "BEN_ADDR_LINE_1": r.address_line,
                "BEN_CITY": r.city,
                "BEN_STATE": r.state,
                "BEN_ZIP": {"BEN_ZIP_5": z["ZIP_5"], "BEN_ZIP_4": z["ZIP_4"]},
            },
        }


def _imf_entities(conn: Connection, tins: dict[int, str]) -> Iterator[dict[str, Any]]:
    e = t.entities.c
    q = sa.select(t.entities).where(e.tin_type != "EIN").order_by(e.id)
    for r in conn.execute(q):
        z = _zip(r.zip)
        yield {
            "ENT_TIN": tins[r.id],
            "ENT_TIN_TYPE": "I" if r.tin_type == "ITIN" else "S",
            "ENT_NAME_CONTROL": r.name_control,
            "ENT_NAME": {
                "ENT_LAST_NAME": r.last_name or "",
                "ENT_FIRST_NAME": r.first_name or "",
                "ENT_MIDDLE_NAME": r.middle_name or "",
            },
            "ENT_ADDRESS": {
                "ENT_ADDR_LINE_1": r.address_line,
                "ENT_CITY": r.city,
                "ENT_STATE": r.state,
                "ENT_ZIP": {"ENT_ZIP_5": z["ZIP_5"], "ENT_ZIP_4": z["ZIP_4"]},
            },
            "ENT_BIRTH_DATE": _date_num(r.birth_date),
            "ENT_DEATH_DATE": _date_num(r.death_date),
            "ENT_FLAGS": {
                "ENT_DECEASED_FLAG": "Y" if r.is_deceased else "N",
                "ENT_RESTRICTED_FLAG": "Y" if r.is_restricted else "N",
                "ENT_EMPLOYEE_FLAG": "Y" if r.is_employee else "N",
            },
            "ENT_SPOUSE_TIN": tins.get(r.spouse_id, "") if r.spouse_id is not None else "",
        }


def _staff(conn: Connection, tins: dict[int, str]) -> Iterator[dict[str, Any]]:
    p = t.principals.c
    relations: dict[str, list[dict[str, str]]] = defaultdict(list)
    r = t.principal_relations.c
    for pid, eid, rel in conn.execute(sa.select(r.principal_id, r.entity_id, r.relation)):
        relations[pid].append({"REL_TIN": tins[eid], "REL_KIND": rel})
    # The jobs' system principals are not legacy staff: `taxvault init` creates them in every store.
    rows = list(conn.execute(sa.select(t.principals).where(t.principals.c.kind != "system")).all())
    # Managers first (a manager exists before the staff who name her), then by id.
    rows.sort(key=lambda row: (row.manager_id is not None, row.id))
    for row in rows:
        created = row.created_at
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        if created.tzinfo is not None:
            created = created.astimezone(dt.UTC)
        yield {
            "STF_ID": row.id,
            "STF_KIND": row.kind,
            "STF_DISPLAY_NAME": row.display_name,
            "STF_ROLES": row.roles,
            "STF_UNIT": row.unit or "",
            "STF_TIN": tins.get(row.entity_id, "") if row.entity_id is not None else "",
            "STF_MANAGER_ID": row.manager_id or "",
            "STF_DOLLAR_LIMIT": dollars(int(row.dollar_limit_cents)),
            "STF_ACTIVE": "Y" if row.active else "N",
            "STF_CREATED_DATE": int(created.strftime("%Y%m%d")),
            "STF_CREATED_TIME": int(created.strftime("%H%M%S")),
            "STF_RELATION": sorted(relations.get(row.id, []), key=lambda x: (x["REL_KIND"], x["REL_TIN"])),
        }
    del p


def _modules(conn: Connection, tins: dict[int, str], *, business: bool) -> Iterator[dict[str, Any]]:
    m, x = t.tax_modules.c, t.transactions.c
    mft_filter = m.mft != 30 if business else m.mft == 30
    txns: dict[int, list[dict[str, Any]]] = defaultdict(list)
    q = (
        sa.select(x.module_id, x.tc, x.amount_cents, x.posted_date, x.cycle, x.dln, x.reason_code)
        .join(t.tax_modules, t.tax_modules.c.id == x.module_id)
        .where(mft_filter)
        .order_by(x.id)
    )
    for r in conn.execute(q):
        txns[r.module_id].append(
            {
                "TXN_CODE": r.tc,
                "TXN_AMOUNT": dollars(r.amount_cents),
                "TXN_23C_DATE": _date_num(r.posted_date),
                "TXN_CYCLE": r.cycle,
                "TXN_DLN": r.dln,
                "TXN_REASON_CODE": r.reason_code or 0,
            }
        )
    for r in conn.execute(sa.select(t.tax_modules).where(mft_filter).order_by(m.id)):
        entries = txns.get(r.id, [])
        yield {
            "MOD_KEY": {"MOD_TIN": tins[r.entity_id], "MOD_MFT_CODE": r.mft, "MOD_TAX_PERIOD": r.tax_period},
            "MOD_STATUS": int(r.status),
            "MOD_BALANCE": sum((e["TXN_AMOUNT"] for e in entries), dollars(0)),
            "MOD_TRANSACTION": entries,
        }


def _returns(conn: Connection, tins: dict[int, str]) -> Iterator[dict[str, Any]]:
    rt, m, d = t.returns.c, t.tax_modules.c, t.return_dependents.c
    deps: dict[int, list[dict[str, str]]] = defaultdict(list)
    for rid, eid, rel in conn.execute(sa.select(d.return_id, d.entity_id, d.relationship)):
        deps[rid].append({"DEP_TIN": tins[eid], "DEP_RELATIONSHIP": rel})
    q = sa.select(t.returns, m.entity_id.label("module_entity"), m.mft, m.tax_period).join(
        t.tax_modules, m.id == rt.module_id
    )
    for r in conn.execute(q.order_by(rt.id)):
        yield {
            "RET_KEY": {"RET_TIN": tins[r.module_entity], "RET_MFT_CODE": r.mft, "RET_TAX_PERIOD": r.tax_period},
            "RET_FORM": r.form,
            "RET_FILING_STATUS": FILING_STATUS_CODE[r.filing_status],
            "RET_SPOUSE_TIN": tins[r.spouse_id] if r.spouse_id is not None else "",
            "RET_FILED_DATE": _date_num(r.filed_date),
            "RET_DLN": r.dln,
            "RET_DEPENDENTS_CLAIMED": r.dependents,
            "RET_LINE_ITEMS": {f"RET_{name.upper()}": dollars(getattr(r, f"{name}_cents")) for name in RETURN_AMOUNTS},
            "RET_BANK_ROUTING": r.bank_routing or "",
            "RET_BANK_ACCOUNT": r.bank_account or "",
            "RET_DEPENDENT": sorted(deps.get(r.id, []), key=lambda x: x["DEP_TIN"]),
        }


def _notices(conn: Connection, tins: dict[int, str]) -> Iterator[dict[str, Any]]:
    n, m = t.notices.c, t.tax_modules.c
    q = sa.select(t.notices, m.entity_id, m.mft, m.tax_period).join(t.tax_modules, m.id == n.module_id)
    for r in conn.execute(q.order_by(n.id)):
        yield {
            "NTC_KEY": {"NTC_TIN": tins[r.entity_id], "NTC_MFT_CODE": r.mft, "NTC_TAX_PERIOD": r.tax_period},
            "NTC_TYPE": r.notice_type,
            "NTC_ISSUED_DATE": _date_num(r.issued_date),
            "NTC_AMOUNT_DUE": dollars(r.amount_due_cents),
            "NTC_TAX": dollars(r.tax_cents),
            "NTC_PENALTY": dollars(r.penalty_cents),
            "NTC_INTEREST": dollars(r.interest_cents),
            "NTC_RESPOND_BY_DATE": _date_num(r.respond_by),
        }


def _cases(conn: Connection, tins: dict[int, str]) -> Iterator[dict[str, Any]]:
    c, s, m = t.cases.c, t.case_subjects.c, t.tax_modules.c
    modules = {
        int(i): (tins[e], int(mft), int(p))
        for i, e, mft, p in conn.execute(sa.select(m.id, m.entity_id, m.mft, m.tax_period))
    }
    subjects: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for cid, eid, mid in conn.execute(sa.select(s.case_id, s.entity_id, s.module_id).order_by(s.case_id)):
        owner, mft, period = modules[mid] if mid is not None else ("", 0, 0)
        subjects[cid].append(
            {"SUB_TIN": tins[eid], "SUB_MOD_TIN": owner, "SUB_MFT_CODE": mft, "SUB_TAX_PERIOD": period}
        )
    for r in conn.execute(sa.select(t.cases).order_by(c.id)):
        yield {
            "CAS_UNIT": r.unit,
            "CAS_KIND": r.kind,
            "CAS_PURPOSE": r.purpose,
            "CAS_ASSIGNED_TO": r.assigned_to or "",
            "CAS_STATUS": r.status,
            "CAS_OPENED_DATE": _date_num(r.opened_at),
            "CAS_CLOSED_DATE": _date_num(r.closed_at),
            "CAS_SUBJECT": subjects.get(r.id, []),
        }


def _entity_details(conn: Connection, tins: dict[int, str]) -> dict[str, Any]:
    e = t.entities.c
    q = sa.select(
        e.id,
        e.first_name,
        e.middle_name,
        e.last_name,
        e.business_name,
        e.name_control,
        e.address_line,
        e.city,
        e.state,
        e.zip,
    )
    return {tins[r.id]: r for r in conn.execute(q)}


def _info_returns(conn: Connection, w2: bool) -> Iterator[Any]:
    """The information returns with their payer and payee TINs decrypted (in bulk), grouped by payer."""
    i = t.information_returns.c
    q = sa.select(t.information_returns).where((i.form == "W-2") if w2 else (i.form != "W-2"))
    rows = conn.execute(q.order_by(i.id)).all()
    vault = tin_vault(conn)
    clear = {
        side: vault.decrypt_many(
            conn, [getattr(r, f"{side}_enc") for r in rows], [aad("information_returns", side, r.ref) for r in rows]
        )
        for side in ("payer_tin", "payee_tin")
    }
    # Grouped by payer in the clear TIN's order (not the keyed hash's, which changes with the key),
    # so the same population always writes the same file.
    payer = clear["payer_tin"]
    for k in sorted(range(len(rows)), key=lambda n: (payer[n], rows[n].form, rows[n].id)):
        r = rows[k]
        yield SimpleNamespace(**r._mapping, payer_tin=payer[k], payee_tin=clear["payee_tin"][k])


def _pub1220(conn: Connection, tins: dict[int, str]) -> tuple[bytes, int]:
    people = _entity_details(conn, tins)
    groups: dict[tuple[str, str], list[PayeeInput]] = defaultdict(list)
    for r in _info_returns(conn, w2=False):
        boxes = r.boxes if isinstance(r.boxes, dict) else json.loads(r.boxes)
        amounts = {code_for_box(r.form, box, PAYMENT_YEAR): int(v) for box, v in boxes.items()}
        p = people.get(r.payee_tin)
        name = " ".join(x for x in (p.first_name, p.middle_name, p.last_name) if x) if p else "UNKNOWN"
        groups[(r.payer_tin, r.form)].append(
            PayeeInput(
                tin=r.payee_tin,
                name=name or (p.business_name if p else "") or "UNKNOWN",
                amounts=amounts,
                tin_type="1" if r.payee_tin_type == "EIN" else "2",
                name_control=r.payee_name_control or "",
                address=p.address_line if p else "",
                city=p.city if p else "",
                state=p.state if p else "",
                zip=p.zip if p else "",
            )
        )
    if not groups:
        return b"", 0
    payers = []
    for (payer_tin, form), payees in groups.items():
        b = people.get(payer_tin)
        payers.append(
            PayerInput(
                tin=payer_tin,
                name=(b.business_name if b else None) or "UNKNOWN PAYER",
                payees=payees,
                form=form,
                amount_codes=FORM_CODES.get(form, ""),
                name_control=b.name_control if b else "",
                address=b.address_line if b else "",
                city=b.city if b else "",
                state=b.state if b else "",
                zip=b.zip if b else "",
            )
        )
    transmitter = TransmitterInput(tin=payers[0].tin, tcc="00SYN", name="TAXVAULT SYNTHETIC DATA", test_file=True)
    n = sum(len(p.payees) for p in payers)
    return write_pub1220(transmitter, payers, payment_year=PAYMENT_YEAR, line_end=b"\r\n"), n


def _efw2(conn: Connection, tins: dict[int, str]) -> tuple[bytes, int]:
    people = _entity_details(conn, tins)
    groups: dict[str, list[EmployeeInput]] = defaultdict(list)
    for r in _info_returns(conn, w2=True):
        boxes = r.boxes if isinstance(r.boxes, dict) else json.loads(r.boxes)
        p = people.get(r.payee_tin)
        groups[r.payer_tin].append(
            EmployeeInput(
                ssn=r.payee_tin,
                first_name=(p.first_name if p else "") or "",
                middle_name=(p.middle_name if p else "") or "",
                last_name=(p.last_name if p else "") or "UNKNOWN",
                amounts={W2_AMOUNT_BY_BOX[b]: int(v) for b, v in boxes.items()},
                location="",
                delivery=p.address_line if p else "",
                city=p.city if p else "",
                state=p.state if p else "",
                zip=(p.zip if p else "")[:5],
            )
        )
    if not groups:
        return b"", 0
    employers = []
    for ein, employees in groups.items():
        b = people.get(ein)
        employers.append(
            EmployerInput(
                ein=ein,
                name=(b.business_name if b else None) or "UNKNOWN EMPLOYER",
                tax_year=PAYMENT_YEAR,
                employees=employees,
                delivery=b.address_line if b else "",
                city=b.city if b else "",
                state=b.state if b else "",
                zip=(b.zip if b else "")[:5],
            )
        )
    submitter = SubmitterInput(ein=employers[0].ein, user_id=SYNTHETIC_EFW2_USER, company_name="TAXVAULT SYNTHETIC")
    n = sum(len(e.employees) for e in employers)
    return write_efw2(submitter, employers), n
