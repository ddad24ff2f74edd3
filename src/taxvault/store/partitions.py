"""PostgreSQL partitioning of the big tables (migration 0015): what is partitioned, and upkeep.

SQLite keeps plain tables (one file, one writer: partitioning buys it nothing). On
PostgreSQL, the tables that grow with the population or the access volume are split
so that a look-up naming the key reads one partition's index, an old year or an old
stretch of the log can be detached whole, and index builds after a bulk load sort
partition-sized pieces:

========================  ====================  ==========================================
table                     partitioned by        look-ups that name the key
========================  ====================  ==========================================
transactions              HASH (module_id)      transcript, posting (one module)
information_returns       RANGE (tax_year)      matching, payee/payer look-ups (a year)
audit_events              RANGE (leaf_index)    proofs, verifier, scans (a leaf range)
audit_subjects            HASH (subject)        access report, oversight (one taxpayer)
========================  ====================  ==========================================

Range partitions are made ahead of need (:func:`ensure_audit_partitions`,
:func:`ensure_year_partitions`); each range-partitioned table also has a default
partition, so a row beyond the partitions made still lands (and the next ensure
skips that range rather than fail; see its docstring).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Connection, Engine

from taxvault.store.tables import applies_to

PARTITIONED: dict[str, str] = {
    "transactions": "HASH (module_id)",
    "information_returns": "RANGE (tax_year)",
    "audit_events": "RANGE (leaf_index)",
    "audit_subjects": "HASH (subject)",
}
"""Partitioned tables on PostgreSQL and their partition key (as ``pg_get_partkeydef`` prints it)."""

_log = logging.getLogger("taxvault.store")

AUDIT_PARTITION_LEAVES = 1 << 24
"""Leaves per audit_events partition (as migration 0015 made them)."""
FIRST_YEAR = 2015
"""information_returns_old holds every year before this one (migration 0015)."""

_TABLES = "|".join(PARTITIONED)
_PARTITION_NAME = re.compile(rf"^({_TABLES})_(h\d{{2}}|y\d{{4}}|old|default|p\d{{4,}})$")


def is_partition(table_name: str) -> bool:
    """True for a partition of one of :data:`PARTITIONED` (named by migration 0015 or an ensure)."""
    return _PARTITION_NAME.match(table_name) is not None


def schema_check_options(dialect: str) -> dict[str, Callable[..., bool]]:
    """Alembic ``compare_metadata`` options for this store: partitions are not tables of their own,
    and objects marked for the other store (:func:`taxvault.store.tables.only_on`) are left out."""

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return not (type_ == "table" and name is not None and is_partition(name))

    def include_object(obj: Any, _name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
        if type_ not in ("index", "foreign_key_constraint", "unique_constraint"):
            return True
        if reflected:  # PostgreSQL's own clones of a self-reference, one per partition referenced
            return not (type_ == "foreign_key_constraint" and is_partition(obj.referred_table.name))
        return applies_to(obj, dialect)

    return {"include_name": include_name, "include_object": include_object}


def _range_partition(conn: Connection, parent: str, name: str, low: int, high: int) -> bool:
    """Create one range partition unless it exists; False when the default partition already holds rows of it."""
    exists = conn.exec_driver_sql("SELECT to_regclass(%s) IS NOT NULL", (name,)).scalar_one()
    if exists:
        return False
    key = "leaf_index" if parent == "audit_events" else "tax_year"
    in_default = conn.exec_driver_sql(
        f"SELECT EXISTS (SELECT 1 FROM {parent}_default WHERE {key} >= %s AND {key} < %s)",  # noqa: S608
        (low, high),
    ).scalar_one()
    if in_default:
        return False
    conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {parent} FOR VALUES FROM ({low}) TO ({high})")
    return True


def ensure_audit_partitions(conn: Connection, ahead: int = 2) -> list[str]:
    """Make the audit_events partitions for the log's current stretch and ``ahead`` more; returns the new ones.

    Run by operations (``bench/scale.py`` does, and a deployment would from a daily job)
    well before the log reaches the last partition made. No-op on SQLite. Creating a
    partition takes a brief lock on the parent, so this belongs in a quiet moment, not in
    the append path.
    """
    if conn.dialect.name != "postgresql":
        return []
    size = int(conn.exec_driver_sql("SELECT tree_size FROM audit_tree WHERE id = 1").scalar_one())
    made = []
    for i in range(size // AUDIT_PARTITION_LEAVES + 1 + ahead):
        name = f"audit_events_p{i:04d}"
        if _range_partition(conn, "audit_events", name, i * AUDIT_PARTITION_LEAVES, (i + 1) * AUDIT_PARTITION_LEAVES):
            made.append(name)
    return made


def ensure_year_partitions(conn: Connection, years: Iterable[int]) -> list[str]:
    """Make information_returns partitions for ``years`` (e.g. before a load of a new year); returns the new ones."""
    if conn.dialect.name != "postgresql":
        return []
    made = []
    for year in sorted(y for y in set(years) if y >= FIRST_YEAR):
        name = f"information_returns_y{year:04d}"
        if _range_partition(conn, "information_returns", name, year, year + 1):
            made.append(name)
    return made


class PartitionKeeper:
    """Makes audit_events partitions ahead of the log while the server runs (PostgreSQL only).

    At the agency's access volume one partition (2^24 leaves) fills in about a day, so
    ``serve`` keeps ``ahead`` spare partitions by checking every ``every_seconds``
    (``TAXVAULT_PARTITION_CHECK_SECONDS``, default 3600; 0 turns it off). Failures are
    logged and retried at the next check: rows past the last partition still land in the
    default partition, only partition pruning is lost until the next success.
    """

    def __init__(self, engine: Engine, *, every_seconds: float = 3600.0, ahead: int = 2) -> None:
        self.engine = engine
        self.every_seconds = every_seconds
        self.ahead = ahead
        self.made: list[str] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="partition-keeper", daemon=True)

    def start(self) -> PartitionKeeper:
        """Check once now (in the thread), then every ``every_seconds``; returns self."""
        if self.engine.dialect.name == "postgresql":
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (a check in progress finishes first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def tick(self) -> list[str]:
        """Make the partitions due now, in one transaction; returns the ones made."""
        with self.engine.begin() as conn:
            made = ensure_audit_partitions(conn, self.ahead)
        self.made.extend(made)
        return made

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception as exc:  # the next check retries; never take the server down
                self.failures += 1
                _log.error("audit partition check failed: %s", type(exc).__name__)
            if self._stop.wait(self.every_seconds):
                return


def partition_check_seconds() -> float:
    """``TAXVAULT_PARTITION_CHECK_SECONDS`` (default 3600; 0 turns the keeper off)."""
    raw = os.environ.get("TAXVAULT_PARTITION_CHECK_SECONDS", "3600")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("TAXVAULT_PARTITION_CHECK_SECONDS must be a number of seconds") from None
    if value < 0:
        raise ValueError("TAXVAULT_PARTITION_CHECK_SECONDS must be >= 0")
    return value
