"""SSA EFW2 (Forms W-2 electronically) wage files: reader and writer.

Edition: SSA Publication 42-007, "Specifications for Filing Forms W-2
Electronically (EFW2)", Tax Year 2024. See :mod:`.layout` for positions and sources.
"""

from taxvault.formats.efw2.layout import RO_AMOUNTS, RW_AMOUNTS
from taxvault.formats.efw2.model import (
    RW_AMOUNT_NAMES,
    W2_BOX_BY_AMOUNT,
    Efw2File,
    Employee,
    EmployeeColumns,
    Employer,
    OptionalWage,
    StateWage,
    Submitter,
    Totals,
)
from taxvault.formats.efw2.reader import read_efw2
from taxvault.formats.efw2.writer import EmployeeInput, EmployerInput, SubmitterInput, write_efw2
from taxvault.formats.fixedwidth import ControlProblem, ControlTotalsError, FormatError, RecordProblem

__all__ = [
    "RO_AMOUNTS",
    "RW_AMOUNTS",
    "RW_AMOUNT_NAMES",
    "W2_BOX_BY_AMOUNT",
    "ControlProblem",
    "ControlTotalsError",
    "Efw2File",
    "Employee",
    "EmployeeColumns",
    "EmployeeInput",
    "Employer",
    "EmployerInput",
    "FormatError",
    "OptionalWage",
    "RecordProblem",
    "StateWage",
    "Submitter",
    "SubmitterInput",
    "Totals",
    "read_efw2",
    "write_efw2",
]
