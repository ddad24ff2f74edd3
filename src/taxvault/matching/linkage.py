"""Probabilistic record linkage of two person files (Splink; DuckDB by default, Spark at scale).

How a pair is decided, so a person reviewing a match can follow it:

1. **Features.** Both files are normalised and the same derived columns are
   computed for each (:data:`taxvault.matching.encode.DERIVED`): in the clear
   they are normalised strings; encoded (:func:`~taxvault.matching.encode.encode_people`)
   they are keyed tokens and Bloom filters. Blocking rules and comparison
   levels refer to the same column names either way.
2. **Blocking** keeps the comparisons to candidates that agree on something
   exact (:data:`BLOCKING_RULES`): the TIN; the date of birth and the canonical
   given name; the date of birth and the first three letters of the surname;
   given name, surname and birth year; postcode and street number. A true
   pair is compared when any one of these survives the errors in it, so a
   record has to be wrong in several places at once to escape all five.
3. **Scoring** (Fellegi-Sunter): each comparison falls into one level
   (exact, nickname, close, two of three date parts, different, missing ...);
   each level carries a Bayes factor m/u, the ratio of how often true pairs and
   random pairs land there. The product of the factors and the prior odds is
   the match weight and the match probability. The factors are returned per
   pair as ``bf_<comparison>``: above 1 it argues for the match, below 1
   against, 1 when a value is missing. The comparisons are ``first_name``,
   ``last_name``, ``birth_date``, ``tin`` and one joint ``address`` for street
   number, street, city, postcode and state (:func:`comparison_names`): the
   parts of an address are not independent evidence (household members share
   all of them), and scoring them as five factors let parents and children
   link to each other.
4. **Training** is unsupervised: u from random pairs (seeded), m by
   expectation maximisation on pairs blocked on the TIN and, separately, on
   date of birth and given name (each session estimates the fields it did not
   block on), the prior from deterministic rules at an assumed recall of 90%.
   A level that training never observes gets a deliberate value (see
   :func:`_fill_unobserved`).
5. **Threshold and one-to-one.** Pairs at or above ``threshold`` are kept, then
   resolved greedily: the most probable pair wins, its two records leave the
   pool, and so on (ties broken by row order, so the result is
   deterministic). The greedy order is computed in rounds with numpy: every
   pair that is the best remaining pair for both its left and its right record
   is accepted in the same round; this gives exactly the sequential greedy result.

On DuckDB the candidate pairs are found and scored by :func:`_score_in_duckdb` (integer row numbers,
Splink's own comparison SQL, only pairs above the threshold kept): the same pairs and scores as Splink's
``predict``, at half the CPU and less than half the memory at 1M x 1M. Spark runs Splink's ``predict``.

In the clear, names and streets are compared by Jaro-Winkler and TINs by
Damerau-Levenshtein distance; encoded, names and streets by the Dice
coefficient of their Bloom filters and TINs by their deletion tokens.
Everything else is equality of values or tokens, identical in both.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from taxvault.matching.encode import (
    CLK_WORDS,
    DERIVED,
    TIN_DELETIONS,
    EncodingError,
    derived_columns,
    feature_columns,
    person_features,
)
from taxvault.matching.fields import PERSON_FIELDS, FieldError, check_fields

logger = logging.getLogger(__name__)

Backend = Literal["duckdb", "spark"]

BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("tin",),
    ("birth_date", "first_name_canon"),
    ("birth_date", "last_name_pre"),
    ("first_name_canon", "last_name", "birth_year"),
    ("postcode", "street_number"),
    ("name_ph_lo", "name_ph_hi", "state"),
    ("name_lo", "name_hi", "birth_month"),
    ("name_lo", "name_hi", "birth_day"),
    ("birth_date", "name_lo"),
    ("birth_date", "name_hi"),
    ("birth_digits", "name_ph_lo"),
    ("birth_digits", "name_ph_hi"),
    ("name_ph_lo", "postcode"),
    ("name_ph_hi", "postcode"),
    ("birth_date", "postcode"),
    ("birth_date", "street_number"),
    ("street_number", "street", "city"),
)
"""Candidate pairs agree exactly on all the columns of at least one rule (tokens when encoded).

The first five find pairs whose errors leave a date of birth and a name, or an
address, intact. The others exist for what those miss (measured on FEBRL 1-3,
never on the generator alone): names, swap-proof and phonetic, within a state, or
exact with the month or the day of birth (a missing or wrong date of birth; names
alone would compare 43M pairs at 1M x 1M, within a state 1.4M); the date of birth
with either name in either place (given name and surname swapped, plus a typo in
one); the date's digits sorted with a phonetic name (digits transposed in the
date); a phonetic name with the postcode;
the date of birth with the postcode or the street number (both names wrong); the
house without the postcode (a postcode typo and no date of birth)."""

SECONDARY_BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name_canon", "last_name"),
    ("last_name", "postcode"),
    ("first_name_canon", "postcode"),
    ("last_name", "birth_year"),
    ("birth_date",),
)
"""Added when the fields allow fewer than two of :data:`BLOCKING_RULES` (e.g. a file with names and a ZIP only)."""

FALLBACK_BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("last_name",),
    ("first_name_canon",),
    ("postcode",),
    ("street",),
    ("city",),
    ("state",),
)
"""Used only when no multi-column rule is possible (a single weak field): expensive at scale."""

EM_SESSIONS: tuple[tuple[str, ...], ...] = (
    ("tin",),
    ("birth_date", "first_name_canon"),
    ("first_name_canon", "last_name"),
    ("birth_date", "postcode"),
    ("birth_date", "street_number"),
    ("postcode", "street_number"),
    ("birth_date",),
    ("last_name",),
    ("first_name_canon",),
    ("postcode",),
    ("state",),
)
"""Candidate blocking rules for EM, tried in order; one is used when it trains a comparison not trained yet.

The date of birth with a place comes before the address alone: blocked on an address,
the pairs are mostly members of one household, and EM trained there learns that
"same household" is a match (a given name that differs then barely counts against)."""

EM_MAX_PAIRS = 500_000
"""Blocked pairs per EM session at most (Splink samples records to stay near it)."""

# Similarity thresholds of the "close" levels: (high, medium), clear and encoded.
JARO_WINKLER = {"high": 0.92, "mid": 0.80}
DICE = {"high": 0.80, "mid": 0.62}
JW_FUNCTION = {"duckdb": "jaro_winkler_similarity", "spark": "jaro_winkler"}
"""Jaro-Winkler similarity per SQL dialect (on Spark, from Splink's UDF jar)."""


class LinkageError(Exception):
    """Linkage cannot run on this input (bad mapping, missing columns, empty file, duplicate ids)."""


@dataclass(frozen=True)
class LinkResult:
    """The linked pairs and how they were found.

    ``pairs``: ``left_id``, ``right_id``, ``match_probability`` (float64),
    ``match_weight`` (log2 of the odds) and ``bf_<comparison>`` per comparison
    in ``comparisons`` (its Bayes factor; the address fields share one,
    ``bf_address``), one-to-one unless asked otherwise, ordered by ``left_id``.
    ``pairs_compared`` counts the candidate pairs scored after blocking.
    """

    pairs: pa.Table
    pairs_compared: int
    threshold: float
    fields: tuple[str, ...] = ()
    comparisons: tuple[str, ...] = ()
    backend: str = "duckdb"
    encoded: bool = False
    candidates_above_threshold: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)
    review: pa.Table | None = None
    """Pairs in the review band (``review_threshold <= p < threshold``) whose records were not linked, when asked
    for: ``left_id``, ``right_id``, ``match_probability``, ``match_weight`` and, per comparison, the level that
    scored it (``level_<comparison>``, e.g. "jw >= 0.92") and its Bayes factor (``bf_<comparison>``)."""


# --- comparisons ------------------------------------------------------------------


def _null(col: str) -> dict[str, Any]:
    return {
        "sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL",
        "label_for_charts": "missing",
        "is_null_level": True,
    }


def _level(sql: str, label: str) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label}


def _eq(col: str) -> str:
    return f"{col}_l = {col}_r"


def _dice_sql(f: str, threshold: float) -> str:
    words = range(CLK_WORDS)
    inter = " + ".join(f"CAST(bit_count({f}_clk{i}_l & {f}_clk{i}_r) AS INTEGER)" for i in words)
    total = " + ".join([f"CAST(bit_count({f}_clk{i}_{s}) AS INTEGER)" for s in "lr" for i in words])
    return f"2 * ({inter}) >= {threshold} * ({total})"


def _tin_near_sql() -> str:
    """Some deletion variant shared at the same or an adjacent position (see encode.TIN_DELETIONS)."""
    pairs = [(i, j) for i in range(TIN_DELETIONS) for j in range(TIN_DELETIONS) if abs(i - j) <= 1]
    return "(" + " OR ".join(f"tin_del{i}_l = tin_del{j}_r" for i, j in pairs) + ")"


def _tin_edit_sql() -> str:
    """Damerau-Levenshtein distance at most 1 between the TINs in the clear, cheap pairs ruled out first.

    The edit distance costs about 1.4 us a pair in DuckDB, twenty times a Jaro-Winkler, and nearly every
    candidate pair reaches this level (different people, different TINs): at 1M x 1M it was the largest
    single cost of scoring. One edit leaves the first three or the last three characters of a string of
    seven or more intact (a substitution or a swap touches at most two adjacent places; an insertion or a
    deletion keeps the part before it aligned from the start and the part after it from the end), so
    pairs differing in both are not within one edit and the distance is computed for the others only.
    The result is the same as the distance alone.
    """
    return (
        "((left(tin_l, 3) = left(tin_r, 3) OR right(tin_l, 3) = right(tin_r, 3)"
        " OR length(tin_l) < 7 OR length(tin_r) < 7) AND damerau_levenshtein(tin_l, tin_r) <= 1)"
    )


def _close(f: str, grade: str, encoded: bool, dialect: str) -> dict[str, Any]:
    if encoded:
        return _level(_dice_sql(f, DICE[grade]), f"dice >= {DICE[grade]}")
    return _level(f"{JW_FUNCTION[dialect]}({f}_l, {f}_r) >= {JARO_WINKLER[grade]}", f"jw >= {JARO_WINKLER[grade]}")


def _cross_sql(a: str, b: str, encoded: bool, dialect: str) -> str:
    """``a`` of the left record close (high grade) to ``b`` of the right one: given name against surname.

    Encoded, both names' Bloom filters share one bit domain (encode.CLK_DOMAIN), so their Dice is meaningful.
    """
    if encoded:
        words = range(CLK_WORDS)
        inter = " + ".join(f"CAST(bit_count({a}_clk{i}_l & {b}_clk{i}_r) AS INTEGER)" for i in words)
        total = " + ".join(
            [*(f"CAST(bit_count({a}_clk{i}_l) AS INTEGER)" for i in words)]
            + [f"CAST(bit_count({b}_clk{i}_r) AS INTEGER)" for i in words]
        )
        return f"(2 * ({inter}) >= {DICE['high']} * ({total}))"
    return f"({JW_FUNCTION[dialect]}({a}_l, {b}_r) >= {JARO_WINKLER['high']})"


def _swap_levels(encoded: bool, dialect: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(given name and surname swapped between the files, one of them written in the other's place)."""
    fl = _cross_sql("first_name", "last_name", encoded, dialect)
    lf = _cross_sql("last_name", "first_name", encoded, dialect)
    return (
        _level(f"{fl} AND {lf}", "given name and surname swapped"),
        _level(f"{fl} OR {lf}", "a name in the other's place"),
    )


def _else() -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": "different"}


ADDRESS_FIELDS: tuple[str, ...] = ("street_number", "street", "city", "postcode", "state")
"""Compared jointly as one ``address`` comparison (see :func:`comparisons`)."""


def comparison_names(fields: Sequence[str]) -> tuple[str, ...]:
    """The comparisons made for ``fields``: person fields by name, address fields as one ``address``."""
    names = [f for f in PERSON_FIELDS if f in fields and f not in ADDRESS_FIELDS]
    if any(f in fields for f in ADDRESS_FIELDS):
        names.append("address")
    return tuple(names)


def _address_levels(fields: Sequence[str], encoded: bool, dialect: str) -> list[dict[str, Any]]:
    """Levels of the joint address comparison, from the address fields available.

    Why joint: the parts of an address are not independent evidence. People
    who share a street number and a street almost always share the postcode,
    city and state too (households, moves within a city), so multiplying five
    separate factors would count one fact five times and let any two members of
    a household look like the same person.
    """
    have = set(fields)
    num, street = "street_number" in have, "street" in have
    pc, city, state = "postcode" in have, "city" in have, "state" in have
    cols = [c for c in ADDRESS_FIELDS if c in have]
    null = " AND ".join(f"{c}_l IS NULL" for c in cols)
    null_r = " AND ".join(f"{c}_r IS NULL" for c in cols)
    levels: list[dict[str, Any]] = [
        {"sql_condition": f"({null}) OR ({null_r})", "label_for_charts": "missing", "is_null_level": True}
    ]
    if pc:
        place = _eq("postcode")
    elif city:
        place = f"{_eq('city')} AND {_eq('state')}" if state else _eq("city")
    else:
        place = _eq("state") if state else ""
    area = ([_eq("postcode3")] if pc else []) + ([_eq("city")] if city else [])
    area_sql = "(" + " OR ".join(area) + ")" if area else ""
    house = ([_eq("street_number")] if num else []) + ([_eq("street")] if street else [])
    if house and place:
        levels.append(_level(" AND ".join([*house, place]), "same address"))
    if num and street:
        close = _close("street", "high", encoded, dialect)["sql_condition"]
        cond = f"{_eq('street_number')} AND ({_eq('street')} OR {close})"
        levels.append(_level(f"{cond} AND {area_sql}" if area_sql else cond, "same address, one part differs"))
    if street and place:
        levels.append(_level(f"{_eq('street')} AND {place}", "same street, other number"))
    if pc:
        levels.append(_level(_eq("postcode"), "same postcode"))
    if area_sql:
        levels.append(_level(area_sql, "same city or ZIP area"))
    if state:
        levels.append(_level(_eq("state"), "same state"))
    levels.append(_else())
    return levels


def comparisons(fields: Sequence[str], *, encoded: bool, dialect: str = "duckdb") -> list[dict[str, Any]]:
    """Splink comparison dicts named as in :func:`comparison_names` (so each factor is ``bf_<name>``)."""
    out: list[dict[str, Any]] = []
    for f in comparison_names(fields):
        if f == "address":
            out.append(
                {
                    "output_column_name": f,
                    "comparison_levels": _starting_m(_address_levels(fields, encoded, dialect)),
                    "comparison_description": f,
                }
            )
            continue
        levels: list[dict[str, Any]] = [_null(f), _level(_eq(f), "exact")]
        both_names = "first_name" in fields and "last_name" in fields
        swap, crossed = _swap_levels(encoded, dialect) if both_names else ({}, {})
        if f == "first_name":
            levels += [
                _level(_eq("first_name_canon"), "same given name (nickname)"),
                _close(f, "high", encoded, dialect),
                *([swap] if swap else []),
                _close(f, "mid", encoded, dialect),
                *([crossed] if crossed else []),
            ]
        elif f == "last_name":
            parts = " OR ".join(f"last_name_{a}_l = last_name_{b}_r" for a in ("p1", "p2") for b in ("p1", "p2"))
            levels += [
                _level(parts, "a surname part in common"),
                _close(f, "high", encoded, dialect),
                *([swap] if swap else []),
                _close(f, "mid", encoded, dialect),
                *([crossed] if crossed else []),
            ]
        elif f == "birth_date":
            swapped = f"{_eq('birth_year')} AND birth_month_l = birth_day_r AND birth_day_l = birth_month_r"
            # The same eight digits in another order, with the year or the month and day intact: two digits
            # swapped within a part (1979-08-21 / 1979-02-81), not any two dates that share their digits.
            y, m, d = _eq("birth_year"), _eq("birth_month"), _eq("birth_day")
            levels += [
                _level(swapped, "day and month swapped"),
                _level(f"{_eq('birth_digits')} AND ({y} OR ({m} AND {d}))", "digits transposed"),
                _level(f"({y} AND {m}) OR ({y} AND {d}) OR ({m} AND {d})", "two of year, month, day"),
            ]
        elif f == "tin":
            near = _tin_near_sql() if encoded else _tin_edit_sql()
            levels.append(_level(near, "one digit or one transposition apart"))
        levels.append(_else())
        out.append({"output_column_name": f, "comparison_levels": _starting_m(levels), "comparison_description": f})
    return out


def _starting_m(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Starting m values: 90% exact, 9% spread over the partial levels, 1% different.

    EM starts from these; a comparison no EM session can train (e.g. a TIN-only
    linkage, where every session would block on the TIN) keeps them, which is
    a reasonable prior rather than Splink's generic default.
    """
    scored = [lv for lv in levels if not lv.get("is_null_level")]
    partial = scored[1:-1]
    for i, lv in enumerate(scored):
        if i == 0:
            lv["m_probability"] = 0.90 if partial else 0.99
        elif i == len(scored) - 1:
            lv["m_probability"] = 0.01
        else:
            lv["m_probability"] = 0.09 / len(partial)
    return levels


def _available(fields: Sequence[str]) -> set[str]:
    return set(derived_columns(fields))


def blocking_rules(fields: Sequence[str]) -> list[tuple[str, ...]]:
    """The rules of :data:`BLOCKING_RULES` the fields allow (topped up from the secondary, else fallback rules)."""
    available = _available(fields)
    rules = [r for r in BLOCKING_RULES if set(r) <= available]
    if len(rules) < 2:
        rules += [r for r in SECONDARY_BLOCKING_RULES if set(r) <= available]
    if not rules:
        rules = [r for r in FALLBACK_BLOCKING_RULES if set(r) <= available]
    if not rules:
        raise LinkageError(
            "no blocking rule is possible with these fields; map at least one name, date or address field"
        )
    return rules


# --- inputs -----------------------------------------------------------------------


def _prepare(
    table: pa.Table, fields: Sequence[str], encoded: bool, side: str, id_column: str
) -> tuple[pa.Table, pa.Array]:
    """(the Splink input: unique_id row number + feature columns, the original ids)."""
    if id_column not in table.column_names:
        raise LinkageError(f"{side} table has no id column {id_column!r}")
    if table.num_rows == 0:
        raise LinkageError(f"{side} table is empty")
    ids = table.column(id_column).combine_chunks()
    if ids.null_count:
        raise LinkageError(f"{side} table has records without an id")
    if pc.count_distinct(ids).as_py() != len(ids):
        raise LinkageError(f"{side} table has duplicate ids")
    if encoded:
        needed = feature_columns(fields, encoded=True)
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            raise LinkageError(
                f"{side} table lacks encoded column(s) {missing[:5]}; encode it with encode_people for these fields"
            )
        if any(pa.types.is_string(table.schema.field(c).type) for c in needed if c != "tin"):
            raise LinkageError(f"{side} table holds text where tokens are expected; is it really encoded?")
        feats = table.select(needed)
    else:
        try:
            feats = person_features(table.select([id_column, *fields]), fields, id_column=id_column)
        except (EncodingError, FieldError) as exc:
            raise LinkageError(f"{side} table: {exc}") from exc
        ids = feats.column(id_column).combine_chunks()  # the ids of these rows, whatever their order
        feats = feats.drop_columns([id_column])
    # Row numbers follow the ids' sort order, so that sampling in training (which hashes unique_id) and
    # the tie-breaking of one-to-one resolution do not depend on the order the file came in.
    order = pc.sort_indices(ids)
    feats, ids = feats.take(order), ids.take(order)
    feats = feats.add_column(0, "unique_id", pa.array(np.arange(feats.num_rows, dtype=np.int64)))
    return feats, ids


def _duckdb_connection(threads: int | None, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    return con


# --- one-to-one -------------------------------------------------------------------


def greedy_one_to_one(left: np.ndarray, right: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Indexes of the pairs kept by greedy one-to-one resolution (highest probability first).

    Equivalent to: sort by probability (descending; ties by left then right),
    walk the list, keep a pair when neither of its records is taken yet. Done
    in rounds: a pair that is the first remaining pair of both its records is
    kept; pairs touching a kept record are dropped; repeat.
    """
    n = len(probability)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((right, left, -probability))
    lo, ro = left[order], right[order]
    _, li = np.unique(lo, return_inverse=True)
    _, ri = np.unique(ro, return_inverse=True)
    used_l = np.zeros(int(li.max()) + 1, dtype=bool)
    used_r = np.zeros(int(ri.max()) + 1, dtype=bool)
    alive = np.arange(n)
    kept: list[np.ndarray] = []
    while alive.size:
        la, ra = li[alive], ri[alive]
        first_l = np.zeros(alive.size, dtype=bool)
        first_l[np.unique(la, return_index=True)[1]] = True
        first_r = np.zeros(alive.size, dtype=bool)
        first_r[np.unique(ra, return_index=True)[1]] = True
        win = alive[first_l & first_r]
        kept.append(win)
        used_l[li[win]] = True
        used_r[ri[win]] = True
        alive = alive[~used_l[la] & ~used_r[ra]]
    return np.sort(order[np.concatenate(kept)])


# --- linking ----------------------------------------------------------------------


def link(
    left: pa.Table,
    right: pa.Table,
    fields: Sequence[str],
    *,
    encoded: bool,
    threshold: float = 0.9,
    backend: Backend = "duckdb",
    one_to_one: bool = True,
    seed: int = 0,
    id_column: str = "id",
    threads: int | None = None,
    memory_limit: str | None = None,
    spark: Any = None,
    u_max_pairs: float | None = None,
    review_threshold: float | None = None,
) -> LinkResult:
    """Link two person tables (``id`` + canonical fields, raw; or both from ``encode_people`` with one key).

    ``fields`` are the canonical fields to compare (both tables must have
    them). Pairs with ``match_probability >= threshold`` are returned, resolved
    one-to-one unless ``one_to_one`` is False. ``seed`` fixes the random
    sampling of training. ``backend="spark"`` runs the same model on Spark
    (``spark``: a SparkSession, else a quiet local one). ``threads`` and
    ``memory_limit`` tune DuckDB. ``threshold`` 0 keeps every candidate pair.
    With ``review_threshold`` (below ``threshold``), :attr:`LinkResult.review`
    holds the pairs between the two whose records were left unlinked, with the
    comparison levels that scored them, for a person to decide.
    """
    try:
        check_fields(fields)
    except FieldError as exc:
        raise LinkageError(str(exc)) from exc
    if not fields:
        raise LinkageError("no fields to compare")
    if not 0.0 <= threshold <= 1.0:
        raise LinkageError(f"the threshold is a match probability between 0 and 1, not {threshold!r}")
    if review_threshold is not None and not 0.0 <= review_threshold <= threshold:
        raise LinkageError(
            f"the review threshold is a match probability between 0 and the threshold {threshold!r},"
            f" not {review_threshold!r}"
        )
    ordered = tuple(f for f in PERSON_FIELDS if f in fields)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    left_in, left_ids = _prepare(left, ordered, encoded, "left", id_column)
    right_in, right_ids = _prepare(right, ordered, encoded, "right", id_column)
    seconds["features"] = time.perf_counter() - t0

    if backend == "duckdb":
        from splink import DuckDBAPI

        con = _duckdb_connection(threads, memory_limit)
        db_api: Any = DuckDBAPI(connection=con)
        run: _Run = _DuckRun(con)
    elif backend == "spark":
        from taxvault.matching.spark import spark_api

        db_api, run = spark_api(spark)
    else:
        raise LinkageError(f"unknown backend {backend!r}")
    with _quiet_splink():
        try:
            scored, compared = _splink(
                db_api,
                run,
                left_in,
                right_in,
                ordered,
                encoded,
                threshold if review_threshold is None else review_threshold,
                seed,
                u_max_pairs,
                seconds,
                backend,
                review=review_threshold is not None,
            )
        finally:
            run.close()

    t0 = time.perf_counter()
    band = scored
    above = pc.greater_equal(scored.column("match_probability"), pa.scalar(float(threshold), pa.float64()))
    scored = scored.filter(above)
    li = scored.column("unique_id_l").to_numpy()
    ri = scored.column("unique_id_r").to_numpy()
    prob = scored.column("match_probability").to_numpy()
    keep = greedy_one_to_one(li, ri, prob) if one_to_one else np.arange(len(prob))
    scored = scored.take(pa.array(keep))
    pairs = _pairs(scored, left_ids, right_ids, ordered)
    review = None
    if review_threshold is not None:
        band = band.filter(pc.invert(above))
        linked_l, linked_r = (
            pc.is_in(band.column("unique_id_l"), scored.column("unique_id_l")),
            pc.is_in(band.column("unique_id_r"), scored.column("unique_id_r")),
        )
        band = band.filter(pc.invert(pc.or_(linked_l, linked_r)))
        review = _with_levels(_pairs(band, left_ids, right_ids, ordered), band, ordered, encoded, backend)
    seconds["resolve"] = time.perf_counter() - t0
    return LinkResult(
        pairs=pairs,
        pairs_compared=compared,
        threshold=threshold,
        fields=ordered,
        comparisons=comparison_names(ordered),
        backend=backend,
        encoded=encoded,
        candidates_above_threshold=len(prob),
        seconds=seconds,
        review=review,
    )


def _pairs(scored: pa.Table, left_ids: pa.Array, right_ids: pa.Array, fields: Sequence[str]) -> pa.Table:
    """Row numbers back to the files' ids, ordered by left id (row numbers follow the ids' order)."""
    pairs = pa.table(
        {
            "left_id": left_ids.take(scored.column("unique_id_l")),
            "right_id": right_ids.take(scored.column("unique_id_r")),
            "match_probability": pc.cast(scored.column("match_probability"), pa.float64()),
            "match_weight": pc.cast(scored.column("match_weight"), pa.float64()),
            **{f"bf_{c}": pc.cast(scored.column(f"bf_{c}"), pa.float64()) for c in comparison_names(fields)},
        }
    )
    return pairs.take(_pair_order(scored))


def _pair_order(scored: pa.Table) -> pa.Array:
    keys = pa.table({"l": scored.column("unique_id_l"), "r": scored.column("unique_id_r")})
    return pc.sort_indices(keys, sort_keys=[("l", "ascending"), ("r", "ascending")])


def level_labels(fields: Sequence[str], *, encoded: bool, dialect: str = "duckdb") -> dict[str, dict[int, str]]:
    """Per comparison, Splink's comparison vector value (gamma) -> the label of its level.

    Splink numbers the levels from the last (``ELSE``, 0) up to the first after the null level; the null level is -1.
    """
    out: dict[str, dict[int, str]] = {}
    for comp in comparisons(fields, encoded=encoded, dialect=dialect):
        levels = comp["comparison_levels"]
        scored = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {len(scored) - 1 - i: str(lv["label_for_charts"]) for i, lv in enumerate(scored)}
        labels[-1] = "missing"
        out[str(comp["output_column_name"])] = labels
    return out


def _with_levels(pairs: pa.Table, scored: pa.Table, fields: Sequence[str], encoded: bool, dialect: str) -> pa.Table:
    """Add ``level_<comparison>``: the label of the level each pair fell into (in ``pairs``' order)."""
    order = _pair_order(scored)
    labels = level_labels(fields, encoded=encoded, dialect=dialect)
    for name, by_gamma in labels.items():
        gammas = scored.column(f"gamma_{name}").take(order).to_pylist()
        pairs = pairs.append_column(f"level_{name}", pa.array([by_gamma.get(g, "") for g in gammas], pa.string()))
    return pairs


@contextlib.contextmanager
def _quiet_splink() -> Iterator[None]:
    """Keep Splink's progress warnings off the console unless the application configured its logger."""
    log = logging.getLogger("splink")
    if log.handlers or log.level != logging.NOTSET:
        yield
        return
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(logging.NOTSET)


class _Run(Protocol):
    def arrow(self, sql: str) -> pa.Table: ...

    def close(self) -> None: ...


class _DuckRun:
    """Backend hooks for DuckDB: run SQL to Arrow, release the connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.con.close()


def _splink(
    db_api: Any,
    run: _Run,
    left_in: pa.Table,
    right_in: pa.Table,
    fields: tuple[str, ...],
    encoded: bool,
    threshold: float,
    seed: int,
    u_max_pairs: float | None,
    seconds: dict[str, float],
    dialect: str,
    *,
    review: bool = False,
) -> tuple[pa.Table, int]:
    """Train, predict, and return the pairs at or above ``threshold`` with their factors (and levels, for review)."""
    from splink import Linker, SettingsCreator, block_on

    rules = blocking_rules(fields)
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=comparisons(fields, encoded=encoded, dialect=dialect),  # type: ignore[arg-type]
        blocking_rules_to_generate_predictions=[block_on(*r) for r in rules],
        retain_matching_columns=review,  # the comparison vector (level of each pair) comes only with them
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )
    t0 = time.perf_counter()
    tag = uuid.uuid4().hex[:8]
    left_df = db_api.register(left_in, dataset_display_name="left_file", table_name=f"tv_left_{tag}")
    right_df = db_api.register(right_in, dataset_display_name="right_file", table_name=f"tv_right_{tag}")
    linker = Linker([left_df, right_df], settings, log_level=None)
    seconds["register"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _train(linker, fields, seed, u_max_pairs, left_in.num_rows, right_in.num_rows)
    seconds["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # The candidate pairs are materialised once (ids only) and counted there; scoring then keeps only the pairs
    # at or above the threshold, so the wide table of every scored pair (16M rows at 1M x 1M) is never written.
    if isinstance(run, _DuckRun):
        table, compared = _score_in_duckdb(run.con, db_api, linker, rules, left_df, right_df, threshold, seconds, t0)
    else:
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        compared = int(run.arrow(f"SELECT count(*) AS n FROM {blocked.physical_name}").column("n")[0].as_py())  # noqa: S608
        seconds["blocking"] = time.perf_counter() - t0
        predictions = linker.inference.predict(threshold_match_weight=_weight_floor(threshold), warning_mode="never")
        table = predictions.physical_name
    cols = ", ".join(
        [
            "unique_id_l",
            "unique_id_r",
            "match_probability",
            "match_weight",
            *(f"power(2.0, mw_{c}) AS bf_{c}" for c in comparison_names(fields)),
            *(f"gamma_{c}" for c in comparison_names(fields) if review),
        ]
    )
    scored = run.arrow(f"SELECT {cols} FROM {table} WHERE match_probability >= {float(threshold)!r}")  # noqa: S608
    seconds["predict"] = time.perf_counter() - t0
    linker.table_management.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]
    return scored, compared


def _score_in_duckdb(
    con: duckdb.DuckDBPyConnection,
    db_api: Any,
    linker: Any,
    rules: Sequence[tuple[str, ...]],
    left_df: Any,
    right_df: Any,
    threshold: float,
    seconds: dict[str, float],
    t0: float,
) -> tuple[str, int]:
    """Blocking and scoring on DuckDB: (the table of pairs at or above ``threshold``, the pairs compared).

    The same pairs and the same scores as Splink's ``predict`` (the comparison and match weight SQL is Splink's
    own, from the trained settings), twice as cheap at 1M x 1M. Splink identifies a record by a text key
    ("left_file-__-17"), joins the candidate pairs to the records on it, and removes the pairs of earlier
    blocking rules by testing each earlier rule's condition on every later rule's pair (rule 17 tests
    sixteen). Here each rule is an equality join on the integer row numbers, one ``UNION`` removes repeats,
    the pairs (two integers each) are counted, and the records are joined back on the row numbers.
    """
    from splink.internals.comparison_vector_values import compute_comparison_vector_values_sql
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings

    left, right = left_df.physical_name, right_df.physical_name
    joins = " UNION ".join(
        f"SELECT l.unique_id AS id_l, r.unique_id AS id_r FROM {left} AS l JOIN {right} AS r ON "  # noqa: S608
        + " AND ".join(f"l.{c} = r.{c}" for c in rule)
        for rule in rules
    )
    pairs = f"tv_pairs_{uuid.uuid4().hex[:8]}"
    con.execute(f"CREATE TABLE {pairs} AS {joins}")
    compared = int(con.execute(f"SELECT count(*) FROM {pairs}").fetchall()[0][0])  # noqa: S608
    seconds["blocking"] = time.perf_counter() - t0

    settings = linker._settings_obj
    sides = {"l": (left, left_df.dataset_display_name), "r": (right, right_df.dataset_display_name)}
    # Our own table and dataset names only (see _splink), never a value from a file.
    records = {s: f"(SELECT '{name}' AS source_dataset, * FROM {table})" for s, (table, name) in sides.items()}  # noqa: S608
    pipeline = CTEPipeline()
    select = ", ".join([*settings._columns_to_select_for_blocking, "'0' AS match_key"])
    pipeline.enqueue_sql(
        f"SELECT {select} FROM {pairs} AS b JOIN {records['l']} AS l ON l.unique_id = b.id_l"  # noqa: S608
        f" JOIN {records['r']} AS r ON r.unique_id = b.id_r",
        "__splink__df_blocked",
    )
    pipeline.enqueue_sql(
        compute_comparison_vector_values_sql(settings._columns_to_select_for_comparison_vector_values),
        "__splink__df_comparison_vectors",
    )
    pipeline.enqueue_list_of_sqls(
        predict_from_comparison_vectors_sqls_using_settings(settings, None, _weight_floor(threshold))
    )
    predictions = db_api.sql_pipeline_to_splink_dataframe(pipeline)
    con.execute(f"DROP TABLE {pairs}")
    return predictions.physical_name, compared


def _weight_floor(threshold: float) -> float | None:
    """A match weight just under ``threshold`` for Splink's filter (None: keep all); the exact test follows in Arrow.

    The margin keeps a pair whose probability is the threshold itself from being lost to rounding between the
    weight and the probability.
    """
    if not 0.0 < threshold < 1.0:
        return None
    return math.log2(threshold / (1.0 - threshold)) - 1e-6


U_MAX_PAIRS = 3_000_000
"""Random pairs sampled for the u probabilities at most (a large link)."""

U_PAIRS_PER_RECORD = 40
"""Random pairs sampled per input record (left + right) below :data:`U_MAX_PAIRS`, at least :data:`U_MIN_PAIRS`."""

U_MIN_PAIRS = 100_000


def u_sample_size(n_left: int, n_right: int) -> int:
    """How many random pairs estimate u: proportional to the input, never more than all pairs or 3M.

    u is the share of random pairs falling into each level; its relative error
    shrinks as 1 / sqrt(u * pairs), and the rare levels that matter (the same
    address, a shared date of birth and name) are rare in proportion to the size
    of the files: 40 pairs per record keeps their expected count per level
    about constant from a thousand records to a million, and a FEBRL-size link
    trains in a fraction of a second instead of sampling millions of pairs.
    """
    proportional = max(U_MIN_PAIRS, U_PAIRS_PER_RECORD * (n_left + n_right))
    return int(min(U_MAX_PAIRS, n_left * n_right, proportional))


def _train(
    linker: Any, fields: tuple[str, ...], seed: int, u_max_pairs: float | None, n_left: int, n_right: int
) -> None:
    """u from random pairs, m by EM, then the prior from deterministic rules; fill levels training never saw.

    The prior (the share of random pairs that match) is counted with deterministic
    rules (equal TIN; equal given name, surname and date of birth) and divided by
    their recall. That recall is not assumed: it is read from the m values EM just
    trained (:func:`_deterministic_recall`). With a fixed guess of 90%, files as
    noisy as FEBRL 3 (where fewer than half the true pairs agree on all three)
    had their prior halved and true pairs fell under the threshold.
    """
    from splink import block_on

    have = set(fields)
    max_pairs = u_max_pairs or float(u_sample_size(n_left, n_right))
    # One chunk: levels as rare as "same address" never reach an early-stopping count anyway, and on Spark
    # each extra chunk is a job of its own.
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed, num_chunks=1)
    _fill_unobserved(linker, u=1.0 / max_pairs)
    for rule in em_sessions(fields):
        # Capped: names alone or a date alone make blocks that grow with the square of the input (a few hundred
        # thousand pairs at 100k a side, tens of millions at 1M); m needs a sample of them, not all.
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule), max_pairs=EM_MAX_PAIRS)
    _fill_unobserved(linker, u=1.0 / max_pairs)
    deterministic: list[Any] = []
    recalls: list[float] = []
    if "tin" in have:
        deterministic.append(block_on("tin"))
        recalls.append(_exact_m(linker, "tin", 1))
    if {"first_name", "last_name", "birth_date"} <= have:
        deterministic.append(block_on("first_name_canon", "last_name", "birth_date"))
        recalls.append(
            _exact_m(linker, "first_name", 2) * _exact_m(linker, "last_name", 1) * _exact_m(linker, "birth_date", 1)
        )
    if deterministic:
        recall = _deterministic_recall(recalls)
    else:  # records equal on every field: a few true pairs, almost never a false one
        deterministic.append(block_on(*(DERIVED[f][0] for f in fields)))
        recall = 0.6
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=recall)
    _remove_matches_from_u(linker, floor=1.0 / max_pairs)


def _remove_matches_from_u(linker: Any, *, floor: float) -> None:
    """Take the true pairs out of the u estimates: u = (observed - prior * m) / (1 - prior), at least ``floor``.

    Random pairs include a few true ones (a share equal to the prior). On a large
    link that is negligible, but on a small one a rare level such as "same
    address" or "same date of birth" is seen in random pairs *mostly because of
    the true pairs among them*: on FEBRL 3 (2,000 x 1,165 records) 96% of the
    random pairs with the same date of birth were true pairs, so u was 20 times
    too large and the strongest evidence counted for little. Subtracting the
    expected true pairs corrects that, and only where it applies: where different
    people share a value (households sharing an address in the generator), the
    observed rate stays well above prior * m and u barely moves.
    """
    prior = float(linker._settings_obj._probability_two_random_records_match)
    if not 0.0 < prior < 1.0:
        return
    for comparison in linker._settings_obj.comparisons:
        for level in comparison._comparison_levels_excluding_null:
            u, m = level.u_probability, level.m_probability
            if u is None or m is None:
                continue
            level.u_probability = max((float(u) - prior * float(m)) / (1.0 - prior), floor)


def _exact_m(linker: Any, comparison: str, levels: int) -> float:
    """m of a comparison's first ``levels`` non-null levels (exact; or nickname): how often true pairs agree."""
    for c in linker._settings_obj.comparisons:
        if c.output_column_name == comparison:
            return float(sum(lv.m_probability for lv in c._comparison_levels_excluding_null[:levels]))
    return 0.9


def _deterministic_recall(recalls: Sequence[float]) -> float:
    """Share of true pairs caught by any of the deterministic rules (taken as independent), within [0.05, 0.99]."""
    missed = 1.0
    for r in recalls:
        missed *= 1.0 - min(max(r, 0.0), 1.0)
    return min(max(1.0 - missed, 0.05), 0.99)


def em_sessions(fields: Sequence[str]) -> list[tuple[str, ...]]:
    """EM blocking rules from :data:`EM_SESSIONS`: each trains at least one comparison no earlier one did.

    A session estimates m for the comparisons that use none of its blocking
    columns; a comparison every possible session blocks on keeps its starting m.
    """
    available = _available(fields)
    uses = {c: _comparison_columns(c, fields) for c in comparison_names(fields)}
    trained: set[str] = set()
    sessions: list[tuple[str, ...]] = []
    for rule in EM_SESSIONS:
        if not set(rule) <= available:
            continue
        estimates = {c for c, cols in uses.items() if not cols & set(rule)}
        if estimates - trained:
            sessions.append(rule)
            trained |= estimates
    return sessions


def _comparison_columns(name: str, fields: Sequence[str]) -> set[str]:
    """The columns a comparison reads (Splink trains it only in EM sessions blocked on none of them)."""
    if name == "address":
        return {c for f in fields if f in ADDRESS_FIELDS for c in DERIVED[f]}
    if name in ("first_name", "last_name") and {"first_name", "last_name"} <= set(fields):
        return {*DERIVED["first_name"], *DERIVED["last_name"]}  # the swap levels read both names
    return set(DERIVED[name])


def _fill_unobserved(linker: Any, *, u: float) -> None:
    """Give levels that training never observed a deliberate value instead of Splink's generic default.

    A level no sampled random pair fell into (e.g. "same address, one part
    differs" among a few million pairs) gets u = 1 / pairs sampled: the most
    its frequency can plausibly be. A level EM saw no match in gets m = u: a
    factor of 1, neither for nor against. Splink otherwise falls back on
    placeholder values (u about 1e-3) that made such levels count wrongly.
    Splink exposes the trained levels only through the settings object.
    """
    for comparison in linker._settings_obj.comparisons:
        for level in comparison._comparison_levels_excluding_null:
            if not level._u_is_trained:
                level.u_probability = u
            if not level._m_is_trained:
                level.m_probability = level.u_probability


# --- CSV --------------------------------------------------------------------------


def _read_csv(path: Path, id_column: str, mapping: Mapping[str, str], side: str) -> pa.Table:
    if not path.is_file():
        raise LinkageError(f"{side} file not found: {path.name}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise LinkageError(f"{side} file {path.name} is empty")
    wanted = [id_column, *mapping.values()]
    missing = sorted({c for c in wanted if c not in header})
    if missing:
        raise LinkageError(f"{side} file {path.name} has no column(s) {missing}")
    columns = list(dict.fromkeys(wanted))
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf-8-sig"),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise LinkageError(f"{side} file {path.name} is not a readable CSV") from exc
    if table.num_rows == 0:
        raise LinkageError(f"{side} file {path.name} has no records")
    out = {"id": table.column(id_column)}
    for f, col in mapping.items():
        out[f] = table.column(col)
    return pa.table(out)


def link_csv(
    left_csv: Path,
    right_csv: Path,
    *,
    id_column: str,
    left_map: Mapping[str, str],
    right_map: Mapping[str, str],
    out_csv: Path,
    threshold: float = 0.9,
    key: bytes | None = None,
    right_id_column: str | None = None,
    seed: int = 0,
    review_csv: Path | None = None,
    review_threshold: float | None = None,
) -> LinkResult:
    """Link two person CSV files whatever their column names; write ``left_id,right_id,match_probability``.

    ``left_map`` / ``right_map`` map canonical fields to each file's columns;
    fields mapped in both files are compared. With ``key`` both sides are first
    encoded under it (linkage then sees tokens only). ``right_id_column``
    defaults to ``id_column``. With ``review_csv`` and ``review_threshold`` the
    review band (:attr:`LinkResult.review`) is written there, readable by the
    owner only: ids, probabilities, levels and factors, never a field's value.
    """
    for side, mapping in (("left", left_map), ("right", right_map)):
        unknown = [f for f in mapping if f not in PERSON_FIELDS]
        if unknown:
            raise LinkageError(
                f"{side} mapping names unknown field(s) {unknown}; expected some of {list(PERSON_FIELDS)}"
            )
    only_one = sorted(set(left_map) ^ set(right_map))
    if only_one:
        raise LinkageError(f"field(s) {only_one} are mapped for one file only; map them for both or neither")
    fields = [f for f in PERSON_FIELDS if f in left_map]
    if not fields:
        raise LinkageError("no field is mapped")
    left = _read_csv(Path(left_csv), id_column, left_map, "left")
    right = _read_csv(Path(right_csv), right_id_column or id_column, right_map, "right")
    if key is not None:
        from taxvault.matching.encode import encode_people

        left = encode_people(left, key, fields)
        right = encode_people(right, key, fields)
    result = link(
        left, right, fields, encoded=key is not None, threshold=threshold, seed=seed, review_threshold=review_threshold
    )
    pacsv.write_csv(result.pairs.select(["left_id", "right_id", "match_probability"]), Path(out_csv))
    if review_csv is not None and result.review is not None:
        write_private_csv(result.review, Path(review_csv))
    return result


def write_private_csv(table: pa.Table, path: Path) -> None:
    """Write ``table`` as CSV to ``path`` with mode 0600 (also when the file existed with a wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            pacsv.write_csv(table, fh)
    finally:
        os.close(fd)
