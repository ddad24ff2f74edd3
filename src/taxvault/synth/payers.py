"""Businesses that pay people: employers, banks and brokers, retirement plans; and charities.

They are generated once, before the households, because every chunk of
households draws its employers and banks from the same pools.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxvault.model.values import NameControl
from taxvault.synth import names
from taxvault.synth.identifiers import refs, synthetic_eins

I64 = NDArray[np.int64]


@dataclass
class PayerPools:
    """All business entities, with index ranges per kind (employers first)."""

    entity_id: I64
    tin: NDArray[np.str_]
    kinds: dict[str, tuple[int, int]]  # kind -> [start, stop) in the arrays
    employer_weights: NDArray[np.float64]
    rows: dict[str, Any]

    @property
    def size(self) -> int:
        return len(self.entity_id)

    def pick(self, rng: np.random.Generator, kind: str, n: int) -> I64:
        lo, hi = self.kinds[kind]
        return rng.integers(lo, hi, n).astype(np.int64)

    def pick_employers(self, rng: np.random.Generator, n: int) -> I64:
        """Employers by size: a few large ones employ many (Zipf-like weights)."""
        lo, _hi = self.kinds["employers"]
        return lo + rng.choice(len(self.employer_weights), size=n, p=self.employer_weights).astype(np.int64)


def pool_sizes(taxpayers: int) -> dict[str, int]:
    """How many businesses of each kind a population of ``taxpayers`` people has."""
    return {
        "employers": max(20, taxpayers // 40),
        "banks": max(5, taxpayers // 3000),
        "retirement": max(3, taxpayers // 20000),
        "exempt": max(2, taxpayers // 2000),
    }


def generate_payers(seed: int, taxpayers: int, first_id: int, source_id: int) -> PayerPools:
    """Business and exempt-organisation entities for a population of ``taxpayers``."""
    rng = np.random.default_rng([seed, 7])
    sizes = pool_sizes(taxpayers)
    kinds: dict[str, tuple[int, int]] = {}
    offset = 0
    business_names: list[str] = []
    entity_kind: list[str] = []
    for kind, n in sizes.items():
        kinds[kind] = (offset, offset + n)
        offset += n
        w1 = rng.integers(0, len(names.BUSINESS_WORDS), n).tolist()
        w2 = rng.integers(0, len(names.BUSINESS_KINDS), n).tolist()
        sfx = rng.integers(0, len(names.BUSINESS_SUFFIXES), n).tolist()
        the = (rng.random(n) < 0.08).tolist()
        for a, b, c, t in zip(w1, w2, sfx, the, strict=True):
            base = names.BUSINESS_WORDS[a]
            if kind == "employers":
                name = f"{base} {names.BUSINESS_KINDS[b]} {names.BUSINESS_SUFFIXES[c]}"
            elif kind == "banks":
                name = f"{base} {names.FINANCIAL_NAMES[b % len(names.FINANCIAL_NAMES)]}"
            elif kind == "retirement":
                name = f"{base} {names.RETIREMENT_NAMES[b % len(names.RETIREMENT_NAMES)]}"
            else:
                name = f"{base} {names.EXEMPT_NAMES[b % len(names.EXEMPT_NAMES)]}"
            business_names.append(("The " + name) if t else name)
            entity_kind.append("exempt_org" if kind == "exempt" else "business")
    n = offset
    entity_id = np.arange(first_id, first_id + n, dtype=np.int64)
    tin = synthetic_eins(seed, np.arange(n, dtype=np.int64))
    city = rng.integers(0, len(names.CITIES), n).tolist()
    house = rng.integers(1, 20000, n).tolist()
    street = rng.integers(0, len(names.STREETS), n).tolist()
    zip_tail = rng.integers(0, 100, n).tolist()
    rows: dict[str, Any] = {
        "id": entity_id,
        "ref": refs(rng, "e", n),
        "tin": tin,
        "tin_type": ["EIN"] * n,
        "kind": entity_kind,
        "last_name": [None] * n,
        "first_name": [None] * n,
        "middle_name": [None] * n,
        "business_name": business_names,
        "name_control": [NameControl.for_business(b).value for b in business_names],
        "address_line": [f"{h} {names.STREETS[s]} Blvd" for h, s in zip(house, street, strict=True)],
        "city": [names.CITIES[c][0] for c in city],
        "state": [names.CITIES[c][1] for c in city],
        "zip": [names.CITIES[c][2] + f"{z:02d}" for c, z in zip(city, zip_tail, strict=True)],
        "birth_date": [None] * n,
        "death_date": [None] * n,
        "spouse_id": [None] * n,
        "household_id": [None] * n,
        "is_employee": np.zeros(n, dtype=bool),
        "is_restricted": np.zeros(n, dtype=bool),
        "is_deceased": np.zeros(n, dtype=bool),
        "ip_pin_hash": [None] * n,
        "source_id": np.full(n, source_id, dtype=np.int64),
        "source_record": np.arange(n, dtype=np.int64),
    }
    n_emp = sizes["employers"]
    weights = 1.0 / (np.arange(n_emp) + 3.0) ** 0.9
    return PayerPools(entity_id, tin, kinds, weights / weights.sum(), rows)


QUARTER_ENDS = (202403, 202406, 202409, 202412)


def business_modules(
    pools: PayerPools,
    wages: I64,
    withholding: I64,
    seed: int,
    first_module_id: int,
    first_tx_id: int,
    source_id: int,
    ref_rng: np.random.Generator,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Form 941 modules per employer quarter (TC 150 liability, TC 650 deposits) and 990s.

    The 941 liability is the income tax withheld plus both halves of social
    security and Medicare tax (15.3% of wages, a simplification that ignores the
    wage base); about 3% of employers deposit short and carry a balance.
    """
    rng = np.random.default_rng([seed, 9])
    lo, hi = pools.kinds["employers"]
    emp = np.arange(lo, hi)
    liability_year = withholding[emp] + (wages[emp] * 153) // 1000
    active = np.flatnonzero(liability_year > 0)
    q_emp = np.repeat(emp[active], 4)
    q_period = np.tile(np.array(QUARTER_ENDS, dtype=np.int64), len(active))
    q_liab = np.repeat(liability_year[active] // 4, 4)
    short = np.repeat(rng.random(len(active)) < 0.03, 4) & (rng.random(len(q_emp)) < 0.5)
    deposits = np.where(short, (q_liab * rng.uniform(0.3, 0.9, len(q_emp))).astype(np.int64), q_liab)
    ex_lo, ex_hi = pools.kinds["exempt"]
    ex = np.arange(ex_lo, ex_hi)
    n_q, n_ex = len(q_emp), len(ex)
    module_id = np.arange(first_module_id, first_module_id + n_q + n_ex, dtype=np.int64)
    modules = {
        "id": module_id,
        "ref": refs(ref_rng, "m", n_q + n_ex),
        "entity_id": np.concatenate([pools.entity_id[q_emp], pools.entity_id[ex]]),
        "mft": np.concatenate([np.full(n_q, 1), np.full(n_ex, 67)]).astype(np.int64),
        "tax_period": np.concatenate([q_period, np.full(n_ex, 202412)]).astype(np.int64),
        "status": np.where(np.concatenate([short, np.zeros(n_ex, bool)]), "21", "12").tolist(),
        "source_id": np.full(n_q + n_ex, source_id, dtype=np.int64),
        "source_record": np.arange(n_q + n_ex, dtype=np.int64),
    }
    quarter_end = {p: np.datetime64(dt.date(p // 100, p % 100, 28).isoformat(), "D") for p in (*QUARTER_ENDS, 202412)}
    q_dates = np.array([quarter_end[int(p)] for p in q_period.tolist()], dtype="datetime64[D]")
    filed_941 = q_dates + np.timedelta64(33, "D")
    ex_dates = np.full(n_ex, np.datetime64("2025-05-15", "D"))
    dates = np.concatenate([filed_941, filed_941 - np.timedelta64(20, "D"), ex_dates])
    tcs = np.concatenate([np.full(n_q, 150), np.full(n_q, 650), np.full(n_ex, 150)]).astype(np.int64)
    amounts = np.concatenate([q_liab, -deposits, np.zeros(n_ex, dtype=np.int64)])
    mods = np.concatenate([module_id[:n_q], module_id[:n_q], module_id[n_q:]])
    T = len(tcs)
    years = dates.astype("datetime64[Y]")
    doy = (dates - years.astype("datetime64[D]")).astype(np.int64)
    year_n = years.astype(np.int64) + 1970
    flc = rng.choice(np.array([18, 29, 49, 89]), T)
    doc = np.where(tcs == 650, 97, np.where(mods < first_module_id + n_q, 41, 90))
    tax_class = np.where(mods < first_module_id + n_q, 1, 4)
    dln = [
        f"{f:02d}{c}{d:02d}{j + 1:03d}{b:03d}{s:02d}{y % 10}"
        for f, c, d, j, b, s, y in zip(
            flc.tolist(),
            tax_class.tolist(),
            doc.tolist(),
            doy.tolist(),
            rng.integers(0, 1000, T).tolist(),
            rng.integers(0, 100, T).tolist(),
            year_n.tolist(),
            strict=True,
        )
    ]
    transactions = {
        "id": np.arange(first_tx_id, first_tx_id + T, dtype=np.int64),
        "module_id": mods,
        "tc": tcs,
        "amount_cents": amounts,
        "posted_date": dates,
        "cycle": year_n * 100 + doy // 7 + 1,
        "dln": dln,
        "reason_code": [None] * T,
        "posted_by": ["sys-posting"] * T,
        "source_id": np.full(T, source_id, dtype=np.int64),
        "source_record": np.arange(T, dtype=np.int64),
    }
    return modules, transactions
