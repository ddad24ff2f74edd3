"""The stats domain's tables: each analyst's privacy budget and the ledger of what spent it.

Epsilon is kept in millionths (``*_micro``) and delta in 10^-12 (``*_pico``): integers,
so charges add up exactly and "spent <= limit" is decided without rounding.
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import Id, metadata

EPSILON_UNIT = 1_000_000
"""``epsilon_*_micro`` = epsilon x 10^6."""
DELTA_UNIT = 1_000_000_000_000
"""``delta_*_pico`` = delta x 10^12."""

stats_budgets = sa.Table(
    "stats_budgets",
    metadata,
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("epsilon_limit_micro", sa.BigInteger, nullable=False),
    sa.Column("epsilon_spent_micro", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("delta_limit_pico", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("delta_spent_pico", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("epsilon_spent_micro <= epsilon_limit_micro", name="epsilon_within_limit"),
    sa.CheckConstraint("delta_spent_pico <= delta_limit_pico", name="delta_within_limit"),
    sa.CheckConstraint("epsilon_spent_micro >= 0 AND delta_spent_pico >= 0", name="spent_not_negative"),
)

stats_charges = sa.Table(
    "stats_charges",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("shape_hash", sa.String(64), nullable=False),
    sa.Column("mechanism", sa.String(12), nullable=False),
    sa.Column("epsilon_micro", sa.BigInteger, nullable=False),
    sa.Column("delta_pico", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mechanism IN ('laplace', 'gaussian')", name="mechanism"),
    sa.CheckConstraint("epsilon_micro > 0 AND delta_pico >= 0", name="positive"),
    sa.Index(None, "principal_id", "charged_at"),
)
