"""Synthetic identifiers, generated in bulk and unique by construction.

SSNs and EINs come from an affine permutation of the synthetic number space
(index -> a*index + b mod size, with a coprime to size), so any set of distinct
indexes gives distinct numbers without a uniqueness check, and the mapping
depends on the seed.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

SSN_SPACE = 100 * 49 * 9999
"""Areas 900-999, groups 01-49, serials 0001-9999."""
EIN_SPACE = 9_999_999
"""Prefix 00, serials 0000001-9999999."""


def _affine(seed: int, space: int, salt: int) -> tuple[int, int]:
    rng = np.random.default_rng([seed, salt])
    a = int(rng.integers(space // 3, space - 1))
    while math.gcd(a, space) != 1:
        a += 1
    return a, int(rng.integers(0, space))


def synthetic_ssns(seed: int, index: NDArray[np.int64]) -> NDArray[np.str_]:
    """Distinct synthetic SSNs (nine digits) for distinct person indexes."""
    if index.size and (index.min() < 0 or index.max() >= SSN_SPACE):
        raise ValueError("person index outside the synthetic SSN space")
    a, b = _affine(seed, SSN_SPACE, 1)
    q = (index.astype(np.int64) * a + b) % SSN_SPACE
    area = 900 + q // (49 * 9999)
    group = 1 + (q // 9999) % 49
    serial = 1 + q % 9999
    return _digits(area * 1_000_000 + group * 10_000 + serial, 9)


def synthetic_eins(seed: int, index: NDArray[np.int64]) -> NDArray[np.str_]:
    """Distinct synthetic EINs (prefix 00) for distinct business indexes."""
    if index.size and (index.min() < 0 or index.max() >= EIN_SPACE):
        raise ValueError("business index outside the synthetic EIN space")
    a, b = _affine(seed, EIN_SPACE, 2)
    return _digits(1 + (index.astype(np.int64) * a + b) % EIN_SPACE, 9)


def _digits(values: NDArray[np.int64], width: int) -> NDArray[np.str_]:
    return np.char.zfill(values.astype(np.int64).astype(str), width)


def refs(rng: np.random.Generator, prefix: str, n: int) -> list[str]:
    """Opaque references: a prefix and 80 random bits, unguessable and TIN-free."""
    raw = rng.bytes(10 * n)
    return [prefix + raw[i : i + 10].hex() for i in range(0, 10 * n, 10)]


_ABA_WEIGHTS = np.array([3, 7, 1, 3, 7, 1, 3, 7], dtype=np.int64)


def synthetic_routing_numbers(rng: np.random.Generator, n: int) -> NDArray[np.str_]:
    """ABA routing numbers with a valid check digit and the unassigned prefix 50."""
    body = rng.integers(0, 10, size=(n, 8), dtype=np.int64)
    body[:, 0], body[:, 1] = 5, 0
    check = (10 - (body @ _ABA_WEIGHTS) % 10) % 10
    full = np.concatenate([body, check[:, None]], axis=1)
    return _digits(full @ (10 ** np.arange(8, -1, -1, dtype=np.int64)), 9)


def aba_check_ok(routing: str) -> bool:
    """True when a nine-digit routing number's ABA checksum holds."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0
