"""Synthetic partner files: a partner's view of people of a synthetic store, with the truth kept aside.

The files (:func:`death_records`, :func:`wage_records`) are built from a synthetic
store the way a partner would hold the same people: their own ids, column names and
formats, and the errors of :func:`taxvault.matching.synthetic.corrupt`; people the
agency does not know are mixed in; the true links and the leads a correct run must
find are kept aside in ``truth``.

They read the store directly, clear TINs included, like the synthetic population
generator does, so they live in ``synth/`` and never run on a real store: every
person they read must carry a synthetic SSN (9xx: never issued), or they stop.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.errors import Invalid
from taxvault.files import ensure_private_file, private_dir
from taxvault.matching import synthetic as _synthetic
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.programs import agency_columns, chunks, clear_payers, person_value, with_clear_tins
from taxvault.store.tables import entities, information_returns, tax_modules, transactions
from taxvault.store.tins import aad, tin_vault
from taxvault.synth.reading import synthetic_export

_E = entities.c


@dataclass(frozen=True)
class PartnerFile:
    """A partner's file as the partner would send it, and the truth a correct run recovers."""

    table: pa.Table  # the partner's columns, as text
    truth: pa.Table  # partner_id, entity_ref (null: a person the agency does not know), expected_lead
    id_column: str
    mapping: dict[str, str]  # canonical field -> the partner's column, for every field the file has
    program: str

    def mapping_for(self, fields: Iterable[str]) -> dict[str, str]:
        """The mapping restricted to ``fields`` (an agreement's partner side)."""
        return {f: self.mapping[f] for f in fields}

    def write(self, path: Path, truth_path: Path | None = None) -> None:
        """Write the file (CSV, or Parquet for a ``.parquet`` suffix) and, apart, the truth."""
        for table, where in ((self.table, path), (self.truth, truth_path)):
            if where is None:
                continue
            private_dir(where.parent)
            ensure_private_file(where)  # owner-only before any row is written
            if where.suffix.lower() in (".parquet", ".pq"):
                pq.write_table(table, where)
            else:
                pacsv.write_csv(table, where)


def _synthetic_ssn(tin: str | None) -> bool:
    return bool(tin) and len(str(tin)) == 9 and str(tin)[0] == "9"


def store_people(conn: Connection, entity_ids: Sequence[int]) -> pa.Table:
    """``id`` (entity ref) + every canonical person field of these individuals (synthetic SSNs only)."""
    rows: dict[int, dict[str, Any]] = {}
    for chunk in chunks(sorted(set(entity_ids))):
        q = sa.select(_E.id, _E.ref, *(c for c in agency_columns(PERSON_FIELDS) if c is not _E.id)).where(
            _E.id.in_(chunk)
        )
        for row in with_clear_tins(conn, conn.execute(q).mappings().all(), PERSON_FIELDS):
            if not _synthetic_ssn(row["tin"]):
                raise Invalid("synthetic partner files are made from synthetic stores only")
            rows[int(row["id"])] = {"id": row["ref"], **{f: person_value(f, row) for f in PERSON_FIELDS}}
    ordered = [rows[i] for i in entity_ids if i in rows]
    return pa.table({k: pa.array([r[k] for r in ordered], pa.string()) for k in ("id", *PERSON_FIELDS)})


def _refund_dates(conn: Connection) -> dict[int, tuple[dt.date, dt.date]]:
    m, t = tax_modules.c, transactions.c
    q = (
        sa.select(m.entity_id, sa.func.min(t.posted_date), sa.func.max(t.posted_date))
        .select_from(transactions.join(tax_modules, m.id == t.module_id))
        .where(t.tc == 846)
        .group_by(m.entity_id)
    )
    return {int(e): (lo, hi) for e, lo, hi in conn.execute(q)}


_DEATH_COLUMNS = {
    "id": "DM_RECORD",
    "first_name": "GIVEN_NAME",
    "last_name": "SURNAME",
    "birth_date": "DOB",
    "tin": "SSN",
    "street_number": "HOUSE_NO",
    "street": "STREET_NAME",
    "city": "CITY",
    "postcode": "ZIP",
    "state": "STATE",
    "death_date": "DOD",
}
_WAGE_COLUMNS = {
    "id": "CLAIMANT_ID",
    "first_name": "FIRST",
    "last_name": "LAST",
    "birth_date": "BIRTH_DT",
    "tin": "SSN",
    "street_number": "ADDR_NUM",
    "street": "ADDR_STREET",
    "city": "CITY",
    "postcode": "ZIP",
    "state": "ST",
    "employer_ein": "FEIN",
    "quarter": "YRQTR",
    "wage_cents": "WAGES_CENTS",
}


def _partner_people(
    known: pa.Table, unknown: int, seed: int, rate: float
) -> tuple[list[dict[str, Any]], list[str | None]]:
    """The partner's view of ``known`` (corrupted) plus ``unknown`` strangers; and each one's entity ref."""
    seen = _synthetic.corrupt(known, seed, rate=rate) if known.num_rows else None
    records: list[dict[str, Any]] = []
    refs: list[str | None] = []
    if seen is not None:
        for row in seen.to_pylist():
            refs.append(row.pop("true_id"))
            records.append(row)
    if unknown:
        for row in _synthetic.people(unknown, seed + 1_000_003).to_pylist():
            refs.append(None)
            records.append(row)
    return records, refs


def death_records(
    engine: Engine,
    *,
    seed: int = 0,
    hidden: int = 40,
    controls: int = 15,
    strangers: int = 60,
    rate: float = 0.3,
) -> PartnerFile:
    """A death master file: the store's deceased, ``hidden`` deaths the agency does not know of
    (before a refund: leads), ``controls`` deaths after the person's last refund (no lead), and
    ``strangers`` the agency never saw."""
    rng = np.random.default_rng([seed, 846])
    with synthetic_export(engine, "partner-death-records") as export:
        conn = export.conn
        export.wrote = ["name", "birth_date", "death_date", "tin"]
        refunds = _refund_dates(conn)
        dead = {
            int(i): d
            for i, d in conn.execute(
                sa.select(_E.id, _E.death_date).where(
                    _E.kind == "individual", _E.is_deceased, _E.death_date.is_not(None)
                )
            )
        }
        living = sorted(e for e in refunds if e not in dead)
        picked = rng.choice(len(living), size=min(hidden + controls, len(living)), replace=False)
        chosen = [living[i] for i in picked.tolist()]
        deaths: dict[int, dt.date] = dict(dead)
        for k, eid in enumerate(chosen):
            first, last = refunds[eid]
            if k < hidden:
                deaths[eid] = first - dt.timedelta(days=int(rng.integers(15, 300)))
            else:
                deaths[eid] = last + dt.timedelta(days=int(rng.integers(15, 200)))
        ids = sorted(deaths)
        known = store_people(conn, ids)
    ref_to_id = dict(zip(known.column("id").to_pylist(), ids, strict=True))
    records, refs = _partner_people(known, strangers, seed, rate)
    base = dt.date(2024, 1, 1)
    out: dict[str, list[Any]] = {c: [] for c in _DEATH_COLUMNS.values()}
    truth: dict[str, list[Any]] = {"partner_id": [], "entity_ref": [], "expected_lead": []}
    order = rng.permutation(len(records))
    for n, k in enumerate(order.tolist(), start=1):
        row, ref = records[k], refs[k]
        pid = f"DM{n:08d}"
        eid = None if ref is None else ref_to_id[ref]
        died = deaths[eid] if eid is not None else base + dt.timedelta(days=int(rng.integers(0, 600)))
        for f in PERSON_FIELDS:
            out[_DEATH_COLUMNS[f]].append(row[f])
        out["DM_RECORD"].append(pid)
        out["DOD"].append(died.strftime("%Y%m%d"))
        truth["partner_id"].append(pid)
        truth["entity_ref"].append(ref)
        truth["expected_lead"].append(eid is not None and eid in refunds and refunds[eid][1] > died)
    n = len(records)
    extra = {  # what a death file also holds and no agreement here names: never read
        "SEX": rng.choice(np.array(["M", "F"]), n).tolist(),
        "PLACE_OF_DEATH": rng.choice(np.array(["HOSPITAL", "HOME", "HOSPICE", "OTHER"]), n).tolist(),
    }
    table = pa.table({**{c: pa.array(v, pa.string()) for c, v in out.items()}, **extra})
    return PartnerFile(
        table,
        pa.table(truth),
        "DM_RECORD",
        {f: c for f, c in _DEATH_COLUMNS.items() if f != "id"},
        "death_refunds",
    )


def wage_records(
    engine: Engine,
    *,
    seed: int = 0,
    tax_year: int = 2024,
    persons: int = 150,
    hidden: int = 30,
    strangers: int = 40,
    rate: float = 0.3,
) -> PartnerFile:
    """A state's quarterly wage file: ``persons`` workers with W-2s (their W-2 wages, quarter by
    quarter), ``hidden`` of them also paid by an employer that filed no W-2 (leads), and
    ``strangers`` the agency never saw."""
    rng = np.random.default_rng([seed, 2024])
    ir = information_returns.c
    with synthetic_export(engine, "partner-state-wages") as export:
        conn = export.conn
        export.wrote = ["name", "address", "tin", "wages_cents"]
        w2s: dict[int, list[tuple[str, int]]] = defaultdict(list)
        q = sa.select(ir.payee_id, ir.payer_tin_enc, ir.income_cents, ir.ref).where(
            ir.form == "W-2", ir.tax_year == tax_year, ir.payee_id.is_not(None)
        )
        for payee, payer, cents in clear_payers(conn, conn.execute(q).all()):
            w2s[int(payee)].append((str(payer), int(cents)))
        firms = conn.execute(
            sa.select(_E.tin_enc, _E.ref)
            .where(_E.kind == "business", _E.tin_type == "EIN")
            .order_by(_E.id)
            .limit(5_000)
        ).all()
        employers = tin_vault(conn).decrypt_many(
            conn, [r.tin_enc for r in firms], [aad("entities", "tin", r.ref) for r in firms]
        )
        workers = sorted(w2s)
        picked = rng.choice(len(workers), size=min(persons, len(workers)), replace=False)
        chosen = sorted(workers[i] for i in picked.tolist())
        known = store_people(conn, chosen)
    if not employers:
        raise Invalid("the store has no employers to make wage records from")
    ref_to_id = dict(zip(known.column("id").to_pylist(), chosen, strict=True))
    hidden_ids = set(rng.choice(np.array(chosen), size=min(hidden, len(chosen)), replace=False).tolist())
    records, refs = _partner_people(known, strangers, seed, rate)
    out: dict[str, list[Any]] = {c: [] for c in _WAGE_COLUMNS.values()}
    truth: dict[str, list[Any]] = {"partner_id": [], "entity_ref": [], "expected_lead": []}

    def wage_rows(eid: int | None) -> list[tuple[str, int, int]]:
        rows: list[tuple[str, int, int]] = []  # (ein, quarter, cents)
        if eid is None:
            ein = employers[int(rng.integers(0, len(employers)))]
            rows += [(ein, q, int(rng.integers(200_000, 1_800_000))) for q in range(1, 5)]
            return rows
        for ein, cents in w2s[eid]:
            share = cents // 4
            rows += [(ein, q, share if q < 4 else cents - 3 * share) for q in range(1, 5)]
        if eid in hidden_ids:
            own = {e for e, _ in w2s[eid]}
            ein = next(e for e in (employers[int(i)] for i in rng.permutation(len(employers))) if e not in own)
            quarters = sorted(rng.choice(4, size=int(rng.integers(1, 5)), replace=False).tolist())
            rows += [(ein, q + 1, int(rng.integers(150_000, 1_500_000))) for q in quarters]
        return rows

    order = rng.permutation(len(records))
    for n, k in enumerate(order.tolist(), start=1):
        row, ref = records[k], refs[k]
        pid = f"CL{n:08d}"
        eid = None if ref is None else ref_to_id[ref]
        for ein, quarter, cents in wage_rows(eid):
            for f in PERSON_FIELDS:
                out[_WAGE_COLUMNS[f]].append(row[f])
            out["CLAIMANT_ID"].append(pid)
            out["FEIN"].append(f"{ein[:2]}-{ein[2:]}")
            out["YRQTR"].append(f"{tax_year}Q{quarter}")
            out["WAGES_CENTS"].append(str(cents))
        truth["partner_id"].append(pid)
        truth["entity_ref"].append(ref)
        truth["expected_lead"].append(eid is not None and eid in hidden_ids)
    n = len(out["CLAIMANT_ID"])
    extra = {  # what a wage file also holds and no agreement here names: never read
        "OCCUPATION": rng.choice(np.array(["CLERK", "DRIVER", "NURSE", "COOK", "TECH"]), n).tolist(),
        "HOURS": [str(int(h)) for h in rng.integers(40, 520, n)],
    }
    table = pa.table({**{c: pa.array(v, pa.string()) for c, v in out.items()}, **extra})
    return PartnerFile(
        table,
        pa.table(truth),
        "CLAIMANT_ID",
        {f: c for f, c in _WAGE_COLUMNS.items() if f != "id"},
        "state_wages",
    )


SYNTHETIC_FILES: Mapping[str, Callable[..., PartnerFile]] = {
    "death_refunds": death_records,
    "state_wages": wage_records,
}
