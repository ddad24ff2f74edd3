"""Validate the tax-module (IMF/BMF) and return-detail (TC 150) extracts.

Modules: the TIN must be an entity on file (individuals for MFT 30, EINs
otherwise), MFT known, tax period YYYYMM, status two digits, no module with
the same TIN/MFT/period already on file, 1-99 transactions each with a
transaction code, whole-cent amount, valid 23C date, cycle and 14-digit DLN,
and ``MOD-BALANCE`` equal to the sum of its transactions (a per-record control
total). Transactions were posted by the legacy posting cycle, so they load as
posted by ``sys-posting``.

Returns: the module (TIN/MFT/period) must be on file and carry no original
return yet; filing status 1-5; spouse and every dependent TIN on file; filed
date, DLN, whole-cent line items; routing number with a valid ABA check digit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from taxvault.ingest.checks import date_or_none, is_tin, tax_period_ok
from taxvault.ingest.extracts import Extract, cents
from taxvault.ingest.information_returns import refs
from taxvault.ingest.lookup import entity_index, module_ids, notice_keys, return_module_ids
from taxvault.ingest.plan import Plan, local_ids
from taxvault.ingest.records import Reject, integer, text, validate_records

POSTED_BY = "sys-posting"
INDIVIDUAL_MFT = 30
MFT_CODES = frozenset({1, 2, 10, 30, 31, 55, 67})
FILING_STATUS = {1: "S", 2: "MFJ", 3: "MFS", 4: "HOH", 5: "QSS"}
RETURN_AMOUNTS = [
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
]
_ABA = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def plan_modules(conn: Connection, extract: Extract, name: str) -> Plan:
    """Validate a module extract; rows for ``tax_modules`` and ``transactions``."""
    plan = Plan(kind=extract.kind.extract_id.lower())
    people = entity_index(conn, ein=False).by_tin
    businesses = entity_index(conn, ein=True).by_tin
    existing = module_ids(conn)
    seen: set[tuple[int, int, int]] = set()
    mods: dict[str, list[Any]] = {k: [] for k in ("entity_id", "mft", "tax_period", "status", "source_record")}
    tx: dict[str, list[Any]] = {
        k: [] for k in ("module", "tc", "amount_cents", "posted_date", "cycle", "dln", "reason_code", "source_record")
    }

    def check(number: int, v: Mapping[str, Any]) -> None:
        key = v.get("MOD_KEY") or {}
        tin = text(key, "MOD_TIN", "tin", required=True)
        mft = integer(key, "MOD_MFT_CODE", "mft")
        if mft not in MFT_CODES:
            raise Reject("mft", "MFT code not known")
        if not is_tin(tin):
            raise Reject("tin", "TIN is not 9 digits")
        entity = (people if mft == INDIVIDUAL_MFT else businesses).get(tin)
        if entity is None:
            raise Reject("tin", "no entity on file with this TIN")
        period = integer(key, "MOD_TAX_PERIOD", "tax_period")
        if not tax_period_ok(period):
            raise Reject("tax_period", "tax period is not YYYYMM")
        ident = (entity[0], mft, period)
        if ident in existing or ident in seen:
            raise Reject("tax_period", "module already on file")
        status = integer(v, "MOD_STATUS", "status")
        entries = v.get("MOD_TRANSACTION") or []
        if not 1 <= len(entries) <= 99:
            raise Reject("transactions", "a module holds 1 to 99 transactions")
        rows = []
        total = 0
        for e in entries:
            tc = integer(e, "TXN_CODE", "tc")
            amount = cents(e.get("TXN_AMOUNT"))
            ok, posted = date_or_none(e.get("TXN_23C_DATE"))
            cycle = integer(e, "TXN_CYCLE", "cycle")
            dln = text(e, "TXN_DLN", "dln")
            reason = e.get("TXN_REASON_CODE")
            if not 1 <= tc <= 999:
                raise Reject("tc", "transaction code is not 001-999")
            if amount is None:
                raise Reject("amount", "amount is not a whole number of cents")
            if not ok or posted is None:
                raise Reject("posted_date", "23C date is not a CCYYMMDD date")
            if not 190001 <= cycle <= 299953:
                raise Reject("cycle", "cycle is not CCYYWW")
            if not (len(dln) == 14 and dln.isdigit()):
                raise Reject("dln", "DLN is not 14 digits")
            if not isinstance(reason, int):
                raise Reject("reason_code", "not a number")
            total += amount
            rows.append((tc, amount, posted, cycle, dln, reason or None))
        if cents(v.get("MOD_BALANCE")) != total:
            raise Reject("balance", "module balance differs from the sum of its transactions")
        seen.add(ident)
        module = -(len(mods["mft"]) + 1)
        for col, value in zip(
            ("entity_id", "mft", "tax_period", "status", "source_record"),
            (entity[0], mft, period, f"{status:02d}", number),
            strict=True,
        ):
            mods[col].append(value)
        for tc, amount, posted, cycle, dln, reason in rows:
            for col, value in zip(tx, (module, tc, amount, posted, cycle, dln, reason, number), strict=True):
                tx[col].append(value)

    validate_records(extract, plan, "MODULE", check, name)
    n, m = len(mods["mft"]), len(tx["tc"])
    plan.tables["tax_modules"] = {"id": local_ids(n), "ref": refs("m", n), **mods}
    plan.tables["transactions"] = {
        "module_id": np.asarray(tx.pop("module"), dtype=np.int64),
        **tx,
        "posted_by": [POSTED_BY] * m,
    }
    plan.id_columns[("tax_modules", "id")] = "tax_modules"
    plan.id_columns[("transactions", "module_id")] = "tax_modules"
    return plan


def aba_ok(routing: str) -> bool:
    return (
        len(routing) == 9
        and routing.isdigit()
        and sum(int(c) * w for c, w in zip(routing, _ABA, strict=True)) % 10 == 0
    )


def plan_returns(conn: Connection, extract: Extract, name: str) -> Plan:
    """Validate a return-detail extract; rows for ``returns`` and ``return_dependents``."""
    plan = Plan(kind="imf_return")
    people = entity_index(conn, ein=False).by_tin
    modules = module_ids(conn)
    with_return = return_module_ids(conn)
    rets: dict[str, list[Any]] = {}
    deps: dict[str, list[Any]] = {"return_id": [], "entity_id": [], "relationship": []}

    def check(number: int, v: Mapping[str, Any]) -> None:
        key = v.get("RET_KEY") or {}
        tin = text(key, "RET_TIN", "tin", required=True)
        owner = people.get(tin)
        if owner is None:
            raise Reject("tin", "no individual on file with this TIN")
        mft, period = integer(key, "RET_MFT_CODE", "mft"), integer(key, "RET_TAX_PERIOD", "tax_period")
        module = modules.get((owner[0], mft, period))
        if module is None:
            raise Reject("tax_period", "no tax module on file for this return")
        if module in with_return:
            raise Reject("tax_period", "the module already carries an original return")
        status = FILING_STATUS.get(integer(v, "RET_FILING_STATUS", "filing_status"))
        if status is None:
            raise Reject("filing_status", "filing status is not 1-5")
        spouse_tin = text(v, "RET_SPOUSE_TIN", "spouse_tin")
        spouse = people.get(spouse_tin) if spouse_tin else None
        if spouse_tin and spouse is None:
            raise Reject("spouse_tin", "spouse TIN not on file")
        ok, filed = date_or_none(v.get("RET_FILED_DATE"))
        if not ok or filed is None:
            raise Reject("filed_date", "filed date is not a CCYYMMDD date")
        dln = text(v, "RET_DLN", "dln")
        if not (len(dln) == 14 and dln.isdigit()):
            raise Reject("dln", "DLN is not 14 digits")
        form = text(v, "RET_FORM", "form", required=True)
        claimed = integer(v, "RET_DEPENDENTS_CLAIMED", "dependents")
        items = v.get("RET_LINE_ITEMS") or {}
        amounts = {}
        for item in RETURN_AMOUNTS:
            value = cents(items.get(f"RET_{item.upper()}"))
            if value is None:
                raise Reject(item, "amount is not a whole number of cents")
            amounts[f"{item}_cents"] = value
        routing = text(v, "RET_BANK_ROUTING", "bank_routing")
        account = text(v, "RET_BANK_ACCOUNT", "bank_account")
        if routing and not aba_ok(routing):
            raise Reject("bank_routing", "routing number fails the ABA check digit")
        if account and not account.isdigit():
            raise Reject("bank_account", "account number is not digits")
        dep_rows = []
        for d in v.get("RET_DEPENDENT") or []:
            dep = people.get(text(d, "DEP_TIN", "dependent_tin"))
            if dep is None:
                raise Reject("dependent_tin", "dependent TIN not on file")
            dep_rows.append((dep[0], text(d, "DEP_RELATIONSHIP", "relationship", required=True)))
        if len({d[0] for d in dep_rows}) != len(dep_rows):
            raise Reject("dependent_tin", "dependent listed twice")
        with_return.add(module)
        ret = -(len(rets.get("module_id", [])) + 1)
        row: dict[str, Any] = {
            "module_id": module,
            "entity_id": owner[0],
            "spouse_id": spouse[0] if spouse else None,
            "tax_year": period // 100,
            "form": form,
            "filing_status": status,
            "dependents": claimed,
            "filed_date": filed,
            "dln": dln,
            **amounts,
            "bank_routing": routing or None,
            "bank_account": account or None,
            "source_record": number,
        }
        for col, value in row.items():
            rets.setdefault(col, []).append(value)
        for entity_id, rel in dep_rows:
            deps["return_id"].append(ret)
            deps["entity_id"].append(entity_id)
            deps["relationship"].append(rel)

    validate_records(extract, plan, "RETURN", check, name)
    n = len(rets.get("module_id", []))
    if n:
        plan.tables["returns"] = {"id": local_ids(n), "ref": refs("r", n), **rets}
        plan.tables["return_dependents"] = {**deps, "return_id": np.asarray(deps["return_id"], dtype=np.int64)}
        plan.id_columns[("returns", "id")] = "returns"
        plan.id_columns[("return_dependents", "return_id")] = "returns"
    return plan


NOTICE_AMOUNTS = (
    ("NTC_AMOUNT_DUE", "amount_due_cents"),
    ("NTC_TAX", "tax_cents"),
    ("NTC_PENALTY", "penalty_cents"),
    ("NTC_INTEREST", "interest_cents"),
)


def plan_notices(conn: Connection, extract: Extract, name: str) -> Plan:
    """Validate a notice-history extract; rows for ``notices`` (one per module, type and date)."""
    plan = Plan(kind="imf_notice")
    people = entity_index(conn, ein=False).by_tin
    businesses = entity_index(conn, ein=True).by_tin
    modules = module_ids(conn)
    existing = notice_keys(conn)
    cols: dict[str, list[Any]] = {}

    def check(number: int, v: Mapping[str, Any]) -> None:
        key = v.get("NTC_KEY") or {}
        mft = integer(key, "NTC_MFT_CODE", "mft")
        owner = (people if mft == INDIVIDUAL_MFT else businesses).get(text(key, "NTC_TIN", "tin"))
        if owner is None:
            raise Reject("tin", "no entity on file with this TIN")
        module = modules.get((owner[0], mft, integer(key, "NTC_TAX_PERIOD", "tax_period")))
        if module is None:
            raise Reject("tax_period", "no tax module on file for this notice")
        kind = text(v, "NTC_TYPE", "notice_type", required=True)
        ok, issued = date_or_none(v.get("NTC_ISSUED_DATE"))
        if not ok or issued is None:
            raise Reject("issued_date", "not a CCYYMMDD date")
        ok, respond_by = date_or_none(v.get("NTC_RESPOND_BY_DATE"))
        if not ok:
            raise Reject("respond_by", "not a CCYYMMDD date")
        if (module, kind, issued) in existing:
            raise Reject("notice_type", "notice already on file")
        row: dict[str, Any] = {"module_id": module, "notice_type": kind, "issued_date": issued}
        for field_name, col in NOTICE_AMOUNTS:
            value = cents(v.get(field_name))
            if value is None:
                raise Reject(col, "amount is not a whole number of cents")
            row[col] = value
        row |= {"respond_by": respond_by, "source_record": number}
        existing.add((module, kind, issued))
        for col, value in row.items():
            cols.setdefault(col, []).append(value)

    validate_records(extract, plan, "NOTICE", check, name)
    n = len(cols.get("module_id", []))
    if n:
        plan.tables["notices"] = {"ref": refs("n", n), **cols}
    return plan
