"""Each analyst's privacy budget: read it, charge it atomically, refuse when it is spent.

A budget row is made on first use with the default limits (``TAXVAULT_STATS_EPSILON``,
default 5.0; ``TAXVAULT_STATS_DELTA``, default 1e-5) and is the only place the spending
is decided: one conditional ``UPDATE ... WHERE spent + cost <= limit`` charges it, so two
concurrent answers can never spend more than the limit on SQLite or PostgreSQL, and a
charge made on a unit's connection commits or rolls back with that unit's audit event.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from taxvault.errors import Denied, Invalid
from taxvault.stats.tables import DELTA_UNIT, EPSILON_UNIT, stats_budgets, stats_charges

DEFAULT_EPSILON = 5.0
DEFAULT_DELTA = 1e-5


class BudgetSpent(Denied):
    """The answer would spend more privacy budget than the analyst has left."""

    def __init__(self, left: Budget, epsilon: float, delta: float) -> None:
        super().__init__(
            f"privacy budget spent: this answer needs epsilon {epsilon:g} (delta {delta:g}); "
            f"{left.epsilon_left:g} (delta {left.delta_left:g}) is left",
            code="privacy-budget-spent",
            hint="ask with a smaller epsilon, or ask the privacy officer for more budget",
        )
        self.left = left


@dataclass(frozen=True, slots=True)
class Budget:
    """One analyst's limits and spending, in the store's exact units."""

    principal_id: str
    epsilon_limit_micro: int
    epsilon_spent_micro: int
    delta_limit_pico: int
    delta_spent_pico: int

    @property
    def epsilon_left(self) -> float:
        return (self.epsilon_limit_micro - self.epsilon_spent_micro) / EPSILON_UNIT

    @property
    def delta_left(self) -> float:
        return (self.delta_limit_pico - self.delta_spent_pico) / DELTA_UNIT

    def as_dict(self) -> dict[str, float]:
        return {
            "epsilon_limit": self.epsilon_limit_micro / EPSILON_UNIT,
            "epsilon_spent": self.epsilon_spent_micro / EPSILON_UNIT,
            "epsilon_left": self.epsilon_left,
            "delta_limit": self.delta_limit_pico / DELTA_UNIT,
            "delta_spent": self.delta_spent_pico / DELTA_UNIT,
            "delta_left": self.delta_left,
        }


def epsilon_micro(epsilon: float) -> int:
    """Epsilon in the store's unit, rounded up (a charge never under-counts)."""
    return max(1, -(-round(epsilon * EPSILON_UNIT * 1000) // 1000))


def delta_pico(delta: float) -> int:
    """Delta in the store's unit, rounded up; 0 stays 0."""
    return 0 if delta == 0 else max(1, -(-round(delta * DELTA_UNIT * 1000) // 1000))


def default_limits() -> tuple[float, float]:
    """The limits a new analyst's budget starts with (from the environment)."""
    try:
        eps = float(os.environ.get("TAXVAULT_STATS_EPSILON", DEFAULT_EPSILON))
        delta = float(os.environ.get("TAXVAULT_STATS_DELTA", DEFAULT_DELTA))
    except ValueError:
        raise Invalid("TAXVAULT_STATS_EPSILON and TAXVAULT_STATS_DELTA must be numbers") from None
    return eps, delta


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure(conn: Connection, principal_id: str) -> None:
    """Make the analyst's budget row with the default limits if she has none (idempotent)."""
    eps, delta = default_limits()
    values = {
        "principal_id": principal_id,
        "epsilon_limit_micro": epsilon_micro(eps),
        "epsilon_spent_micro": 0,
        "delta_limit_pico": delta_pico(delta),
        "delta_spent_pico": 0,
        "updated_at": _now(),
    }
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(stats_budgets)
    conn.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["principal_id"]))


def read(conn: Connection, principal_id: str) -> Budget:
    """The analyst's budget as the store has it (defaults when she has spent nothing yet)."""
    row = conn.execute(sa.select(stats_budgets).where(stats_budgets.c.principal_id == principal_id)).first()
    if row is None:
        eps, delta = default_limits()
        return Budget(principal_id, epsilon_micro(eps), 0, delta_pico(delta), 0)
    return Budget(
        principal_id,
        int(row.epsilon_limit_micro),
        int(row.epsilon_spent_micro),
        int(row.delta_limit_pico),
        int(row.delta_spent_pico),
    )


def charge(
    conn: Connection,
    principal_id: str,
    *,
    epsilon: float,
    delta: float,
    mechanism: str,
    request_id: str,
    shape_hash: str,
) -> Budget:
    """Spend (epsilon, delta) of the analyst's budget on ``conn``, or :class:`BudgetSpent`.

    The caller's transaction decides: the charge commits with the answer's audit event or
    not at all. Returns the budget after the charge.
    """
    eps_u, delta_u = epsilon_micro(epsilon), delta_pico(delta)
    ensure(conn, principal_id)
    b = stats_budgets.c
    charged = conn.execute(
        stats_budgets.update()
        .where(
            b.principal_id == principal_id,
            b.epsilon_spent_micro + eps_u <= b.epsilon_limit_micro,
            b.delta_spent_pico + delta_u <= b.delta_limit_pico,
        )
        .values(
            epsilon_spent_micro=b.epsilon_spent_micro + eps_u,
            delta_spent_pico=b.delta_spent_pico + delta_u,
            updated_at=_now(),
        )
    ).rowcount
    if charged != 1:
        raise BudgetSpent(read(conn, principal_id), epsilon, delta)
    conn.execute(
        stats_charges.insert().values(
            principal_id=principal_id,
            request_id=request_id,
            shape_hash=shape_hash,
            mechanism=mechanism,
            epsilon_micro=eps_u,
            delta_pico=delta_u,
            charged_at=_now(),
        )
    )
    return read(conn, principal_id)


def set_limits(conn: Connection, principal_id: str, *, epsilon: float, delta: float) -> Budget:
    """Set an analyst's limits (never below what she has already spent)."""
    ensure(conn, principal_id)
    current = read(conn, principal_id)
    eps_u, delta_u = epsilon_micro(epsilon), delta_pico(delta)
    if eps_u < current.epsilon_spent_micro or delta_u < current.delta_spent_pico:
        raise Invalid("a limit cannot be set below what has already been spent")
    conn.execute(
        stats_budgets.update()
        .where(stats_budgets.c.principal_id == principal_id)
        .values(epsilon_limit_micro=eps_u, delta_limit_pico=delta_u, updated_at=_now())
    )
    return read(conn, principal_id)
