"""The matching job: partner imports, runs, ad-hoc linkage and destruction, through the door.

Orchestration lives here, above the domains: a run reads the agency's people and
returns (store), the partner's sealed rows (matching), links them, evaluates the
program and records leads. Each step that touches the store is one unit of work
of the door (:meth:`taxvault.access.door.Door.unit`) in which the policies decide
on the same connection that then reads or writes, and the audit events of the step
are appended (a write's inside its transaction, before COMMIT):

    run_agreement:  read unit   decide run_match, check the agreement, read both sides, audit what was read
                    (no store)  encode and link
                    write unit  decide again, re-check the agreement, evaluate, store the run and its leads, audit

An import and a destruction are the same shape: work on files and keys happens
outside a transaction, never a decision on one connection and a write on another.
The job acts as a named system principal (``sys-matching``:
:meth:`~taxvault.access.door.Door.system_session`), or as the person a CLI names.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from pathlib import Path

from taxvault.access.door import Decided, Door, Session, Target, Unit
from taxvault.access.resources import Resource
from taxvault.errors import Invalid, TaxvaultError
from taxvault.matching.agreements import (
    CLEAR_FIELDS,
    Agreement,
    AgreementNotActive,
    get_agreement,
    list_agreements,
    new_ref,
)
from taxvault.matching.front import AGREEMENTS, authorize
from taxvault.matching.importer import (
    ImportReport,
    already_imported,
    check_mapping,
    file_hash,
    import_fields,
    prepare_import,
    read_partner_data,
    store_import,
)
from taxvault.matching.keys import (
    ShredReport,
    check_can_shred,
    create_key,
    destroy_and_certify,
    due_for_destruction,
    has_key,
    keys_for,
    shred_counts,
    shred_rows,
)
from taxvault.matching.linkage import LinkResult
from taxvault.matching.programs import (
    PROGRAM_RUNS,
    RunError,
    RunReport,
    agency_people,
    fields_read,
    link_people,
    record_run,
)
from taxvault.oversight.shred import record_certificate

JOB = "sys-matching"
MATCHING_PURPOSE = "computer_matching"
SHRED_PURPOSE = "agreement_destruction"
RUNNABLE = ("death_refunds", "state_wages")
_AGREEMENT = Resource.MATCHING_AGREEMENT


def job_session(door: Door, purpose: str = MATCHING_PURPOSE, *, request_id: str | None = None) -> Session:
    """The matching job's own session (the system principal ``sys-matching``)."""
    return door.system_session(JOB, purpose, request_id=request_id)


def _today(today: dt.date | None) -> dt.date:
    return today or dt.datetime.now(dt.UTC).date()


def _active(unit: Unit, agreement: Agreement, action: str, decided: Decided, today: dt.date) -> None:
    """Refuse (and audit the refusal) unless the agreement is approved and in force ``today``."""
    try:
        agreement.require_active(today)
    except AgreementNotActive:
        unit.audit(action, _AGREEMENT, agreement.ref, decided.decision, reason="agreement-not-active")
        raise


def _allowed(
    unit: Unit, ref: str, action: str, today: dt.date, *, for_update: bool = False
) -> tuple[Agreement, Decided]:
    """The agreement, if the policies let the session do ``action`` under it and it is active today."""
    agreement = get_agreement(unit.conn, ref, for_update=for_update)
    decided = authorize(unit, action, _AGREEMENT, Target(ref))
    _active(unit, agreement, action, decided, today)
    return agreement, decided


# -- imports ---------------------------------------------------------------------------------------------


def import_partner_file(
    door: Door,
    session: Session,
    agreement_ref: str,
    path: Path,
    *,
    id_column: str,
    mapping: Mapping[str, str],
    fmt: str | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Import a partner file under an active agreement: ids tokenised, people encoded, rows sealed.

    A first unit asks whether the import may go ahead (so a refused import reads no file);
    the file is read and encoded outside any transaction; a second unit decides again,
    stores the sealed rows and audits the import, all in one transaction.
    """
    day = _today(today)
    with door.unit(session) as unit:
        agreement, _ = _allowed(unit, agreement_ref, "import_partner_data", day)
        check_mapping(agreement, mapping)
        already_imported(unit.conn, agreement, file_hash(path))
    prepared = prepare_import(agreement, path, id_column=id_column, mapping=mapping, fmt=fmt)
    with door.unit(session, write=True) as unit:
        agreement, decided = _allowed(unit, agreement_ref, "import_partner_data", day, for_update=True)
        already_imported(unit.conn, agreement, prepared.content_hash)
        report = store_import(unit.conn, agreement, prepared, actor=session.principal)
        unit.audit("import_partner_data", _AGREEMENT, agreement.ref, decided.decision, import_fields(agreement, report))
    return report


# -- runs ------------------------------------------------------------------------------------------------


def run_agreement(
    door: Door,
    session: Session,
    agreement_ref: str,
    *,
    today: dt.date | None = None,
    backend: str = "duckdb",
) -> RunReport:
    """Run the agreement's program: refused (and audited) unless the agreement is approved and active."""
    started = dt.datetime.now(dt.UTC)
    day = _today(today)
    with door.unit(session) as unit:
        agreement, decided = _allowed(unit, agreement_ref, "run_match", day)
        program = PROGRAM_RUNS.get(agreement.program)
        if program is None:
            raise RunError(f"agreement {agreement.ref} is for ad-hoc linkage only: use `taxvault match link`")
        if not has_key(agreement.ref):
            raise RunError(f"no partner data was imported under agreement {agreement.ref}")
        keys = keys_for(agreement)
        report = RunReport(new_ref("u"), agreement.ref, agreement.program, day, fields_read(agreement))
        t0 = time.perf_counter()
        partner = read_partner_data(unit.conn, agreement)
        agency = agency_people(unit.conn, agreement.link_fields, program.agency_filter())
        report.seconds["read"] = time.perf_counter() - t0
        unit.audit("run_match", _AGREEMENT, agreement.ref, decided.decision, report.fields_read)
    report.audit_leaf = unit.leaves[-1] if unit.leaves else None
    report.agency_rows, report.partner_records, report.partner_rows = (
        agency.num_rows,
        partner.people.num_rows,
        len(partner.rows),
    )
    pairs = link_people(agreement, keys, agency, partner, backend, report)
    with door.unit(session, write=True) as unit:
        agreement, decided = _allowed(unit, agreement_ref, "run_match", day, for_update=True)
        t0 = time.perf_counter()
        findings = program.evaluate(unit.conn, agreement, pairs, partner.rows)
        report.findings = len(findings)
        report.seconds["evaluate"] = time.perf_counter() - t0
        report.leads_new = record_run(unit.conn, agreement, report, findings, actor=session.principal, started=started)
        recorded = (f"run={report.run_ref}", f"findings={report.findings}", f"leads_new={report.leads_new}")
        unit.audit("record_run", _AGREEMENT, agreement.ref, decided.decision, recorded)
    return report


def runnable_agreements(door: Door, session: Session, *, today: dt.date | None = None) -> list[str]:
    """The agreements a run covers by default: approved, active today, of a built-in program."""
    day = _today(today)
    with door.unit(session) as unit:
        authorize(unit, "run_match", _AGREEMENT, Target(AGREEMENTS))
        found = list_agreements(unit.conn, state="approved", limit=10_000)
    return [a.ref for a in found if a.status(day) == "active" and a.program in RUNNABLE]


def run_active(
    door: Door, session: Session, *, today: dt.date | None = None, backend: str = "duckdb"
) -> list[RunReport]:
    """Run every agreement that is active today (one run each, as :func:`run_agreement`)."""
    return [
        run_agreement(door, session, ref, today=today, backend=backend)
        for ref in runnable_agreements(door, session, today=today)
    ]


# -- ad-hoc linkage ---------------------------------------------------------------------------------------


def link_files(
    door: Door,
    session: Session,
    agreement_ref: str,
    left: Path,
    right: Path,
    *,
    id_column: str,
    left_map: Mapping[str, str],
    right_map: Mapping[str, str],
    out: Path,
    threshold: float | None = None,
    today: dt.date | None = None,
    right_id_column: str | None = None,
    review_out: Path | None = None,
    review_threshold: float | None = None,
    clear: bool = False,
) -> LinkResult:
    """Link two person files under an agreement, encoded with its key (only the fields it names).

    ``threshold`` defaults to the agreement's (0 is a threshold, not "unset").
    ``review_out`` gets the pairs between ``review_threshold`` and the threshold
    whose records were left unlinked, with the comparison levels that scored them
    (ids, probabilities and level names only; written readable by the owner alone).
    ``clear`` compares the files in the clear, refused unless the agreement names
    the ``clear_fields`` element.
    """
    from taxvault.matching.linkage import link_csv  # Splink loads only for a linkage

    threshold = check_thresholds(threshold, review_threshold, review_out)
    day = _today(today)
    with door.unit(session) as unit:
        agreement, decided = _allowed(unit, agreement_ref, "link_files", day)
        outside = sorted((set(left_map) | set(right_map)) - set(agreement.link_fields))
        if outside:
            raise Invalid(f"agreement {agreement_ref} does not name {', '.join(outside)} for linkage")
        if clear and not agreement.allows_clear:
            raise Invalid(
                f"agreement {agreement_ref} does not allow linkage in the clear (it does not name {CLEAR_FIELDS}); "
                "link without --clear (keyed encodings)"
            )
        named = (*sorted(left_map), *(("mode=clear",) if clear else ()))
        unit.audit("link_files", _AGREEMENT, agreement.ref, decided.decision, named)
    if not clear:
        create_key(agreement.ref)
    return link_csv(
        left,
        right,
        id_column=id_column,
        right_id_column=right_id_column,
        left_map=left_map,
        right_map=right_map,
        out_csv=out,
        threshold=agreement.threshold if threshold is None else threshold,
        key=None if clear else keys_for(agreement).linkage,
        review_csv=review_out,
        review_threshold=review_threshold,
    )


def check_thresholds(threshold: float | None, review_threshold: float | None, review_out: Path | None) -> float | None:
    """Refuse thresholds that are not probabilities, a review band without a file or a file without a band."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise Invalid(f"--threshold is a match probability between 0 and 1 (got {threshold:g})")
    if (review_out is None) != (review_threshold is None):
        raise Invalid("--review-out and --review-threshold go together: the file and the lower end of the band")
    if review_threshold is not None:
        if not 0.0 <= review_threshold <= 1.0:
            raise Invalid(f"--review-threshold is a match probability between 0 and 1 (got {review_threshold:g})")
        if threshold is not None and review_threshold > threshold:
            raise Invalid("--review-threshold must not be above --threshold (the band lies below the match threshold)")
    return threshold


# -- destruction ---------------------------------------------------------------------------------------------


def shred_agreement(door: Door, session: Session, agreement_ref: str, *, today: dt.date | None = None) -> ShredReport:
    """Destroy the agreement's partner data and key (due on its destruction date, or once revoked).

    Decide, delete the rows, mark the agreement destroyed and audit, in one transaction;
    the key goes only after that committed (a failed audit append destroys nothing). A
    crash between the commit and the key leaves a key of a destroyed agreement, which
    :func:`shred_due` sweeps.
    """
    day = _today(today)
    now = dt.datetime.now(dt.UTC)
    with door.unit(session, write=True) as unit:
        agreement = get_agreement(unit.conn, agreement_ref, for_update=True)
        decided = authorize(unit, "shred_agreement", _AGREEMENT, Target(agreement_ref))
        if agreement.state == "destroyed":
            rows = evidence = 0
            unit.audit("shred_agreement", _AGREEMENT, agreement_ref, decided.decision, ("key",))
        else:
            try:
                check_can_shred(agreement, day)
            except TaxvaultError:
                unit.audit("shred_agreement", _AGREEMENT, agreement_ref, decided.decision, reason="not-due")
                raise
            rows, evidence = shred_counts(unit.conn, agreement)
            shred_rows(unit.conn, agreement, actor=session.principal, rows=rows, now=now)
            fields = (
                "key",
                "matching_partner_rows",
                "matching_leads.evidence",
                f"rows={rows}",
                f"lead_evidence={evidence}",
            )
            unit.audit("shred_agreement", _AGREEMENT, agreement_ref, decided.decision, fields)
    # The key goes, and its destruction is certified (signed, stored, in the audit log).
    cert = destroy_and_certify(
        agreement_ref, by=session.principal, details={"partner_rows": rows, "lead_evidence": evidence}
    )
    if cert is not None:
        with door.unit(session, write=True) as unit:
            decided = authorize(unit, "shred_agreement", _AGREEMENT, Target(agreement_ref))
            record_certificate(unit, _AGREEMENT, agreement_ref, decided.decision, cert)
    return ShredReport(agreement_ref, rows, evidence, cert is not None, None, cert)


def shred_due(door: Door, session: Session, *, today: dt.date | None = None) -> list[ShredReport]:
    """Destroy every agreement whose destruction date has come, and any key left of a destroyed one."""
    day = _today(today)
    with door.unit(session) as unit:
        authorize(unit, "shred_agreement", _AGREEMENT, Target(AGREEMENTS))
        due, leftovers = due_for_destruction(unit.conn, day)
    reports = [shred_agreement(door, session, ref, today=day) for ref in due]
    reports.extend(shred_agreement(door, session, ref, today=day) for ref in leftovers)
    return reports
