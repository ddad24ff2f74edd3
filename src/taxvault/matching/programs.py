"""The two built-in matching programs: what a run reads, links and finds.

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
so the linker sees no raw value.

The functions here take the caller's connection; the run itself (decide, read, link,
evaluate, record, audit: one unit of work per step, through the door) is the matching
job's, :func:`taxvault.jobs.matching.run_agreement`. Synthetic partner files live in
:mod:`taxvault.synth.partners`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from taxvault.errors import Conflict
from taxvault.matching import encode as _encode
from taxvault.matching import linkage as _linkage
from taxvault.matching.agreements import Agreement, MatchingError
from taxvault.matching.importer import PartnerData
from taxvault.matching.keys import AgreementKeys, keys_for
from taxvault.matching.leads import Finding, insert_findings
from taxvault.matching.tables import matching_runs
from taxvault.store.tables import entities, information_returns, returns, tax_modules, transactions
from taxvault.store.tins import aad, tin_vault

RUN_PURPOSE = "computer_matching"
WAGE_TOLERANCE_CENTS = 10_000  # $100: rounding and timing differences are not leads
_CHUNK = 5_000
_E = entities.c


class RunError(MatchingError, Conflict):
    """A run that cannot go ahead (nothing imported, audit down, linkage refused the input)."""

    status, kind = Conflict.status, Conflict.kind


# -- the agency side: one SELECT built from the agreement --------------------------------------------

_PERSON_SOURCE: Mapping[str, sa.Column[Any]] = {
    "first_name": _E.first_name,
    "last_name": _E.last_name,
    "birth_date": _E.birth_date,
    "tin": _E.tin_enc,  # encrypted at rest: decrypted in bulk for the run (a system job under an agreement)
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
    if "tin" in fields:
        cols.append(_E.ref)  # the ciphertext's associated data
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


def person_value(f: str, row: Mapping[str, Any] | sa.RowMapping) -> str | None:
    """A person's canonical field ``f`` from an agency row, as the linkage compares it (text or None).

    Public because the synthetic partner files (:mod:`taxvault.synth.partners`) must carry
    the values exactly as the agency side reads them."""
    if f in ("street_number", "street"):
        number, street = split_address(row["address_line"])
        return number if f == "street_number" else street
    value = row["tin"] if f == "tin" else row[_PERSON_SOURCE[f].name]
    if value is None:
        return None
    if f == "birth_date":
        return str(value.isoformat())
    if f == "postcode":
        return str(value)[:5]
    return str(value)


def with_clear_tins(
    conn: Connection, rows: Sequence[Mapping[Any, Any]], fields: Sequence[str]
) -> list[Mapping[str, Any]]:
    """The rows with ``tin`` decrypted in bulk when the fields name it (a system job under an agreement)."""
    if "tin" not in fields or not rows:
        return list(rows)
    clear = tin_vault(conn).decrypt_many(
        conn, [r["tin_enc"] for r in rows], [aad("entities", "tin", r["ref"]) for r in rows]
    )
    return [{**r, "tin": tin} for r, tin in zip(rows, clear, strict=True)]


def clear_payers(conn: Connection, rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows ``(payee, payer_tin_enc, ..., ref)`` as ``(payee, payer TIN, ...)``: decrypted in bulk, ref dropped."""
    clear = tin_vault(conn).decrypt_many(
        conn, [r[1] for r in rows], [aad("information_returns", "payer_tin", r[-1]) for r in rows]
    )
    return [(r[0], tin, *tuple(r)[2:-1]) for r, tin in zip(rows, clear, strict=True)]


def agency_people(conn: Connection, fields: Sequence[str], where: Sequence[ColumnElement[bool]] = ()) -> pa.Table:
    """``id`` (the internal entity id, as text) + the named canonical fields, raw."""
    ids: list[str] = []
    cols: dict[str, list[str | None]] = {f: [] for f in fields}
    result = conn.execute(agency_select(fields, where).execution_options(yield_per=_CHUNK)).mappings()
    for part in result.partitions():
        for row in with_clear_tins(conn, part, fields):
            ids.append(str(row["id"]))
            for f in fields:
                cols[f].append(person_value(f, row))
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


def chunks(values: Sequence[int], size: int = _CHUNK) -> Iterable[Sequence[int]]:
    """``values`` in slices of at most ``size`` (an ``IN`` list stays under the drivers' parameter limits)."""
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
    for chunk in chunks(ids):
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
    for chunk in chunks(ids):
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
    for chunk in chunks(sorted(people)):
        q = sa.select(ir.payee_id, ir.payer_tin_enc, ir.tax_year, ir.income_cents, ir.ref).where(
            ir.form == "W-2", ir.payee_id.in_(chunk)
        )
        for payee, payer_tin, year, cents in clear_payers(conn, conn.execute(q).all()):
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


def link_people(
    agreement: Agreement,
    keys: AgreementKeys,
    agency: pa.Table,
    partner: PartnerData,
    backend: str,
    report: RunReport,
) -> pa.Table:
    """Encode the agency side with the agreement's key and link it to the (encoded) partner side (no database)."""
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


def record_run(
    conn: Connection,
    agreement: Agreement,
    report: RunReport,
    findings: Sequence[Finding],
    *,
    actor: str,
    started: dt.datetime,
) -> int:
    """Store the run and its new leads (the caller owns the transaction); returns how many leads were new."""
    run_id = int(
        conn.execute(
            matching_runs.insert()
            .values(
                ref=report.run_ref,
                agreement_id=agreement.id,
                program=agreement.program,
                run_by=actor,
                as_of=report.as_of,
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
    new = insert_findings(
        conn, agreement, keys_for(agreement), run_id, findings, actor=actor, note=f"run {report.run_ref}"
    )
    conn.execute(matching_runs.update().where(matching_runs.c.id == run_id).values(leads_new=new))
    return new
