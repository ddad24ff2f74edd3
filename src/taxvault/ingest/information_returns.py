"""Validate Pub 1220 (1099) and EFW2 (W-2) files into information-return rows.

Everything here is columnar: the readers give numpy columns, checks are array
expressions, and a record that fails any check gets a quarantine entry (the
first failing field) instead of a row. Rules:

* the reader's own record problems (amounts or TIN not numeric) quarantine the record;
* a payer (A..C/K) or employer (RE..RT/RU) whose control totals disagree with
  its records is quarantined as a whole: the totals are how we know the records
  are the ones the filer sent; file-level totals (F, T, RF) that disagree make
  the whole file an error, since records were lost or added;
* TIN: nine digits, a known TIN type, and inside the synthetic ranges when the
  *store* is synthetic-only (``taxvault init --synthetic``; see
  :mod:`taxvault.store.settings`), payer TIN likewise. Never decided by the file:
  the FIRE test-file indicator (T record) marks a test transmission of real data,
  and an EFW2 user id is the filer's choice;
* name control: well formed, and equal to the entity's when the payee is on file;
* amounts: no negative amount where the form does not allow one; payment year
  plausible and equal to the payer's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Connection

from taxvault.formats.efw2 import RW_AMOUNT_NAMES, W2_BOX_BY_AMOUNT, Efw2File
from taxvault.formats.fixedwidth import ControlProblem, FormatError, RecordProblem
from taxvault.formats.pub1220 import AMOUNT_CODES, Pub1220File, box_table
from taxvault.formats.pub1220.amount_codes import FORM_BY_TYPE_OF_RETURN, NEGATIVE_AMOUNT_TYPES
from taxvault.ingest.checks import individual_tin_types, nine_digits, outside_synthetic, synthetic_tins
from taxvault.ingest.lookup import EntityIndex, entity_index
from taxvault.ingest.plan import Plan, Quarantined
from taxvault.store.settings import is_synthetic_store

_W2_ALWAYS = ("1", "2", "3", "4", "5", "6")
_WITHHOLDING_CODE = "4"


class _Bad:
    """First failing (field, reason) per record, in check order."""

    def __init__(self, n: int) -> None:
        self.field = np.full(n, "", dtype=object)
        self.reason = np.full(n, "", dtype=object)

    def mark(self, mask: npt.NDArray[np.bool_], field: str, reason: str) -> None:
        fresh = mask & (self.field == "")
        self.field[fresh] = field
        self.reason[fresh] = reason

    @property
    def any(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.field != "")


def refs(prefix: str, n: int) -> list[str]:
    """Opaque refs: a prefix and 80 random bits (unguessable, TIN-free)."""
    raw = os.urandom(10 * n).hex()
    return [prefix + raw[i : i + 20] for i in range(0, 20 * n, 20)]


def _strip(col: npt.NDArray[np.bytes_]) -> list[str]:
    return [v.decode("latin-1").strip() for v in col.tolist()]


def _year_ok(years: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return np.asarray((years >= 1990) & (years <= dt.date.today().year + 1))


def _span_owner(starts: Sequence[int], record_number: int | None) -> int:
    """Index of the group whose first record number is the last one <= ``record_number``."""
    if record_number is None or not starts or record_number < starts[0]:
        return -1
    return int(np.searchsorted(np.asarray(starts), record_number, side="right")) - 1


def _control_errors(
    problems: Sequence[ControlProblem], starts: Sequence[int], stops: Sequence[int], name: str
) -> dict[int, ControlProblem]:
    """Error-level control problems by group; a file-level one raises :class:`FormatError`."""
    out: dict[int, ControlProblem] = {}
    for p in problems:
        if p.severity != "error":
            continue
        g = _span_owner(starts, p.record_number)
        if g < 0 or p.record_number is None or p.record_number > stops[g]:
            raise FormatError(f"{name}: {p.message} (records lost, added or altered)")
        out.setdefault(g, p)
    return out


def _mark_problems(bad: _Bad, problems: Sequence[RecordProblem], record_numbers: npt.NDArray[np.int64]) -> None:
    """Mark the rows the reader found bad (record numbers are ascending, so a binary search finds them)."""
    for p in problems:
        row = int(np.searchsorted(record_numbers, p.record_number))
        if row < len(record_numbers) and record_numbers[row] == p.record_number and bad.field[row] == "":
            bad.field[row] = p.field
            bad.reason[row] = p.reason


def _payees(
    conn: Connection, tins: npt.NDArray[np.bytes_], is_ein: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bytes_], npt.NDArray[np.str_]]:
    """Entity id (0 = not on file), its name control and TIN type for each payee TIN."""
    ids = np.zeros(len(tins), dtype=np.int64)
    ncs = np.zeros(len(tins), dtype="S4")
    types = np.where(is_ein, "EIN", individual_tin_types(tins)).astype("U4")
    for ein in (False, True):
        rows = np.flatnonzero(is_ein == ein)
        if not len(rows):
            continue
        index: EntityIndex = entity_index(conn, ein=ein)
        pos = index.find(tins[rows])
        hit = pos >= 0
        ids[rows[hit]] = index.ids[pos[hit]]
        ncs[rows[hit]] = index.name_controls[pos[hit]]
        if not ein and hit.any():
            types[rows[hit]] = np.array(index.tin_types, dtype="U4")[pos[hit]]
    return ids, ncs, types


def _name_control_checks(
    bad: _Bad, given: npt.NDArray[np.bytes_], on_file: npt.NDArray[np.bytes_], entity: npt.NDArray[np.int64]
) -> None:
    g = np.char.strip(given.astype("S4"))
    distinct, inverse = np.unique(g, return_inverse=True)  # a file repeats its surnames: check each once
    ok_format = np.array([_nc_ok(v) for v in distinct.tolist()], dtype=bool)[inverse] if len(g) else np.zeros(0, bool)
    bad.mark(~ok_format, "payee_name_control", "name control is not 1-4 of A-Z, 0-9, & or -")
    differs = (entity > 0) & (g != b"") & (g != np.char.strip(on_file))
    bad.mark(differs, "payee_name_control", "name control does not match the payee's entity")


_NC_CACHE: dict[bytes, bool] = {}


def _nc_ok(value: bytes) -> bool:
    ok = _NC_CACHE.get(value)
    if ok is None:
        from taxvault.ingest.checks import valid_name_control

        ok = value == b"" or valid_name_control(value.decode("latin-1"))
        _NC_CACHE[value] = ok
    return ok


def plan_pub1220(conn: Connection, parsed: Pub1220File, name: str) -> Plan:
    """Validate a parsed Pub 1220 file against the store; rows for ``information_returns``."""
    payees = parsed.payees
    n = len(payees)
    plan = Plan(kind="pub1220", read=n)
    bad = _Bad(n)
    synthetic = is_synthetic_store(conn)  # the store's setting; never the T record's test indicator
    payers = parsed.payers
    _mark_problems(bad, parsed.record_problems, payees.record_number)

    starts = [p.record_number for p in payers]
    stops = [max([p.end_of_payer.record_number, *[k.record_number for k in p.state_totals]]) for p in payers]
    group_errors = _control_errors(parsed.control_problems, starts, stops, name)
    payer_of = payees.payer_index
    for g, problem in group_errors.items():
        bad.mark(payer_of == g, "control_totals", f"payer's {problem.check} disagrees with its records")
    for g, payer in enumerate(payers):
        rows = payer_of == g
        if payer.type_of_return not in FORM_BY_TYPE_OF_RETURN:
            bad.mark(rows, "type_of_return", "type of return not one this store keeps")
        if not (len(payer.tin) == 9 and payer.tin.isascii() and payer.tin.isdigit()):
            bad.mark(rows, "payer_tin", "payer TIN is not 9 digits")
        elif synthetic and not bool(synthetic_tins(np.array([payer.tin], dtype="S9"), np.array([True]))[0]):
            bad.mark(rows, "payer_tin", outside_synthetic("payer TIN"))

    tins = payees.tin.astype("S9")
    tin_type = np.char.strip(payees.tin_type.astype("S1"))
    bad.mark(~nine_digits(tins), "payee_tin", "TIN is not 9 digits")
    bad.mark((tin_type != b"1") & (tin_type != b"2"), "tin_type", "TIN type is not 1 (EIN) or 2 (SSN/ITIN)")
    is_ein = tin_type == b"1"
    if synthetic:
        bad.mark(~synthetic_tins(tins, is_ein), "payee_tin", outside_synthetic("TIN"))
    years = payees.payment_year
    payer_years = np.array([p.payment_year or -1 for p in payers], dtype=np.int64)
    bad.mark(~_year_ok(years), "payment_year", "payment year missing or implausible")
    if len(payers):
        bad.mark(years != payer_years[payer_of], "payment_year", "payment year differs from the payer's")
    negatives_allowed = np.array([p.type_of_return in NEGATIVE_AMOUNT_TYPES for p in payers], dtype=bool)
    if len(payers):
        negative = (payees.amounts < 0).any(axis=1) & ~negatives_allowed[payer_of]
        bad.mark(negative, "payment_amount", "negative amount on a form that allows none")

    entity, on_file_nc, types = _payees(conn, tins, is_ein)
    _name_control_checks(bad, payees.name_control, on_file_nc, entity)

    good = ~bad.any
    _quarantine(plan, bad, payees.record, payees.record_number, "B")
    keep = np.flatnonzero(good)
    if not len(keep):
        return plan
    payer_tins = _ascii_tins([p.tin for p in payers])
    payer_ids, _, payer_types = _payees(conn, payer_tins, np.ones(len(payers), dtype=bool))
    # A payer that is an individual (sole proprietor) is on file under an SSN.
    ind_ids, _, ind_types = _payees(conn, payer_tins, np.zeros(len(payers), dtype=bool))
    payer_types = np.where((payer_ids == 0) & (ind_ids > 0), ind_types, payer_types)
    payer_ids = np.where(payer_ids == 0, ind_ids, payer_ids)

    forms = np.array([FORM_BY_TYPE_OF_RETURN.get(p.type_of_return, "") for p in payers], dtype=object)
    income, withholding, boxes = _pub1220_amounts(parsed, keep)
    k_payer = payer_of[keep]
    ncs = np.char.strip(payees.name_control.astype("S4"))[keep]
    m = len(keep)
    plan.tables["information_returns"] = {
        "ref": refs("i", m),
        "form": forms[k_payer].tolist(),
        "tax_year": years[keep],
        "payer_tin": payer_tins[k_payer].astype("U9").tolist(),
        "payer_tin_type": payer_types[k_payer].tolist(),
        "payee_tin": tins[keep].astype("U9").tolist(),
        "payee_tin_type": types[keep].tolist(),
        "payer_id": [None if v == 0 else v for v in payer_ids[k_payer].tolist()],
        "payee_id": [None if v == 0 else v for v in entity[keep].tolist()],
        "payee_name_control": [v or None for v in ncs.astype("U4").tolist()],
        "income_cents": income,
        "withholding_cents": withholding,
        "boxes": boxes,
        "source_record": payees.record_number[keep],
    }
    plan.loaded = m
    return plan


def _pub1220_amounts(parsed: Pub1220File, keep: npt.NDArray[np.intp]) -> tuple[Any, Any, list[str]]:
    """Income (first declared box), federal withholding (code 4) and the boxes as JSON, per row."""
    amounts = parsed.payees.amounts
    payer_of = parsed.payees.payer_index[keep]
    income = np.zeros(len(keep), dtype=np.int64)
    withholding = np.zeros(len(keep), dtype=np.int64)
    boxes: list[str] = [""] * len(keep)
    bounds = np.searchsorted(payer_of, np.arange(len(parsed.payers) + 1))  # payees are in payer order
    for g, payer in enumerate(parsed.payers):
        lo, hi = int(bounds[g]), int(bounds[g + 1])
        if lo == hi:
            continue
        sel = np.arange(lo, hi)
        rows = keep[sel]
        table = box_table(payer.type_of_return, payer.payment_year)
        codes = [c for c in payer.amount_codes if c in AMOUNT_CODES]
        cols = [AMOUNT_CODES.index(c) for c in codes]
        keys = [(table[c].box or table[c].name) if c in table else f"amount_code_{c}" for c in codes]
        block = amounts[rows][:, cols] if cols else np.zeros((len(rows), 0), dtype=np.int64)
        income_codes = [k for k, c in enumerate(codes) if c != _WITHHOLDING_CODE]
        if income_codes:
            income[sel] = block[:, income_codes[0]]
        if _WITHHOLDING_CODE in codes:
            withholding[sel] = block[:, codes.index(_WITHHOLDING_CODE)]
        parts: list[Any] = []
        for k, key in enumerate(keys):
            parts += [("{" if k == 0 else ", ") + json.dumps(key) + ": ", pa.array(block[:, k]).cast(pa.string())]
        parts.append("}" if keys else "{}")
        joined = pc.binary_join_element_wise(*parts, "") if keys else pa.array(["{}"] * len(sel))
        boxes[lo:hi] = joined.to_pylist()
    return income, withholding, boxes


def _quarantine(
    plan: Plan, bad: _Bad, raw: Callable[[int], bytes], record_numbers: npt.NDArray[np.int64], record_type: str
) -> None:
    for i in np.flatnonzero(bad.any).tolist():
        plan.quarantine.append(
            Quarantined(
                record_number=int(record_numbers[i]),
                record_type=record_type,
                field=str(bad.field[i]),
                reason=str(bad.reason[i]),
                raw=raw(i),
            )
        )


def plan_efw2(conn: Connection, parsed: Efw2File, records: Any, name: str) -> Plan:
    """Validate a parsed EFW2 file; rows for ``information_returns`` (form W-2).

    ``records`` is the framed file (``records[k]`` = raw record number ``k + 1``).
    """
    emp = parsed.employees
    n = len(emp)
    plan = Plan(kind="efw2", read=n)
    bad = _Bad(n)
    synthetic = is_synthetic_store(conn)  # the store's setting; never the RA user id
    employers = parsed.employers
    _mark_problems(bad, parsed.record_problems, emp.record_number)
    starts = [e.record_number for e in employers]
    stops = [
        max(
            [
                e.record_number + e.employee_count,
                *[x.record_number for x in (e.total, e.optional_total, e.state_total) if x],
            ]
        )
        for e in employers
    ]
    for g, problem in _control_errors(parsed.control_problems, starts, stops, name).items():
        bad.mark(emp.employer_index == g, "control_totals", f"employer's {problem.check} disagrees with its records")
    employer_of = emp.employer_index
    years = np.array([e.tax_year or -1 for e in employers], dtype=np.int64)
    for g, e in enumerate(employers):
        rows = employer_of == g
        if not (len(e.ein) == 9 and e.ein.isascii() and e.ein.isdigit()):
            bad.mark(rows, "employer_ein", "employer EIN is not 9 digits")
        elif synthetic and not bool(synthetic_tins(np.array([e.ein], dtype="S9"), np.array([True]))[0]):
            bad.mark(rows, "employer_ein", outside_synthetic("employer EIN"))
    if len(employers):
        bad.mark(~_year_ok(years[employer_of]), "tax_year", "employer's tax year missing or implausible")
    tins = emp.ssn.astype("S9")
    bad.mark(~nine_digits(tins), "ssn", "SSN is not 9 digits")
    no_ein = np.zeros(n, dtype=bool)
    if synthetic:
        bad.mark(~synthetic_tins(tins, no_ein), "ssn", outside_synthetic("SSN"))
    last = emp.last_name
    ncs = np.array([_w2_name_control(v) for v in last.tolist()], dtype="S4") if n else np.zeros(0, "S4")
    bad.mark(ncs == b"", "last_name", "last name has no letters to form a name control")
    entity, on_file_nc, types = _payees(conn, tins, no_ein)
    differs = (entity > 0) & (ncs != b"") & (ncs != np.char.strip(on_file_nc))
    bad.mark(differs, "last_name", "name control of the last name does not match the employee's entity")

    _quarantine(plan, bad, lambda i: bytes(records[int(emp.record_number[i]) - 1]), emp.record_number, "RW")
    keep = np.flatnonzero(~bad.any)
    if not len(keep):
        return plan
    eins = _ascii_tins([e.ein for e in employers])
    payer_ids, _, _ = _payees(conn, eins, np.ones(len(employers), dtype=bool))
    k_emp = employer_of[keep]
    amounts = emp.amounts[keep]
    names = list(RW_AMOUNT_NAMES)
    order = [names.index(a) for b in _W2_ALWAYS for a in names if W2_BOX_BY_AMOUNT[a] == b][: len(_W2_ALWAYS)]
    others = [k for k in range(len(names)) if k not in order]
    template = "{{" + ", ".join(f'"{b}": {{}}' for b in _W2_ALWAYS) + "}}"
    head = amounts[:, order].tolist()
    boxes = [template.format(*v) for v in head]
    extra = np.flatnonzero((amounts[:, others] != 0).any(axis=1)) if others else np.zeros(0, dtype=np.int64)
    for j in extra.tolist():
        d = json.loads(boxes[j])
        for k in others:
            if amounts[j, k]:
                d[W2_BOX_BY_AMOUNT[names[k]]] = d.get(W2_BOX_BY_AMOUNT[names[k]], 0) + int(amounts[j, k])
        boxes[j] = json.dumps(d)
    m = len(keep)
    plan.tables["information_returns"] = {
        "ref": refs("i", m),
        "form": ["W-2"] * m,
        "tax_year": years[k_emp],
        "payer_tin": eins[k_emp].astype("U9").tolist(),
        "payer_tin_type": ["EIN"] * m,
        "payee_tin": tins[keep].astype("U9").tolist(),
        "payee_tin_type": types[keep].tolist(),
        "payer_id": [None if v == 0 else v for v in payer_ids[k_emp].tolist()],
        "payee_id": [None if v == 0 else v for v in entity[keep].tolist()],
        "payee_name_control": [v.decode() for v in ncs[keep].tolist()],
        "income_cents": amounts[:, names.index("wages_tips_other_comp")],
        "withholding_cents": amounts[:, names.index("federal_income_tax_withheld")],
        "boxes": boxes,
        "source_record": emp.record_number[keep],
    }
    plan.loaded = m
    return plan


_W2_NC: dict[bytes, bytes] = {}


def _w2_name_control(last: bytes) -> bytes:
    nc = _W2_NC.get(last)
    if nc is None:
        from taxvault.ingest.checks import individual_name_control

        nc = (individual_name_control(last.decode("latin-1")) or "").encode()
        _W2_NC[last] = nc
    return nc


def _ascii_tins(values: list[str]) -> npt.NDArray[np.bytes_]:
    """TINs of every payer or employer as bytes; one with junk (already quarantined) cannot crash the load."""
    return np.array([v.encode("ascii", "replace")[:9] for v in values], dtype="S9")
