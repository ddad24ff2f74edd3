"""Batch jobs on Spark: legacy-file ingest and matching runs, local mode or a cluster by configuration.

See docs/batch.md. The jobs reuse the embedded code paths (readers, planners,
sealing, linkage) and commit through the door, so their results are the embedded
ones: :mod:`taxvault.batch.ingest` (stage in parallel, commit per file in one unit),
:mod:`taxvault.jobs.batch_match` (the matching job with linkage on Spark: it lives in
``jobs/``, above the domains, as does the ``taxvault batch`` CLI, :mod:`taxvault.jobs.batch_cli`).
"""
