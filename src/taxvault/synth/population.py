"""Households, their incomes, returns, accounts and cases, one chunk at a time.

A chunk is a fixed number of households generated from its own random stream
(``[seed, chunk index]``), so the population for a seed is the same whatever the
machine, and memory stays flat however many chunks there are. Everything is
computed on columns (numpy); Python loops only build strings.

Shares used (plausible for the US filing population, tuned for tests, not
statistics): household types single 44%, married filing jointly 36%, head of
household 12%, married filing separately 3%, retired single 5%; 93% of filing
units file; about 4% of returns leave out an amount an information return shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from taxvault.access.ip_pin import hash_pin
from taxvault.model.records import FilingStatus
from taxvault.model.tax import STATUS_CODE, STATUSES, ReturnInputs, compute_returns
from taxvault.model.values import NameControl
from taxvault.synth import names
from taxvault.synth.identifiers import refs, synthetic_routing_numbers, synthetic_ssns
from taxvault.synth.payers import PayerPools

I64 = NDArray[np.int64]
TableRows = dict[str, Any]

TAX_YEAR = 2024
TAX_PERIOD = TAX_YEAR * 100 + 12
HOUSEHOLDS_PER_CHUNK = 20_000
UNITS = ("assistance", "collection", "examination", "aur", "special", "employee_accounts")
CASE_PURPOSE = {
    "assistance": "taxpayer_assistance",
    "collection": "collection",
    "examination": "examination",
    "aur": "underreporter",
}
SYSTEM_POSTER = "sys-posting"
_STATUS_VALUES = [s.value for s in STATUSES]
CREATED_AT = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)

# Household types.
SINGLE, MFJ, HOH, MFS, RETIRED = range(5)
_HH_P = [0.44, 0.36, 0.12, 0.03, 0.05]
_HH_STATUS = {
    SINGLE: FilingStatus.SINGLE,
    MFJ: FilingStatus.MARRIED_JOINT,
    HOH: FilingStatus.HEAD_OF_HOUSEHOLD,
    MFS: FilingStatus.MARRIED_SEPARATE,
    RETIRED: FilingStatus.SINGLE,
}


@dataclass
class Counters:
    """Next integer id per table and running global indexes, carried across chunks."""

    ids: dict[str, int]
    person_index: int = 0
    employee_index: int = 0

    def take(self, table: str, n: int) -> I64:
        start = self.ids[table]
        self.ids[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)


@dataclass
class ChunkTruth:
    """What the generator knows and the data does not say (for tests and later matching)."""

    under_reported_entity_ids: list[int] = field(default_factory=list)
    omitted_cents: list[int] = field(default_factory=list)


@dataclass
class Chunk:
    """Rows for each table, as columns, plus what was deliberately made wrong."""

    tables: dict[str, TableRows]
    truth: ChunkTruth
    persons: int
    employer_wages: I64
    employer_withholding: I64


_name_control_cache: dict[str, str] = {}


def individual_name_control(last_name: str) -> str:
    """Name control of a last name, cached (a population repeats its surnames)."""
    nc = _name_control_cache.get(last_name)
    if nc is None:
        nc = NameControl.for_individual(last_name).value
        _name_control_cache[last_name] = nc
    return nc


def _dates(base: dt.date, offsets: I64) -> NDArray[np.datetime64]:
    return np.datetime64(base.isoformat(), "D") + offsets.astype("timedelta64[D]")


def _cycle(dates: NDArray[np.datetime64]) -> I64:
    """Posting cycle YYYYWW: the year and the 7-day week of the year the date falls in."""
    years = dates.astype("datetime64[Y]")
    doy = (dates - years.astype("datetime64[D]")).astype(np.int64)
    cycle: I64 = (years.astype(np.int64) + 1970) * 100 + doy // 7 + 1
    return cycle


def _dln(rng: np.random.Generator, dates: NDArray[np.datetime64], doc_code: int, tax_class: int = 2) -> list[str]:
    """Document locator numbers stamped with the Julian date of ``dates``."""
    n = len(dates)
    years = dates.astype("datetime64[Y]")
    julian = (dates - years.astype("datetime64[D]")).astype(np.int64) + 1
    flc = rng.choice(np.array([18, 29, 49, 89], dtype=np.int64), size=n)
    block = rng.integers(0, 1000, n)
    serial = rng.integers(0, 100, n)
    year_digit = (years.astype(np.int64) + 1970) % 10
    return [
        f"{a:02d}{tax_class}{doc_code:02d}{j:03d}{b:03d}{s:02d}{y}"
        for a, j, b, s, y in zip(
            flc.tolist(), julian.tolist(), block.tolist(), serial.tolist(), year_digit.tolist(), strict=True
        )
    ]


def _lognormal_cents(rng: np.random.Generator, n: int, median_dollars: float, sigma: float, cap: float) -> I64:
    dollars = np.minimum(rng.lognormal(np.log(median_dollars), sigma, n), cap)
    return (dollars * 100).astype(np.int64)


def chunk_rng(seed: int, chunk_index: int) -> np.random.Generator:
    """The random stream of one chunk: its households are drawn first (:func:`households`)."""
    return np.random.default_rng([seed, 100, chunk_index])


def households(rng: np.random.Generator, n: int) -> tuple[I64, I64, I64]:
    """The first draws of a chunk: each household's type, adults and dependents.

    Drawn first and on their own so that the number of people a population will
    have can be known before it is generated (:func:`taxvault.synth.load.planned_people`).
    """
    hh_type = rng.choice(5, size=n, p=_HH_P)
    adults = np.where((hh_type == MFJ) | (hh_type == MFS), 2, 1)
    deps = np.zeros(n, dtype=np.int64)
    m = hh_type == MFJ
    deps[m] = rng.choice(4, size=int(m.sum()), p=[0.45, 0.2, 0.25, 0.1])
    m = hh_type == HOH
    deps[m] = rng.choice([1, 2, 3], size=int(m.sum()), p=[0.55, 0.3, 0.15])
    m = hh_type == MFS
    deps[m] = rng.choice(2, size=int(m.sum()), p=[0.8, 0.2])
    return hh_type, adults, deps


def generate_chunk(
    seed: int,
    chunk_index: int,
    n_households: int,
    counters: Counters,
    payers: PayerPools,
    source_id: int,
    pepper: bytes,
) -> Chunk:
    """Generate ``n_households`` households and everything that hangs off them."""
    rng = chunk_rng(seed, chunk_index)
    H = n_households

    # --- households and persons ------------------------------------------------
    hh_type, adults, deps = households(rng, H)
    size = adults + deps
    P = int(size.sum())
    hh = np.repeat(np.arange(H), size)
    start = np.cumsum(size) - size
    pos = np.arange(P) - start[hh]
    role = np.where(pos == 0, 0, np.where(pos < adults[hh], 1, 2))  # 0 primary, 1 spouse, 2 dependent
    is_adult = role < 2

    primary_age = np.where(hh_type == RETIRED, rng.integers(65, 91, H), rng.integers(22, 65, H))
    primary_age = np.where(hh_type == HOH, rng.integers(24, 56, H), primary_age)
    age = primary_age[hh].copy()
    spouse = role == 1
    age[spouse] = np.clip(age[spouse] + rng.normal(0, 3, int(spouse.sum())).astype(np.int64), 18, 95)
    dep = role == 2
    age[dep] = np.where(
        rng.random(int(dep.sum())) < 0.9,
        rng.integers(0, 17, int(dep.sum())),
        rng.integers(17, 24, int(dep.sum())),
    )
    birth = _dates(dt.date(TAX_YEAR, 12, 31), -(age * 365 + rng.integers(0, 365, P)))

    female = rng.random(P) < 0.5
    hh_female = female[start]
    female[spouse] = ~hh_female[hh[spouse]] ^ (rng.random(int(spouse.sum())) < 0.1)
    fem_idx = rng.integers(0, len(names.FIRST_NAMES_F), P)
    male_idx = rng.integers(0, len(names.FIRST_NAMES_M), P)
    first = [
        names.FIRST_NAMES_F[f] if is_f else names.FIRST_NAMES_M[mi]
        for is_f, f, mi in zip(female.tolist(), fem_idx.tolist(), male_idx.tolist(), strict=True)
    ]
    has_middle = rng.random(P) < 0.7
    mid_idx = rng.integers(0, len(names.MIDDLE_INITIALS), P)
    middle = [
        names.MIDDLE_INITIALS[i] if h else None for h, i in zip(has_middle.tolist(), mid_idx.tolist(), strict=True)
    ]

    weights = 1.0 / (np.arange(len(names.LAST_NAMES)) + 8.0)
    weights /= weights.sum()
    hh_surname = rng.choice(len(names.LAST_NAMES), size=H, p=weights)
    own_surname = rng.choice(len(names.LAST_NAMES), size=P, p=weights)
    spouse_mode = rng.random(P)  # < .85 same, < .93 own, else hyphenated
    last = []
    for r, h, own, mode in zip(role.tolist(), hh.tolist(), own_surname.tolist(), spouse_mode.tolist(), strict=True):
        family = names.LAST_NAMES[hh_surname[h]]
        if r == 1 and mode >= 0.85:
            mine = names.LAST_NAMES[own]
            last.append(mine if mode < 0.93 or " " in family or " " in mine else f"{family}-{mine}"[:40])
        else:
            last.append(family)
    name_control = [individual_name_control(s) for s in last]

    # Addresses: one per household.
    city_idx = rng.integers(0, len(names.CITIES), H)
    house_no = rng.integers(1, 9999, H)
    street = rng.integers(0, len(names.STREETS), H)
    stype = rng.integers(0, len(names.STREET_TYPES), H)
    apt = np.where(rng.random(H) < 0.2, rng.integers(1, 40, H), 0)
    zip_tail = rng.integers(0, 100, H)
    hh_line = [
        f"{n} {names.STREETS[s]} {names.STREET_TYPES[t]}" + (f" Apt {a}" if a else "")
        for n, s, t, a in zip(house_no.tolist(), street.tolist(), stype.tolist(), apt.tolist(), strict=True)
    ]
    hh_city = [names.CITIES[c][0] for c in city_idx.tolist()]
    hh_state = [names.CITIES[c][1] for c in city_idx.tolist()]
    hh_zip = [names.CITIES[c][2] + f"{z:02d}" for c, z in zip(city_idx.tolist(), zip_tail.tolist(), strict=True)]
    hh_list = hh.tolist()

    person_index = np.arange(counters.person_index, counters.person_index + P, dtype=np.int64)
    counters.person_index += P
    ssn = synthetic_ssns(seed, person_index)
    entity_id = counters.take("entities", P)
    hh_global = chunk_index * HOUSEHOLDS_PER_CHUNK + hh

    # Flags.
    p_dead = np.where(age >= 65, 0.04, np.where(is_adult, 0.006, 0.0002))
    deceased = rng.random(P) < p_dead
    death = np.where(deceased, _dates(dt.date(TAX_YEAR, 1, 1), rng.integers(0, 540, P)), np.datetime64("NaT")).astype(
        "datetime64[D]"
    )
    restricted = is_adult & (rng.random(P) < 0.0002)
    working_age = is_adult & (age >= 22) & (age < 62) & ~deceased
    employee = working_age & ~restricted & (rng.random(P) < 0.003)
    eligible = np.flatnonzero(working_age & ~restricted & ~employee)
    want = min(len(eligible), max(0, 14 - int(employee.sum())))
    if want:
        employee[rng.choice(eligible, size=want, replace=False)] = True
    if not restricted.any() and len(eligible) > want:
        candidates = np.flatnonzero(working_age & ~employee)
        restricted[candidates[0]] = True

    spouse_entity = np.full(P, -1, dtype=np.int64)
    primary_of_hh = start
    married = (hh_type[hh] == MFJ) | (hh_type[hh] == MFS)
    spouse_entity[spouse & married] = entity_id[primary_of_hh[hh[spouse & married]]]
    primaries_with_spouse = primary_of_hh[(hh_type == MFJ) | (hh_type == MFS)]
    spouse_entity[primaries_with_spouse] = entity_id[primaries_with_spouse + 1]

    # Identity Protection PINs for a few: only the keyed hash is kept, never the PIN.
    has_pin = rng.random(P) < 0.02
    pins = rng.integers(0, 1_000_000, P)
    salts = rng.bytes(16 * P)
    ip_pin_hash: list[str | None] = [None] * P
    for i in np.flatnonzero(has_pin).tolist():
        ip_pin_hash[i] = hash_pin(f"{pins[i]:06d}", pepper=pepper, salt=salts[16 * i : 16 * i + 16])

    tables: dict[str, TableRows] = {}
    tables["entities"] = {
        "id": entity_id,
        "ref": refs(rng, "e", P),
        "tin": ssn,
        "tin_type": ["SSN"] * P,
        "kind": ["individual"] * P,
        "last_name": last,
        "first_name": first,
        "middle_name": middle,
        "business_name": [None] * P,
        "name_control": name_control,
        "address_line": [hh_line[h] for h in hh_list],
        "city": [hh_city[h] for h in hh_list],
        "state": [hh_state[h] for h in hh_list],
        "zip": [hh_zip[h] for h in hh_list],
        "birth_date": birth,
        "death_date": death,
        "spouse_id": [None if s < 0 else s for s in spouse_entity.tolist()],
        "household_id": hh_global,
        "is_employee": employee,
        "is_restricted": restricted,
        "is_deceased": deceased,
        "ip_pin_hash": ip_pin_hash,
        "source_id": np.full(P, source_id, dtype=np.int64),
        "source_record": person_index,
    }

    # --- incomes, per person ----------------------------------------------------
    employed = working_age & (rng.random(P) < 0.8) | (is_adult & (age >= 62) & ~deceased & (rng.random(P) < 0.15))
    employed |= dep & (age >= 16) & (rng.random(P) < 0.3)
    wages1 = np.where(employed, _lognormal_cents(rng, P, 48_000, 0.7, 1_500_000), 0)
    wages1 = np.where(dep, wages1 // 8, wages1)
    second_job = employed & is_adult & (rng.random(P) < 0.1)
    wages2 = np.where(second_job, _lognormal_cents(rng, P, 12_000, 0.6, 200_000), 0)
    wh_rate = np.clip(rng.normal(0.11, 0.03, P), 0.02, 0.25)
    fit1 = (wages1 * wh_rate).astype(np.int64)
    fit2 = (wages2 * wh_rate).astype(np.int64)
    self_employed = is_adult & (age < 70) & ~deceased & (rng.random(P) < 0.09)
    nec = np.where(self_employed, _lognormal_cents(rng, P, 28_000, 0.9, 900_000), 0)
    interest = np.where(is_adult & (rng.random(P) < 0.42), _lognormal_cents(rng, P, 250, 1.3, 200_000), 0)
    dividends = np.where(is_adult & (rng.random(P) < 0.2), _lognormal_cents(rng, P, 1_200, 1.4, 500_000), 0)
    retirement = np.where(
        is_adult & (age >= 60) & (rng.random(P) < 0.65), _lognormal_cents(rng, P, 24_000, 0.6, 400_000), 0
    )
    r_wh = np.where(rng.random(P) < 0.7, retirement // 10, 0)
    employer1 = payers.pick_employers(rng, P)
    employer2 = payers.pick_employers(rng, P)
    nec_payer = payers.pick_employers(rng, P)
    bank_int = payers.pick(rng, "banks", P)
    bank_div = payers.pick(rng, "banks", P)
    ret_payer = payers.pick(rng, "retirement", P)

    # --- information returns ----------------------------------------------------
    ir_cols: dict[str, list[Any]] = {k: [] for k in ("form", "payer", "payee", "income", "withholding", "boxes")}

    def add_ir(form: str, amount: I64, payer: I64, wh: I64, boxes: list[str]) -> None:
        idx = np.flatnonzero(amount > 0)
        ir_cols["form"].extend([form] * len(idx))
        ir_cols["payer"].extend(payer[idx].tolist())
        ir_cols["payee"].extend(idx.tolist())
        ir_cols["income"].extend(amount[idx].tolist())
        ir_cols["withholding"].extend(wh[idx].tolist())
        ir_cols["boxes"].extend(boxes[i] for i in idx.tolist())

    def w2_boxes(w: I64, fit: I64) -> list[str]:
        ssw = np.minimum(w, 16_860_000)
        return [
            f'{{"1": {a}, "2": {b}, "3": {c}, "4": {c * 62 // 1000}, "5": {a}, "6": {a * 145 // 10000}}}'
            for a, b, c in zip(w.tolist(), fit.tolist(), ssw.tolist(), strict=True)
        ]

    zero = np.zeros(P, dtype=np.int64)
    add_ir("W-2", wages1, employer1, fit1, w2_boxes(wages1, fit1))
    add_ir("W-2", wages2, employer2, fit2, w2_boxes(wages2, fit2))
    add_ir("1099-NEC", nec, nec_payer, zero, [f'{{"1": {a}}}' for a in nec.tolist()])
    add_ir("1099-INT", interest, bank_int, zero, [f'{{"1": {a}}}' for a in interest.tolist()])
    add_ir(
        "1099-DIV",
        dividends,
        bank_div,
        zero,
        [f'{{"1a": {a}, "1b": {a * 3 // 4}}}' for a in dividends.tolist()],
    )
    add_ir(
        "1099-R",
        retirement,
        ret_payer,
        r_wh,
        [f'{{"1": {a}, "2a": {a}, "4": {w}}}' for a, w in zip(retirement.tolist(), r_wh.tolist(), strict=True)],
    )
    n_ir = len(ir_cols["form"])
    payee_idx = np.array(ir_cols["payee"], dtype=np.int64)
    payer_idx = np.array(ir_cols["payer"], dtype=np.int64)
    tables["information_returns"] = {
        "id": counters.take("information_returns", n_ir),
        "ref": refs(rng, "i", n_ir),
        "form": ir_cols["form"],
        "tax_year": np.full(n_ir, TAX_YEAR, dtype=np.int64),
        "payer_tin": payers.tin[payer_idx],
        "payer_tin_type": ["EIN"] * n_ir,
        "payee_tin": ssn[payee_idx],
        "payee_tin_type": ["SSN"] * n_ir,
        "payer_id": payers.entity_id[payer_idx],
        "payee_id": entity_id[payee_idx],
        "payee_name_control": [name_control[i] for i in payee_idx.tolist()],
        "income_cents": np.array(ir_cols["income"], dtype=np.int64),
        "withholding_cents": np.array(ir_cols["withholding"], dtype=np.int64),
        "boxes": ir_cols["boxes"],
        "source_id": np.full(n_ir, source_id, dtype=np.int64),
        "source_record": np.arange(n_ir, dtype=np.int64),
    }

    # --- filing units and returns --------------------------------------------
    # A unit is a household, except married filing separately: each spouse alone.
    unit_of_person = np.where((hh_type[hh] == MFS) & spouse, H + hh, hh)
    unit_count = 2 * H
    unit_primary = np.full(unit_count, -1, dtype=np.int64)
    unit_primary[unit_of_person[role == 0]] = np.flatnonzero(role == 0)
    unit_primary[unit_of_person[(role == 1) & (hh_type[hh] == MFS)]] = np.flatnonzero(
        (role == 1) & (hh_type[hh] == MFS)
    )
    exists = unit_primary >= 0
    units = np.flatnonzero(exists)
    files = rng.random(len(units)) < 0.93
    units = units[files]
    U = len(units)
    primary = unit_primary[units]
    filer = is_adult.copy()
    # Under-reporting: the unit leaves one kind of income off its return.
    under = rng.random(unit_count) < 0.15
    omit_kind = rng.integers(0, 4, unit_count)  # 0 NEC, 1 second W-2, 2 interest, 3 dividends
    pu_under = under[unit_of_person]
    pu_kind = omit_kind[unit_of_person]
    rep_nec = np.where(pu_under & (pu_kind == 0), 0, nec)
    rep_w2b = np.where(pu_under & (pu_kind == 1), 0, wages2)
    rep_fit2 = np.where(pu_under & (pu_kind == 1), 0, fit2)
    rep_int = np.where(pu_under & (pu_kind == 2), 0, interest)
    rep_div = np.where(pu_under & (pu_kind == 3), 0, dividends)
    omitted = (nec - rep_nec) + (wages2 - rep_w2b) + (interest - rep_int) + (dividends - rep_div)

    def per_unit(values: I64) -> I64:
        return np.bincount(unit_of_person, weights=values, minlength=unit_count).astype(np.int64)[units]

    wages_u = per_unit(wages1 + rep_w2b)
    status_u = np.array([STATUS_CODE[_HH_STATUS[int(t)]] for t in hh_type[units % H].tolist()], dtype=np.int8)
    kids_u = per_unit((dep & (age < 17)).astype(np.int64))
    kids_u = np.where(units >= H, 0, kids_u)  # an MFS spouse claims no children here
    deps_u = per_unit(dep.astype(np.int64))
    deps_u = np.where(units >= H, 0, deps_u)
    aged_u = per_unit((filer & (age >= 65)).astype(np.int64))
    lines = compute_returns(
        ReturnInputs(
            status_codes=status_u,
            wages=wages_u,
            interest=per_unit(rep_int),
            dividends=per_unit(rep_div),
            business_income=per_unit(rep_nec),
            retirement_income=per_unit(retirement),
            withholding=per_unit(fit1 + rep_fit2 + r_wh),
            estimated_payments=np.zeros(U, dtype=np.int64),
            children_under_17=kids_u.astype(np.int16),
            aged_65=np.minimum(aged_u, 2).astype(np.int8),
            ss_wages=np.minimum(wages_u, 16_860_000),
        ),
        TAX_YEAR,
    )
    omitted_u = per_unit(omitted)
    truth = ChunkTruth(
        under_reported_entity_ids=entity_id[primary[omitted_u > 0]].tolist(),
        omitted_cents=omitted_u[omitted_u > 0].tolist(),
    )

    module_id = counters.take("tax_modules", U)
    return_id = counters.take("returns", U)
    when = rng.random(U)
    filed_off = np.where(
        when < 0.85,
        rng.integers(27, 105, U),
        np.where(when < 0.95, rng.integers(105, 288, U), rng.integers(288, 420, U)),
    )
    filed = _dates(dt.date(TAX_YEAR + 1, 1, 1), filed_off)
    posted = filed + rng.integers(14, 29, U).astype("timedelta64[D]")
    return_dln = _dln(rng, filed, 11)
    refund = lines["refund_cents"]
    balance_due = lines["balance_due_cents"]
    direct_deposit = (refund > 0) & (rng.random(U) < 0.8)
    routing = synthetic_routing_numbers(rng, U)
    account = np.char.zfill(rng.integers(10_000_000, 999_999_999_999, U).astype(str), 10)
    mfj = status_u == STATUS_CODE[FilingStatus.MARRIED_JOINT]
    tables["returns"] = {
        "id": return_id,
        "ref": refs(rng, "r", U),
        "module_id": module_id,
        "entity_id": entity_id[primary],
        "spouse_id": [
            int(entity_id[p + 1]) if j else None for p, j in zip(primary.tolist(), mfj.tolist(), strict=True)
        ],
        "tax_year": np.full(U, TAX_YEAR, dtype=np.int64),
        "form": ["1040"] * U,
        "filing_status": [_STATUS_VALUES[c] for c in status_u.tolist()],
        "dependents": deps_u,
        "filed_date": filed,
        "dln": return_dln,
        **lines,
        "bank_routing": [r if d else None for r, d in zip(routing.tolist(), direct_deposit.tolist(), strict=True)],
        "bank_account": [a if d else None for a, d in zip(account.tolist(), direct_deposit.tolist(), strict=True)],
        "source_id": np.full(U, source_id, dtype=np.int64),
        "source_record": units.astype(np.int64),
    }
    # Dependents on the primary's return (household units only).
    dep_persons = np.flatnonzero(dep)
    unit_to_return = np.full(unit_count, -1, dtype=np.int64)
    unit_to_return[units] = return_id
    dep_return = unit_to_return[hh[dep_persons]]
    keep = dep_return >= 0
    tables["return_dependents"] = {
        "return_id": dep_return[keep],
        "entity_id": entity_id[dep_persons[keep]],
        "relationship": ["child"] * int(keep.sum()),
    }

    # --- modules and transactions --------------------------------------------
    pays_with_return = (balance_due > 0) & (rng.random(U) < 0.55)
    later = rng.random(U)
    pays_later_full = (balance_due > 0) & ~pays_with_return & (later < 0.25)
    pays_later_part = (balance_due > 0) & ~pays_with_return & (later >= 0.25) & (later < 0.45)
    still_owes = (balance_due > 0) & ~pays_with_return & ~pays_later_full
    tables["tax_modules"] = {
        "id": module_id,
        "ref": refs(rng, "m", U),
        "entity_id": entity_id[primary],
        "mft": np.full(U, 30, dtype=np.int64),
        "tax_period": np.full(U, TAX_PERIOD, dtype=np.int64),
        # IMF module status codes (IRM 5.1.15 / Document 6209 section 11): 12 settled,
        # 21 first balance-due notice.
        "status": np.where(still_owes, "21", "12").tolist(),
        "source_id": np.full(U, source_id, dtype=np.int64),
        "source_record": units.astype(np.int64),
    }
    later_date = posted + rng.integers(30, 120, U).astype("timedelta64[D]")
    part = (balance_due * rng.uniform(0.2, 0.8, U)).astype(np.int64)
    actc = lines["payments_cents"]
    tx_parts = [
        (np.ones(U, bool), 150, lines["total_tax_cents"], posted, return_dln),
        (lines["withholding_cents"] > 0, 806, -lines["withholding_cents"], posted, return_dln),
        (actc > 0, 766, -actc, posted, return_dln),
        (pays_with_return, 610, -balance_due, filed, return_dln),
        (pays_later_full, 670, -balance_due, later_date, None),
        (pays_later_part, 670, -part, later_date, None),
        (refund > 0, 846, refund, posted + rng.integers(5, 15, U).astype("timedelta64[D]"), None),
    ]
    tx: dict[str, list[Any]] = {k: [] for k in ("module_id", "tc", "amount_cents", "posted_date", "dln")}
    for mask, tc, amount, dates, dlns in tx_parts:
        idx = np.flatnonzero(mask)
        tx["module_id"].append(module_id[idx])
        tx["tc"].append(np.full(len(idx), tc, dtype=np.int64))
        tx["amount_cents"].append(np.asarray(amount, dtype=np.int64)[idx])
        tx["posted_date"].append(np.asarray(dates)[idx])
        doc = 70 if tc in (610, 670) else 45
        tx["dln"].append(_dln(rng, np.asarray(dates)[idx], doc) if dlns is None else [dlns[i] for i in idx.tolist()])
    t_dates = np.concatenate(tx["posted_date"])
    T = len(t_dates)
    tables["transactions"] = {
        "id": counters.take("transactions", T),
        "module_id": np.concatenate(tx["module_id"]),
        "tc": np.concatenate(tx["tc"]),
        "amount_cents": np.concatenate(tx["amount_cents"]),
        "posted_date": t_dates,
        "cycle": _cycle(t_dates),
        "dln": [d for part_ in tx["dln"] for d in part_],
        "reason_code": [None] * T,
        "posted_by": [SYSTEM_POSTER] * T,
        "source_id": np.full(T, source_id, dtype=np.int64),
        "source_record": np.arange(T, dtype=np.int64),
    }

    # First balance-due notices (CP14) already issued on unpaid modules; the posting
    # cycle (ledger) continues the series from here. Penalty and interest accrue later.
    owing = np.flatnonzero(still_owes)
    N = len(owing)
    issued = posted[owing] + np.timedelta64(7, "D")
    tables["notices"] = {
        "id": counters.take("notices", N),
        "ref": refs(rng, "n", N),
        "module_id": module_id[owing],
        "notice_type": ["CP14"] * N,
        "issued_date": issued,
        "amount_due_cents": balance_due[owing],
        "tax_cents": balance_due[owing],
        "penalty_cents": np.zeros(N, dtype=np.int64),
        "interest_cents": np.zeros(N, dtype=np.int64),
        "respond_by": issued + np.timedelta64(21, "D"),
        "pdf": [None] * N,
        "source_id": np.full(N, source_id, dtype=np.int64),
        "source_record": np.arange(N, dtype=np.int64),
    }

    # --- employees, their principals and relations ----------------------------
    emp = np.flatnonzero(employee)
    E = len(emp)
    emp_no = np.arange(counters.employee_index, counters.employee_index + E)
    counters.employee_index += E
    emp_ids = [f"E{n:06d}" for n in emp_no.tolist()]
    # Round-robin over units first, so every unit has staff, then by chance.
    emp_unit = np.where(np.arange(E) < 2 * len(UNITS), np.arange(E) % len(UNITS), rng.integers(0, len(UNITS), E))
    is_manager = np.zeros(E, dtype=bool)
    for u in range(len(UNITS)):
        members = np.flatnonzero(emp_unit == u)
        if len(members) >= 2:
            is_manager[members[0]] = True
    managers = {int(emp_unit[i]): emp_ids[i] for i in np.flatnonzero(is_manager).tolist()}
    limits = rng.choice(np.array([250_000, 500_000, 1_000_000], dtype=np.int64), E)
    tables["principals"] = {
        "id": emp_ids,
        "kind": ["employee"] * E,
        "display_name": [f"{first[i]} {last[i]}" for i in emp.tolist()],
        "roles": ["caseworker manager break_glass" if m else "caseworker" for m in is_manager.tolist()],
        "unit": [UNITS[u] for u in emp_unit.tolist()],
        "entity_id": entity_id[emp],
        "manager_id": [
            None if m else managers.get(int(u)) for m, u in zip(is_manager.tolist(), emp_unit.tolist(), strict=True)
        ],
        "dollar_limit_cents": np.where(is_manager, 25_000_000, limits),
        "active": np.ones(E, dtype=bool),
        "created_at": [CREATED_AT] * E,
    }
    rel_p: list[str] = []
    rel_e: list[int] = []
    rel_k: list[str] = []
    for k, i in enumerate(emp.tolist()):
        pid = emp_ids[k]
        rel_p.append(pid)
        rel_e.append(int(entity_id[i]))
        rel_k.append("self")
        lo, hi = int(start[hh[i]]), int(start[hh[i]] + size[hh[i]])
        for j in range(lo, hi):
            if j != i:
                rel_p.append(pid)
                rel_e.append(int(entity_id[j]))
                rel_k.append("spouse" if spouse_entity[i] == entity_id[j] else "household")
        if rng.random() < 0.3:  # a declared relative living elsewhere
            other = int(rng.integers(0, H))
            j = int(start[other])
            if hh[j] != hh[i]:
                rel_p.append(pid)
                rel_e.append(int(entity_id[j]))
                rel_k.append("relative")
    tables["principal_relations"] = {"principal_id": rel_p, "entity_id": rel_e, "relation": rel_k}

    # --- cases ----------------------------------------------------------------
    prim_entity = entity_id[primary]
    spouse_of_unit = np.where(mfj, entity_id[np.minimum(primary + 1, P - 1)], -1)
    kinds = [
        ("collection", still_owes & (rng.random(U) < 0.35)),
        ("aur", (omitted_u > 0) & (rng.random(U) < 0.4)),
        ("examination", rng.random(U) < 0.004),
        ("assistance", rng.random(U) < 0.01),
    ]
    c_unit: list[str] = []
    c_kind: list[str] = []
    c_ret: list[int] = []
    for kind, mask in kinds:
        for r in np.flatnonzero(mask).tolist():
            p = int(primary[r])
            unit = "special" if restricted[p] else "employee_accounts" if employee[p] else kind
            c_unit.append(unit)
            c_kind.append(kind)
            c_ret.append(r)
    # Realistic mess: an employee assigned to a case about her own spouse (the
    # access rules must refuse it whatever the assignment says).
    conflict_assign: dict[int, str] = {}
    for k, i in enumerate(emp.tolist()[:2]):
        sp = spouse_entity[i]
        if sp >= 0:
            hits = np.flatnonzero((prim_entity == sp) | (spouse_of_unit == sp))
            if len(hits):
                conflict_assign[len(c_ret)] = emp_ids[k]
                c_unit.append(UNITS[int(emp_unit[k])] if UNITS[int(emp_unit[k])] in CASE_PURPOSE else "assistance")
                c_kind.append("assistance")
                c_ret.append(int(hits[0]))
    C = len(c_ret)
    case_id = counters.take("cases", C)
    staff_by_unit: dict[str, list[str]] = {}
    for k in range(E):
        if not is_manager[k]:
            staff_by_unit.setdefault(UNITS[int(emp_unit[k])], []).append(emp_ids[k])
    assigned: list[str | None] = []
    pick = rng.random(C)
    for n, unit in enumerate(c_unit):
        staff = staff_by_unit.get(unit) or []
        assigned.append(conflict_assign.get(n) or (staff[int(pick[n] * len(staff))] if staff else None))
    closed = rng.random(C) < 0.15
    opened = _dates(dt.date(TAX_YEAR + 1, 5, 1), rng.integers(0, 300, C))
    closed_at = np.where(closed, opened + rng.integers(10, 120, C).astype("timedelta64[D]"), np.datetime64("NaT"))
    tables["cases"] = {
        "id": case_id,
        "ref": refs(rng, "c", C),
        "unit": c_unit,
        "kind": c_kind,
        "purpose": [CASE_PURPOSE[k] for k in c_kind],
        "assigned_to": assigned,
        "status": np.where(closed, "closed", "open").tolist(),
        "opened_at": opened,
        "closed_at": closed_at.astype("datetime64[D]"),
        "source_id": np.full(C, source_id, dtype=np.int64),
        "source_record": np.arange(C, dtype=np.int64),
    }
    cs_case: list[int] = []
    cs_entity: list[int] = []
    cs_module: list[int] = []
    for n, r in enumerate(c_ret):
        cs_case.append(int(case_id[n]))
        cs_entity.append(int(prim_entity[r]))
        cs_module.append(int(module_id[r]))
        if spouse_of_unit[r] >= 0:
            cs_case.append(int(case_id[n]))
            cs_entity.append(int(spouse_of_unit[r]))
            cs_module.append(int(module_id[r]))
    tables["case_subjects"] = {"case_id": cs_case, "entity_id": cs_entity, "module_id": cs_module}

    emp_wages = np.bincount(
        np.concatenate([employer1, employer2]),
        weights=np.concatenate([wages1, wages2]),
        minlength=payers.size,
    ).astype(np.int64)
    emp_wh = np.bincount(
        np.concatenate([employer1, employer2]), weights=np.concatenate([fit1, fit2]), minlength=payers.size
    ).astype(np.int64)
    return Chunk(tables=tables, truth=truth, persons=P, employer_wages=emp_wages, employer_withholding=emp_wh)
