"""Reads of taxpayer records. Each takes the request's connection and a located target;
none commits, none checks access (the Gate did), none masks (the Gate will)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.ledger.accruals import AccrualError, accrual_invalid, payoff
from taxvault.oversight import canaries
from taxvault.store.tables import (
    case_subjects,
    cases,
    entities,
    information_returns,
    returns,
    tax_modules,
    transactions,
)
from taxvault.store.tins import aad, tin_vault

Body = dict[str, Any]

_ENTITY_COLS = (
    entities.c.ref.label("id"),
    entities.c.kind,
    entities.c.tin_type,
    entities.c.tin_enc,
    entities.c.tin_last4,
    entities.c.first_name,
    entities.c.middle_name,
    entities.c.last_name,
    entities.c.business_name,
    entities.c.name_control,
    entities.c.address_line,
    entities.c.city,
    entities.c.state,
    entities.c.zip,
    entities.c.birth_date,
    entities.c.death_date,
    entities.c.is_deceased,
)


def entity_ref_by_tin(conn: Connection, tin: str, tin_type: str | None, *, seen_by: str | None = None) -> str | None:
    """The opaque id of the entity with ``tin`` (the TIN never leaves this function): found by its keyed hash.

    A TIN not on file may be an export's canary (a synthetic taxpayer that exists only in
    that export): then a critical alert names the export, in a transaction of its own.
    """
    h = tin_vault(conn).lookup_hash(tin)
    q = sa.select(entities.c.ref).where(entities.c.tin_hash == h)
    if tin_type:
        q = q.where(entities.c.tin_type == tin_type)
    row = conn.execute(q.limit(1)).first()
    if row is None and conn.engine is not None:
        canaries.check_hashes_now(conn.engine, [h], "API TIN look-up", seen_by=seen_by)
    return None if row is None else str(row.ref)


def entity_summary(conn: Connection, entity_id: int) -> Body:
    """The opaque id and kind of an entity (what a look-up answers)."""
    row = conn.execute(sa.select(entities.c.ref.label("id"), entities.c.kind).where(entities.c.id == entity_id)).one()
    return dict(row._mapping)


def entity(conn: Connection, entity_id: int) -> Body:
    """One entity's identity record. ``tin`` is sealed: masked text the door reveals only for a full disclosure."""
    row = conn.execute(sa.select(*_ENTITY_COLS).where(entities.c.id == entity_id)).one()
    sealed = tin_vault(conn).seal(conn, row.tin_enc, aad("entities", "tin", row.id), row.tin_last4)
    return {
        ("tin" if k == "tin_enc" else k): (sealed if k == "tin_enc" else v)
        for k, v in row._mapping.items()
        if k != "tin_last4"
    }


def _page(items: list[Body], limit: int, offset: int) -> Body:
    more = len(items) > limit
    return {
        "items": items[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


def modules(conn: Connection, entity_id: int, *, mft: int | None, limit: int, offset: int) -> Body:
    """The entity's tax modules, with balances."""
    balance = (
        sa.select(sa.func.coalesce(sa.func.sum(transactions.c.amount_cents), 0))
        .where(transactions.c.module_id == tax_modules.c.id)
        .scalar_subquery()
    )
    q = sa.select(
        tax_modules.c.ref.label("id"),
        tax_modules.c.mft,
        tax_modules.c.tax_period,
        tax_modules.c.status,
        balance.label("balance_cents"),
    ).where(tax_modules.c.entity_id == entity_id)
    if mft is not None:
        q = q.where(tax_modules.c.mft == mft)
    q = q.order_by(tax_modules.c.tax_period.desc(), tax_modules.c.mft, tax_modules.c.id).limit(limit + 1).offset(offset)
    items = [dict(r._mapping) | {"balance_cents": int(r.balance_cents)} for r in conn.execute(q)]
    return _page(items, limit, offset)


_MODULE_HEAD = sa.select(tax_modules.c.ref, tax_modules.c.mft, tax_modules.c.tax_period, tax_modules.c.status).where(
    tax_modules.c.id == sa.bindparam("mid")
)
_MODULE_TRANSACTIONS = (
    sa.select(
        transactions.c.tc,
        transactions.c.amount_cents,
        transactions.c.posted_date,
        transactions.c.cycle,
        transactions.c.dln,
        transactions.c.reason_code,
    )
    .where(transactions.c.module_id == sa.bindparam("mid"))
    .order_by(transactions.c.posted_date, transactions.c.id)
)


def transcript(conn: Connection, module_id: int, *, as_of: dt.date | None = None) -> Body:
    """A module transcript (like IDRS TXMOD): the module, its transactions and balance.

    With ``as_of``: also the accruals (IRC 6651 penalties, IRC 6621 interest) and the payoff
    on that date, derived from the postings (never stored)."""
    m = conn.execute(_MODULE_HEAD, {"mid": module_id}).one()
    txs = [
        {
            "tc": r.tc,
            "amount_cents": r.amount_cents,
            "posted_date": r.posted_date,
            "cycle": r.cycle,
            "dln": r.dln,
            "reason_code": r.reason_code,
        }
        for r in conn.execute(_MODULE_TRANSACTIONS, {"mid": module_id})
    ]
    return {
        "module": {"id": m.ref, "mft": m.mft, "tax_period": m.tax_period, "status": m.status},
        "transactions": txs,
        "balance_cents": sum(int(t["amount_cents"]) for t in txs),
        "accruals": None if as_of is None else _accruals(conn, module_id, as_of),
    }


def _accruals(conn: Connection, module_id: int, as_of: dt.date) -> Body:
    try:
        p = payoff(conn, module_id, as_of)
    except AccrualError as exc:
        raise accrual_invalid(exc) from None
    return {
        "as_of": as_of.isoformat(),
        "tax_cents": p.tax,
        "penalty_ftf_cents": p.penalty_ftf,
        "penalty_ftp_cents": p.penalty_ftp,
        "interest_cents": p.interest,
        "payoff_cents": p.total,
    }


_RETURN_COLS = [c for c in returns.c if c.name not in {"id", "ref", "module_id", "entity_id", "spouse_id",
                                                        "source_id", "source_record"}]  # fmt: skip


def return_list(conn: Connection, entity_id: int, *, tax_year: int | None, limit: int, offset: int) -> Body:
    """Returns the entity filed (as primary or spouse)."""
    q = (
        sa.select(returns.c.ref.label("id"), tax_modules.c.ref.label("module_id"), *_RETURN_COLS)
        .select_from(returns.join(tax_modules, tax_modules.c.id == returns.c.module_id))
        .where(sa.or_(returns.c.entity_id == entity_id, returns.c.spouse_id == entity_id))
    )
    if tax_year is not None:
        q = q.where(returns.c.tax_year == tax_year)
    q = q.order_by(returns.c.tax_year.desc(), returns.c.id).limit(limit + 1).offset(offset)
    return _page([dict(r._mapping) for r in conn.execute(q)], limit, offset)


def information_return_list(
    conn: Connection, entity_id: int, *, tax_year: int | None, form: str | None, limit: int, offset: int
) -> Body:
    """Information returns (W-2, 1099) that name the entity as payee."""
    ir = information_returns.c
    q = sa.select(
        ir.ref.label("id"),
        ir.form,
        ir.tax_year,
        ir.payer_tin_enc.label("payer_tin"),
        ir.payer_tin_last4,
        ir.payer_tin_type,
        ir.payee_tin_enc.label("payee_tin"),
        ir.payee_tin_last4,
        ir.income_cents,
        ir.withholding_cents,
        ir.boxes,
    ).where(ir.payee_id == entity_id)
    if tax_year is not None:
        q = q.where(ir.tax_year == tax_year)
    if form is not None:
        q = q.where(ir.form == form)
    q = q.order_by(ir.tax_year.desc(), ir.id).limit(limit + 1).offset(offset)
    items = []
    vault = tin_vault(conn)
    for r in conn.execute(q):
        d = dict(r._mapping)
        for side in ("payer_tin", "payee_tin"):  # sealed: the door reveals them only for a full disclosure
            last4 = d.pop(f"{side}_last4")
            d[side] = vault.seal(conn, d[side], aad("information_returns", side, r.id), last4)
        d["boxes"] = {str(k): int(v) for k, v in (d["boxes"] or {}).items()}
        items.append(d)
    return _page(items, limit, offset)


def my_cases(conn: Connection, principal_id: str, *, status: str | None, limit: int, offset: int) -> Body:
    """The caller's assigned cases and their subjects (opaque ids only)."""
    q = sa.select(
        cases.c.id.label("pk"),
        cases.c.ref.label("id"),
        cases.c.unit,
        cases.c.kind,
        cases.c.purpose,
        cases.c.status,
        cases.c.opened_at,
        cases.c.closed_at,
    ).where(cases.c.assigned_to == principal_id)
    if status is not None:
        q = q.where(cases.c.status == status)
    rows = conn.execute(q.order_by(cases.c.opened_at.desc(), cases.c.id).limit(limit + 1).offset(offset)).all()
    subjects: dict[int, list[Body]] = {}
    if rows:
        sq = (
            sa.select(
                case_subjects.c.case_id, entities.c.ref.label("taxpayer_id"), tax_modules.c.ref.label("module_id")
            )
            .select_from(
                case_subjects.join(entities, entities.c.id == case_subjects.c.entity_id).outerjoin(
                    tax_modules, tax_modules.c.id == case_subjects.c.module_id
                )
            )
            .where(case_subjects.c.case_id.in_([r.pk for r in rows]))
        )
        for s in conn.execute(sq):
            subjects.setdefault(int(s.case_id), []).append({"taxpayer_id": s.taxpayer_id, "module_id": s.module_id})
    items = []
    for r in rows:
        d = dict(r._mapping)
        pk = d.pop("pk")
        d["subjects"] = subjects.get(int(pk), [])
        items.append(d)
    return _page(items, limit, offset)
