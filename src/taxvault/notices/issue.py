"""Which notices a cycle issues, and issuing them: facts from the store, the rule, the document, the row.

Columnar where it counts: the modules that could owe a notice are found with one
aggregate query (posted balance > 0 as of the date), and their notice history,
holds and assessments with one query each over that set; only the modules that
do get a notice have their accruals computed and a PDF rendered.

Every notice is stored with its PDF in ``notices`` (the amounts as of the notice
date, the respond-by date, the provenance of the cycle run that issued it).
Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.ledger.accruals import AccrualError, Payoff, Terms, accrue, module_terms
from taxvault.ledger.codes import HOLD_TC
from taxvault.ledger.posting import Posted, load_posted, open_holds
from taxvault.notices.documents import NoticeDocument, NoticeType, UnreportedItem
from taxvault.notices.render import render_many
from taxvault.notices.series import MIN_BALANCE_CENTS, Issued, next_notice, respond_by
from taxvault.store.tables import case_subjects, cases, entities, notices, principals, tax_modules, transactions
from taxvault.store.tins import aad, tin_vault

ASSESSMENT_TCS = (150, 290, 300)
FORMS = {30: "1040", 1: "941", 2: "1120", 67: "990", 5: "1041"}


@dataclass(frozen=True, slots=True)
class ModuleFacts:
    """What a notice needs to know of its module and taxpayer."""

    module_id: int
    module_ref: str
    entity_id: int
    mft: int
    tax_period: int
    name: str
    address_lines: tuple[str, ...]
    tin: str
    tin_type: str
    restricted: bool
    employee: bool
    entity_ref: str = ""  # the taxpayer's opaque ref: the subject of the cycle's audit events


@dataclass(frozen=True, slots=True)
class Planned:
    """A notice the cycle will issue: its type, module, amounts and (CP2000) items."""

    notice_type: NoticeType
    facts: ModuleFacts
    payoff: Payoff
    unreported: tuple[UnreportedItem, ...] = ()
    proposed_increase_cents: int = 0


@dataclass(frozen=True, slots=True)
class IssuedNotice:
    """A notice row written by the cycle."""

    id: int
    ref: str
    module_id: int
    module_ref: str
    notice_type: NoticeType
    amount_due_cents: int
    restricted: bool
    employee: bool


def _chunks(ids: Sequence[int], size: int = 900) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


SERIES_MFTS = (30,)
"""The CP14 series is the individual (IMF, Form 1040) series; business accounts get their
own notices (CP161 and the BMF series), which are not modelled yet."""


def owing_modules(conn: Connection, on: dt.date) -> list[int]:
    """IMF modules whose posted balance as of ``on`` is at least the notice minimum."""
    t = transactions.c
    total = sa.cast(sa.func.sum(t.amount_cents), sa.BigInteger)
    q = (
        sa.select(t.module_id)
        .join(tax_modules, tax_modules.c.id == t.module_id)
        .where(t.posted_date <= on, tax_modules.c.mft.in_(SERIES_MFTS))
        .group_by(t.module_id)
        .having(total >= MIN_BALANCE_CENTS)
        .order_by(t.module_id)
    )
    return [int(m) for (m,) in conn.execute(q)]


def module_facts(conn: Connection, module_ids: Sequence[int]) -> dict[int, ModuleFacts]:
    """Name, address, TIN and flags for each module's taxpayer."""
    e, m = entities.c, tax_modules.c
    found: dict[int, ModuleFacts] = {}
    for chunk in _chunks(module_ids):
        rows = conn.execute(
            sa.select(
                m.id, m.ref, m.mft, m.tax_period, e.id.label("entity_id"), e.first_name, e.middle_name,
                e.last_name, e.business_name, e.address_line, e.city, e.state, e.zip, e.ref.label("entity_ref"),
                e.tin_enc, e.tin_type,
                e.is_restricted, e.is_employee,
            )
            .select_from(tax_modules.join(entities, entities.c.id == m.entity_id))
            .where(m.id.in_(chunk))
        ).all()  # fmt: skip
        # The notice prints the TIN masked; the full value is kept only in memory, so the
        # document can refuse free text that would print it (system job: decrypted in bulk).
        tins = tin_vault(conn).decrypt_many(
            conn, [r.tin_enc for r in rows], [aad("entities", "tin", r.entity_ref) for r in rows]
        )
        for r, tin in zip(rows, tins, strict=True):
            person = " ".join(p for p in (r.first_name, (r.middle_name or "")[:1], r.last_name) if p)
            name = (r.business_name or person or "TAXPAYER").upper()
            city_line = f"{r.city or ''}, {r.state or ''} {r.zip or ''}".strip(" ,")
            lines = tuple(x.upper() for x in (r.address_line or "", city_line) if x)
            found[int(r.id)] = ModuleFacts(
                int(r.id), str(r.ref), int(r.entity_id), int(r.mft), int(r.tax_period), name, lines,
                tin, str(r.tin_type), bool(r.is_restricted), bool(r.is_employee), str(r.entity_ref),
            )  # fmt: skip
    return found


def notice_history(conn: Connection, module_ids: Sequence[int]) -> dict[int, list[Issued]]:
    """The notices already issued to each module (any type)."""
    n = notices.c
    history: dict[int, list[Issued]] = defaultdict(list)
    for chunk in _chunks(module_ids):
        rows = conn.execute(
            sa.select(n.module_id, n.notice_type, n.issued_date, n.respond_by).where(n.module_id.in_(chunk))
        )
        for r in rows:
            kind = NoticeType(r.notice_type)
            due = r.respond_by or respond_by(kind, r.issued_date)
            history[int(r.module_id)].append(Issued(kind, r.issued_date, due))
    return history


def latest_assessments(conn: Connection, module_ids: Sequence[int], on: dt.date) -> dict[int, dt.date]:
    """Date of the latest assessment (TC 150/290/300 with tax) on or before ``on``, per module."""
    t = transactions.c
    out: dict[int, dt.date] = {}
    for chunk in _chunks(module_ids):
        rows = conn.execute(
            sa.select(t.module_id, sa.func.max(t.posted_date))
            .where(t.module_id.in_(chunk), t.tc.in_(ASSESSMENT_TCS), t.amount_cents > 0, t.posted_date <= on)
            .group_by(t.module_id)
        )
        out.update({int(mid): d for mid, d in rows})
    return out


def field_collection(conn: Connection, entity_ids: Sequence[int]) -> set[int]:
    """Entities with an open collection case assigned to a person (a revenue officer): Letter 1058."""
    c, s = cases.c, case_subjects.c
    out: set[int] = set()
    for chunk in _chunks(entity_ids):
        rows = conn.execute(
            sa.select(s.entity_id)
            .select_from(case_subjects.join(cases, cases.c.id == s.case_id))
            .join(principals, principals.c.id == c.assigned_to)
            .where(s.entity_id.in_(chunk), c.kind == "collection", c.status == "open", principals.c.kind == "employee")
            .distinct()
        )
        out.update(int(e) for (e,) in rows)
    return out


def _posted_as_of(posted: Sequence[Posted], on: dt.date) -> list[Posted]:
    return [p for p in posted if p.posted_date <= on]


def plan_balance_due(conn: Connection, on: dt.date, skipped: list[tuple[str, str]] | None = None) -> list[Planned]:
    """The balance-due notices due on ``on`` (CP14 ... LT11/L1058), with their payoff amounts.

    A module whose accruals cannot be computed is left out and named in ``skipped``
    (module ref, reason) for a person to look at, rather than stopping every notice.
    """
    return plan_modules(conn, owing_modules(conn, on), on, skipped)


def plan_modules(
    conn: Connection, candidates: Sequence[int], on: dt.date, skipped: list[tuple[str, str]] | None = None
) -> list[Planned]:
    """The balance-due notice due on ``on`` for each of ``candidates`` that has one (the series rule)."""
    if skipped is None:
        skipped = []
    if not candidates:
        return []
    history = notice_history(conn, candidates)
    assessed = latest_assessments(conn, candidates, on)
    facts = module_facts(conn, candidates)
    field = field_collection(conn, sorted({f.entity_id for f in facts.values()}))
    planned: list[Planned] = []
    for mid in candidates:
        posted = _posted_as_of(load_posted(conn, mid), on)
        balance = sum(p.amount_cents for p in posted)
        hold = any(p.tc == HOLD_TC for p in open_holds(posted))
        f = facts[mid]
        kind = next_notice(
            history.get(mid, []),
            on=on,
            balance_cents=balance,
            hold=hold,
            assessed_on=assessed.get(mid),
            field_collection=f.entity_id in field,
        )
        if kind is None:
            continue
        try:
            amounts = accrue(posted, module_terms(conn, mid), on)
        except AccrualError as exc:  # e.g. a filing year whose minimum penalty is not in the table
            skipped.append((f.module_ref, type(exc).__name__))
            continue
        planned.append(Planned(kind, f, amounts))
    return planned


def cp2000_payoff(increase_cents: int, terms: Terms, on: dt.date) -> Payoff:
    """What a CP2000 proposes: the additional tax and the interest on it from the due date.

    Penalties are left out: the failure-to-pay penalty on a deficiency runs only
    from notice and demand (IRC 6651(a)(3)), and the accuracy penalty (IRC 6662)
    is an examiner's decision, not this rule's.
    """
    virtual = [Posted(0, 290, increase_cents, terms.due_date)]
    interest = accrue(virtual, Terms(terms.due_date, terms.due_date), on).interest
    return Payoff(increase_cents, 0, 0, interest, increase_cents + interest)


def store(
    conn: Connection, planned: Sequence[Planned], on: dt.date, *, source_id: int, first_record: int = 1
) -> list[IssuedNotice]:
    """Render every planned notice and insert it with its PDF. Never commits."""
    refs = ["n" + secrets.token_hex(10) for _ in planned]
    docs = [
        NoticeDocument(
            notice_type=p.notice_type,
            notice_number=ref,
            notice_date=on,
            respond_by=respond_by(p.notice_type, on),
            taxpayer_name=p.facts.name,
            address_lines=p.facts.address_lines,
            tin=p.facts.tin,
            tin_type=p.facts.tin_type,
            form=FORMS.get(p.facts.mft, str(p.facts.mft)),
            tax_period=p.facts.tax_period,
            tax_cents=p.payoff.tax,
            penalty_ftf_cents=p.payoff.penalty_ftf,
            penalty_ftp_cents=p.payoff.penalty_ftp,
            interest_cents=p.payoff.interest,
            amount_due_cents=p.payoff.total,
            unreported=p.unreported,
            proposed_tax_increase_cents=p.proposed_increase_cents,
        )
        for p, ref in zip(planned, refs, strict=True)
    ]
    pdfs = render_many(docs)
    issued: list[IssuedNotice] = []
    for n, (p, doc, pdf) in enumerate(zip(planned, docs, pdfs, strict=True)):
        new_id = conn.execute(
            notices.insert()
            .values(
                ref=doc.notice_number,
                module_id=p.facts.module_id,
                notice_type=p.notice_type.value,
                issued_date=on,
                amount_due_cents=p.payoff.total,
                tax_cents=p.payoff.tax,
                penalty_cents=p.payoff.penalty_ftf + p.payoff.penalty_ftp,
                interest_cents=p.payoff.interest,
                respond_by=doc.respond_by,
                pdf=pdf,
                source_id=source_id,
                source_record=first_record + n,
            )
            .returning(notices.c.id)
        ).scalar_one()
        issued.append(
            IssuedNotice(
                int(new_id), doc.notice_number, p.facts.module_id, p.facts.module_ref, p.notice_type,
                p.payoff.total, p.facts.restricted, p.facts.employee,
            )
        )  # fmt: skip
    return issued
