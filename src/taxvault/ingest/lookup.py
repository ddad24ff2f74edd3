"""What a file's records refer to in the store: entities by TIN, modules by key, principals.

Why sorted arrays: an information-return file may name millions of payees;
``numpy.searchsorted`` over the store's TIN lookup hashes (the store keeps no clear
TIN, see ``store/tins.py``) resolves them all at once, with no Python dict lookup
per record. The extracts (a few hundred thousand records, decoded one by one
anyway) use the dict views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.store import tables as t
from taxvault.store.tins import tin_vault

EIN = "EIN"


@dataclass
class EntityIndex:
    """Entities of one TIN class (EIN, or SSN/ITIN) as sorted TIN lookup hashes with ids and name controls."""

    hashes: npt.NDArray[np.bytes_]
    ids: npt.NDArray[np.int64]
    name_controls: npt.NDArray[np.bytes_]
    tin_types: list[str] = field(default_factory=list)

    def find(self, tins: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
        """Position of each (clear) TIN in this index, -1 where absent."""
        if len(self.hashes) == 0:
            return np.full(len(tins), -1, dtype=np.int64)
        wanted = np.array(tin_vault().lookup_hashes(tins), dtype="S32")
        pos = np.searchsorted(self.hashes, wanted)
        pos = np.minimum(pos, len(self.hashes) - 1)
        return np.where(self.hashes[pos] == wanted, pos, -1).astype(np.int64)

    @cached_property
    def by_tin(self) -> ByTin:
        return ByTin(
            {
                bytes(h).ljust(32, b"\0"): (int(i), nc.decode())
                for h, i, nc in zip(self.hashes.tolist(), self.ids.tolist(), self.name_controls.tolist(), strict=True)
            }
        )


class ByTin:
    """A read-only view keyed by clear TIN over entries kept by lookup hash (``get``, ``in``, ``[]``)."""

    def __init__(self, by_hash: dict[bytes, tuple[int, str]]) -> None:
        self._by_hash = by_hash
        self._vault = tin_vault()

    def get(self, tin: str | None, default: tuple[int, str] | None = None) -> tuple[int, str] | None:
        if not tin:
            return default
        return self._by_hash.get(self._vault.lookup_hash(tin), default)

    def __contains__(self, tin: object) -> bool:
        return isinstance(tin, str) and self.get(tin) is not None

    def __getitem__(self, tin: str) -> tuple[int, str]:
        found = self.get(tin)
        if found is None:
            raise KeyError("TIN not on file")  # never the TIN itself
        return found


def entity_index(conn: Connection, *, ein: bool) -> EntityIndex:
    """The store's entities with EINs (``ein=True``) or with SSNs/ITINs."""
    e = t.entities.c
    tin_vault(conn)  # the keys are this store's (a clear error otherwise, never a silent miss)
    q = sa.select(e.tin_hash, e.id, e.name_control, e.tin_type).where(
        (e.tin_type == EIN) if ein else (e.tin_type != EIN)
    )
    rows = conn.execute(q).all()
    hashes = np.array([bytes(r[0]) for r in rows], dtype="S32")
    order = np.argsort(hashes, kind="stable")  # collation-proof: sort in numpy
    return EntityIndex(
        hashes=hashes[order],
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
