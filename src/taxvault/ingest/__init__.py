"""Ingest legacy files into the canonical store: read -> validate -> quarantine -> load.

Idempotent (a file is known by its content hash) and resumable (each file loads
in one transaction with its ``sources`` row and its quarantined records).
Typical use::

    reports = ingest_paths(engine, [Path("legacy/")])
    for r in reports:
        r.status, r.read, r.loaded, r.quarantined     # loaded + quarantined == read

A file that is not what it claims raises :class:`IngestError` (one line, no TIN)
and leaves the store as it was. CLI: ``taxvault ingest PATH...`` (:mod:`.cli`).
"""

from taxvault.ingest.pipeline import FileReport, IngestError, ingest_paths, survey

__all__ = ["FileReport", "IngestError", "ingest_paths", "survey"]
