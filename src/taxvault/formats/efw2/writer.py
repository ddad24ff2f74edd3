"""Write an SSA EFW2 (W-2) file from plain Python values.

Edition: EFW2 Publication 42-007, Tax Year 2024; positions in :mod:`.layout`.

For the synthetic generator: SSNs/EINs are 9-digit strings, amounts are int
cents keyed by the RW field names of :data:`.layout.RW_AMOUNTS` (``"wages_tips_other_comp"``
is W-2 box 1, ``"federal_income_tax_withheld"`` box 2, ...; RO names for the
optional record). The writer emits RA, then per employer RE, RW (+RO when an
employee has optional amounts), RT (+RU), and a final RF, computing every count
and total. Text is folded to ASCII, upper-cased as SSA asks, and truncated to its
field; an amount that does not fit 11 digits (15 for totals) or is negative
raises ``ValueError`` (EFW2 money fields are unsigned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from taxvault.formats.efw2 import layout as L
from taxvault.formats.fixedwidth import RecordBuilder, alpha, digits_field, number
from taxvault.formats.pub1220.layout import Pos

_RW_NAMES = {name for name, _, _ in L.RW_AMOUNTS}
_RO_NAMES = {name for name, _, _ in L.RO_AMOUNTS}


@dataclass(frozen=True)
class EmployeeInput:
    """One W-2 (RW record, plus an RO record when ``optional_amounts`` is non-empty)."""

    ssn: str
    first_name: str
    last_name: str
    amounts: Mapping[str, int]
    middle_name: str = ""
    suffix: str = ""
    location: str = ""
    delivery: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    zip4: str = ""
    optional_amounts: Mapping[str, int] = field(default_factory=dict)
    statutory_employee: bool = False
    retirement_plan: bool = False
    third_party_sick_pay: bool = False


@dataclass(frozen=True)
class EmployerInput:
    """One employer (RE record) and its employees."""

    ein: str
    name: str
    tax_year: int
    employees: Sequence[EmployeeInput]
    location: str = ""
    delivery: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    zip4: str = ""
    agent_indicator: str = ""
    kind_of_employer: str = "N"  # N = none of the special kinds (F, S, T, Y)
    employment_code: str = "R"  # R = regular (Form 941)
    third_party_sick_pay: bool = False
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""


@dataclass(frozen=True)
class SubmitterInput:
    """The RA record."""

    ein: str
    user_id: str
    company_name: str
    company_location: str = ""
    company_delivery: str = ""
    company_city: str = ""
    company_state: str = ""
    company_zip: str = ""
    submitter_name: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    software_code: str = "98"  # 98 = in-house program
    preparer_code: str = "L"  # L = self-prepared


def write_efw2(submitter: SubmitterInput, employers: Sequence[EmployerInput], *, line_end: bytes = b"\r\n") -> bytes:
    """Serialise a whole file; ``line_end`` (CR LF by default, or ``b""``) follows every record."""
    if line_end not in (b"", b"\r\n", b"\n"):
        raise ValueError("line_end must be empty, LF or CR LF")
    if not employers:
        raise ValueError("an EFW2 file needs at least one employer")
    out = [_ra(submitter)]
    total_rw = 0
    for employer in employers:
        out.append(_re(employer))
        rw_sums = dict.fromkeys(_RW_NAMES, 0)
        ro_sums = dict.fromkeys(_RO_NAMES, 0)
        ro_count = 0
        for employee in employer.employees:
            _check_names(employee.amounts, _RW_NAMES, "RW")
            _check_names(employee.optional_amounts, _RO_NAMES, "RO")
            out.append(_rw(employee))
            for name, value in employee.amounts.items():
                rw_sums[name] += value
            if employee.optional_amounts:
                out.append(_ro(employee))
                ro_count += 1
                for name, value in employee.optional_amounts.items():
                    ro_sums[name] += value
        out.append(_totals(b"RT", L.RT.rw_count, len(employer.employees), L.RT_AMOUNTS, rw_sums))
        if ro_count:
            out.append(_totals(b"RU", L.RU.ro_count, ro_count, L.RU_AMOUNTS, ro_sums))
        total_rw += len(employer.employees)
    rf = RecordBuilder(L.RECORD_LENGTH, b"RF")
    rf.put(L.RF.rw_count.start, L.RF.rw_count.end, number(total_rw, 9, "rf_rw_count"))
    out.append(rf.bytes())
    return line_end.join(out) + line_end


def _check_names(amounts: Mapping[str, int], allowed: set[str], record: str) -> None:
    unknown = sorted(set(amounts) - allowed)
    if unknown:
        raise ValueError(f"{record} has no amount field(s) {', '.join(unknown)}")


def _up(value: str, width: int, name: str) -> bytes:
    return alpha(value.upper(), width, name)


def _ra(s: SubmitterInput) -> bytes:
    a = L.RA
    rec = RecordBuilder(L.RECORD_LENGTH, b"RA")
    rec.put(a.ein.start, a.ein.end, digits_field(s.ein, 9, "submitter_ein", allow_blank=False))
    rec.put(a.user_id.start, a.user_id.end, alpha(s.user_id, 8, "user_id"))
    rec.put(a.resub.start, a.resub.end, b"0")
    rec.put(a.software_code.start, a.software_code.end, alpha(s.software_code, 2, "software_code"))
    for pos, value, name in (
        (a.company_name, s.company_name, "company_name"),
        (a.company_location, s.company_location, "location"),
        (a.company_delivery, s.company_delivery, "delivery"),
        (a.company_city, s.company_city, "city"),
        (a.company_state, s.company_state, "state"),
        (a.company_zip, s.company_zip, "zip"),
        (a.submitter_name, s.submitter_name or s.company_name, "submitter_name"),
        (a.submitter_location, s.company_location, "location"),
        (a.submitter_delivery, s.company_delivery, "delivery"),
        (a.submitter_city, s.company_city, "city"),
        (a.submitter_state, s.company_state, "state"),
        (a.submitter_zip, s.company_zip, "zip"),
        (a.contact_name, s.contact_name, "contact_name"),
    ):
        rec.put(pos.start, pos.end, _up(value, pos.width, name))
    rec.put(a.contact_phone.start, a.contact_phone.end, alpha(s.contact_phone, 15, "contact_phone"))
    rec.put(a.contact_email.start, a.contact_email.end, alpha(s.contact_email, 40, "contact_email"))
    rec.put(a.preparer_code.start, a.preparer_code.end, alpha(s.preparer_code, 1, "preparer_code"))
    return rec.bytes()


def _re(e: EmployerInput) -> bytes:
    p = L.RE
    rec = RecordBuilder(L.RECORD_LENGTH, b"RE")
    rec.put(p.tax_year.start, p.tax_year.end, number(e.tax_year, 4, "tax_year"))
    rec.put(p.agent_indicator.start, p.agent_indicator.end, alpha(e.agent_indicator, 1, "agent_indicator"))
    rec.put(p.ein.start, p.ein.end, digits_field(e.ein, 9, "employer_ein", allow_blank=False))
    rec.put(p.terminating_business.start, p.terminating_business.end, b"0")
    for pos, value, name in (
        (p.name, e.name, "employer_name"),
        (p.location, e.location, "location"),
        (p.delivery, e.delivery, "delivery"),
        (p.city, e.city, "city"),
        (p.state, e.state, "state"),
        (p.zip, e.zip, "zip"),
        (p.zip4, e.zip4, "zip4"),
        (p.kind_of_employer, e.kind_of_employer, "kind"),
        (p.employment_code, e.employment_code, "employment_code"),
        (p.contact_name, e.contact_name, "contact"),
    ):
        rec.put(pos.start, pos.end, _up(value, pos.width, name))
    rec.put(p.third_party_sick_pay.start, p.third_party_sick_pay.end, b"1" if e.third_party_sick_pay else b"0")
    rec.put(p.contact_phone.start, p.contact_phone.end, alpha(e.contact_phone, 15, "contact_phone"))
    rec.put(p.contact_email.start, p.contact_email.end, alpha(e.contact_email, 40, "contact_email"))
    return rec.bytes()


def _rw(emp: EmployeeInput) -> bytes:
    w = L.RW
    rec = RecordBuilder(L.RECORD_LENGTH, b"RW")
    rec.put(w.ssn.start, w.ssn.end, digits_field(emp.ssn or "000000000", 9, "ssn", allow_blank=False))
    for pos, value, name in (
        (w.first_name, emp.first_name, "first_name"),
        (w.middle_name, emp.middle_name, "middle_name"),
        (w.last_name, emp.last_name, "last_name"),
        (w.suffix, emp.suffix, "suffix"),
        (w.location, emp.location, "location"),
        (w.delivery, emp.delivery, "delivery"),
        (w.city, emp.city, "city"),
        (w.state, emp.state, "state"),
        (w.zip, emp.zip, "zip"),
        (w.zip4, emp.zip4, "zip4"),
    ):
        rec.put(pos.start, pos.end, _up(value, pos.width, name))
    for name, start, _ in L.RW_AMOUNTS:
        end = start + L.RW_AMOUNT_WIDTH - 1
        rec.put(start, end, number(emp.amounts.get(name, 0), L.RW_AMOUNT_WIDTH, name))
    for pos, on in (
        (w.statutory_employee, emp.statutory_employee),
        (w.retirement_plan, emp.retirement_plan),
        (w.third_party_sick_pay, emp.third_party_sick_pay),
    ):
        rec.put(pos.start, pos.end, b"1" if on else b"0")
    return rec.bytes()


def _ro(emp: EmployeeInput) -> bytes:
    rec = RecordBuilder(L.RECORD_LENGTH, b"RO")
    for name, start, _ in L.RO_AMOUNTS:
        end = start + L.RW_AMOUNT_WIDTH - 1
        rec.put(start, end, number(emp.optional_amounts.get(name, 0), L.RW_AMOUNT_WIDTH, name))
    return rec.bytes()


def _totals(
    kind: bytes, count_pos: Pos, count: int, fields: tuple[tuple[str, int], ...], sums: Mapping[str, int]
) -> bytes:
    rec = RecordBuilder(L.RECORD_LENGTH, kind)
    rec.put(count_pos.start, count_pos.end, number(count, count_pos.width, f"{kind.decode()}_count"))
    for name, start in fields:
        end = start + L.RT_AMOUNT_WIDTH - 1
        rec.put(start, end, number(sums.get(name, 0), L.RT_AMOUNT_WIDTH, f"{kind.decode()}_{name}"))
    return rec.bytes()
