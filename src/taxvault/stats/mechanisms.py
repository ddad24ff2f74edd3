"""Noise for a vector of integer aggregates, calibrated and applied by OpenDP.

OpenDP builds the measurement (discrete Laplace under pure epsilon-DP, or discrete
Gaussian under zero-concentrated DP converted to (epsilon, delta)-DP), checks with its
own privacy map that the measurement spends no more than asked for the sensitivity
given, and draws the noise from its own cryptographically secure sampler. Integers in,
integers out: counts stay counts and money stays integer cents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import opendp.prelude as dp

dp.enable_features("contrib")

Mechanism = Literal["laplace", "gaussian"]
MECHANISMS: tuple[Mechanism, ...] = ("laplace", "gaussian")


@dataclass(frozen=True, slots=True)
class Calibrated:
    """An OpenDP measurement for vectors of integers, and what it spends."""

    mechanism: Mechanism
    scale: float
    epsilon: float
    delta: float
    sensitivity: int
    measurement: Any

    def release(self, values: Sequence[int]) -> list[int]:
        """The values with noise (fresh draws on every call)."""
        return [int(v) for v in self.measurement(list(values))]

    def ci95(self) -> int:
        """Half-width of a 95% interval around a released value (noise only)."""
        if self.mechanism == "laplace":
            return math.ceil(self.scale * math.log(1 / 0.05))
        return math.ceil(1.96 * self.scale)


def calibrate(mechanism: Mechanism, sensitivity: int, epsilon: float, delta: float = 0.0) -> Calibrated:
    """The least-noise measurement of ``mechanism`` that is (epsilon, delta)-DP at ``sensitivity``.

    ``sensitivity``: how much one privacy unit can move the vector (L1 for Laplace; the
    same bound serves as L2 for Gaussian, which it dominates for integer vectors).
    """
    if sensitivity < 1:
        raise ValueError("sensitivity must be a positive integer")
    if not 0.001 <= epsilon <= 10:
        raise ValueError("epsilon must be in [0.001, 10]")
    if mechanism == "laplace":
        if delta:
            raise ValueError("the Laplace mechanism spends no delta")
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
        scale = sensitivity / epsilon
        meas = space >> dp.m.then_laplace(scale=scale)
        spent = float(meas.map(d_in=sensitivity))
        if spent > epsilon * (1 + 1e-9):  # OpenDP's own accounting is the authority
            raise ValueError("OpenDP reports the Laplace measurement over budget")
        return Calibrated(mechanism, scale, epsilon, 0.0, sensitivity, meas)
    if mechanism == "gaussian":
        if not 0 < delta < 1e-3:
            raise ValueError("the Gaussian mechanism needs delta in (0, 0.001)")
        space2 = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64")

        def make(scale: float) -> Any:
            zcdp = space2 >> dp.m.then_gaussian(scale=scale)
            return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(zcdp), delta=delta)

        # The scale is linear in the sensitivity: search at sensitivity 1 (well inside the
        # numeric range), scale up, and let OpenDP's map confirm the result below.
        unit_scale = float(dp.binary_search_param(make, d_in=1, d_out=(epsilon, delta), bounds=(0.1, 1e5), T=float))
        scale = unit_scale * sensitivity * (1 + 1e-9)
        meas = make(scale)
        eps_spent, delta_spent = meas.map(d_in=sensitivity)
        if eps_spent > epsilon * (1 + 1e-9) or delta_spent > delta * (1 + 1e-9):
            raise ValueError("OpenDP reports the Gaussian measurement over budget")
        return Calibrated(mechanism, scale, epsilon, delta, sensitivity, meas)
    raise ValueError(f"unknown mechanism {mechanism!r}")
