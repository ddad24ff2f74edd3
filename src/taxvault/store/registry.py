"""Where the store learns every domain's tables.

Domains define their tables on the shared ``metadata`` of :mod:`taxvault.store.tables`;
importing them here makes them known to migrations and to the migration check.
A new domain with tables adds its module to ``_DOMAIN_TABLE_MODULES``.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from taxvault.store.tables import metadata

_DOMAIN_TABLE_MODULES: tuple[str, ...] = (
    "taxvault.audit.tables",
    "taxvault.ingest.tables",
    "taxvault.access.tables",
    "taxvault.ledger.tables",
    "taxvault.matching.tables",
    "taxvault.stats.tables",
    "taxvault.oversight.tables",
    "taxvault.oversight.scan_tables",
    "taxvault.oversight.custody_tables",
    "taxvault.query.tables",
    "taxvault.web.tables",
    "taxvault.store.settings",
)


def all_metadata() -> sa.MetaData:
    """The shared metadata with every domain's tables registered on it."""
    for name in _DOMAIN_TABLE_MODULES:
        importlib.import_module(name)
    return metadata
