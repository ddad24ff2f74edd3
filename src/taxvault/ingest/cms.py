"""Validate the case-management extracts: staff (principals and declared relations) and cases.

Staff: id present and new, kind and roles, own TIN (when given) and every
declared related TIN on file, manager on file or earlier in the extract,
dollar limit in whole cents, created date and time. Cases: kind, status,
purpose and unit, assigned principal on file, opened (and closed) dates,
1-10 subjects each on file with its module (owner TIN, MFT, period) on file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from taxvault.ingest.checks import date_or_none
from taxvault.ingest.entities import utc
from taxvault.ingest.extracts import Extract, cents
from taxvault.ingest.information_returns import refs
from taxvault.ingest.lookup import entity_index, module_ids, principal_ids
from taxvault.ingest.plan import Plan, local_ids
from taxvault.ingest.records import Reject, integer, text, validate_records

PRINCIPAL_KINDS = frozenset({"employee", "contractor", "analyst", "oversight", "partner", "system", "taxpayer"})
RELATIONS = frozenset({"self", "spouse", "relative", "household"})
CASE_KINDS = frozenset({"assistance", "collection", "examination", "aur"})
CASE_STATUS = frozenset({"open", "closed"})


def plan_staff(conn: Connection, extract: Extract, name: str) -> Plan:
    """Validate a staff extract; rows for ``principals`` and ``principal_relations``."""
    plan = Plan(kind="cms_staff")
    people = entity_index(conn, ein=False).by_tin
    known = principal_ids(conn)
    cols: dict[str, list[Any]] = {}
    rels: dict[str, list[Any]] = {"principal_id": [], "entity_id": [], "relation": []}

    def check(number: int, v: Mapping[str, Any]) -> None:
        pid = text(v, "STF_ID", "id", required=True, max_len=40)
        if pid in known:
            raise Reject("id", "principal already on file")
        kind = text(v, "STF_KIND", "kind")
        if kind not in PRINCIPAL_KINDS:
            raise Reject("kind", "principal kind not known")
        tin = text(v, "STF_TIN", "tin")
        entity = people.get(tin) if tin else None
        if tin and entity is None:
            raise Reject("tin", "no individual on file with this TIN")
        manager = text(v, "STF_MANAGER_ID", "manager_id")
        if manager and manager not in known:
            raise Reject("manager_id", "manager not on file (managers precede their staff)")
        limit = cents(v.get("STF_DOLLAR_LIMIT"))
        if limit is None or limit < 0:
            raise Reject("dollar_limit", "dollar limit is not a non-negative amount")
        active = {"Y": True, "N": False}.get(text(v, "STF_ACTIVE", "active"))
        if active is None:
            raise Reject("active", "active flag is not Y or N")
        ok, day = date_or_none(v.get("STF_CREATED_DATE"))
        if not ok or day is None:
            raise Reject("created_date", "not a CCYYMMDD date")
        try:
            created = utc(day, integer(v, "STF_CREATED_TIME", "created_time"))
        except ValueError:
            raise Reject("created_time", "not an HHMMSS time") from None
        related = []
        for r in v.get("STF_RELATION") or []:
            rel_entity = people.get(text(r, "REL_TIN", "relation_tin"))
            if rel_entity is None:
                raise Reject("relation_tin", "related TIN not on file")
            kind_of = text(r, "REL_KIND", "relation")
            if kind_of not in RELATIONS:
                raise Reject("relation", "relation is not self, spouse, relative or household")
            related.append((rel_entity[0], kind_of))
        if len({e for e, _ in related}) != len(related):
            raise Reject("relation_tin", "related TIN listed twice")
        row = {
            "id": pid,
            "kind": kind,
            "display_name": text(v, "STF_DISPLAY_NAME", "display_name", required=True),
            "roles": text(v, "STF_ROLES", "roles", required=True),
            "unit": text(v, "STF_UNIT", "unit") or None,
            "entity_id": entity[0] if entity else None,
            "manager_id": manager or None,
            "dollar_limit_cents": limit,
            "active": active,
            "created_at": created,
        }
        known.add(pid)
        for col, value in row.items():
            cols.setdefault(col, []).append(value)
        for entity_id, kind_of in related:
            rels["principal_id"].append(pid)
            rels["entity_id"].append(entity_id)
            rels["relation"].append(kind_of)

    validate_records(extract, plan, "STAFF", check, name)
    if cols:
        plan.tables["principals"] = cols
        plan.tables["principal_relations"] = rels
    return plan


def plan_cases(conn: Connection, extract: Extract, name: str) -> Plan:
    """Validate a case extract; rows for ``cases`` and ``case_subjects``."""
    plan = Plan(kind="cms_cases")
    people = entity_index(conn, ein=False).by_tin
    businesses = entity_index(conn, ein=True).by_tin
    modules = module_ids(conn)
    known = principal_ids(conn)
    cols: dict[str, list[Any]] = {}
    subs: dict[str, list[Any]] = {"case_id": [], "entity_id": [], "module_id": []}

    def check(number: int, v: Mapping[str, Any]) -> None:
        kind = text(v, "CAS_KIND", "kind")
        if kind not in CASE_KINDS:
            raise Reject("kind", "case kind not known")
        status = text(v, "CAS_STATUS", "status")
        if status not in CASE_STATUS:
            raise Reject("status", "status is not open or closed")
        assigned = text(v, "CAS_ASSIGNED_TO", "assigned_to")
        if assigned and assigned not in known:
            raise Reject("assigned_to", "assigned principal not on file")
        ok, opened = date_or_none(v.get("CAS_OPENED_DATE"))
        if not ok or opened is None:
            raise Reject("opened_date", "not a CCYYMMDD date")
        ok, closed = date_or_none(v.get("CAS_CLOSED_DATE"))
        if not ok or (closed is not None and closed < opened):
            raise Reject("closed_date", "not a CCYYMMDD date on or after the opening")
        subjects = []
        for s in v.get("CAS_SUBJECT") or []:
            tin = text(s, "SUB_TIN", "subject_tin")
            entity = people.get(tin) or businesses.get(tin)
            if entity is None:
                raise Reject("subject_tin", "subject TIN not on file")
            module = None
            mft = integer(s, "SUB_MFT_CODE", "subject_mft")
            if mft:
                owner_tin = text(s, "SUB_MOD_TIN", "subject_module_tin")
                owner = (people if mft == 30 else businesses).get(owner_tin)
                module = (
                    modules.get((owner[0], mft, integer(s, "SUB_TAX_PERIOD", "subject_tax_period"))) if owner else None
                )
                if module is None:
                    raise Reject("subject_module", "subject's tax module not on file")
            subjects.append((entity[0], module))
        if not subjects:
            raise Reject("subjects", "a case needs at least one subject")
        if len({e for e, _ in subjects}) != len(subjects):
            raise Reject("subject_tin", "subject listed twice")
        case = -(len(cols.get("kind", [])) + 1)
        row = {
            "unit": text(v, "CAS_UNIT", "unit", required=True),
            "kind": kind,
            "purpose": text(v, "CAS_PURPOSE", "purpose", required=True),
            "assigned_to": assigned or None,
            "status": status,
            "opened_at": opened,
            "closed_at": closed,
            "source_record": number,
        }
        for col, value in row.items():
            cols.setdefault(col, []).append(value)
        for entity_id, module in subjects:
            subs["case_id"].append(case)
            subs["entity_id"].append(entity_id)
            subs["module_id"].append(module)

    validate_records(extract, plan, "CASE", check, name)
    n = len(cols.get("kind", []))
    if n:
        plan.tables["cases"] = {"id": local_ids(n), "ref": refs("c", n), **cols}
        plan.tables["case_subjects"] = {**subs, "case_id": np.asarray(subs["case_id"], dtype=np.int64)}
        plan.id_columns[("cases", "id")] = "cases"
        plan.id_columns[("case_subjects", "case_id")] = "cases"
    return plan
