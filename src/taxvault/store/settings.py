"""Store settings: properties chosen when a store is created, kept in the store itself.

Why in the store and not in the environment or the files: a setting such as
``synthetic`` describes what the store may hold, so it must travel with the store
(a copy, a restore, another host) and no file can claim it. The one setting today:

``synthetic`` (``true`` / ``false``)
    ``true``: a demo store (``taxvault init --synthetic``, as ``./dev up`` makes). It
    holds only generated taxpayers: ingest refuses every TIN outside the synthetic
    ranges (SSN area 900-999 group 01-49, EIN prefix 00), and ``taxvault synth`` may
    add a generated population. ``false``: a store for real data (``taxvault init``
    on a new store): valid real TINs load, and ``synth`` is refused, so no generated
    taxpayer or demo staff can mix with real ones. Never inferred from a file (the
    FIRE test-file indicator, an extract's flag, an EFW2 user id): a file cannot
    decide what a store accepts.

Stores created before the setting existed were all demo stores: migration 0016
records ``synthetic = true`` for them (the stricter choice; a new store made by
``taxvault init`` then writes the value it was asked for).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.store.tables import metadata

store_settings = sa.Table(
    "store_settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

SYNTHETIC = "synthetic"
SYNTHETIC_HINT = "store setting `synthetic` = true: made by `taxvault init --synthetic`"
"""How messages name the setting (for the one who wonders why a real TIN was refused)."""


def get_setting(conn: Connection, name: str) -> str | None:
    """The setting's value, or None when the store has no row for it."""
    row = conn.execute(sa.select(store_settings.c.value).where(store_settings.c.name == name)).first()
    return None if row is None else str(row[0])


def set_setting(conn: Connection, name: str, value: str) -> None:
    """Write the setting (insert or replace) on the caller's transaction."""
    updated = conn.execute(store_settings.update().where(store_settings.c.name == name).values(value=value))
    if not updated.rowcount:
        conn.execute(store_settings.insert().values(name=name, value=value))


def is_synthetic_store(conn: Connection) -> bool:
    """True for a demo store that holds only synthetic TINs; a missing row counts as synthetic (the stricter)."""
    return get_setting(conn, SYNTHETIC) != "false"


def set_synthetic_store(conn: Connection, synthetic: bool) -> None:
    set_setting(conn, SYNTHETIC, "true" if synthetic else "false")


def choose_synthetic(conn: Connection, asked: bool | None, *, new_store: bool) -> bool:
    """Apply ``taxvault init``'s choice of the ``synthetic`` setting; the store's value after it.

    A new store takes what was asked (real data when nothing was). An existing store keeps
    its value when nothing or the same was asked. Asking for the other value is refused once
    the store holds taxpayers: a demo store's generated people must not become "real data",
    nor may a real store start refusing the taxpayers it already holds. An empty store (one
    whose first ``init`` did not finish, a test template) may still change.
    """
    if new_store:
        set_synthetic_store(conn, bool(asked))
        return bool(asked)
    current = is_synthetic_store(conn)
    if asked is None or asked == current:
        return current
    from taxvault.errors import Conflict
    from taxvault.store.tables import entities

    if conn.execute(sa.select(entities.c.id).limit(1)).first() is not None:
        made = "--synthetic (a demo store)" if current else "for real data (no --synthetic)"
        raise Conflict(
            f"this store already holds taxpayers and was made {made}; the store setting `synthetic` "
            "is chosen when a store is created: make a new store for the other kind"
        )
    set_synthetic_store(conn, asked)
    return asked
