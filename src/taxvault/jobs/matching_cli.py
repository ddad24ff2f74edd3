"""``taxvault match import|run|shred-due|shred|link|synth-partner``: the matching job's commands.

They are added to the ``taxvault match`` app of :mod:`taxvault.matching.cli` (whose
helpers they share: one door per command, ``--as``, one-line errors) and live here
because they drive :mod:`taxvault.jobs.matching`, work across domains that no domain
may import. Runs, imports, linkage and destruction act as the matching job
(``sys-matching``) unless ``--as`` names another principal, whom the policies refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from taxvault.errors import TaxvaultError
from taxvault.jobs import matching as job
from taxvault.matching.agreements import CLEAR_FIELDS
from taxvault.matching.cli import (
    DateOption,
    JsonOption,
    app,
    console,
    open_door,
    parse_day,
    print_json,
    session_for,
)
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.importer import parse_mapping
from taxvault.synth.partners import SYNTHETIC_FILES
from taxvault.terminal import fail

JOB_PURPOSE = job.MATCHING_PURPOSE
JobAsOption = typer.Option(job.JOB, "--as", help="The principal acting (default: the matching job).")

__all__ = ["app"]


# -- the matching job ---------------------------------------------------------------------------------


@app.command("import")
def import_(
    agreement: str = typer.Argument(..., help="The agreement the data comes under."),
    file: Path = typer.Argument(..., help="The partner's CSV or Parquet file."),
    id_column: str = typer.Option(..., "--id-column", help="The partner's record id column."),
    maps: list[str] = typer.Option(..., "--map", help="FIELD=COLUMN for each partner field of the agreement."),
    fmt: str | None = typer.Option(None, "--format", help="csv or parquet (default: from the suffix)."),
    date: str | None = DateOption,
    as_: str = JobAsOption,
    as_json: bool = JsonOption,
) -> None:
    """Import a partner file: ids become keyed tokens, people keyed encodings, every row sealed."""
    with open_door() as door:
        report = job.import_partner_file(
            door,
            session_for(door, as_, JOB_PURPOSE),
            agreement,
            file,
            id_column=id_column,
            mapping=parse_mapping(maps),
            fmt=fmt,
            today=parse_day(date),
        )
    body = {
        "import_id": report.import_ref,
        "agreement_id": report.agreement_ref,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "records": report.records,
        "rejected": report.rejected,
        "blanked": report.blanked,
        "rejections": [{"row": r.row, "field": r.field, "reason": r.reason} for r in report.rejections],
    }
    if as_json:
        print_json(body)
        return
    console.print(
        f"imported {report.rows_loaded:,} of {report.rows_read:,} rows ({report.records:,} records) under "
        f"agreement {report.agreement_ref}; {report.rejected:,} rejected",
        highlight=False,
    )
    for r in report.rejections[:20]:
        console.print(f"  row {r.row}: {r.field}: {r.reason}", highlight=False)


@app.command("run")
def run(
    agreement: str | None = typer.Argument(None, help="The agreement (default: every active one with data)."),
    date: str | None = DateOption,
    backend: str = typer.Option("duckdb", "--backend", help="duckdb, or spark (local) at scale."),
    as_: str = JobAsOption,
    as_json: bool = JsonOption,
) -> None:
    """Run matching programs: refused unless the agreement is approved and active on the day."""
    if backend not in ("duckdb", "spark"):
        raise fail("--backend is duckdb or spark")
    reports: list[dict[str, Any]] = []
    with open_door() as door:
        session = session_for(door, as_, JOB_PURPOSE)
        today = parse_day(date)
        refs = job.runnable_agreements(door, session, today=today) if agreement is None else [agreement]
        for ref in refs:
            r = job.run_agreement(door, session, ref, today=today, backend=backend)
            reports.append(
                {
                    "run_id": r.run_ref,
                    "agreement_id": r.agreement_ref,
                    "program": r.program,
                    "as_of": r.as_of.isoformat(),
                    "agency_rows": r.agency_rows,
                    "partner_records": r.partner_records,
                    "pairs_compared": r.pairs_compared,
                    "matched": r.matched,
                    "findings": r.findings,
                    "leads_new": r.leads_new,
                    "fields_read": list(r.fields_read),
                    "seconds": {k: round(v, 3) for k, v in r.seconds.items()},
                }
            )
    if as_json:
        print_json(reports)
        return
    if not reports:
        console.print("no active agreement to run")
    for b in reports:
        console.print(
            f"run {b['run_id']} of {b['agreement_id']} ({b['program']}): {b['agency_rows']:,} agency and "
            f"{b['partner_records']:,} partner records, {b['pairs_compared']:,} pairs compared, {b['matched']:,} "
            f"matched, {b['leads_new']:,} new leads",
            highlight=False,
        )


@app.command("shred-due")
def shred_due_command(date: str | None = DateOption, as_: str = JobAsOption, as_json: bool = JsonOption) -> None:
    """Destroy the key and partner data of every agreement whose destruction date has come (audited)."""
    with open_door() as door:
        reports = job.shred_due(door, session_for(door, as_, job.SHRED_PURPOSE), today=parse_day(date))
    body = [
        {
            "agreement_id": r.agreement_ref,
            "partner_rows": r.partner_rows,
            "lead_evidence": r.lead_evidence,
            "key_destroyed": r.key_destroyed,
        }
        for r in reports
    ]
    if as_json:
        print_json(body)
        return
    if not body:
        console.print("nothing is due for destruction")
    for b in body:
        console.print(
            f"destroyed agreement {b['agreement_id']}: key {'destroyed' if b['key_destroyed'] else 'absent'}, "
            f"{b['partner_rows']:,} partner rows, {b['lead_evidence']:,} lead evidence",
            highlight=False,
        )


@app.command("shred")
def shred_command(
    agreement: str = typer.Argument(..., help="The agreement (revoked, or past its destruction date)."),
    date: str | None = DateOption,
    as_: str = JobAsOption,
) -> None:
    """Destroy one agreement's key and partner data now (a revoked one need not wait for its date)."""
    with open_door() as door:
        report = job.shred_agreement(door, session_for(door, as_, job.SHRED_PURPOSE), agreement, today=parse_day(date))
    console.print(
        f"destroyed agreement {report.agreement_ref}: key {'destroyed' if report.key_destroyed else 'absent'}, "
        f"{report.partner_rows:,} partner rows, {report.lead_evidence:,} lead evidence",
        highlight=False,
    )


_FIELD_NAMES = ", ".join(PERSON_FIELDS)


@app.command("link")
def link(
    left: Path = typer.Argument(..., help="Left CSV file."),
    right: Path = typer.Argument(..., help="Right CSV file."),
    id_column: str = typer.Option(
        ..., "--id-column", help="The record id column (of both files, unless --right-id-column)."
    ),
    right_id_column: str | None = typer.Option(
        None, "--right-id-column", help="The right file's id column, if it differs."
    ),
    maps: list[str] = typer.Option(
        ..., "--map", help=f"FIELD=COLUMN (both files, unless --right-map); FIELD is one of: {_FIELD_NAMES}."
    ),
    right_maps: list[str] = typer.Option([], "--right-map", help="FIELD=COLUMN of the right file, if it differs."),
    out: Path = typer.Option(..., "--out", help="Where to write the pairs (left_id,right_id,match_probability)."),
    agreement: str = typer.Option(..., "--agreement", help="The agreement the files come under."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Match probability a pair needs, 0 to 1 (default: the agreement's)."
    ),
    review_out: Path | None = typer.Option(
        None,
        "--review-out",
        help="Also write the pairs of the review band, with the comparison levels that scored them (mode 0600).",
    ),
    review_threshold: float | None = typer.Option(
        None, "--review-threshold", help="Lower end of the review band (0 to 1, at most the threshold)."
    ),
    clear: bool = typer.Option(
        False, "--clear", help=f"Compare in the clear (only if the agreement names {CLEAR_FIELDS})."
    ),
    date: str | None = DateOption,
    as_: str = JobAsOption,
) -> None:
    """Link two person files under an agreement, encoded with its key (only the fields it names).

    Canonical fields for --map: first_name, last_name, birth_date, tin, street_number, street, city,
    postcode, state.
    """
    try:
        job.check_thresholds(threshold, review_threshold, review_out)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    with open_door() as door:
        left_map = parse_mapping(maps)
        result = job.link_files(
            door,
            session_for(door, as_, JOB_PURPOSE),
            agreement,
            left,
            right,
            id_column=id_column,
            right_id_column=right_id_column,
            left_map=left_map,
            right_map={**left_map, **parse_mapping(right_maps)},
            out=out,
            threshold=threshold,
            today=parse_day(date),
            review_out=review_out,
            review_threshold=review_threshold,
            clear=clear,
        )
    console.print(
        f"{result.pairs.num_rows:,} pairs (of {result.pairs_compared:,} compared) written to {out}"
        f"{' (compared in the clear)' if clear else ''}",
        highlight=False,
    )
    if review_out is not None and result.review is not None:
        console.print(f"{result.review.num_rows:,} pairs to review written to {review_out}", highlight=False)


# -- synthetic partner files ------------------------------------------------------------------------------


@app.command("synth-partner")
def synth_partner(
    program: str = typer.Argument(..., help="death_refunds or state_wages."),
    out: Path = typer.Option(..., "--out", help="The partner file to write (.csv or .parquet)."),
    truth: Path = typer.Option(..., "--truth", help="Where to keep the true links aside (.csv or .parquet)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    rate: float = typer.Option(0.3, "--rate", min=0.0, max=1.0, help="Share of partner records with errors."),
    as_json: bool = JsonOption,
) -> None:
    """Make a synthetic partner file from the synthetic store, with realistic errors; the truth apart."""
    make = SYNTHETIC_FILES.get(program)
    if make is None:
        raise fail(f"unknown program {program!r} (death_refunds or state_wages)")
    with open_door() as door:
        made = make(door.engine, seed=seed, rate=rate)
        made.write(out, truth)
    if as_json:
        print_json({"rows": made.table.num_rows, "id_column": made.id_column, "mapping": made.mapping})
        return
    console.print(
        f"wrote {made.table.num_rows:,} partner rows to {out} and the truth apart to {truth}", highlight=False
    )
    console.print(
        f"import with --id-column {made.id_column} and, for each field the agreement names on the partner "
        "side, --map FIELD=COLUMN:",
        highlight=False,
    )
    for f, c in made.mapping.items():
        console.print(f"  --map {f}={c}", highlight=False)
