"""Read an SSA EFW2 (W-2) file into columns, with per-record and control-total problems.

Edition: EFW2 Publication 42-007, Tax Year 2024; positions in :mod:`.layout`.

Grammar (federal file): ``RA (RE [RW RO RS]* RT [RU] [RV])+ RF``. RS placement
inside an employer is only checked loosely (a warning when an RS does not follow
an RW of the same SSN), since real writers put all RS records after the RWs.

Control totals: RT's RW count and money totals must equal the RW records of its
employer, RU's must equal the RO records, RF's RW count all RW records; these
are errors (so the Massachusetts state variant, which has RS but no RW records
while RT/RF count 3, is reported as inconsistent). RV against RS is advisory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from taxvault.formats.efw2 import layout as L
from taxvault.formats.efw2.model import (
    RW_AMOUNT_NAMES,
    Efw2File,
    EmployeeColumns,
    Employer,
    OptionalWage,
    StateWage,
    Submitter,
    Totals,
)
from taxvault.formats.fixedwidth import (
    U8,
    ControlProblem,
    FormatError,
    RecordProblem,
    Severity,
    check_order,
    digit_block,
    frame_records,
    refuse_inconsistent,
    text,
    text_column,
    unsigned,
)
from taxvault.formats.pub1220.layout import Pos

FORMAT = "EFW2"
_CHUNK = 1 << 16
_KIND = {
    b"RA": "a",
    b"RE": "e",
    b"RW": "w",
    b"RO": "o",
    b"RS": "s",
    b"RT": "t",
    b"RU": "u",
    b"RV": "v",
    b"RF": "f",
}
_NAMES = {
    "a": "RA (submitter)",
    "e": "RE (employer)",
    "w": "RW (employee wage)",
    "o": "RO (employee optional)",
    "s": "RS (state wage)",
    "t": "RT (total)",
    "u": "RU (total optional)",
    "v": "RV (state total)",
    "f": "RF (final)",
}
_GRAMMAR = re.compile(r"a(?:e[wos]*tu?v?)+f")
_MACHINE = {
    "start": {"a": "ra"},
    "ra": {"e": "emp"},
    "emp": {"w": "emp", "o": "emp", "s": "emp", "t": "rt"},
    "rt": {"u": "ru", "v": "rv", "e": "emp", "f": "end"},
    "ru": {"v": "rv", "e": "emp", "f": "end"},
    "rv": {"e": "emp", "f": "end"},
    "end": {},
}


def read_efw2(data: bytes, *, strict: bool = False) -> Efw2File:
    """Parse a whole EFW2 file.

    Raises :class:`FormatError` for bytes that are not an EFW2 file (empty,
    truncated, wrong record length, first record not RA, unknown or misplaced
    record types). Bad RW fields are ``record_problems``; totals that disagree
    are ``control_problems``; ``strict=True`` raises :class:`ControlTotalsError`
    on an error-level control problem.
    """
    data = bytes(data)
    if not data:
        raise FormatError(f"{FORMAT}: empty file")
    if data[:2] != b"RA":
        raise FormatError(f"{FORMAT}: first record is not an RA (submitter) record")
    mat = frame_records(data, L.RECORD_LENGTH, FORMAT)
    kinds = _kinds(mat)
    check_order(kinds, _GRAMMAR, _MACHINE, {"end"}, _NAMES, FORMAT)
    codes = np.frombuffer(kinds.encode("ascii"), dtype=np.uint8)
    rows_of: Callable[[str], npt.NDArray[np.intp]] = lambda k: np.flatnonzero(codes == ord(k))  # noqa: E731
    re_rows, rw_rows = rows_of("e"), rows_of("w")
    rw_employer = np.searchsorted(re_rows, rw_rows) - 1

    employees, problems = _employees(mat, rw_rows, rw_employer)
    controls: list[ControlProblem] = []
    employers: list[Employer] = []
    bounds = [*re_rows.tolist(), len(kinds)]
    for e, re_row in enumerate(re_rows):
        block = range(int(re_row), int(bounds[e + 1]))
        employer = _employer(mat, kinds, e, block, employees)
        employers.append(employer)
        controls += _employer_controls(employer, employees)
    submitter = _submitter(bytes(mat[0]))
    rf_count = _count(L.RF.rw_count.take(bytes(mat[-1])))
    if rf_count is None or rf_count != len(employees):
        controls.append(
            ControlProblem(
                "RF.rw_count",
                f"RF number of RW records (record {len(kinds)}) "
                + ("is missing or not numeric" if rf_count is None else f"states {rf_count}")
                + f", the file holds {len(employees)}",
                len(kinds),
                rf_count,
                len(employees),
            )
        )
    result = Efw2File(
        submitter=submitter,
        employers=tuple(employers),
        employees=employees,
        final_rw_count=rf_count,
        record_count=len(kinds),
        record_problems=tuple(problems),
        control_problems=tuple(controls),
    )
    if strict and not result.consistent:
        refuse_inconsistent(FORMAT, controls)
    return result


def _kinds(mat: U8) -> str:
    """One letter per record for the grammar check; ``?`` for an unknown record identifier."""
    ids = np.ascontiguousarray(mat[:, :2]).view("S2").reshape(len(mat))
    uniques, inverse = np.unique(ids, return_inverse=True)
    letters = np.array([_KIND.get(bytes(u), "?") for u in uniques], dtype="U1")
    kinds = "".join(letters[inverse].tolist())
    bad = kinds.find("?")
    if bad >= 0:
        raise FormatError(f"{FORMAT}: record {bad + 1} has an unknown record identifier")
    return kinds


def _count(raw: bytes) -> int | None:
    if not raw.strip(b" \x00"):
        return None
    return unsigned(raw)


def _money(raw: bytes) -> int | None:
    """EFW2 money: unsigned digits; blank -> None (not stated), junk -> None."""
    if not raw.strip(b" \x00"):
        return None
    return unsigned(raw)


def _submitter(rec: bytes) -> Submitter:
    a = L.RA
    return Submitter(
        record_number=1,
        ein=text(a.ein.take(rec)),
        user_id=text(a.user_id.take(rec)),
        software_code=text(a.software_code.take(rec)),
        company_name=text(a.company_name.take(rec)),
        company_location=text(a.company_location.take(rec)),
        company_delivery=text(a.company_delivery.take(rec)),
        company_city=text(a.company_city.take(rec)),
        company_state=text(a.company_state.take(rec)),
        company_zip=text(a.company_zip.take(rec)),
        submitter_name=text(a.submitter_name.take(rec)),
        contact_name=text(a.contact_name.take(rec)),
        contact_phone=text(a.contact_phone.take(rec)),
        contact_email=text(a.contact_email.take(rec)),
        preparer_code=text(a.preparer_code.take(rec)),
        resubmission=a.resub.take(rec) == b"1",
    )


def _totals(rec: bytes, number: int, count_pos: Pos, fields: tuple[tuple[str, int], ...]) -> Totals:
    width = L.RT_AMOUNT_WIDTH
    return Totals(
        record_number=number,
        record_type=rec[:2].decode("latin-1"),
        count=_count(count_pos.take(rec)),
        amounts=MappingProxyType({n: _money(rec[s - 1 : s - 1 + width]) for n, s in fields}),
    )


def _employer(mat: U8, kinds: str, index: int, block: range, employees: EmployeeColumns) -> Employer:
    rec = bytes(mat[block.start])
    e = L.RE
    total = optional_total = state_total = None
    optional: list[OptionalWage] = []
    states: list[StateWage] = []
    last_rw: int | None = None
    for r in block[1:]:
        kind = kinds[r]
        if kind == "w":
            last_rw = r + 1
        elif kind == "o":
            raw = bytes(mat[r])
            amounts = {n: _money(raw[s - 1 : s - 1 + L.RW_AMOUNT_WIDTH]) for n, s, _ in L.RO_AMOUNTS}
            optional.append(OptionalWage(r + 1, index, last_rw, MappingProxyType(amounts)))
        elif kind == "s":
            states.append(_state_wage(bytes(mat[r]), r + 1, index, last_rw))
        elif kind == "t":
            total = _totals(bytes(mat[r]), r + 1, L.RT.rw_count, L.RT_AMOUNTS)
        elif kind == "u":
            optional_total = _totals(bytes(mat[r]), r + 1, L.RU.ro_count, L.RU_AMOUNTS)
        elif kind == "v":
            v = bytes(mat[r])
            state_total = Totals(
                r + 1,
                "RV",
                _count(L.RV.rs_count.take(v)),
                MappingProxyType(
                    {
                        "state_taxable_wages": _money(L.RV.state_taxable_wages.take(v)),
                        "state_income_tax": _money(L.RV.state_income_tax.take(v)),
                    }
                ),
            )
    start = int(np.searchsorted(employees.employer_index, index, side="left"))
    stop = int(np.searchsorted(employees.employer_index, index, side="right"))
    year = e.tax_year.take(rec)
    return Employer(
        record_number=block.start + 1,
        tax_year=int(year) if year.isdigit() else None,
        agent_indicator=text(e.agent_indicator.take(rec)),
        ein=text(e.ein.take(rec)),
        name=text(e.name.take(rec)),
        location=text(e.location.take(rec)),
        delivery=text(e.delivery.take(rec)),
        city=text(e.city.take(rec)),
        state=text(e.state.take(rec)),
        zip=text(e.zip.take(rec)),
        zip4=text(e.zip4.take(rec)),
        kind_of_employer=text(e.kind_of_employer.take(rec)),
        employment_code=text(e.employment_code.take(rec)),
        third_party_sick_pay=e.third_party_sick_pay.take(rec) == b"1",
        contact_name=text(e.contact_name.take(rec)),
        contact_phone=text(e.contact_phone.take(rec)),
        contact_email=text(e.contact_email.take(rec)),
        employee_start=start,
        employee_stop=stop,
        total=total,
        optional_total=optional_total,
        state_total=state_total,
        optional_wages=tuple(optional),
        state_wages=tuple(states),
    )


def _state_wage(rec: bytes, number: int, employer: int, last_rw: int | None) -> StateWage:
    s = L.RS
    return StateWage(
        record_number=number,
        employer_index=employer,
        state_code=text(s.state_code.take(rec)),
        taxing_entity=text(s.taxing_entity.take(rec)),
        ssn=text(s.ssn.take(rec)),
        first_name=text(s.first_name.take(rec)),
        middle_name=text(s.middle_name.take(rec)),
        last_name=text(s.last_name.take(rec)),
        suffix=text(s.suffix.take(rec)),
        reporting_period=text(s.reporting_period.take(rec)),
        state_employer_account=text(s.state_employer_account.take(rec)),
        state_taxable_wages=_money(s.state_taxable_wages.take(rec)),
        state_income_tax=_money(s.state_income_tax.take(rec)),
        local_taxable_wages=_money(s.local_taxable_wages.take(rec)),
        local_income_tax=_money(s.local_income_tax.take(rec)),
        employee_record_number=last_rw,
    )


def _employee_ssn(employees: EmployeeColumns, record_number: int) -> str:
    i = int(np.searchsorted(employees.record_number, record_number))
    return bytes(employees.ssn[i]).decode("latin-1").strip()


def _employer_controls(employer: Employer, employees: EmployeeColumns) -> list[ControlProblem]:
    out: list[ControlProblem] = []
    lo, hi = employer.employee_start, employer.employee_stop
    sums = employees.amounts[lo:hi].sum(axis=0)
    rt = employer.total
    if rt is not None:
        out += _compare("RT", rt, hi - lo, {n: int(sums[k]) for k, n in enumerate(RW_AMOUNT_NAMES)}, "RW", "error")
    ro = employer.optional_wages
    if ro and employer.optional_total is None:
        out.append(
            ControlProblem(
                "RU.missing",
                f"employer at record {employer.record_number} has RO records but no RU record",
                employer.record_number,
            )
        )
    if employer.optional_total is not None:
        ro_sums = {n: sum(o.amounts.get(n) or 0 for o in ro) for n, _, _ in L.RO_AMOUNTS}
        out += _compare("RU", employer.optional_total, len(ro), ro_sums, "RO", "error")
    rs = employer.state_wages
    if employer.state_total is not None:
        rs_sums = {
            "state_taxable_wages": sum(s.state_taxable_wages or 0 for s in rs),
            "state_income_tax": sum(s.state_income_tax or 0 for s in rs),
        }
        out += _compare("RV", employer.state_total, len(rs), rs_sums, "RS", "warning")
    for s in rs:
        if s.employee_record_number is None:
            out.append(
                ControlProblem(
                    "RS.placement",
                    f"RS record {s.record_number} does not follow an RW of its employer",
                    s.record_number,
                    severity="warning",
                )
            )
        elif _employee_ssn(employees, s.employee_record_number) != s.ssn.strip():
            out.append(
                ControlProblem(
                    "RS.ssn",
                    f"RS record {s.record_number} SSN (10-18) differs from the "
                    f"preceding RW record {s.employee_record_number} SSN (3-11)",
                    s.record_number,
                    severity="warning",
                )
            )
    return out


def _compare(
    kind: str, totals: Totals, count: int, sums: dict[str, int], closes: str, severity: Severity
) -> list[ControlProblem]:
    sev = severity
    out: list[ControlProblem] = []
    if totals.count is None or totals.count != count:
        stated = "is missing or not numeric" if totals.count is None else f"states {totals.count}"
        out.append(
            ControlProblem(
                f"{kind}.count",
                f"{kind} number of {closes} records (record {totals.record_number}) {stated}, the employer has {count}",
                totals.record_number,
                totals.count,
                count,
                sev,
            )
        )
    for name, stated_value in totals.amounts.items():
        if name not in sums or stated_value is None:
            continue  # blank total (not stated) or a total with no per-record field
        if stated_value != sums[name]:
            out.append(
                ControlProblem(
                    f"{kind}.{name}",
                    f"{kind} {name.replace('_', ' ')} (record "
                    f"{totals.record_number}) states {stated_value} cents, the {closes} "
                    f"records sum to {sums[name]}",
                    totals.record_number,
                    stated_value,
                    sums[name],
                    sev,
                )
            )
    return out


def _employees(
    mat: U8, rw_rows: npt.NDArray[np.intp], rw_employer: npt.NDArray[np.intp]
) -> tuple[EmployeeColumns, list[RecordProblem]]:
    w = L.RW
    n = len(rw_rows)
    text_fields = {
        "ssn": w.ssn,
        "first_name": w.first_name,
        "middle_name": w.middle_name,
        "last_name": w.last_name,
        "suffix": w.suffix,
        "location": w.location,
        "delivery": w.delivery,
        "city": w.city,
        "state": w.state,
        "zip": w.zip,
        "zip4": w.zip4,
        "statutory_employee": w.statutory_employee,
        "retirement_plan": w.retirement_plan,
        "third_party_sick_pay": w.third_party_sick_pay,
    }
    texts: dict[str, list[npt.NDArray[np.bytes_]]] = {k: [] for k in text_fields}
    amounts = np.zeros((n, len(L.RW_AMOUNTS)), dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    problems: list[RecordProblem] = []
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        first, last = int(rw_rows[lo]), int(rw_rows[hi - 1])
        rows = mat[first : last + 1] if last - first == hi - lo - 1 else mat[rw_rows[lo:hi]]
        for name, pos in text_fields.items():
            texts[name].append(text_column(rows, pos.start, pos.end))
        for k, (name, start, _) in enumerate(L.RW_AMOUNTS):
            values, ok, blank = digit_block(rows, start, L.RW_AMOUNT_WIDTH, 1)
            amounts[lo:hi, k] = values[:, 0]
            for r in np.flatnonzero(~ok[:, 0] & ~blank[:, 0]):
                valid[lo + r] = False
                problems.append(_problem(rows, int(r), rw_rows[lo + r], name, "not a number (unsigned digits)"))
        ssn = rows[:, w.ssn.start - 1 : w.ssn.end]
        ssn_bad = ((ssn - np.uint8(ord("0"))) > 9).any(axis=1)
        for r in np.flatnonzero(ssn_bad):
            valid[lo + r] = False
            problems.append(_problem(rows, int(r), rw_rows[lo + r], "ssn", "SSN is not 9 digits (zeros if unknown)"))

    def joined(name: str) -> npt.NDArray[np.bytes_]:
        parts = texts[name]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=f"S{text_fields[name].width}")

    problems.sort(key=lambda p: (p.record_number, p.field))
    return EmployeeColumns(
        record_number=(rw_rows + 1).astype(np.int64),
        employer_index=rw_employer.astype(np.int64),
        amounts=amounts,
        valid=valid,
        **{name: joined(name) for name in text_fields},
    ), problems


def _problem(rows: U8, r: int, row_index: np.intp, field: str, reason: str) -> RecordProblem:
    return RecordProblem(int(row_index) + 1, "RW", field, reason, bytes(rows[r]))
