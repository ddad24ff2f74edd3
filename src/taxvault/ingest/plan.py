"""What validating one file produces: rows to load, records to quarantine, counts.

Why a plan separate from the load: validation only reads the store, so it runs
before the file's audit event is appended and before the write transaction
opens; the load then inserts the plan in one transaction. New rows of a file
refer to each other by *local* ids (negative: ``-(index + 1)``) and to rows
already in the store by their real (positive) ids; :meth:`Plan.resolve` turns
local ids into real ones once the transaction knows the next free id of each
table. 0 means NULL in such id columns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Quarantined:
    """A record that failed validation: where it is, the first bad field, why, and its bytes."""

    record_number: int
    record_type: str
    field: str
    reason: str
    raw: bytes = dataclasses.field(repr=False)


@dataclass
class Plan:
    """Rows to insert per table (insert order = dict order) and records to quarantine."""

    kind: str
    read: int = 0
    loaded: int = 0
    tables: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    id_columns: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    quarantine: list[Quarantined] = dataclasses.field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return len({q.record_number for q in self.quarantine})

    def rows(self) -> dict[str, int]:
        """Rows per table this plan inserts."""
        out = {}
        for name, cols in self.tables.items():
            first: Any = next(iter(cols.values()), [])
            out[name] = len(first)
        return out

    def resolve(self, next_ids: dict[str, int]) -> None:
        """Replace local ids by real ones (``next_ids``: first free id per target table)."""
        for (table, column), target in self.id_columns.items():
            values = self.tables[table][column]
            arr = np.asarray(values, dtype=np.int64)
            real = np.where(arr < 0, next_ids[target] + (-arr - 1), arr)
            if column == "id" or not (real == 0).any():
                self.tables[table][column] = real
            else:
                self.tables[table][column] = [None if v == 0 else v for v in real.tolist()]


def local_ids(n: int) -> I64:
    """Local ids ``-1 .. -n`` for ``n`` new rows."""
    return -np.arange(1, n + 1, dtype=np.int64)
