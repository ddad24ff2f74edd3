"""What to try first on a synthetic store: a caseworker, one of her taxpayers' TINs, a module.

Why: the README's worked example must work as written on the store ``./dev up`` makes.
Its values cannot be guessed (principals and cases come with the households), so they
are picked here by a fixed rule from the store itself, and the same seed and size give
the same pick: the collection caseworker (not a manager) with the most open collection
cases (ties: the smallest id); in her open collection cases, oldest case first, the first
subject who is a synthetic individual she has no relation to, neither restricted nor an
employee, on a module with notices (if none has notices, the first such subject).

The TIN is stored only as a keyed hash and a ciphertext: it is decrypted here, as the
system principal ``sys-synth`` through the door (``export_synthetic`` on the population,
decided and audited), never read from a clear column.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.errors import NotFound
from taxvault.store import tables as t
from taxvault.store.tins import aad, tin_vault
from taxvault.synth.reading import synthetic_export

UNIT = "collection"
PURPOSE = "collection"


@dataclass(frozen=True, slots=True)
class Demo:
    """The worked example's values."""

    principal: str
    purpose: str
    open_cases: int
    taxpayer_ref: str
    tin: str
    module_ref: str
    notices: int


def pick_demo(engine: Engine) -> Demo:
    """The worked example's values for this store (NotFound if it has no such caseworker)."""
    with synthetic_export(engine, "demo") as export:
        demo = _pick(export.conn)
        export.wrote = ["principal_id", "tin", "module_ref"]
    return demo


def _pick(conn: Connection) -> Demo:
    p, c, cs = t.principals.c, t.cases.c, t.case_subjects.c
    open_cases = sa.func.count(c.id).label("n")
    caseworker = conn.execute(
        sa.select(p.id, open_cases)
        .select_from(t.principals.join(t.cases, t.cases.c.assigned_to == p.id))
        .where(
            p.kind == "employee",
            p.active,
            p.unit == UNIT,
            p.roles == "caseworker",  # staff, not a manager: a manager's rules differ
            c.status == "open",
            c.purpose == PURPOSE,
        )
        .group_by(p.id)
        .order_by(open_cases.desc(), p.id)
        .limit(1)
    ).first()
    if caseworker is None:
        raise NotFound("no collection caseworker with open cases in this store (run `taxvault synth` first)")
    e, m, n = t.entities.c, t.tax_modules.c, t.notices.c
    related = sa.select(t.principal_relations.c.entity_id).where(t.principal_relations.c.principal_id == caseworker.id)
    notices = sa.select(sa.func.count(n.id)).where(n.module_id == cs.module_id).scalar_subquery().label("notices")
    subjects = conn.execute(
        sa.select(e.ref, e.tin_enc, m.ref.label("module_ref"), notices)
        .select_from(
            t.cases.join(t.case_subjects, cs.case_id == c.id)
            .join(t.entities, e.id == cs.entity_id)
            .join(t.tax_modules, m.id == cs.module_id)
            .join(t.sources, t.sources.c.id == e.source_id)
        )
        .where(
            c.assigned_to == caseworker.id,
            c.status == "open",
            c.purpose == PURPOSE,
            e.kind == "individual",
            ~e.is_restricted,
            ~e.is_employee,
            e.id.not_in(related),
            t.sources.c.kind == "synth",
        )
        .order_by(c.opened_at, c.id, e.id)
    ).all()
    if not subjects:
        raise NotFound("no open collection case with a synthetic individual in this store")
    chosen = next((s for s in subjects if s.notices), subjects[0])
    tin = tin_vault(conn).decrypt(conn, chosen.tin_enc, aad("entities", "tin", chosen.ref))
    return Demo(
        principal=caseworker.id,
        purpose=PURPOSE,
        open_cases=int(caseworker.n),
        taxpayer_ref=chosen.ref,
        tin=tin,
        module_ref=chosen.module_ref,
        notices=int(chosen.notices),
    )
