"""Shared test data for the linkage tests: one generated partner pair and its links, computed once per process.

Imported by the matching test modules (``from matching_fixtures import ...``);
the results are cached because a Splink run costs seconds.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa

from taxvault.matching.encode import encode_people
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.linkage import LinkResult, link
from taxvault.matching.synthetic import partner_pair

FIELDS = list(PERSON_FIELDS)
KEY = b"agreement-key-for-tests-only-32b"
SIZE = 5_000
OVERLAP = 0.6
SEED = 11


@lru_cache(maxsize=4)
def pair(n: int = SIZE, seed: int = SEED) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(left, right, truth) for an n x n partner pair."""
    return partner_pair(n, n, OVERLAP, seed)


@lru_cache(maxsize=4)
def encoded_pair(n: int = SIZE, seed: int = SEED) -> tuple[pa.Table, pa.Table]:
    left, right, _ = pair(n, seed)
    return encode_people(left, KEY, FIELDS), encode_people(right, KEY, FIELDS)


@lru_cache(maxsize=4)
def clear_result(n: int = SIZE, seed: int = SEED) -> LinkResult:
    left, right, _ = pair(n, seed)
    return link(left, right, FIELDS, encoded=False, seed=1)


@lru_cache(maxsize=4)
def encoded_result(n: int = SIZE, seed: int = SEED) -> LinkResult:
    left, right = encoded_pair(n, seed)
    return link(left, right, FIELDS, encoded=True, seed=1)


def scores(result: LinkResult, truth: pa.Table) -> tuple[float, float, float]:
    """(precision, recall, F1) of the linked pairs against the true links."""
    got = set(zip(result.pairs["left_id"].to_pylist(), result.pairs["right_id"].to_pylist(), strict=True))
    true = set(zip(truth["left_id"].to_pylist(), truth["right_id"].to_pylist(), strict=True))
    tp = len(got & true)
    precision = tp / len(got) if got else 0.0
    recall = tp / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return precision, recall, f1
