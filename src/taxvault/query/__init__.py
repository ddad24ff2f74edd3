"""Asking in plain language under policy: question -> typed plan -> door -> compiled read -> answer.

No model ever touches data: a translator only proposes a :class:`~taxvault.query.plan.Plan`,
which is described to the person asking, authorised and audited by the door, compiled with
SQLAlchemy Core (never raw SQL from outside) and run.
"""

from taxvault.query.plan import AggFn, Aggregate, Filter, Op, Order, Plan
from taxvault.query.vocab import FIELDS, EntitySet, FieldDef

__all__ = ["FIELDS", "AggFn", "Aggregate", "EntitySet", "FieldDef", "Filter", "Op", "Order", "Plan"]
