"""IRS Publication 1220 (FIRE) information-return files: reader, writer, amount-code tables.

Edition: Publication 1220 Rev. 9-2024 (tax year 2024); older layouts (16 amount
codes) are read too. See :mod:`.layout` for positions and sources.
"""

from taxvault.formats.fixedwidth import ControlProblem, ControlTotalsError, FormatError, RecordProblem
from taxvault.formats.pub1220.amount_codes import AMOUNT_CODES, Box, box_table, code_for_box
from taxvault.formats.pub1220.model import (
    ControlTotals,
    EndOfTransmission,
    Payee,
    PayeeColumns,
    Payer,
    Pub1220File,
    Transmitter,
)
from taxvault.formats.pub1220.reader import read_payee_record, read_pub1220
from taxvault.formats.pub1220.writer import PayeeInput, PayerInput, TransmitterInput, write_pub1220

__all__ = [
    "AMOUNT_CODES",
    "Box",
    "ControlProblem",
    "ControlTotals",
    "ControlTotalsError",
    "EndOfTransmission",
    "FormatError",
    "Payee",
    "PayeeColumns",
    "PayeeInput",
    "Payer",
    "PayerInput",
    "Pub1220File",
    "RecordProblem",
    "Transmitter",
    "TransmitterInput",
    "box_table",
    "code_for_box",
    "read_payee_record",
    "read_pub1220",
    "write_pub1220",
]
