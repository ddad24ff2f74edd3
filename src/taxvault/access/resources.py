"""What the Gate protects: the kinds of resource routes declare, and how each is located."""

from __future__ import annotations

from enum import StrEnum


class Resource(StrEnum):
    """A kind of protected resource. Routes declare one; the Gate does the rest."""

    ENTITY = "entity"
    MODULE_LIST = "module_list"
    MODULE_TRANSCRIPT = "module_transcript"
    NOTICES = "notices"
    RETURNS = "returns"
    INFORMATION_RETURNS = "information_returns"
    MY_CASES = "my_cases"
    APPROVALS = "approvals"
    ACCESS_REPORT = "access_report"
    AUDIT_LOG = "audit_log"
    MATCHING_AGREEMENT = "matching_agreement"
    MATCHING_LEAD = "matching_lead"
    MATCHING_OUTCOMES = "matching_outcomes"
    # What the system jobs act on (never served to a request: located by the job itself).
    POSTING_CYCLE = "posting_cycle"
    INGEST_FILE = "ingest_file"
    POPULATION = "population"
    # Differentially private aggregates (stats/): no record, only noisy counts and sums per group.
    STATS = "stats"
    # Oversight (located by the oversight services themselves): the alert queue, the
    # break-glass review queue, and the UNAX letter to a taxpayer (her name and address).
    OVERSIGHT_ALERT = "oversight_alert"
    OVERSIGHT_SCAN = "oversight_scan"  # the detectors' pass: the log plus taxpayers' addresses and cases
    BREAK_GLASS_REVIEW = "break_glass_review"
    UNAX_LETTER = "unax_letter"
    # Data custody (oversight/grants.py, oversight/exports.py): time-boxed grants and the
    # exports made under them (an export's rows are decided on the dataset's own resource).
    GRANT = "grant"
    EXPORT = "export"
    # Asking (query/): a typed plan's listing of records, or its aggregates (the query service
    # names the plan by its hash; each dataset the plan touches is decided on its own).
    QUERY = "query"
    QUERY_AGGREGATE = "query_aggregate"

    @property
    def dataset(self) -> str:
        """The table the data comes from (grants are scoped by dataset)."""
        return _DATASET[self]

    @property
    def taxpayer_data(self) -> bool:
        """Whether the resource discloses a taxpayer's data."""
        return self in _TAXPAYER_DATA

    @property
    def locator(self) -> str:
        """How the target is named: ``entity`` or ``module`` (a path id), ``self``, ``audit``, or ``job``.

        ``job``: the system job names the target itself (a :class:`~taxvault.access.door.Target`
        it builds); no request locates one.
        """
        return _LOCATOR[self]


_DATASET = {
    Resource.ENTITY: "entities",
    Resource.MODULE_LIST: "tax_modules",
    Resource.MODULE_TRANSCRIPT: "transactions",
    Resource.NOTICES: "notices",
    Resource.RETURNS: "returns",
    Resource.INFORMATION_RETURNS: "information_returns",
    Resource.MY_CASES: "cases",
    Resource.APPROVALS: "ledger_adjustments",
    Resource.ACCESS_REPORT: "audit_events",
    Resource.AUDIT_LOG: "audit_events",
    Resource.MATCHING_AGREEMENT: "matching_agreements",
    Resource.MATCHING_LEAD: "matching_leads",
    Resource.MATCHING_OUTCOMES: "matching_leads",
    Resource.POSTING_CYCLE: "cycle_runs",
    Resource.INGEST_FILE: "sources",
    Resource.POPULATION: "sources",
    Resource.STATS: "stats",
    Resource.OVERSIGHT_ALERT: "oversight_alerts",
    Resource.OVERSIGHT_SCAN: "audit_events",
    Resource.BREAK_GLASS_REVIEW: "break_glass_reviews",
    Resource.UNAX_LETTER: "oversight_letters",
    Resource.GRANT: "grants",
    Resource.EXPORT: "exports",
    Resource.QUERY: "query_plans",
    Resource.QUERY_AGGREGATE: "query_plans",
}
_TAXPAYER_DATA = frozenset(
    {
        Resource.ENTITY,
        Resource.MODULE_LIST,
        Resource.MODULE_TRANSCRIPT,
        Resource.NOTICES,
        Resource.RETURNS,
        Resource.INFORMATION_RETURNS,
        Resource.MATCHING_LEAD,  # names a taxpayer a match found
        Resource.INGEST_FILE,  # a legacy file's records are taxpayers' data
        Resource.POPULATION,  # synthetic, but loaded exactly as taxpayers' data would be
        Resource.OVERSIGHT_SCAN,  # the detectors compare addresses, surnames and cases
        Resource.UNAX_LETTER,  # addressed to the taxpayer: her name and address
        Resource.QUERY,  # a listing of records
    }
)
_LOCATOR = {
    Resource.ENTITY: "entity",
    Resource.MODULE_LIST: "entity",
    Resource.MODULE_TRANSCRIPT: "module",
    Resource.NOTICES: "module",
    Resource.RETURNS: "entity",
    Resource.INFORMATION_RETURNS: "entity",
    Resource.MY_CASES: "self",
    Resource.APPROVALS: "self",
    Resource.ACCESS_REPORT: "self",
    Resource.AUDIT_LOG: "audit",
    # Agreements and a partner's outcomes are scoped by the route (a partner sees its own);
    # a lead is located by the taxpayer it names, so every rule about that taxpayer applies.
    Resource.MATCHING_AGREEMENT: "self",
    Resource.MATCHING_LEAD: "entity",
    Resource.MATCHING_OUTCOMES: "self",
    # A job names what it acts on itself (a run tag, a file's content hash, a seed):
    # there is no row to locate before the job writes it.
    Resource.POSTING_CYCLE: "job",
    Resource.INGEST_FILE: "job",
    Resource.POPULATION: "job",
    Resource.STATS: "self",  # the analyst's own budget and answers
    Resource.OVERSIGHT_ALERT: "job",
    Resource.OVERSIGHT_SCAN: "job",
    Resource.BREAK_GLASS_REVIEW: "job",
    Resource.UNAX_LETTER: "job",
    Resource.GRANT: "job",  # the grants service locates the grant itself
    Resource.EXPORT: "job",
    Resource.QUERY: "job",  # the query service names the plan (its hash) itself
    Resource.QUERY_AGGREGATE: "job",
}
