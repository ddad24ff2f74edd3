"""Release noisy aggregates per group: suppress small cells, calibrate, charge, add noise.

This is what every differentially private answer goes through, whoever computed the
true aggregates (the fixed shapes of ``taxvault stats`` / ``/v1/stats``, or the query
service's analyst path compiling a plan). The caller computes per group the true
number of records and, for sums, the true sum of the value clamped to ``bounds`` per
record, with each privacy unit (a taxpayer) contributing at most ``max_contributions``
records (:func:`taxvault.stats.shapes.clamp` and the shapes' SQL do both); this module
turns that into what may leave the store.

Sensitivity: one taxpayer added or removed changes the vector of counts by at most
``max_contributions`` (L1), and the vector of clamped sums by at most
``max_contributions * max(|lo|, |hi|)``.

Minimum cell size: a group with fewer than ``k`` true records is suppressed (shown as
suppressed, never a value). The suppression is decided on true counts, as policy asks;
it is applied to a fixed, public list of groups (every state, every year asked), so the
presence of a group in the answer reveals nothing beyond its size class.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.engine import Connection

from taxvault.errors import Invalid
from taxvault.stats import budget
from taxvault.stats.mechanisms import MECHANISMS, Calibrated, Mechanism, calibrate

Measure = Literal["count", "sum"]
DEFAULT_K = 10
MAX_GROUPS = 2000
Key = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class GroupTruth:
    """The true aggregates of one group (never leaves this module un-noised)."""

    key: Key
    count: int
    total: int = 0


@dataclass(frozen=True, slots=True)
class Spec:
    """What is released and what it may spend."""

    measure: Measure
    epsilon: float
    mechanism: Mechanism = "laplace"
    delta: float = 0.0
    bounds: tuple[int, int] | None = None  # per-record clamp of a sum's value (cents)
    max_contributions: int = 1
    k: int = DEFAULT_K

    def check(self) -> None:
        """Refuse a spec that could not be private (Invalid, before anything is read)."""
        if self.measure not in ("count", "sum"):
            raise Invalid("measure must be count or sum")
        if self.mechanism not in MECHANISMS:
            raise Invalid("mechanism must be laplace or gaussian")
        if not 0.001 <= self.epsilon <= 10:
            raise Invalid("epsilon must be between 0.001 and 10")
        if self.mechanism == "laplace" and self.delta != 0:
            raise Invalid("the Laplace mechanism spends no delta; leave delta at 0")
        if self.mechanism == "gaussian" and not 0 < self.delta < 1e-3:
            raise Invalid("the Gaussian mechanism needs a delta between 0 and 0.001")
        if self.measure == "sum":
            if self.bounds is None:
                raise Invalid("a sum needs bounds: the least and greatest value one record may add")
            lo, hi = self.bounds
            if lo > hi or max(abs(lo), abs(hi)) == 0:
                raise Invalid("bounds must be lo <= hi and not both zero")
        if not 1 <= self.max_contributions <= 100:
            raise Invalid("max_contributions must be between 1 and 100")
        if not 1 <= self.k <= 10_000:
            raise Invalid("the minimum cell size k must be between 1 and 10000")

    @property
    def sensitivity(self) -> int:
        if self.measure == "count":
            return self.max_contributions
        assert self.bounds is not None
        return self.max_contributions * max(abs(self.bounds[0]), abs(self.bounds[1]))


@dataclass(frozen=True, slots=True)
class ReleasedGroup:
    key: Key
    value: int | None  # None when suppressed
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Release:
    """What leaves the store: noisy values per group, how noisy, and the budget left."""

    spec: Spec
    groups: list[ReleasedGroup]
    scale: float
    ci95: int
    budget: budget.Budget
    shape_hash: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, by: Sequence[str] = ()) -> dict[str, Any]:
        names = list(by) or [f"g{i}" for i in range(len(self.groups[0].key) if self.groups else 0)]
        return {
            "measure": self.spec.measure,
            "mechanism": self.spec.mechanism,
            "epsilon": self.spec.epsilon,
            "delta": self.spec.delta,
            "k": self.spec.k,
            "bounds": list(self.spec.bounds) if self.spec.bounds else None,
            "max_contributions": self.spec.max_contributions,
            "noise_scale": self.scale,
            "ci95": self.ci95,
            "groups": [
                {**dict(zip(names, g.key, strict=True)), "value": g.value, "suppressed": g.suppressed}
                for g in self.groups
            ],
            "budget": self.budget.as_dict(),
            "shape": self.shape_hash,
            **self.extra,
        }


def shape_hash(description: dict[str, Any]) -> str:
    """A stable hash of what was asked (recorded in the charge and the audit event)."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def release(
    conn: Connection,
    principal_id: str,
    truths: Sequence[GroupTruth],
    spec: Spec,
    *,
    request_id: str,
    shape: str,
) -> Release:
    """Charge the analyst's budget on ``conn`` and release ``truths`` with calibrated noise.

    ``conn`` must be the connection of a write unit of the door (``door.unit(session,
    write=True)``): the charge commits with the answer's audit event or not at all.
    Raises :class:`~taxvault.stats.budget.BudgetSpent` (nothing charged, nothing
    released) when the budget cannot pay for it.
    """
    spec.check()
    if len(truths) > MAX_GROUPS:
        raise Invalid(f"too many groups (at most {MAX_GROUPS})")
    calibrated: Calibrated = calibrate(spec.mechanism, spec.sensitivity, spec.epsilon, spec.delta)
    left = budget.charge(
        conn,
        principal_id,
        epsilon=spec.epsilon,
        delta=spec.delta,
        mechanism=spec.mechanism,
        request_id=request_id,
        shape_hash=shape,
    )
    shown = [t for t in truths if t.count >= spec.k]
    values = [t.count if spec.measure == "count" else t.total for t in shown]
    noisy = iter(calibrated.release(values)) if values else iter(())
    groups: list[ReleasedGroup] = []
    for t in truths:
        if t.count >= spec.k:
            v = next(noisy)
            groups.append(ReleasedGroup(t.key, max(v, 0) if spec.measure == "count" else v, False))
        else:
            groups.append(ReleasedGroup(t.key, None, True))
    return Release(spec, groups, calibrated.scale, calibrated.ci95(), left, shape)
