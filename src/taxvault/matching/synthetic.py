"""Synthetic people and a partner agency's imperfect view of them, with the true links kept aside.

Linkage can only be measured against known truth. :func:`people` makes a
population in households (spouses and children share a surname and an
address; some children are twins, sharing a date of birth too, which is what
makes precision hard). :func:`corrupt` makes what a partner agency holds about
the same people: its own ids, its own formatting, and the errors real files
carry. :func:`partner_pair` puts both together with the truth table.

Error model of :func:`corrupt` (``rate`` = share of records with at least one
error, 0.3 by default; of those, 70% have one error, 23% two, 7% three; the
error kinds are drawn independently with these weights):

=====================  ======  ===============================================
kind                   weight  what happens
=====================  ======  ===============================================
first_typo              0.10   one keyboard slip: substitution, deletion,
                               insertion or swap of adjacent letters
nickname                0.09   BOB for ROBERT, LIZ for ELIZABETH (a typo when
                               the name has no nickname)
first_missing           0.02   first name left blank
last_typo               0.09   one slip in the surname
last_hyphenated         0.05   a second surname added with a hyphen
                               (or the second part of a double surname dropped)
last_changed            0.05   a different surname altogether (marriage)
dob_transposed          0.06   two adjacent digits of YYYYMMDD swapped
dob_day_month           0.04   day and month swapped (when the day is <= 12)
dob_typo                0.04   one digit of the date wrong
dob_missing             0.02   date of birth blank
tin_transposed          0.06   two adjacent TIN digits swapped
tin_typo                0.03   one TIN digit wrong
tin_missing             0.06   TIN blank
moved                   0.12   a new address (a third of moves stay in the
                               same city)
street_typo             0.03   one slip in the street name
address_missing         0.02   street number, street and postcode blank
postcode_typo           0.02   one ZIP digit wrong
=====================  ======  ===============================================

Formatting differences that are *not* errors (normalisation removes them)
are applied on top, independently: lower or title case, TINs written with
dashes, street suffixes spelt out, a middle initial after the first name, dates
in US M/D/YYYY form, full state names.

All sampling is seeded numpy; the only Python per row is in the string edits
of the (few) records an error touches.
"""

from __future__ import annotations

import bisect
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from taxvault.matching.fields import NICKNAMES, PERSON_FIELDS, STATE_CODES, STREET_WORDS
from taxvault.synth import names
from taxvault.synth.identifiers import synthetic_ssns

ERROR_KINDS: dict[str, float] = {
    "first_typo": 0.10,
    "nickname": 0.09,
    "first_missing": 0.02,
    "last_typo": 0.09,
    "last_hyphenated": 0.05,
    "last_changed": 0.05,
    "dob_transposed": 0.06,
    "dob_day_month": 0.04,
    "dob_typo": 0.04,
    "dob_missing": 0.02,
    "tin_transposed": 0.06,
    "tin_typo": 0.03,
    "tin_missing": 0.06,
    "moved": 0.12,
    "street_typo": 0.03,
    "address_missing": 0.02,
    "postcode_typo": 0.02,
}
"""Relative weights of the error kinds (see the module docstring)."""

ERRORS_PER_CORRUPTED: tuple[float, float, float] = (0.70, 0.23, 0.07)
"""Among corrupted records, the shares with one, two and three errors."""

# English toponymic surnames, built from parts, so that surnames have a long
# tail like real ones (the common-name list alone makes name collisions far
# likelier than in a real population).
_SURNAME_HEADS = (
    "Ash", "Brad", "Brom", "Cal", "Carl", "Cold", "Craw", "Dun", "Elm", "Fair", "Farn", "Gold", "Grant",
    "Ham", "Hart", "Hawk", "Hay", "Holt", "Kings", "Lang", "Lock", "Marl", "Mid", "Nor", "Oak", "Pem",
    "Rad", "Red", "Ring", "Roth", "Sand", "Shel", "Stan", "Staf", "Thorn", "Wad", "Wake", "Wal", "Whit",
    "Win", "Wood", "Yar", "Bur", "Chad", "Dal", "Ed", "Gar", "Hal", "Mor", "Pres",
)  # fmt: skip
_SURNAME_TAILS = (
    "ford", "ton", "ley", "wood", "field", "well", "by", "worth", "ham", "don", "more", "wick",
    "bury", "combe", "stead", "dale", "land", "brook", "ridge", "shaw", "croft", "thorpe", "hurst", "mond",
)  # fmt: skip

_KEYBOARD = "QWERTYUIOPASDFGHJKLZXCVBNM"
_NICK_BY_NAME: dict[str, list[str]] = {}
for _nick, _name in NICKNAMES.items():
    _NICK_BY_NAME.setdefault(_name, []).append(_nick)
_LONG_STREET = {v: k for k, v in STREET_WORDS.items() if len(k) > 3 and k not in ("NORTH", "SOUTH")}
_STATE_NAME = {v: k for k, v in STATE_CODES.items()}


def _zipf(n: int, offset: float) -> NDArray[np.float64]:
    w = 1.0 / (np.arange(n) + offset)
    return np.asarray(w / w.sum(), dtype=np.float64)


def _surname_pool() -> tuple[pa.Array, NDArray[np.float64]]:
    common = list(names.LAST_NAMES)
    built = [h + t for h in _SURNAME_HEADS for t in _SURNAME_TAILS]
    built = [s for s in built if s not in common]
    pool = common + built
    # 60% of people carry one of the common names (Zipf), 40% one of the long tail (flat).
    weights = np.concatenate([0.6 * _zipf(len(common), 8.0), np.full(len(built), 0.4 / len(built))])
    return pa.array(pool, pa.string()), weights


def people(n: int, seed: int) -> pa.Table:
    """``n`` synthetic people: ``id`` ("P" + number) and the canonical person fields, as a partner-neutral record.

    People come in households (sizes 1-6): a household shares surname (85% of
    spouses; the rest keep or hyphenate their own) and address. SSNs are
    synthetic (area 900-999, group 01-49) and distinct.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng([seed, 7_001])
    sizes = rng.choice([1, 2, 3, 4, 5, 6], size=n, p=[0.30, 0.32, 0.16, 0.14, 0.06, 0.02])
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    hh = np.repeat(np.arange(len(sizes)), sizes)[:n]
    H = len(sizes)
    start = np.zeros(H, dtype=np.int64)
    start[1:] = np.cumsum(sizes)[:-1]
    pos = np.arange(n) - start[hh]
    spouse = (pos == 1) & (rng.random(n) < 0.8)
    child = (pos >= 1) & ~spouse

    # Dates of birth: adults 18-90, spouses near the primary, children 0-25 and younger than parents.
    ref = np.datetime64("2025-01-01")
    primary_age = rng.integers(20 * 365, 90 * 365, H)
    age = primary_age[hh].copy()
    age[spouse] = np.clip(age[spouse] + rng.normal(0, 3 * 365, int(spouse.sum())).astype(np.int64), 18 * 365, None)
    kid_span = np.clip(primary_age[hh] - 18 * 365, 1, 26 * 365)  # at most 26, and born after the parent was 18
    kid_age = (rng.random(n) * kid_span).astype(np.int64)
    age[child] = kid_age[child]
    twin = child & (pos >= 3) & (rng.random(n) < 0.08)  # shares the previous child's date of birth
    twin[1:] &= child[:-1] & ~twin[:-1]  # the previous person is a child, and not a twin already (no triplets)
    twin[0] = False
    twins = np.flatnonzero(twin)
    age[twins] = age[twins - 1]
    birth = (ref - age.astype("timedelta64[D]")).astype("datetime64[D]")

    female = rng.random(n) < 0.5
    female[spouse] = ~female[start[hh[spouse]]] ^ (rng.random(int(spouse.sum())) < 0.05)
    f_first = pa.array(list(names.FIRST_NAMES_F), pa.string())
    m_first = pa.array(list(names.FIRST_NAMES_M), pa.string())
    fi = rng.choice(len(f_first), size=n, p=_zipf(len(f_first), 6.0))
    mi = rng.choice(len(m_first), size=n, p=_zipf(len(m_first), 6.0))
    # Parents do not give twins the same name.
    fi[twins] = (fi[twins - 1] + rng.integers(1, 20, len(twins))) % len(f_first)
    mi[twins] = (mi[twins - 1] + rng.integers(1, 20, len(twins))) % len(m_first)
    first = pc.if_else(pa.array(female), f_first.take(pa.array(fi)), m_first.take(pa.array(mi)))

    pool, weights = _surname_pool()
    hh_surname = rng.choice(len(pool), size=H, p=weights)
    own_surname = rng.choice(len(pool), size=n, p=weights)
    mode = rng.random(n)
    family = pool.take(pa.array(hh_surname[hh]))
    own = pool.take(pa.array(own_surname))
    hyphen = pc.binary_join_element_wise(family, own, "-")
    last = pc.if_else(
        pa.array(spouse & (mode >= 0.93)), hyphen, pc.if_else(pa.array(spouse & (mode >= 0.85)), own, family)
    )

    city_idx = rng.integers(0, len(names.CITIES), H)
    cities = pa.array([c[0] for c in names.CITIES], pa.string())
    states = pa.array([c[1] for c in names.CITIES], pa.string())
    zip3 = pa.array([c[2] for c in names.CITIES], pa.string())
    streets = pa.array([f"{s} {t}" for s in names.STREETS for t in names.STREET_TYPES], pa.string())
    street_idx = rng.integers(0, len(streets), H)
    number = rng.integers(1, 10_000, H)
    zip_tail = rng.integers(0, 100, H)
    hh_idx = pa.array(hh)
    ci = pa.array(city_idx).take(hh_idx)
    postcode = pc.binary_join_element_wise(zip3.take(ci), pc.utf8_lpad(_str(zip_tail[hh]), 2, "0"), "")

    return pa.table(
        {
            "id": pc.binary_join_element_wise("P", _str(np.arange(n)), ""),
            "first_name": first,
            "last_name": last,
            "birth_date": pc.strftime(pa.array(birth).cast(pa.timestamp("s")), format="%Y-%m-%d"),
            "tin": pa.array(synthetic_ssns(seed, rng.permutation(n).astype(np.int64))),
            "street_number": _str(number[hh]),
            "street": streets.take(pa.array(street_idx).take(hh_idx)),
            "city": cities.take(ci),
            "postcode": postcode,
            "state": states.take(ci),
        }
    )


def _str(values: NDArray[np.int64]) -> pa.Array:
    return pc.cast(pa.array(values, pa.int64()), pa.string())


# --- string edits (only on the records an error touches) -------------------------


def _typo(s: str, r: random.Random, alphabet: str = _KEYBOARD) -> str:
    if not s:
        return s
    i = r.randrange(0, len(s))
    kind = r.randrange(0, 4)
    letter = alphabet[r.randrange(0, len(alphabet))]
    if s[i].islower():
        letter = letter.lower()
    if kind == 0:  # substitution
        return s[:i] + letter + s[i + 1 :] if letter != s[i] else s[:i] + s[i + 1 :]
    if kind == 1 and len(s) > 3:  # deletion
        return s[:i] + s[i + 1 :]
    if kind == 2:  # insertion
        return s[:i] + letter + s[i:]
    j = min(i, len(s) - 2)  # swap of adjacent characters
    if j < 0 or s[j] == s[j + 1]:
        return s[:i] + letter + s[i:]
    return s[:j] + s[j + 1] + s[j] + s[j + 2 :]


def _digit_transpose(s: str, r: random.Random, positions: list[int]) -> str:
    candidates = [p for p in positions if p + 1 < len(s) and s[p] != s[p + 1] and s[p].isdigit() and s[p + 1].isdigit()]
    if not candidates:
        return _digit_typo(s, r, positions)
    p = candidates[r.randrange(0, len(candidates))]
    return s[:p] + s[p + 1] + s[p] + s[p + 2 :]


def _digit_typo(s: str, r: random.Random, positions: list[int]) -> str:
    positions = [p for p in positions if p < len(s) and s[p].isdigit()]
    if not positions:
        return s
    p = positions[r.randrange(0, len(positions))]
    d = (int(s[p]) + r.randrange(1, 10)) % 10
    return s[:p] + str(d) + s[p + 1 :]


def corrupt(people: pa.Table, seed: int, *, rate: float = 0.3) -> pa.Table:
    """A partner agency's view of ``people``: new ids, formatting noise and errors; ``true_id`` keeps the link.

    ``rate`` is the share of records with at least one error (see the module
    docstring for the error model). Rows come back in a shuffled order.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be between 0 and 1")
    n = people.num_rows
    rng = np.random.default_rng([seed, 7_002])
    cols: dict[str, list[str | None]] = {f: people.column(f).to_pylist() for f in PERSON_FIELDS}

    n_err = np.where(rng.random(n) < rate, 1 + rng.choice(3, size=n, p=list(ERRORS_PER_CORRUPTED)), 0)
    kinds = list(ERROR_KINDS)
    p = np.array(list(ERROR_KINDS.values()))
    p /= p.sum()
    pool, weights = _surname_pool()
    pool_list = pool.to_pylist()
    cdf = np.cumsum(weights).tolist()
    rows = np.flatnonzero(n_err)
    # Distinct kinds per record, drawn with the weights (Gumbel top-k: one vectorised draw for all rows).
    keys = np.log(p)[None, :] + rng.gumbel(size=(len(rows), len(kinds)))
    ranked = np.argsort(-keys, axis=1)
    r = random.Random(seed * 1_000_003 + 7_003)
    for row, order, count in zip(rows.tolist(), ranked.tolist(), n_err[rows].tolist(), strict=True):
        for k in sorted(order[:count]):
            _apply(kinds[k], cols, row, r, pool_list, cdf)

    _format_noise(cols, rng, n)
    order = rng.permutation(n)
    new_ids = pc.binary_join_element_wise("R", _str(rng.permutation(n)), "")
    out = {"id": new_ids.take(pa.array(order))}
    for f in PERSON_FIELDS:
        out[f] = pa.array(cols[f], pa.string()).take(pa.array(order))
    out["true_id"] = people.column("id").take(pa.array(order))
    return pa.table(out)


def _apply(
    kind: str,
    cols: dict[str, list[str | None]],
    row: int,
    r: random.Random,
    surnames: list[str],
    cdf: list[float],
) -> None:
    def surname() -> str:
        return surnames[min(bisect.bisect_left(cdf, r.random()), len(surnames) - 1)]

    def get(field: str) -> str | None:
        return cols[field][row]

    def put(field: str, value: str | None) -> None:
        cols[field][row] = value

    first, last, dob, tin = get("first_name"), get("last_name"), get("birth_date"), get("tin")
    if kind == "first_typo" and first:
        put("first_name", _typo(first, r))
    elif kind == "nickname" and first:
        nicks = _NICK_BY_NAME.get(first.upper())
        put("first_name", nicks[r.randrange(0, len(nicks))].title() if nicks else _typo(first, r))
    elif kind == "first_missing":
        put("first_name", None)
    elif kind == "last_typo" and last:
        put("last_name", _typo(last, r))
    elif kind == "last_hyphenated" and last:
        if "-" in last:
            put("last_name", last.split("-")[0])
        else:
            other = surname()
            put("last_name", f"{last}-{other}" if r.random() < 0.5 else f"{other}-{last}")
    elif kind == "last_changed":
        put("last_name", surname())
    elif kind == "dob_transposed" and dob:
        put("birth_date", _digit_transpose(dob, r, [0, 1, 2, 3, 5, 8]))
    elif kind == "dob_day_month" and dob:
        y, m, d = dob.split("-")
        put("birth_date", f"{y}-{d}-{m}" if int(d) <= 12 and d != m else _digit_typo(dob, r, [2, 3, 6, 9]))
    elif kind == "dob_typo" and dob:
        put("birth_date", _digit_typo(dob, r, [2, 3, 6, 9]))
    elif kind == "dob_missing":
        put("birth_date", None)
    elif kind == "tin_transposed" and tin:
        put("tin", _digit_transpose(tin, r, list(range(8))))
    elif kind == "tin_typo" and tin:
        put("tin", _digit_typo(tin, r, list(range(9))))
    elif kind == "tin_missing":
        put("tin", None)
    elif kind == "moved":
        _move(cols, row, r)
    elif kind == "street_typo" and get("street"):
        street = get("street") or ""
        name, _, suffix = street.rpartition(" ")
        put("street", f"{_typo(name, r)} {suffix}" if name else _typo(street, r))
    elif kind == "address_missing":
        put("street_number", None)
        put("street", None)
        put("postcode", None)
    elif kind == "postcode_typo" and get("postcode"):
        put("postcode", _digit_typo(get("postcode") or "", r, [3, 4]))


_STREETS = [f"{s} {t}" for s in names.STREETS for t in names.STREET_TYPES]


def _move(cols: dict[str, list[str | None]], row: int, r: random.Random) -> None:
    streets = _STREETS
    cols["street_number"][row] = str(r.randrange(1, 10_000))
    cols["street"][row] = streets[r.randrange(0, len(streets))]
    same_city = r.random() < 1 / 3 and cols["postcode"][row]
    if same_city:
        zip3 = (cols["postcode"][row] or "")[:3]
    else:
        city, state, zip3 = names.CITIES[r.randrange(0, len(names.CITIES))]
        cols["city"][row] = city
        cols["state"][row] = state
    cols["postcode"][row] = f"{zip3}{r.randrange(0, 100):02d}"


def _format_noise(cols: dict[str, list[str | None]], rng: np.random.Generator, n: int) -> None:
    """Differences of form only (case, dashes, spelt-out suffixes, middle initials, US dates, state names)."""

    def pick(share: float) -> list[int]:
        return np.flatnonzero(rng.random(n) < share).tolist()

    for field in ("first_name", "last_name", "street", "city"):
        values = cols[field]
        for i in pick(0.3):
            v = values[i]
            values[i] = v.upper() if v is not None else None
    tins = cols["tin"]
    for i in pick(0.3):
        t = tins[i]
        tins[i] = f"{t[:3]}-{t[3:5]}-{t[5:]}" if t and len(t) == 9 else t
    streets = cols["street"]
    for i in pick(0.2):
        s = streets[i]
        if s:
            head, _, suffix = s.rpartition(" ")
            long = _LONG_STREET.get(suffix.upper())
            streets[i] = f"{head} {long.title()}" if head and long else s
    firsts = cols["first_name"]
    for i in pick(0.1):
        f = firsts[i]
        firsts[i] = f"{f} {_KEYBOARD[i % 26]}." if f else f
    dobs = cols["birth_date"]
    for i in pick(0.15):
        d = dobs[i]
        if d and len(d) == 10 and d[4] == "-" and d[7] == "-":
            dobs[i] = f"{int(d[5:7])}/{int(d[8:10])}/{d[:4]}" if d[5:7].isdigit() and d[8:10].isdigit() else d
    states = cols["state"]
    for i in pick(0.1):
        s = states[i]
        states[i] = _STATE_NAME.get(s, s).title() if s else s


def partner_pair(n_left: int, n_right: int, overlap: float, seed: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(left, right, truth): the agency's people, a partner's file, and the true links ``left_id, right_id``.

    ``overlap`` is the share of the smaller file whose people are in both; the
    rest of each file are people the other never saw (drawn from the same
    population, so they share surnames, households and addresses with linked
    people). Right rows carry the errors of :func:`corrupt` (default rate).
    """
    if not 0.0 <= overlap <= 1.0:
        raise ValueError("overlap must be between 0 and 1")
    shared = round(overlap * min(n_left, n_right))
    total = n_left + n_right - shared
    population = people(total, seed)
    rng = np.random.default_rng([seed, 7_004])
    order = rng.permutation(total)
    both = order[:shared]
    left_only = order[shared : shared + n_left - shared]
    right_only = order[shared + n_left - shared :]
    left = population.take(pa.array(np.sort(np.concatenate([both, left_only]))))
    right_people = population.take(pa.array(np.concatenate([both, right_only])))
    right = corrupt(right_people, seed)
    truth_mask = pc.is_in(right.column("true_id"), value_set=population.column("id").take(pa.array(both)))
    truth = pa.table({"left_id": right.column("true_id"), "right_id": right.column("id")}).filter(truth_mask)
    return left, right.drop_columns(["true_id"]), truth
