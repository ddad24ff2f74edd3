"""What an EFW2 file reads into: submitter, employers with their totals, and employee columns.

Why columnar employees: a payroll provider's file can hold millions of RW
records, so they are numpy columns (:class:`EmployeeColumns`) like Pub 1220
payees; :meth:`EmployeeColumns.row` builds one :class:`Employee` when wanted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from taxvault.formats.efw2.layout import RW_AMOUNTS
from taxvault.formats.fixedwidth import ControlProblem, RecordProblem

BytesCol = npt.NDArray[np.bytes_]
RW_AMOUNT_NAMES = tuple(name for name, _, _ in RW_AMOUNTS)
#: W-2 box (or box 12 code) of each RW amount, e.g. ``"wages_tips_other_comp" -> "1"``.
W2_BOX_BY_AMOUNT: Mapping[str, str] = MappingProxyType({name: box for name, _, box in RW_AMOUNTS})


@dataclass(frozen=True)
class Submitter:
    """RA record."""

    record_number: int
    ein: str = field(repr=False)
    user_id: str = field(repr=False)
    software_code: str = ""
    company_name: str = ""
    company_location: str = ""
    company_delivery: str = ""
    company_city: str = ""
    company_state: str = ""
    company_zip: str = ""
    submitter_name: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    preparer_code: str = ""
    resubmission: bool = False


@dataclass(frozen=True)
class Totals:
    """RT / RU / RV record: a count and totals (None where the field is blank or not numeric)."""

    record_number: int
    record_type: str
    count: int | None
    amounts: Mapping[str, int | None]


@dataclass(frozen=True)
class OptionalWage:
    """RO record, attached to the RW it follows."""

    record_number: int
    employer_index: int
    employee_record_number: int | None
    amounts: Mapping[str, int | None]


@dataclass(frozen=True)
class StateWage:
    """RS record (state wage record)."""

    record_number: int
    employer_index: int
    state_code: str
    taxing_entity: str
    ssn: str = field(repr=False)
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    suffix: str = ""
    reporting_period: str = ""
    state_employer_account: str = field(default="", repr=False)
    state_taxable_wages: int | None = None
    state_income_tax: int | None = None
    local_taxable_wages: int | None = None
    local_income_tax: int | None = None
    employee_record_number: int | None = None


@dataclass(frozen=True)
class Employer:
    """RE record with the span of its employees and its closing RT/RU/RV records."""

    record_number: int
    tax_year: int | None
    agent_indicator: str
    ein: str = field(repr=False)
    name: str = ""
    location: str = ""
    delivery: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    zip4: str = ""
    kind_of_employer: str = ""
    employment_code: str = ""
    third_party_sick_pay: bool = False
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    employee_start: int = 0
    employee_stop: int = 0
    total: Totals | None = None
    optional_total: Totals | None = None
    state_total: Totals | None = None
    optional_wages: tuple[OptionalWage, ...] = ()
    state_wages: tuple[StateWage, ...] = ()

    @property
    def employee_count(self) -> int:
        return self.employee_stop - self.employee_start


@dataclass(frozen=True)
class Employee:
    """One RW record (one Form W-2) as Python values."""

    record_number: int
    employer_index: int
    ssn: str = field(repr=False)
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    suffix: str = ""
    location: str = ""
    delivery: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    zip4: str = ""
    amounts: Mapping[str, int] = field(default_factory=dict)
    statutory_employee: bool = False
    retirement_plan: bool = False
    third_party_sick_pay: bool = False
    valid: bool = True


def _s(value: bytes) -> str:
    return value.decode("latin-1").rstrip()


@dataclass(frozen=True, eq=False)
class EmployeeColumns:
    """All RW records as columns; ``amounts`` has one int64 cents column per :data:`RW_AMOUNT_NAMES`."""

    record_number: npt.NDArray[np.int64]
    employer_index: npt.NDArray[np.int64]
    ssn: BytesCol
    first_name: BytesCol
    middle_name: BytesCol
    last_name: BytesCol
    suffix: BytesCol
    location: BytesCol
    delivery: BytesCol
    city: BytesCol
    state: BytesCol
    zip: BytesCol
    zip4: BytesCol
    amounts: npt.NDArray[np.int64]
    statutory_employee: BytesCol
    retirement_plan: BytesCol
    third_party_sick_pay: BytesCol
    valid: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.record_number.shape[0])

    def amount(self, name: str) -> npt.NDArray[np.int64]:
        """One amount column by name (e.g. ``"wages_tips_other_comp"``)."""
        return self.amounts[:, RW_AMOUNT_NAMES.index(name)]

    def row(self, i: int) -> Employee:
        return Employee(
            record_number=int(self.record_number[i]),
            employer_index=int(self.employer_index[i]),
            ssn=_s(self.ssn[i]),
            first_name=_s(self.first_name[i]),
            middle_name=_s(self.middle_name[i]),
            last_name=_s(self.last_name[i]),
            suffix=_s(self.suffix[i]),
            location=_s(self.location[i]),
            delivery=_s(self.delivery[i]),
            city=_s(self.city[i]),
            state=_s(self.state[i]),
            zip=_s(self.zip[i]),
            zip4=_s(self.zip4[i]),
            amounts=MappingProxyType({n: int(self.amounts[i, k]) for k, n in enumerate(RW_AMOUNT_NAMES)}),
            statutory_employee=self.statutory_employee[i] == b"1",
            retirement_plan=self.retirement_plan[i] == b"1",
            third_party_sick_pay=self.third_party_sick_pay[i] == b"1",
            valid=bool(self.valid[i]),
        )

    def rows(self) -> Iterator[Employee]:
        for i in range(len(self)):
            yield self.row(i)

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` with trimmed string columns and one int64 column per amount."""
        import pyarrow as pa
        import pyarrow.compute as pc

        cols: dict[str, Any] = {
            "record_number": pa.array(self.record_number),
            "employer_index": pa.array(self.employer_index),
        }
        for name in (
            "ssn",
            "first_name",
            "middle_name",
            "last_name",
            "suffix",
            "location",
            "delivery",
            "city",
            "state",
            "zip",
            "zip4",
            "statutory_employee",
            "retirement_plan",
            "third_party_sick_pay",
        ):
            arr = pa.array(getattr(self, name), type=pa.binary()).cast(pa.string())
            cols[name] = pc.utf8_rtrim(arr, characters=" ")
        for k, name in enumerate(RW_AMOUNT_NAMES):
            cols[name] = pa.array(self.amounts[:, k])
        cols["valid"] = pa.array(self.valid)
        return pa.table(cols)


@dataclass(frozen=True, eq=False)
class Efw2File:
    """A whole EFW2 file with per-record and control-total problems."""

    submitter: Submitter
    employers: tuple[Employer, ...]
    employees: EmployeeColumns
    final_rw_count: int | None
    record_count: int
    record_problems: tuple[RecordProblem, ...]
    control_problems: tuple[ControlProblem, ...]

    @property
    def consistent(self) -> bool:
        """True when RT/RU/RF agree with the records they close (warnings allowed)."""
        return not any(p.severity == "error" for p in self.control_problems)
