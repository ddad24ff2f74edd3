"""Validate the IMF (individuals) and BMF (businesses, exempt organisations) entity extracts.

Checks: TIN shape and type, synthetic range in a synthetic-only store (the
store's setting, never the extract's control flag: see :mod:`taxvault.store.settings`), not
already on file (in the store or earlier in the file), name control and name,
address (state, ZIP), dates, flags. A spouse TIN must name an individual on
file or in the same extract; spouses are linked after the whole file is read,
and a record whose spouse was itself quarantined is quarantined too (repeated
until nothing changes), so no entity points at a missing spouse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from taxvault.ingest.checks import date_or_none, is_synthetic, is_tin, outside_synthetic, valid_name_control
from taxvault.ingest.extracts import Extract
from taxvault.ingest.information_returns import refs
from taxvault.ingest.lookup import ByTin, entity_index
from taxvault.ingest.plan import Plan, Quarantined, local_ids
from taxvault.ingest.records import Reject, text, validate_records
from taxvault.store.settings import is_synthetic_store

_FLAGS = {"Y": True, "N": False, "": False}


def _address(values: Mapping[str, Any], prefix: str) -> dict[str, str]:
    addr = values.get(f"{prefix}_ADDRESS") or {}
    zips = addr.get(f"{prefix}_ZIP") or {}
    state = text(addr, f"{prefix}_STATE", "state", required=True)
    if not (len(state) == 2 and state.isalpha() and state.isupper()):
        raise Reject("state", "not a two-letter state code")
    zip5 = text(zips, f"{prefix}_ZIP_5", "zip", required=True)
    zip4 = text(zips, f"{prefix}_ZIP_4", "zip")
    if not (len(zip5) == 5 and zip5.isdigit()) or (zip4 and not (len(zip4) == 4 and zip4.isdigit())):
        raise Reject("zip", "ZIP is not 5 digits (+ 4 digits)")
    return {
        "address_line": text(addr, f"{prefix}_ADDR_LINE_1", "address_line", required=True),
        "city": text(addr, f"{prefix}_CITY", "city", required=True),
        "state": state,
        "zip": zip5 + zip4,
    }


_COLUMNS = [
    "tin",
    "tin_type",
    "kind",
    "last_name",
    "first_name",
    "middle_name",
    "business_name",
    "name_control",
    "address_line",
    "city",
    "state",
    "zip",
    "birth_date",
    "death_date",
    "spouse_tin",
    "is_employee",
    "is_restricted",
    "is_deceased",
    "source_record",
]


def plan_entities(conn: Connection, extract: Extract, name: str) -> Plan:
    """Validate an IMF or BMF entity extract; rows for ``entities``."""
    business = extract.kind.extract_id == "BMFENTTY"
    plan = Plan(kind="bmf_entity" if business else "imf_entity")
    on_file = entity_index(conn, ein=business).by_tin
    synthetic_only = is_synthetic_store(conn)  # the store decides, not CTL_SYNTHETIC in the file
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    raws: dict[int, bytes] = {}

    def check(number: int, v: Mapping[str, Any]) -> None:
        tin = text(v, "BEN_EIN" if business else "ENT_TIN", "tin", required=True)
        if not is_tin(tin):
            raise Reject("tin", "TIN is not 9 digits")
        if business:
            kind = {"B": "business", "E": "exempt_org"}.get(text(v, "BEN_KIND", "kind"))
            if kind is None:
                raise Reject("kind", "entity kind is not B (business) or E (exempt organisation)")
            tin_type = "EIN"
        else:
            tin_type = {"S": "SSN", "I": "ITIN"}.get(text(v, "ENT_TIN_TYPE", "tin_type")) or ""
            if not tin_type:
                raise Reject("tin_type", "IMF TIN type is not S (SSN) or I (ITIN)")
            kind = "individual"
        if synthetic_only and not is_synthetic(tin, business):
            raise Reject("tin", outside_synthetic("TIN"))
        if tin in on_file or tin in seen:
            raise Reject("tin", "TIN already on file")
        nc = text(v, "BEN_NAME_CONTROL" if business else "ENT_NAME_CONTROL", "name_control", required=True)
        if not valid_name_control(nc):
            raise Reject("name_control", "name control is not 1-4 of A-Z, 0-9, & or -")
        row: dict[str, Any] = {"tin": tin, "tin_type": tin_type, "kind": kind, "name_control": nc}
        if business:
            row |= {"last_name": None, "first_name": None, "middle_name": None}
            row["business_name"] = text(v, "BEN_NAME_LINE", "business_name", required=True)
            row |= _address(v, "BEN")
            row |= {"birth_date": None, "death_date": None, "spouse_tin": ""}
            row |= {"is_employee": False, "is_restricted": False, "is_deceased": False}
        else:
            names = v.get("ENT_NAME") or {}
            row["last_name"] = text(names, "ENT_LAST_NAME", "last_name", required=True)
            row["first_name"] = text(names, "ENT_FIRST_NAME", "first_name") or None
            row["middle_name"] = text(names, "ENT_MIDDLE_NAME", "middle_name") or None
            row["business_name"] = None
            row |= _address(v, "ENT")
            for key, col in (("ENT_BIRTH_DATE", "birth_date"), ("ENT_DEATH_DATE", "death_date")):
                ok, when = date_or_none(v.get(key))
                if not ok:
                    raise Reject(col, "not a CCYYMMDD date")
                row[col] = when
            flags = v.get("ENT_FLAGS") or {}
            for key, col in (
                ("ENT_EMPLOYEE_FLAG", "is_employee"),
                ("ENT_RESTRICTED_FLAG", "is_restricted"),
                ("ENT_DECEASED_FLAG", "is_deceased"),
            ):
                flag = _FLAGS.get(text(flags, key, col))
                if flag is None:
                    raise Reject(col, "flag is not Y or N")
                row[col] = flag
            spouse = text(v, "ENT_SPOUSE_TIN", "spouse_tin")
            if spouse and not is_tin(spouse):
                raise Reject("spouse_tin", "spouse TIN is not 9 digits")
            row["spouse_tin"] = spouse
        row["source_record"] = number
        seen.add(tin)
        rows.append(row)

    for number, raw in enumerate(extract.records, start=1):
        raws[number] = raw
    validate_records(extract, plan, "ENTITY", check, name)
    rows = _drop_missing_spouses(rows, on_file, plan, raws)
    n = len(rows)
    cols: dict[str, Any] = {c: [r[c] for r in rows] for c in _COLUMNS}
    local = {tin: -(k + 1) for k, tin in enumerate(cols["tin"])}
    spouse_ids = [local.get(s) or (on_file[s][0] if s in on_file else 0) if s else 0 for s in cols.pop("spouse_tin")]
    plan.tables["entities"] = {
        "id": local_ids(n),
        "ref": refs("e", n),
        **cols,
        "spouse_id": spouse_ids,
    }
    plan.id_columns[("entities", "id")] = "entities"
    plan.id_columns[("entities", "spouse_id")] = "entities"
    return plan


def _drop_missing_spouses(
    rows: list[dict[str, Any]], on_file: ByTin, plan: Plan, raws: dict[int, bytes]
) -> list[dict[str, Any]]:
    while True:
        present = {r["tin"] for r in rows}
        missing = [
            r for r in rows if r["spouse_tin"] and r["spouse_tin"] not in present and r["spouse_tin"] not in on_file
        ]
        if not missing:
            return rows
        for r in missing:
            plan.quarantine.append(
                Quarantined(
                    r["source_record"], "ENTITY", "spouse_tin", "spouse TIN not on file", raws[r["source_record"]]
                )
            )
            plan.loaded -= 1
        gone = {id(r) for r in missing}
        rows = [r for r in rows if id(r) not in gone]


def utc(date: dt.date, hhmmss: int) -> dt.datetime:
    """A date and an HHMMSS number as an aware UTC datetime (ValueError when not a time)."""
    return dt.datetime(
        date.year, date.month, date.day, hhmmss // 10000, hhmmss // 100 % 100, hhmmss % 100, tzinfo=dt.UTC
    )
