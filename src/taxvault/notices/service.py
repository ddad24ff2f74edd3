"""Reading notices back: the list per module and the document (stored PDF, or rendered for a loaded notice).

Notices loaded from legacy systems (or the synthetic generator) carry their amounts
but no document; they are rendered on demand from the stored amounts, so every
notice can be downloaded. A notice the cycle issued is served as stored.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.notices.documents import NoticeDocument, NoticeError, NoticeType
from taxvault.notices.issue import FORMS, module_facts
from taxvault.notices.render import render_pdf
from taxvault.notices.series import respond_by
from taxvault.store.tables import notices, tax_modules


def notice_list(conn: Connection, module_id: int) -> dict[str, Any]:
    """The module's notices, oldest first."""
    n = notices.c
    rows = conn.execute(
        sa.select(
            n.ref, n.notice_type, n.issued_date, n.respond_by, n.amount_due_cents, n.tax_cents, n.penalty_cents,
            n.interest_cents, (n.pdf.is_not(None)).label("stored"), tax_modules.c.ref.label("module_ref"),
        )
        .join(tax_modules, tax_modules.c.id == n.module_id)
        .where(n.module_id == module_id)
        .order_by(n.issued_date, n.id)
    )  # fmt: skip
    items = [
        {
            "id": r.ref,
            "module_id": r.module_ref,
            "notice_type": r.notice_type,
            "issued_date": r.issued_date.isoformat(),
            "respond_by": None if r.respond_by is None else r.respond_by.isoformat(),
            "amount_due_cents": int(r.amount_due_cents),
            "tax_cents": int(r.tax_cents),
            "penalty_cents": int(r.penalty_cents),
            "interest_cents": int(r.interest_cents),
            "has_document": True,
        }
        for r in rows
    ]
    return {"items": items}


def notice_pdf(conn: Connection, module_id: int, notice_ref: str) -> bytes | None:
    """The notice's PDF (None if the module has no such notice)."""
    n = notices.c
    row = conn.execute(sa.select(notices).where(n.ref == notice_ref, n.module_id == module_id)).first()
    if row is None:
        return None
    if row.pdf is not None:
        return bytes(row.pdf)
    facts = module_facts(conn, [module_id])[module_id]
    kind = NoticeType(row.notice_type)
    try:
        doc = NoticeDocument(
            notice_type=kind,
            notice_number=row.ref,
            notice_date=row.issued_date,
            respond_by=row.respond_by or respond_by(kind, row.issued_date),
            taxpayer_name=facts.name,
            address_lines=facts.address_lines,
            tin=facts.tin,
            tin_type=facts.tin_type,
            form=FORMS.get(facts.mft, str(facts.mft)),
            tax_period=facts.tax_period,
            tax_cents=int(row.tax_cents),
            penalty_ftf_cents=int(row.penalty_cents),  # a loaded notice does not split its penalties
            penalty_ftp_cents=0,
            interest_cents=int(row.interest_cents),
            amount_due_cents=int(row.amount_due_cents),
        )
    except NoticeError:
        return None  # a loaded notice whose record cannot make a valid document (e.g. nothing due)
    return render_pdf(doc)
