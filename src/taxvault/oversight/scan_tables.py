"""The scan's own compact state: what window rules need without re-reading the log.

- ``oversight_hourly``: per principal and clock hour, the taxpayers her events touched
  (``reads``: distinct taxpayers read or attempted, each look-up that found nothing counted
  once; summed over scan batches), refused look-ups and break-glass accesses. Bursts, off-hours,
  fishing and break-glass norms are robust statistics over these rows (a month of a
  2,000-person agency is a few hundred thousand rows), so an incremental scan never
  re-reads old events to know a baseline.
- ``oversight_subject_readers``: per taxpayer and day, the employees who read her
  without a case on her (the only reads celebrity browsing is made of), with the first
  and last leaf, so an alert can cite events scanned in an earlier run.

The cursor itself (where the scan resumes) is ``oversight_cursors`` (oversight/tables.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import metadata

oversight_hourly = sa.Table(
    "oversight_hourly",
    metadata,
    sa.Column("principal_id", sa.String(64), primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True, autoincrement=False),  # hours since the Unix epoch, UTC
    sa.Column("reads", sa.Integer, nullable=False, server_default="0"),
    sa.Column("refused_lookups", sa.Integer, nullable=False, server_default="0"),
    sa.Column("break_glass", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "hour"),
)

oversight_subject_readers = sa.Table(
    "oversight_subject_readers",
    metadata,
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),  # days since the Unix epoch, UTC
    sa.Column("principal_id", sa.String(64), primary_key=True),
    sa.Column("reads", sa.Integer, nullable=False),
    sa.Column("first_leaf", sa.BigInteger, nullable=False),
    sa.Column("last_leaf", sa.BigInteger, nullable=False),
    sa.Index(None, "day"),
)
