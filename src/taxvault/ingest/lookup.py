"""What a file's records refer to in the store: entities by TIN, modules by key, principals.

Why sorted arrays: an information-return file may name millions of payees;
``numpy.searchsorted`` over the store's TINs resolves them all at once, with no
Python dict lookup per record. The extracts (a few hundred thousand records,
decoded one by one anyway) use the dict views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.store import tables as t

EIN = "EIN"


@dataclass
class EntityIndex:
    """Entities of one TIN class (EIN, or SSN/ITIN) as sorted TINs with ids and name controls."""

    tins: npt.NDArray[np.bytes_]
    ids: npt.NDArray[np.int64]
    name_controls: npt.NDArray[np.bytes_]
    tin_types: list[str] = field(default_factory=list)

    def find(self, tins: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
        """Position of each TIN in this index, -1 where absent."""
        if len(self.tins) == 0:
            return np.full(len(tins), -1, dtype=np.int64)
        pos = np.searchsorted(self.tins, tins)
        pos = np.minimum(pos, len(self.tins) - 1)
        return np.where(self.tins[pos] == tins, pos, -1).astype(np.int64)

    @cached_property
    def by_tin(self) -> dict[str, tuple[int, str]]:
        return {
            tin.decode(): (int(i), nc.decode())
            for tin, i, nc in zip(self.tins.tolist(), self.ids.tolist(), self.name_controls.tolist(), strict=True)
        }


def entity_index(conn: Connection, *, ein: bool) -> EntityIndex:
    """The store's entities with EINs (``ein=True``) or with SSNs/ITINs."""
    e = t.entities.c
    q = sa.select(e.tin, e.id, e.name_control, e.tin_type).where((e.tin_type == EIN) if ein else (e.tin_type != EIN))
    rows = conn.execute(q.order_by(e.tin)).all()
    tins = np.array([r[0] for r in rows], dtype="S9")
    order = np.argsort(tins, kind="stable")  # collation-proof: sort in numpy
    return EntityIndex(
        tins=tins[order],
        ids=np.array([r[1] for r in rows], dtype=np.int64)[order],
        name_controls=np.array([r[2] for r in rows], dtype="S4")[order],
        tin_types=[rows[i][3] for i in order.tolist()],
    )


def module_ids(conn: Connection) -> dict[tuple[int, int, int], int]:
    """(entity id, MFT, tax period) -> module id, for the store's tax modules."""
    m = t.tax_modules.c
    return {
        (int(e), int(mft), int(p)): int(i)
        for i, e, mft, p in conn.execute(sa.select(m.id, m.entity_id, m.mft, m.tax_period))
    }


def principal_ids(conn: Connection) -> set[str]:
    """Ids of the principals in the store."""
    return {str(r[0]) for r in conn.execute(sa.select(t.principals.c.id))}


def return_module_ids(conn: Connection) -> set[int]:
    """Modules that already carry an original return."""
    return {int(r[0]) for r in conn.execute(sa.select(t.returns.c.module_id))}


def notice_keys(conn: Connection) -> set[tuple[int, str, object]]:
    """(module id, notice type, issued date) of the notices in the store."""
    n = t.notices.c
    out: set[tuple[int, str, object]] = set()
    for module, kind, issued in conn.execute(sa.select(n.module_id, n.notice_type, n.issued_date)):
        out.add((int(module), str(kind), issued))
    return out
