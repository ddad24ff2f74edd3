"""Field checks shared by the validators: TIN shapes and synthetic ranges, dates, codes.

Vectorised forms (numpy over fixed-width byte columns) serve the million-record
information-return files; scalar forms serve the extracts. Every reason text
names the rule, never the value (a TIN must not reach an error or the log).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import numpy.typing as npt

from taxvault.model.values import NameControl
from taxvault.store.settings import SYNTHETIC_HINT

_NAME_CONTROL = re.compile(r"^[A-Z0-9&][A-Z0-9&-]{0,3}$")
ITIN_GROUPS = frozenset({*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100)})
SYNTHETIC_SSN_GROUPS = range(1, 50)


def digit_matrix(tins: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
    """``(n, 9)`` digit values of 9-byte TIN columns (non-digits give values outside 0-9)."""
    raw = np.frombuffer(np.ascontiguousarray(tins.astype("S9")).tobytes(), dtype=np.uint8).reshape(-1, 9)
    return raw.astype(np.int64) - ord("0")


def nine_digits(tins: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
    d = digit_matrix(tins)
    return np.asarray(((d >= 0) & (d <= 9)).all(axis=1))


def synthetic_tins(tins: npt.NDArray[np.bytes_], is_ein: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """True where a TIN lies in the synthetic ranges: SSN 900-999 group 01-49; EIN prefix 00."""
    d = digit_matrix(tins)
    ok = ((d >= 0) & (d <= 9)).all(axis=1)
    area = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    group = d[:, 3] * 10 + d[:, 4]
    ssn = (area >= 900) & (group >= 1) & (group <= 49)
    ein = (d[:, 0] == 0) & (d[:, 1] == 0) & (d[:, 2:].sum(axis=1) > 0)
    return np.asarray(ok & np.where(is_ein, ein, ssn))


def outside_synthetic(what: str) -> str:
    """The reason a synthetic-only store refuses a real-looking TIN: names the store's setting, never the value.

    Why the store and not the file: the guard is what the store may hold (see
    :mod:`taxvault.store.settings`), never a marker in the file (a FIRE test file is real data).
    """
    return f"{what} outside the synthetic ranges; this store is synthetic-only ({SYNTHETIC_HINT})"


def individual_tin_types(tins: npt.NDArray[np.bytes_]) -> npt.NDArray[np.str_]:
    """``SSN`` or ``ITIN`` by the number's area and group (ITINs: 9XX with the ITIN groups)."""
    d = digit_matrix(tins)
    group = d[:, 3] * 10 + d[:, 4]
    itin = (d[:, 0] == 9) & np.isin(group, list(ITIN_GROUPS))
    return np.where(itin, "ITIN", "SSN")


def is_tin(value: str) -> bool:
    return len(value) == 9 and value.isascii() and value.isdigit()


def is_synthetic(value: str, ein: bool) -> bool:
    if not is_tin(value):
        return False
    if ein:
        return value.startswith("00") and value != "000000000"
    return int(value[:3]) >= 900 and int(value[3:5]) in SYNTHETIC_SSN_GROUPS


def valid_name_control(value: str) -> bool:
    return bool(_NAME_CONTROL.match(value))


def individual_name_control(last_name: str) -> str | None:
    try:
        return NameControl.for_individual(last_name).value
    except ValueError:
        return None


def date_or_none(value: object) -> tuple[bool, dt.date | None]:
    """A CCYYMMDD number: (True, date), (True, None) for zero, (False, None) when not a date."""
    if value == 0:
        return True, None
    if not isinstance(value, int):
        return False, None
    try:
        return True, dt.date(value // 10000, value // 100 % 100, value % 100)
    except ValueError:
        return False, None


def tax_period_ok(value: object) -> bool:
    return isinstance(value, int) and 190001 <= value <= 299912 and 1 <= value % 100 <= 12
