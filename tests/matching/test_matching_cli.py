"""``taxvault match`` as its users meet it: one-line errors, no traceback, no TIN, every action as someone.

The Typer app is invoked directly (the lead engineer mounts it as ``taxvault match``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest
from matching_jobs import clear_tins
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from taxvault.audit import AuditLog
from taxvault.jobs.matching_cli import app  # taxvault match: matching's commands and the job's
from taxvault.matching.synthetic import partner_pair
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade
from taxvault.store.tables import principals
from taxvault.synth.load import synthesize

runner = CliRunner()
TODAY = dt.datetime.now(dt.UTC).date()
PERSON = "first_name,last_name,birth_date,tin,postcode"
COMMANDS = [
    [],
    ["agreement"],
    ["agreement", "create"],
    ["agreement", "approve"],
    ["agreement", "renew"],
    ["agreement", "revoke"],
    ["agreement", "list"],
    ["agreement", "show"],
    ["import"],
    ["run"],
    ["shred-due"],
    ["shred"],
    ["link"],
    ["leads"],
    ["lead"],
    ["outcomes"],
    ["synth-partner"],
]


@pytest.fixture
def store() -> Engine:
    engine = make_engine()
    upgrade(engine)
    synthesize(engine, 2000, 7)
    return engine


def ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def refused(args: list[str], message: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    assert result.output.count("error:") == 1
    return result.output


def create(program: str = "death_refunds", who: str = "E000000", *extra: str) -> str:
    fields = {"death_refunds": ("refunds_846", "death_date"), "linkage_only": ("", "")}[program]
    body = json.loads(
        ok(
            [
                "agreement",
                "create",
                "--partner",
                "partner-ssa",
                "--program",
                program,
                "--purpose",
                "Refunds issued after a date of death",
                "--authority",
                "26 USC 6103(d)",
                "--agency-fields",
                f"{PERSON},{fields[0]}".rstrip(","),
                "--partner-fields",
                f"{PERSON},{fields[1]}".rstrip(","),
                "--end",
                (TODAY + dt.timedelta(days=300)).isoformat(),
                "--destroy",
                (TODAY + dt.timedelta(days=400)).isoformat(),
                "--as",
                who,
                "--json",
                *extra,
            ]
        )
    )
    return str(body["agreement_id"])


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_an_uninitialised_store_is_one_clear_line() -> None:
    refused(["agreement", "list", "--as", "E000000"], "taxvault init")


def test_agreements_need_a_second_person_and_runs_an_approved_one(store: Engine) -> None:
    refused(["agreement", "list", "--as", "nobody"], "no active principal 'nobody'")
    refused(
        [
            "agreement",
            "create",
            "--partner",
            "partner-ssa",
            "--program",
            "death_refunds",
            "--purpose",
            "x" * 12,
            "--authority",
            "law",
            "--agency-fields",
            "first_name",
            "--partner-fields",
            "first_name",
            "--start",
            "2026-13-01",
            "--end",
            "2027-01-01",
            "--destroy",
            "2027-02-01",
            "--as",
            "E000000",
        ],
        "--start must be a date",
    )
    refused(
        [
            "agreement",
            "create",
            "--partner",
            "partner-ssa",
            "--program",
            "death_refunds",
            "--purpose",
            "x" * 12,
            "--authority",
            "law",
            "--agency-fields",
            f"{PERSON},refunds_846",
            "--partner-fields",
            f"{PERSON},death_date",
            "--start",
            TODAY.isoformat(),
            "--end",
            (TODAY + dt.timedelta(days=600)).isoformat(),
            "--destroy",
            (TODAY + dt.timedelta(days=700)).isoformat(),
            "--as",
            "E000000",
        ],
        "at most 18 months",
    )
    with pytest.raises(AssertionError):
        create(who="E000006")  # a caseworker may not draft
    ref = create()
    refused(["run", ref], f"agreement {ref} is draft")
    refused(["agreement", "approve", ref, "--as", "E000000"], "may not approve agreement")
    refused(["agreement", "approve", ref, "--as", "partner-ssa"], "may not approve agreement")
    assert "approved by eng-lead: active today" in ok(["agreement", "approve", ref, "--as", "eng-lead"])
    refused(["run", ref, "--as", "E000000"], "may not run match")
    refused(["run", ref], "no partner data was imported")
    listed = json.loads(ok(["agreement", "list", "--as", "partner-state-ca", "--json"]))
    assert listed == []  # not its agreement
    shown = json.loads(ok(["agreement", "show", ref, "--as", "partner-ssa", "--json"]))
    assert shown["status"] == "active" and shown["partner_fields"][-1] == "death_date"
    refused(["agreement", "show", ref, "--as", "partner-state-ca"], f"no matching agreement {ref}")
    refused(
        ["import", ref, "nowhere.csv", "--id-column", "ID", "--map", "first_name=F", "--map", "bank=B"],
        "does not name on the partner side",
    )
    refused(["leads", "--as", "partner-ssa"], "may not read")


@pytest.mark.slow
def test_from_agreement_to_leads_to_destruction(store: Engine, tmp_path: Path) -> None:
    ref = create()
    ok(["agreement", "approve", ref, "--as", "eng-lead"])
    partner_file, truth = tmp_path / "ssa-deaths.csv", tmp_path / "truth.csv"
    outputs = [ok(["synth-partner", "death_refunds", "--out", str(partner_file), "--truth", str(truth)])]
    made = json.loads(
        ok(
            [
                "synth-partner",
                "death_refunds",
                "--out",
                str(partner_file),
                "--truth",
                str(truth),
                "--seed",
                "2",
                "--json",
            ]
        )
    )
    named = [*PERSON.split(","), "death_date"]
    maps = [a for f in named for a in ("--map", f"{f}={made['mapping'][f]}")]
    imported = json.loads(ok(["import", ref, str(partner_file), "--id-column", made["id_column"], *maps, "--json"]))
    assert imported["rows_loaded"] == imported["rows_read"] > 100
    (run,) = json.loads(ok(["run", "--json"]))  # every active agreement
    assert run["agreement_id"] == ref and run["leads_new"] >= 30
    assert "agency:birth_date" in run["fields_read"] and "partner:death_date" in run["fields_read"]
    outputs.append(ok(["leads", "--as", "E000009"]))
    page = json.loads(ok(["leads", "--as", "E000009", "--json", "--limit", "500"]))
    lead = page["items"][0]["lead_id"]
    outputs.append(ok(["lead", lead, "--as", "E000009"]))
    refused(["lead", lead, "--as", "E000009", "--to", "notified"], "no notice before a person has verified")
    moved = json.loads(
        ok(
            [
                "lead",
                lead,
                "--as",
                "E000009",
                "--to",
                "verified",
                "--note",
                "Death certificate seen; the refund went to the account of the deceased.",
                "--json",
            ]
        )
    )
    assert moved["state"] == "verified" and moved["history"][-1]["actor"] == "E000009"
    outcomes = json.loads(ok(["outcomes", "--as", "partner-ssa", "--json"]))
    assert {i["state"] for i in outcomes["items"]} == {"new", "verified"}
    outputs.append(ok(["outcomes", "--as", "partner-ssa"]))
    assert "nothing is due" in ok(["shred-due"])
    destroyed = json.loads(ok(["shred-due", "--date", (TODAY + dt.timedelta(days=400)).isoformat(), "--json"]))
    assert destroyed == [
        {
            "agreement_id": ref,
            "key_destroyed": True,
            "lead_evidence": run["leads_new"],
            "partner_rows": imported["rows_loaded"],
        }
    ]
    after = json.loads(ok(["lead", lead, "--as", "E000009", "--json"]))
    assert after["evidence"] is None and after["evidence_destroyed"] is True and after["state"] == "verified"
    refused(["run", ref], "destroyed")
    tins = set(clear_tins(store).values())
    assert not [t for t in tins if any(t in out for out in outputs)]


@pytest.mark.slow
def test_ad_hoc_linkage_of_two_files_under_an_agreement(store: Engine, tmp_path: Path) -> None:
    ref = create("linkage_only")
    left_rows, right_rows, truth = partner_pair(300, 250, 0.6, seed=3)
    left, right, out = tmp_path / "left.csv", tmp_path / "right.csv", tmp_path / "pairs.csv"
    pacsv.write_csv(left_rows, left)
    pacsv.write_csv(right_rows.rename_columns(["id", *(f"R_{c}" for c in right_rows.column_names[1:])]), right)
    maps = [
        "--map",
        "first_name=first_name",
        "--map",
        "last_name=last_name",
        "--map",
        "birth_date=birth_date",
        "--map",
        "postcode=postcode",
    ]
    right_maps = [
        "--right-map",
        "first_name=R_first_name",
        "--right-map",
        "last_name=R_last_name",
        "--right-map",
        "birth_date=R_birth_date",
        "--right-map",
        "postcode=R_postcode",
    ]
    args = [
        "link",
        str(left),
        str(right),
        "--id-column",
        "id",
        *maps,
        *right_maps,
        "--out",
        str(out),
        "--agreement",
        ref,
    ]
    refused(args, f"agreement {ref} is draft")
    ok(["agreement", "approve", ref, "--as", "eng-lead"])
    refused([*args[:-2], "--map", "street=street", "--agreement", ref], "does not name street for linkage")
    assert "pairs" in ok(args)
    pairs = pacsv.read_csv(out).to_pylist()
    assert pairs and set(pairs[0]) >= {"left_id", "right_id", "match_probability"}
    found = {(p["left_id"], p["right_id"]) for p in pairs}
    true = {(t["left_id"], t["right_id"]) for t in truth.to_pylist()}
    assert len(found & true) >= 0.8 * len(true) and len(found & true) >= 0.9 * len(found)


def _last_event(engine: Engine) -> Any:
    log = AuditLog(engine)
    try:
        return log.event(log.tree_head().tree_size - 1)
    finally:
        log.close()


def test_an_unknown_or_deactivated_principal_is_refused_in_one_line_and_audited(store: Engine) -> None:
    refused(["leads", "--as", "nobody"], "no active principal 'nobody'")
    event = _last_event(store)
    assert (event.principal, event.decision.value, event.policy) == (
        "nobody",
        "deny",
        "refused:principal-inactive-or-unknown",
    )
    out = refused(["leads", "--as", "not a principal: 42"], "no active principal (as given)")
    assert "42" not in out  # what was typed is not echoed unless it has the shape of a principal id
    assert _last_event(store).principal == "unknown"
    ok(["leads", "--as", "E000009", "--json"])
    with store.begin() as conn:
        conn.execute(principals.update().where(principals.c.id == "E000009").values(active=False))
    refused(["leads", "--as", "E000009"], "no active principal 'E000009'")
    event = _last_event(store)
    assert (event.principal, event.decision.value) == ("E000009", "deny")


def test_agreement_start_defaults_to_today_and_the_past_is_refused(store: Engine) -> None:
    shown = json.loads(ok(["agreement", "show", create(), "--as", "E000000", "--json"]))
    assert shown["starts_on"] == TODAY.isoformat()  # no --start given
    past = [
        "agreement",
        "create",
        "--partner",
        "partner-ssa",
        "--program",
        "linkage_only",
        "--purpose",
        "x" * 12,
        "--authority",
        "law",
        "--agency-fields",
        "first_name",
        "--partner-fields",
        "first_name",
        "--start",
        (TODAY - dt.timedelta(days=1)).isoformat(),
        "--end",
        (TODAY + dt.timedelta(days=30)).isoformat(),
        "--destroy",
        (TODAY + dt.timedelta(days=60)).isoformat(),
        "--as",
        "E000000",
    ]
    refused(past, "is in the past")


def test_agreement_ids_are_never_truncated_in_tables(store: Engine) -> None:
    refs = [create(), create("linkage_only")]
    wide = runner.invoke(app, ["agreement", "list", "--as", "E000000"], terminal_width=60)
    assert wide.exit_code == 0, wide.output
    for ref in refs:
        assert ref in wide.output  # whole, on one line, even at 60 columns
    assert "…" not in wide.output


def test_link_thresholds_out_of_range_are_refused_before_anything_runs(tmp_path: Path) -> None:
    base = ["link", "l.csv", "r.csv", "--id-column", "id", "--map", "first_name=f", "--out", "o.csv"]
    base += ["--agreement", "a123"]
    refused([*base, "--threshold", "1.5"], "--threshold is a match probability between 0 and 1")
    refused([*base, "--threshold", "-0.1"], "--threshold is a match probability between 0 and 1")
    refused([*base, "--review-out", str(tmp_path / "r.csv")], "--review-out and --review-threshold go together")
    refused(
        [*base, "--threshold", "0.5", "--review-threshold", "0.7", "--review-out", "x.csv"],
        "must not be above --threshold",
    )


def test_link_help_lists_the_canonical_fields() -> None:
    result = runner.invoke(app, ["link", "--help"], terminal_width=200)
    for name in (
        "first_name",
        "last_name",
        "birth_date",
        "tin",
        "street_number",
        "street",
        "city",
        "postcode",
        "state",
    ):
        assert name in result.output


@pytest.mark.slow
def test_link_review_band_clear_mode_threshold_zero_and_right_id_column(store: Engine, tmp_path: Path) -> None:
    import os
    import stat

    encoded_ref = create("linkage_only")
    ok(["agreement", "approve", encoded_ref, "--as", "eng-lead"])
    clear_ref = create("linkage_only", "E000000", "--agency-fields", f"{PERSON},clear_fields")
    ok(["agreement", "approve", clear_ref, "--as", "eng-lead"])
    left_rows, right_rows, truth = partner_pair(300, 250, 0.6, seed=4)
    fields = PERSON.split(",")
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    pacsv.write_csv(left_rows.select(["id", *fields]), left)
    pacsv.write_csv(right_rows.select(["id", *fields]).rename_columns(["partner_ref", *fields]), right)
    maps = [a for f in fields for a in ("--map", f"{f}={f}")]
    common = ["link", str(left), str(right), "--id-column", "id", "--right-id-column", "partner_ref", *maps]
    out, review = tmp_path / "pairs.csv", tmp_path / "review.csv"
    review.write_text("old\n")
    os.chmod(review, 0o644)
    said = ok(
        [
            *common,
            "--out",
            str(out),
            "--agreement",
            encoded_ref,
            "--review-out",
            str(review),
            "--review-threshold",
            "0.01",
        ]
    )
    assert "pairs to review" in said
    assert stat.S_IMODE(review.stat().st_mode) == 0o600
    pairs = pacsv.read_csv(out).to_pylist()
    band = pacsv.read_csv(review).to_pylist()
    assert band and all(0.01 <= p["match_probability"] < 0.9 for p in band)
    assert {"level_first_name", "level_birth_date", "bf_first_name"} <= set(band[0])
    assert {b["level_last_name"] for b in band} - {"missing"}  # the levels are named
    linked = {p["left_id"] for p in pairs} | {p["right_id"] for p in pairs}
    assert not [b for b in band if b["left_id"] in linked or b["right_id"] in linked]
    tins = {t for t in left_rows.column("tin").to_pylist() + right_rows.column("tin").to_pylist() if t}
    text = review.read_text()
    assert not [t for t in tins if t in text]
    found = {(p["left_id"], p["right_id"]) for p in pairs}
    true = {(t["left_id"], t["right_id"]) for t in truth.to_pylist()}
    assert len(found & true) >= 0.95 * len(true) and len(found & true) >= 0.95 * len(found)

    refused([*common, "--out", str(out), "--agreement", encoded_ref, "--clear"], "does not allow linkage in the clear")
    zero = tmp_path / "zero.csv"
    assert "in the clear" in ok([*common, "--out", str(zero), "--agreement", clear_ref, "--clear", "--threshold", "0"])
    everything = pacsv.read_csv(zero).to_pylist()
    assert len(everything) > len(pairs)  # 0 is a threshold, not "use the agreement's 0.9"
    assert min(p["match_probability"] for p in everything) < 0.5
