"""Canaries: synthetic taxpayers planted in every export, and the alarm when one comes back.

Why: an export is a copy that leaves the store; if it leaks, nothing in the leaked
rows says where they came from. Each export carries a few taxpayers who exist nowhere
else (synthetic SSNs: area 900-999, group 01-49, as DESIGN.md's conventions reserve,
checked to be neither on file nor planted before), recorded per export and recipient
with only the store's keyed TIN hash (:mod:`taxvault.store.tins`). A canary's TIN seen
anywhere later (an ingest file, a partner's file, a TIN look-up) can only have come out
of that one export: :func:`check_hashes` raises a critical ``canary`` alert naming it.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.oversight.alerts import raise_alert
from taxvault.oversight.custody_tables import export_canaries, exports
from taxvault.store.tables import entities
from taxvault.store.tins import tin_vault

RULE = "canary"
_DIGIT_RUN = re.compile(r"\d{5,}")
_TIN_SHAPED = re.compile(r"\d(?:-?\d){8,}")  # nine digits or more, dashes or not
_FIRST = ("Avery", "Jordan", "Morgan", "Riley", "Casey", "Quinn", "Rowan", "Harper", "Emery", "Dakota")
_LAST = ("Calloway", "Brennan", "Okafor", "Lindqvist", "Marchetti", "Tanaka", "Delacroix", "Haldane", "Voss")
_STREETS = ("Juniper", "Larch", "Quarry", "Fernhill", "Saltmarsh", "Kestrel", "Orchard", "Millrace")
_PLACES = (("Dayton", "OH", "454"), ("Tacoma", "WA", "984"), ("Macon", "GA", "312"), ("Provo", "UT", "846"))


@dataclass(frozen=True, slots=True)
class Canary:
    """One synthetic taxpayer planted in one export (the TIN is held only until it is written out)."""

    ref: str
    tin: str
    first_name: str
    last_name: str
    address_line: str
    city: str
    state: str
    zip: str
    birth_date: dt.date

    def row(self) -> dict[str, object]:
        """The canary as an ``entities`` export row (every column an export may carry)."""
        return {
            "ref": self.ref,
            "kind": "individual",
            "tin_type": "SSN",
            "tin": self.tin,
            "first_name": self.first_name,
            "middle_name": None,
            "last_name": self.last_name,
            "business_name": None,
            "address_line": self.address_line,
            "city": self.city,
            "state": self.state,
            "zip": self.zip,
            "birth_date": self.birth_date,
        }


def opaque_ref(prefix: str) -> str:
    """A random opaque ref with no run of five digits (an alert's summary names it; a TIN never fits in it)."""
    while True:
        ref = prefix + secrets.token_hex(10)
        if not _DIGIT_RUN.search(ref):
            return ref


def defang(text: str) -> str:
    """``text`` with every run of nine or more digits broken up (``1234_5678_9``): never TIN-shaped."""

    def split(m: re.Match[str]) -> str:
        digits = m.group().replace("-", "")
        return "_".join(digits[i : i + 4] for i in range(0, len(digits), 4))

    return _TIN_SHAPED.sub(split, text)


def synthetic_ssn() -> str:
    """A random SSN in the synthetic space (900-999, group 01-49, serial 0001-9999)."""
    area = 900 + secrets.randbelow(100)
    group = 1 + secrets.randbelow(49)
    serial = 1 + secrets.randbelow(9999)
    return f"{area:03d}{group:02d}{serial:04d}"


def make_canaries(conn: Connection, n: int) -> list[Canary]:
    """``n`` synthetic taxpayers whose TINs are neither on file nor planted in another export."""
    vault = tin_vault(conn)
    made: list[Canary] = []
    tries = 0
    while len(made) < n:
        tries += 1
        if tries > 50 * (n + 1):  # pragma: no cover - the synthetic space is 49 million numbers
            raise RuntimeError("could not find unused synthetic TINs for canaries")
        tin = synthetic_ssn()
        h = vault.lookup_hash(tin)
        taken = conn.execute(sa.select(entities.c.id).where(entities.c.tin_hash == h).limit(1)).first()
        planted = conn.execute(sa.select(export_canaries.c.id).where(export_canaries.c.tin_hash == h)).first()
        if taken is not None or planted is not None or any(c.tin == tin for c in made):
            continue
        city, state, zip3 = _PLACES[secrets.randbelow(len(_PLACES))]
        made.append(
            Canary(
                ref=opaque_ref("e"),
                tin=tin,
                first_name=_FIRST[secrets.randbelow(len(_FIRST))],
                last_name=_LAST[secrets.randbelow(len(_LAST))],
                address_line=f"{100 + secrets.randbelow(9800)} {_STREETS[secrets.randbelow(len(_STREETS))]} St",
                city=city,
                state=state,
                zip=f"{zip3}{secrets.randbelow(100):02d}",
                birth_date=dt.date(1950 + secrets.randbelow(50), 1 + secrets.randbelow(12), 1 + secrets.randbelow(28)),
            )
        )
    return made


def plant(conn: Connection, export_id: int, recipient: str, canaries: Sequence[Canary], now: dt.datetime) -> None:
    """Record the canaries of one export (ref and keyed TIN hash only; the caller's transaction)."""
    if not canaries:
        return
    hashes = tin_vault(conn).lookup_hashes([c.tin for c in canaries])
    conn.execute(
        export_canaries.insert(),
        [
            {"ref": c.ref, "export_id": export_id, "recipient": recipient, "tin_hash": h, "created_at": now}
            for c, h in zip(canaries, hashes, strict=True)
        ],
    )


@dataclass(frozen=True, slots=True)
class Sighting:
    """A canary seen: which one, from which export, given to whom, and the alert raised."""

    canary_ref: str
    export_ref: str
    recipient: str
    alert_ref: str


def find(conn: Connection, hashes: Iterable[bytes]) -> list[tuple[str, str, str]]:
    """(canary ref, export ref, recipient) for each planted canary among the TIN hashes.

    The planted canaries are few (a handful per export): they are read once and the
    hashes (a whole file's, possibly millions) are matched in memory.
    """
    c, e = export_canaries.c, exports.c
    planted = {
        bytes(h): (str(a), str(b), str(r))
        for h, a, b, r in conn.execute(
            sa.select(c.tin_hash, c.ref, e.ref, c.recipient).select_from(
                export_canaries.join(exports, exports.c.id == c.export_id)
            )
        )
    }
    if not planted:
        return []
    seen: dict[bytes, tuple[str, str, str]] = {}
    for h in hashes:
        key = bytes(h)
        if key in planted:
            seen[key] = planted[key]
    return list(seen.values())


def check_columns(conn: Connection, columns: Mapping[str, Any], where: str) -> list[Sighting]:
    """:func:`check_hashes` over every ``*tin_hash`` column of a bulk load (as ``protect_columns`` made them)."""
    # A generator: read only if the store has planted canaries at all (most loads: none, no pass over the rows).
    hashes = (h for name, values in columns.items() if name.endswith("tin_hash") for h in values if h is not None)
    return check_hashes(conn, hashes, where)


def check_hashes(
    conn: Connection,
    hashes: Iterable[bytes],
    where: str,
    *,
    leaves: Sequence[int] = (),
    seen_by: str | None = None,
    now: dt.datetime | None = None,
) -> list[Sighting]:
    """Raise a critical ``canary`` alert for every planted canary among ``hashes`` (caller's transaction).

    ``where`` says where it was seen (an ingest file's hash, an import's ref, "api look-up");
    it is never a TIN. The alert names the export and its recipient; it is raised once per
    canary and place (``dedupe``).
    """
    sightings: list[Sighting] = []
    for canary_ref, export_ref, recipient in find(conn, hashes):
        who = f" by {seen_by}" if seen_by else ""
        alert = raise_alert(
            conn,
            rule=RULE,
            severity="critical",
            summary=defang(
                f"canary {canary_ref} of export {export_ref} (given to {recipient}) seen in {where}{who}: "
                "the export's data has left the store"
            )[:500],
            leaves=list(leaves),
            principal_id=recipient,
            subject=None,
            window=None,
            dedupe=defang(f"canary:{canary_ref}:{where}")[:200],
            now=now,
        )
        sightings.append(Sighting(canary_ref, export_ref, recipient, alert))
    return sightings


def check_hashes_now(
    engine: Engine, hashes: Iterable[bytes], where: str, *, seen_by: str | None = None
) -> list[Sighting]:
    """:func:`check_hashes` in a transaction of its own (for reads, whose own transaction is rolled back)."""
    wanted = list(hashes)
    with engine.connect() as conn:
        if not find(conn, wanted):
            return []
    with engine.begin() as conn:  # a write of its own (SQLite WAL: beside the caller's open read)
        return check_hashes(conn, wanted, where, seen_by=seen_by)


def tin_hashes(tins: Iterable[str | None]) -> list[bytes]:
    """The store's keyed hashes of clear TINs (digits only; anything not nine digits is skipped)."""
    digits = ["".join(ch for ch in t if ch.isdigit()) for t in tins if t]
    clean = [d for d in digits if len(d) == 9]
    return tin_vault().lookup_hashes(clean) if clean else []
