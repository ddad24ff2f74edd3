"""The two built-in matching programs, the run that drives them, and their synthetic partner files.

(a) ``death_refunds``: a partner's death records (SSA) against the agency's refunds:
    a lead when a refund (TC 846) posted on the matched person's account after the
    date of death the partner reports.
(b) ``state_wages``: a state's quarterly wage records against W-2s and returns: a
    lead when the state saw wages from an employer that filed no W-2 for the person
    that year, and the return (if any) does not report them.

A run reads only what its agreement names. The agency side is one SELECT built from
the agreement's person fields (``entities.id`` plus the columns those fields come
from, nothing else), and the program's own queries read only the data elements the
agreement names (TC 846 refunds; W-2 wages; return wages). The partner side is the
imported rows, which hold only the partner fields the agreement names. Both sides are
encoded with the agreement's key before linkage (:func:`taxvault.matching.encode.encode_people`),
so the linker sees no raw value. The run is audited before anything is read.

The synthetic partner files (:func:`death_records`, :func:`wage_records`) are built
from a synthetic store the way a partner would hold the same people: their own ids,
column names and formats, and the errors of :func:`taxvault.matching.synthetic.corrupt`;
people the agency does not know are mixed in; the true links and the leads a correct
run must find are kept aside in ``truth``. They read the store directly, like the
synthetic population generator, and only ever for synthetic data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from taxvault.access.resources import Resource
from taxvault.audit import AuditEvent, AuditLog, Decision
from taxvault.audit.errors import AuditError
from taxvault.matching import encode as _encode
from taxvault.matching import linkage as _linkage
from taxvault.matching import synthetic as _synthetic
from taxvault.matching.agreements import (
    Agreement,
    AgreementNotActive,
    MatchingError,
    get_agreement,
    new_ref,
)
from taxvault.matching.fields import PERSON_FIELDS
from taxvault.matching.importer import PartnerData, read_partner_data
from taxvault.matching.keys import AgreementKeys, has_key, keys_for
from taxvault.matching.leads import Finding, insert_findings
from taxvault.matching.tables import matching_runs
from taxvault.store.tables import entities, information_returns, returns, tax_modules, transactions

RUN_PURPOSE = "computer_matching"
WAGE_TOLERANCE_CENTS = 10_000  # $100: rounding and timing differences are not leads
_CHUNK = 5_000
_E = entities.c


class RunError(MatchingError):
    """A run that cannot go ahead (nothing imported, audit down, linkage refused the input)."""


# -- the agency side: one SELECT built from the agreement --------------------------------------------

_PERSON_SOURCE: Mapping[str, sa.Column[Any]] = {
    "first_name": _E.first_name,
    "last_name": _E.last_name,
    "birth_date": _E.birth_date,
    "tin": _E.tin,
    "street_number": _E.address_line,
    "street": _E.address_line,
    "city": _E.city,
    "postcode": _E.zip,
    "state": _E.state,
}
"""Where each canonical person field comes from in the store."""


def agency_columns(fields: Sequence[str]) -> list[sa.Column[Any]]:
    """``entities.id`` plus the columns the named person fields come from (each once)."""
    cols: list[sa.Column[Any]] = [_E.id]
    for f in fields:
        col = _PERSON_SOURCE[f]
        if all(col is not c for c in cols):
            cols.append(col)
    return cols


def agency_select(fields: Sequence[str], where: Sequence[ColumnElement[bool]] = ()) -> sa.Select[Any]:
    """The agency-side query: individuals, only the columns the agreement's fields need."""
    return sa.select(*agency_columns(fields)).where(_E.kind == "individual", *where).order_by(_E.id)


def split_address(line: str | None) -> tuple[str | None, str | None]:
    """``"123 Oak St Apt 4"`` -> (``"123"``, ``"Oak St Apt 4"``)."""
    if not line or not line.strip():
        return None, None
    head, _, rest = line.strip().partition(" ")
    if head.isdigit():
        return head, rest.strip() or None
    return None, line.strip()


def _person_value(f: str, row: Mapping[str, Any] | sa.RowMapping) -> str | None:
    if f in ("street_number", "street"):
        number, street = split_address(row["address_line"])
        return number if f == "street_number" else street
    value = row[_PERSON_SOURCE[f].name]
    if value is None:
        return None
    if f == "birth_date":
        return str(value.isoformat())
    if f == "postcode":
        return str(value)[:5]
    return str(value)


def agency_people(conn: Connection, fields: Sequence[str], where: Sequence[ColumnElement[bool]] = ()) -> pa.Table:
    """``id`` (the internal entity id, as text) + the named canonical fields, raw."""
    ids: list[str] = []
    cols: dict[str, list[str | None]] = {f: [] for f in fields}
    result = conn.execute(agency_select(fields, where).execution_options(yield_per=_CHUNK)).mappings()
    for row in result:
        ids.append(str(row["id"]))
        for f in fields:
            cols[f].append(_person_value(f, row))
    return pa.table({"id": pa.array(ids, pa.string()), **{f: pa.array(v, pa.string()) for f, v in cols.items()}})


# -- the programs ------------------------------------------------------------------------------


Evaluate = Callable[[Connection, Agreement, pa.Table, Sequence[tuple[str, dict[str, Any]]]], list[Finding]]


@dataclass(frozen=True, slots=True)
class Program:
    """A built-in program: which people the agency side considers, and what makes a lead."""

    name: str
    agency_filter: Callable[[], list[ColumnElement[bool]]]
    evaluate: Evaluate


def _contributions(pair: Mapping[str, Any]) -> dict[str, float]:
    """Each comparison's Bayes factor (``bf_<comparison>``: a field, or ``address`` for the address
    fields scored together), so a person can see why the pair matched."""
    out: dict[str, float] = {}
    for name, v in pair.items():
        if name.startswith("bf_") and v is not None and math.isfinite(float(v)):
            out[name[3:]] = float(v)
    return out


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _refund_filter() -> list[ColumnElement[bool]]:
    refunded = (
        sa.select(sa.literal(1))
        .select_from(transactions.join(tax_modules, tax_modules.c.id == transactions.c.module_id))
        .where(tax_modules.c.entity_id == _E.id, transactions.c.tc == 846)
        .exists()
    )
    return [refunded]


def _death_findings(
    conn: Connection, agreement: Agreement, pairs: pa.Table, rows: Sequence[tuple[str, dict[str, Any]]]
) -> list[Finding]:
    """A lead per tax module with a TC 846 refund posted after the partner's date of death."""
    death: dict[str, dt.date] = {}
    for token, extras in rows:
        d = dt.date.fromisoformat(extras["death_date"])
        death[token] = min(death.get(token, d), d)
    matched = pairs.to_pylist()
    ids = sorted({int(p["left_id"]) for p in matched})
    refunds: dict[int, list[tuple[str, int, int, dt.date]]] = defaultdict(list)
    m, t = tax_modules.c, transactions.c
    for chunk in _chunks(ids):
        q = (
            sa.select(m.entity_id, m.ref, m.tax_period, t.amount_cents, t.posted_date)
            .select_from(transactions.join(tax_modules, m.id == t.module_id))
            .where(t.tc == 846, m.entity_id.in_(chunk))
        )
        for eid, ref, period, cents, posted in conn.execute(q):
            refunds[int(eid)].append((str(ref), int(period), int(cents), posted))
    findings: list[Finding] = []
    for pair in matched:
        died = death.get(pair["right_id"])
        if died is None:
            continue
        after: dict[tuple[str, int], list[tuple[dt.date, int]]] = defaultdict(list)
        for ref, period, cents, posted in refunds.get(int(pair["left_id"]), []):
            if posted > died:
                after[(ref, period)].append((posted, cents))
        for (ref, period), items in sorted(after.items()):
            items.sort()
            findings.append(
                Finding(
                    entity_id=int(pair["left_id"]),
                    partner_token=str(pair["right_id"]),
                    finding_key=f"846:{ref}",
                    tax_year=period // 100,
                    probability=float(pair["match_probability"]),
                    contributions=_contributions(pair),
                    agency_facts={
                        "module_id": ref,
                        "refund_cents": sum(c for _, c in items),
                        "refunds": [{"posted_date": d.isoformat(), "amount_cents": c} for d, c in items],
                    },
                    evidence={"death_date": died.isoformat()},
                )
            )
    return findings


def _no_filter() -> list[ColumnElement[bool]]:
    return []


def _wage_findings(
    conn: Connection, agreement: Agreement, pairs: pa.Table, rows: Sequence[tuple[str, dict[str, Any]]]
) -> list[Finding]:
    """A lead per person and year whose state wages from employers without a W-2 the return does not cover."""
    keys = keys_for(agreement)
    # partner: token -> year -> employer token -> (cents, quarters)
    state: dict[str, dict[int, dict[str, list[Any]]]] = defaultdict(lambda: defaultdict(dict))
    for token, x in rows:
        year = int(x["quarter"][:4])
        slot = state[token][year].setdefault(x["employer_ein"], [0, []])
        slot[0] += int(x["wage_cents"])
        slot[1].append(x["quarter"])
    matched = pairs.to_pylist()
    ids = sorted({int(p["left_id"]) for p in matched})
    r, ir = returns.c, information_returns.c
    unit_returns: dict[tuple[int, int], tuple[int, int | None]] = {}  # (entity, year) -> (wages, spouse)
    for chunk in _chunks(ids):
        q = sa.select(r.entity_id, r.spouse_id, r.tax_year, r.wages_cents).where(
            sa.or_(r.entity_id.in_(chunk), r.spouse_id.in_(chunk))
        )
        for eid, spouse, year, wages in conn.execute(q):
            for person, other in ((eid, spouse), (spouse, eid)):
                if person is not None:
                    unit_returns[(int(person), int(year))] = (int(wages), None if other is None else int(other))
    people = set(ids) | {s for (_, _), (_, s) in unit_returns.items() if s is not None}
    w2: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    payer_tokens: dict[str, str] = {}
    for chunk in _chunks(sorted(people)):
        q = sa.select(ir.payee_id, ir.payer_tin, ir.tax_year, ir.income_cents).where(
            ir.form == "W-2", ir.payee_id.in_(chunk)
        )
        for payee, payer_tin, year, cents in conn.execute(q):
            tok = payer_tokens.get(payer_tin)
            if tok is None:
                tok = payer_tokens[payer_tin] = _encode.token(payer_tin, keys.linkage)
            w2[(int(payee), int(year))][tok] += int(cents)
    findings: list[Finding] = []
    for pair in matched:
        eid, token = int(pair["left_id"]), str(pair["right_id"])
        for year, employers in sorted(state.get(token, {}).items()):
            own = w2.get((eid, year), {})
            missing = {e: v for e, v in employers.items() if e not in own and v[0] > 0}
            missing_cents = sum(v[0] for v in missing.values())
            if missing_cents < WAGE_TOLERANCE_CENTS:
                continue
            filed = unit_returns.get((eid, year))
            return_wages = filed[0] if filed else 0
            unit_w2 = sum(own.values())
            if filed and filed[1] is not None:
                unit_w2 += sum(w2.get((filed[1], year), {}).values())
            uncovered = unit_w2 + missing_cents - return_wages
            if uncovered < WAGE_TOLERANCE_CENTS:
                continue
            findings.append(
                Finding(
                    entity_id=eid,
                    partner_token=token,
                    finding_key=f"wages:{year}",
                    tax_year=year,
                    probability=float(pair["match_probability"]),
                    contributions=_contributions(pair),
                    agency_facts={
                        "tax_year": year,
                        "w2_wages_cents": sum(own.values()),
                        "return_filed": filed is not None,
                        "return_wages_cents": return_wages,
                    },
                    evidence={
                        "state_wages_cents": sum(v[0] for v in employers.values()),
                        "missing_from_w2_cents": missing_cents,
                        "unreported_cents": min(missing_cents, uncovered),
                        "employers": [
                            {"employer_token": e[:16], "wages_cents": v[0], "quarters": sorted(v[1])}
                            for e, v in sorted(missing.items())
                        ],
                    },
                )
            )
    return findings


PROGRAM_RUNS: Mapping[str, Program] = {
    "death_refunds": Program("death_refunds", _refund_filter, _death_findings),
    "state_wages": Program("state_wages", _no_filter, _wage_findings),
}


# -- the run -------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What one run read, compared and found."""

    run_ref: str
    agreement_ref: str
    program: str
    as_of: dt.date
    fields_read: tuple[str, ...]
    agency_rows: int = 0
    partner_records: int = 0
    partner_rows: int = 0
    pairs_compared: int = 0
    matched: int = 0
    findings: int = 0
    leads_new: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    audit_leaf: int | None = None


def fields_read(agreement: Agreement) -> tuple[str, ...]:
    """What a run of the agreement reads, as audit field names (``agency:...``, ``partner:...``)."""
    return (
        *(f"agency:{f}" for f in (*agreement.link_fields, *agreement.agency_extra_fields)),
        *(f"partner:{f}" for f in (*agreement.link_fields, *agreement.partner_extra_fields)),
    )


def _run_event(
    actor: str, agreement_ref: str, decision: Decision, policy: str | None, request_id: str, fields: Sequence[str]
) -> AuditEvent:
    return AuditEvent.now(
        principal=actor,
        action=f"run_match:{Resource.MATCHING_AGREEMENT.value}",
        resource=agreement_ref,
        decision=decision,
        request_id=request_id,
        purpose=RUN_PURPOSE,
        policy=policy,
        fields=fields,
    )


def run_agreement(
    engine: Engine,
    agreement_ref: str,
    *,
    actor: str,
    audit: AuditLog,
    today: dt.date | None = None,
    policy: str | None = None,
    request_id: str | None = None,
    backend: str = "duckdb",
) -> RunReport:
    """Run the agreement's program: refused (and audited) unless the agreement is approved and active."""
    started = dt.datetime.now(dt.UTC)
    today = today or started.date()
    request_id = request_id or uuid.uuid4().hex
    with engine.connect() as conn:
        agreement = get_agreement(conn, agreement_ref)
    try:
        agreement.require_active(today)
    except AgreementNotActive:
        with contextlib.suppress(AuditError):  # the refusal stands whether or not it could be recorded
            audit.append(_run_event(actor, agreement.ref, Decision.DENY, "agreement-not-active", request_id, ()))
        raise
    program = PROGRAM_RUNS.get(agreement.program)
    if program is None:
        raise RunError(f"agreement {agreement.ref} is for ad-hoc linkage only: use `taxvault match link`")
    if not has_key(agreement.ref):
        raise RunError(f"no partner data was imported under agreement {agreement.ref}")
    keys = keys_for(agreement)
    report = RunReport(new_ref("u"), agreement.ref, agreement.program, today, fields_read(agreement))
    try:
        report.audit_leaf = audit.append(
            _run_event(actor, agreement.ref, Decision.ALLOW, policy, request_id, report.fields_read)
        )
    except AuditError as exc:
        raise RunError(f"agreement {agreement.ref}: the run could not be audited, nothing was read") from exc
    t0 = time.perf_counter()
    with engine.connect() as conn:
        partner = read_partner_data(conn, agreement)
        agency = agency_people(conn, agreement.link_fields, program.agency_filter())
    report.seconds["read"] = time.perf_counter() - t0
    report.agency_rows, report.partner_records, report.partner_rows = (
        agency.num_rows,
        partner.people.num_rows,
        len(partner.rows),
    )
    pairs = _link(agreement, keys, agency, partner, backend, report)
    t0 = time.perf_counter()
    with engine.connect() as conn:
        findings = program.evaluate(conn, agreement, pairs, partner.rows)
    report.findings = len(findings)
    report.seconds["evaluate"] = time.perf_counter() - t0
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                matching_runs.insert()
                .values(
                    ref=report.run_ref,
                    agreement_id=agreement.id,
                    program=agreement.program,
                    run_by=actor,
                    as_of=today,
                    started_at=started,
                    finished_at=dt.datetime.now(dt.UTC),
                    fields_read=list(report.fields_read),
                    agency_rows=report.agency_rows,
                    partner_records=report.partner_records,
                    pairs_compared=report.pairs_compared,
                    matched=report.matched,
                    leads_new=0,
                    threshold=agreement.threshold,
                )
                .returning(matching_runs.c.id)
            ).scalar_one()
        )
        report.leads_new = insert_findings(
            conn, agreement, keys, run_id, findings, actor=actor, note=f"run {report.run_ref}"
        )
        conn.execute(matching_runs.update().where(matching_runs.c.id == run_id).values(leads_new=report.leads_new))
    return report


def _link(
    agreement: Agreement,
    keys: AgreementKeys,
    agency: pa.Table,
    partner: PartnerData,
    backend: str,
    report: RunReport,
) -> pa.Table:
    """Encode the agency side with the agreement's key and link it to the (encoded) partner side."""
    empty = pa.table(
        {
            "left_id": pa.array([], pa.string()),
            "right_id": pa.array([], pa.string()),
            "match_probability": pa.array([], pa.float64()),
        }
    )
    if agency.num_rows == 0 or partner.people.num_rows == 0:
        return empty
    t0 = time.perf_counter()
    fields = agreement.link_fields
    encoded = _encode.encode_people(agency, keys.linkage, fields, id_column="id")
    report.seconds["encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        result = _linkage.link(
            encoded,
            partner.people,
            fields,
            encoded=True,
            threshold=agreement.threshold,
            backend="spark" if backend == "spark" else "duckdb",
        )
    except _linkage.LinkageError as exc:
        raise RunError(f"agreement {agreement.ref}: linkage refused the input ({exc})") from None
    report.seconds["link"] = time.perf_counter() - t0
    report.pairs_compared = int(result.pairs_compared)
    report.matched = result.pairs.num_rows
    return result.pairs


# -- synthetic partner files (from a synthetic store; truth kept aside) ---------------------------------


@dataclass(frozen=True)
class PartnerFile:
    """A partner's file as the partner would send it, and the truth a correct run recovers."""

    table: pa.Table  # the partner's columns, as text
    truth: pa.Table  # partner_id, entity_ref (null: a person the agency does not know), expected_lead
    id_column: str
    mapping: dict[str, str]  # canonical field -> the partner's column, for every field the file has
    program: str

    def mapping_for(self, fields: Iterable[str]) -> dict[str, str]:
        """The mapping restricted to ``fields`` (an agreement's partner side)."""
        return {f: self.mapping[f] for f in fields}

    def write(self, path: Path, truth_path: Path | None = None) -> None:
        """Write the file (CSV, or Parquet for a ``.parquet`` suffix) and, apart, the truth."""
        for table, where in ((self.table, path), (self.truth, truth_path)):
            if where is None:
                continue
            where.parent.mkdir(parents=True, exist_ok=True)
            if where.suffix.lower() in (".parquet", ".pq"):
                pq.write_table(table, where)
            else:
                pacsv.write_csv(table, where)


def _synthetic_ssn(tin: str | None) -> bool:
    return bool(tin) and len(str(tin)) == 9 and str(tin)[0] == "9"


def store_people(conn: Connection, entity_ids: Sequence[int]) -> pa.Table:
    """``id`` (entity ref) + every canonical person field of these individuals (synthetic SSNs only)."""
    rows: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(entity_ids))):
        q = sa.select(_E.id, _E.ref, *(c for c in agency_columns(PERSON_FIELDS) if c is not _E.id)).where(
            _E.id.in_(chunk)
        )
        for row in conn.execute(q).mappings():
            if not _synthetic_ssn(row["tin"]):
                raise MatchingError("synthetic partner files are made from synthetic stores only")
            rows[int(row["id"])] = {"id": row["ref"], **{f: _person_value(f, row) for f in PERSON_FIELDS}}
    ordered = [rows[i] for i in entity_ids if i in rows]
    return pa.table({k: pa.array([r[k] for r in ordered], pa.string()) for k in ("id", *PERSON_FIELDS)})


def _refund_dates(conn: Connection) -> dict[int, tuple[dt.date, dt.date]]:
    m, t = tax_modules.c, transactions.c
    q = (
        sa.select(m.entity_id, sa.func.min(t.posted_date), sa.func.max(t.posted_date))
        .select_from(transactions.join(tax_modules, m.id == t.module_id))
        .where(t.tc == 846)
        .group_by(m.entity_id)
    )
    return {int(e): (lo, hi) for e, lo, hi in conn.execute(q)}


_DEATH_COLUMNS = {
    "id": "DM_RECORD",
    "first_name": "GIVEN_NAME",
    "last_name": "SURNAME",
    "birth_date": "DOB",
    "tin": "SSN",
    "street_number": "HOUSE_NO",
    "street": "STREET_NAME",
    "city": "CITY",
    "postcode": "ZIP",
    "state": "STATE",
    "death_date": "DOD",
}
_WAGE_COLUMNS = {
    "id": "CLAIMANT_ID",
    "first_name": "FIRST",
    "last_name": "LAST",
    "birth_date": "BIRTH_DT",
    "tin": "SSN",
    "street_number": "ADDR_NUM",
    "street": "ADDR_STREET",
    "city": "CITY",
    "postcode": "ZIP",
    "state": "ST",
    "employer_ein": "FEIN",
    "quarter": "YRQTR",
    "wage_cents": "WAGES_CENTS",
}


def _partner_people(
    known: pa.Table, unknown: int, seed: int, rate: float
) -> tuple[list[dict[str, Any]], list[str | None]]:
    """The partner's view of ``known`` (corrupted) plus ``unknown`` strangers; and each one's entity ref."""
    seen = _synthetic.corrupt(known, seed, rate=rate) if known.num_rows else None
    records: list[dict[str, Any]] = []
    refs: list[str | None] = []
    if seen is not None:
        for row in seen.to_pylist():
            refs.append(row.pop("true_id"))
            records.append(row)
    if unknown:
        for row in _synthetic.people(unknown, seed + 1_000_003).to_pylist():
            refs.append(None)
            records.append(row)
    return records, refs


def death_records(
    engine: Engine,
    *,
    seed: int = 0,
    hidden: int = 40,
    controls: int = 15,
    strangers: int = 60,
    rate: float = 0.3,
) -> PartnerFile:
    """A death master file: the store's deceased, ``hidden`` deaths the agency does not know of
    (before a refund: leads), ``controls`` deaths after the person's last refund (no lead), and
    ``strangers`` the agency never saw."""
    rng = np.random.default_rng([seed, 846])
    with engine.connect() as conn:
        refunds = _refund_dates(conn)
        dead = {
            int(i): d
            for i, d in conn.execute(
                sa.select(_E.id, _E.death_date).where(
                    _E.kind == "individual", _E.is_deceased, _E.death_date.is_not(None)
                )
            )
        }
        living = sorted(e for e in refunds if e not in dead)
        picked = rng.choice(len(living), size=min(hidden + controls, len(living)), replace=False)
        chosen = [living[i] for i in picked.tolist()]
        deaths: dict[int, dt.date] = dict(dead)
        for k, eid in enumerate(chosen):
            first, last = refunds[eid]
            if k < hidden:
                deaths[eid] = first - dt.timedelta(days=int(rng.integers(15, 300)))
            else:
                deaths[eid] = last + dt.timedelta(days=int(rng.integers(15, 200)))
        ids = sorted(deaths)
        known = store_people(conn, ids)
    ref_to_id = dict(zip(known.column("id").to_pylist(), ids, strict=True))
    records, refs = _partner_people(known, strangers, seed, rate)
    base = dt.date(2024, 1, 1)
    out: dict[str, list[Any]] = {c: [] for c in _DEATH_COLUMNS.values()}
    truth: dict[str, list[Any]] = {"partner_id": [], "entity_ref": [], "expected_lead": []}
    order = rng.permutation(len(records))
    for n, k in enumerate(order.tolist(), start=1):
        row, ref = records[k], refs[k]
        pid = f"DM{n:08d}"
        eid = None if ref is None else ref_to_id[ref]
        died = deaths[eid] if eid is not None else base + dt.timedelta(days=int(rng.integers(0, 600)))
        for f in PERSON_FIELDS:
            out[_DEATH_COLUMNS[f]].append(row[f])
        out["DM_RECORD"].append(pid)
        out["DOD"].append(died.strftime("%Y%m%d"))
        truth["partner_id"].append(pid)
        truth["entity_ref"].append(ref)
        truth["expected_lead"].append(eid is not None and eid in refunds and refunds[eid][1] > died)
    n = len(records)
    extra = {  # what a death file also holds and no agreement here names: never read
        "SEX": rng.choice(np.array(["M", "F"]), n).tolist(),
        "PLACE_OF_DEATH": rng.choice(np.array(["HOSPITAL", "HOME", "HOSPICE", "OTHER"]), n).tolist(),
    }
    table = pa.table({**{c: pa.array(v, pa.string()) for c, v in out.items()}, **extra})
    return PartnerFile(
        table,
        pa.table(truth),
        "DM_RECORD",
        {f: c for f, c in _DEATH_COLUMNS.items() if f != "id"},
        "death_refunds",
    )


def wage_records(
    engine: Engine,
    *,
    seed: int = 0,
    tax_year: int = 2024,
    persons: int = 150,
    hidden: int = 30,
    strangers: int = 40,
    rate: float = 0.3,
) -> PartnerFile:
    """A state's quarterly wage file: ``persons`` workers with W-2s (their W-2 wages, quarter by
    quarter), ``hidden`` of them also paid by an employer that filed no W-2 (leads), and
    ``strangers`` the agency never saw."""
    rng = np.random.default_rng([seed, 2024])
    ir = information_returns.c
    with engine.connect() as conn:
        w2s: dict[int, list[tuple[str, int]]] = defaultdict(list)
        q = sa.select(ir.payee_id, ir.payer_tin, ir.income_cents).where(
            ir.form == "W-2", ir.tax_year == tax_year, ir.payee_id.is_not(None)
        )
        for payee, payer, cents in conn.execute(q):
            w2s[int(payee)].append((str(payer), int(cents)))
        employers = [
            str(t)
            for (t,) in conn.execute(
                sa.select(_E.tin).where(_E.kind == "business", _E.tin_type == "EIN").order_by(_E.id).limit(5_000)
            )
        ]
        workers = sorted(w2s)
        picked = rng.choice(len(workers), size=min(persons, len(workers)), replace=False)
        chosen = sorted(workers[i] for i in picked.tolist())
        known = store_people(conn, chosen)
    if not employers:
        raise MatchingError("the store has no employers to make wage records from")
    ref_to_id = dict(zip(known.column("id").to_pylist(), chosen, strict=True))
    hidden_ids = set(rng.choice(np.array(chosen), size=min(hidden, len(chosen)), replace=False).tolist())
    records, refs = _partner_people(known, strangers, seed, rate)
    out: dict[str, list[Any]] = {c: [] for c in _WAGE_COLUMNS.values()}
    truth: dict[str, list[Any]] = {"partner_id": [], "entity_ref": [], "expected_lead": []}

    def wage_rows(eid: int | None) -> list[tuple[str, int, int]]:
        rows: list[tuple[str, int, int]] = []  # (ein, quarter, cents)
        if eid is None:
            ein = employers[int(rng.integers(0, len(employers)))]
            rows += [(ein, q, int(rng.integers(200_000, 1_800_000))) for q in range(1, 5)]
            return rows
        for ein, cents in w2s[eid]:
            share = cents // 4
            rows += [(ein, q, share if q < 4 else cents - 3 * share) for q in range(1, 5)]
        if eid in hidden_ids:
            own = {e for e, _ in w2s[eid]}
            ein = next(e for e in (employers[int(i)] for i in rng.permutation(len(employers))) if e not in own)
            quarters = sorted(rng.choice(4, size=int(rng.integers(1, 5)), replace=False).tolist())
            rows += [(ein, q + 1, int(rng.integers(150_000, 1_500_000))) for q in quarters]
        return rows

    order = rng.permutation(len(records))
    for n, k in enumerate(order.tolist(), start=1):
        row, ref = records[k], refs[k]
        pid = f"CL{n:08d}"
        eid = None if ref is None else ref_to_id[ref]
        for ein, quarter, cents in wage_rows(eid):
            for f in PERSON_FIELDS:
                out[_WAGE_COLUMNS[f]].append(row[f])
            out["CLAIMANT_ID"].append(pid)
            out["FEIN"].append(f"{ein[:2]}-{ein[2:]}")
            out["YRQTR"].append(f"{tax_year}Q{quarter}")
            out["WAGES_CENTS"].append(str(cents))
        truth["partner_id"].append(pid)
        truth["entity_ref"].append(ref)
        truth["expected_lead"].append(eid is not None and eid in hidden_ids)
    n = len(out["CLAIMANT_ID"])
    extra = {  # what a wage file also holds and no agreement here names: never read
        "OCCUPATION": rng.choice(np.array(["CLERK", "DRIVER", "NURSE", "COOK", "TECH"]), n).tolist(),
        "HOURS": [str(int(h)) for h in rng.integers(40, 520, n)],
    }
    table = pa.table({**{c: pa.array(v, pa.string()) for c, v in out.items()}, **extra})
    return PartnerFile(
        table,
        pa.table(truth),
        "CLAIMANT_ID",
        {f: c for f, c in _WAGE_COLUMNS.items() if f != "id"},
        "state_wages",
    )


SYNTHETIC_FILES: Mapping[str, Callable[..., PartnerFile]] = {
    "death_refunds": death_records,
    "state_wages": wage_records,
}
