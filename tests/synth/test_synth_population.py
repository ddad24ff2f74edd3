"""The synthetic population: synthetic identifiers only, deterministic, consistent, realistic mess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.model.records import FilingStatus
from taxvault.model.tax import compute_return
from taxvault.model.values import TIN, NameControl, TinType
from taxvault.store import make_engine
from taxvault.store import tables as t
from taxvault.store.migrate import upgrade
from taxvault.store.tins import aad, tin_vault
from taxvault.synth.identifiers import SSN_SPACE, aba_check_ok, synthetic_eins, synthetic_ssns
from taxvault.synth.load import PopulationExists, SynthReport, synthesize

N = 2_500


@pytest.fixture
def population(db_engine: Engine) -> tuple[Engine, SynthReport]:
    return db_engine, synthesize(db_engine, N, seed=11)


def rows(engine: Engine, query: sa.Select[Any] | sa.TextClause) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def _clear(engine: Engine, table: str, column: str) -> list[str]:
    """A TIN column decrypted (the store holds it only encrypted)."""
    tb = t.metadata.tables[table]
    with engine.connect() as conn:
        got = conn.execute(sa.select(tb.c[f"{column}_enc"], tb.c.ref).order_by(tb.c.id)).all()
        return tin_vault(conn).decrypt_many(conn, [r[0] for r in got], [aad(table, column, r[1]) for r in got])


def test_every_tin_is_synthetic(population: tuple[Engine, SynthReport]) -> None:
    engine, _ = population
    kinds = [k for (k,) in rows(engine, sa.select(t.entities.c.tin_type).order_by(t.entities.c.id))]
    tins = list(zip(_clear(engine, "entities", "tin"), kinds, strict=True))
    assert len(tins) > N
    for digits, kind in tins:
        assert TIN(str(digits), TinType(str(kind))).is_synthetic
    payers, payees = (
        _clear(engine, "information_returns", "payer_tin"),
        _clear(engine, "information_returns", "payee_tin"),
    )
    assert payers
    for payer, payee in zip(payers, payees, strict=True):
        assert TIN(str(payer), TinType.EIN).is_synthetic and TIN(str(payee), TinType.SSN).is_synthetic
    assert len({d for d, _ in tins}) == len(tins)


def test_every_table_is_populated_in_plausible_proportions(population: tuple[Engine, SynthReport]) -> None:
    engine, report = population
    counts = dict(report.rows)
    for table in t.CANONICAL_TABLES:
        if table.name != "sources":
            assert counts.get(table.name, 0) > 0, table.name
    assert N <= report.persons < N * 1.05
    households = report.households
    assert 1.7 < report.persons / households < 2.2
    assert 0.4 < counts["returns"] / report.persons < 0.6  # joint returns cover two people
    assert 2.0 < counts["transactions"] / counts["tax_modules"] < 4.0
    assert 0.8 < counts["information_returns"] / report.persons < 1.6
    assert 0.002 < report.under_reporters / counts["returns"] < 0.1
    flags = rows(
        engine,
        sa.select(
            sa.func.sum(sa.case((t.entities.c.is_deceased, 1), else_=0)),
            sa.func.sum(sa.case((t.entities.c.is_restricted, 1), else_=0)),
            sa.func.sum(sa.case((t.entities.c.is_employee, 1), else_=0)),
        ),
    )[0]
    deceased, restricted, employees = (int(x) for x in flags)  # type: ignore[call-overload]
    assert 0 < deceased < report.persons * 0.05
    assert 0 < restricted < report.persons * 0.01
    assert 14 <= employees < report.persons * 0.02


def test_module_balances_follow_from_transactions(population: tuple[Engine, SynthReport]) -> None:
    engine, _ = population
    r, tx = t.returns, t.transactions
    balance = (
        sa.select(tx.c.module_id, sa.cast(sa.func.sum(tx.c.amount_cents), sa.BigInteger).label("balance"))
        .group_by(tx.c.module_id)
        .subquery()
    )
    joined = rows(
        engine,
        sa.select(r.c.refund_cents, r.c.balance_due_cents, balance.c.balance).join(
            balance, balance.c.module_id == r.c.module_id
        ),
    )
    assert joined
    for refund, due, bal in joined:
        assert isinstance(bal, int)
        if refund:
            assert bal == 0  # TC 846 pays out exactly the credit balance
        else:
            assert isinstance(due, int)
            assert 0 <= bal <= due  # paid in full, in part, or not at all


def test_returns_recompute_from_their_own_lines(population: tuple[Engine, SynthReport]) -> None:
    engine, _ = population
    r = t.returns
    sample = rows(
        engine,
        sa.select(
            r.c.filing_status, r.c.total_income_cents, r.c.agi_cents, r.c.deduction_cents,
            r.c.taxable_income_cents, r.c.tax_cents, r.c.business_income_cents,
        ).limit(300),
    )  # fmt: skip
    for status, total, agi, deduction, taxable, tax, business in sample:
        assert taxable == max(0, int(agi) - int(deduction))  # type: ignore[call-overload]
        assert int(total) >= int(agi)  # type: ignore[call-overload]
        if not business:
            lines = compute_return(FilingStatus(str(status)), 2024, wages=int(total))  # type: ignore[call-overload]
            assert lines.agi_cents == agi
            if lines.deduction_cents == deduction:
                assert lines.tax_cents == tax


def test_under_reporters_left_out_income_an_information_return_shows(population: tuple[Engine, SynthReport]) -> None:
    engine, _ = population
    ir, r = t.information_returns, t.returns
    reported = sa.select(
        r.c.entity_id,
        (r.c.interest_cents + r.c.dividends_cents + r.c.business_income_cents).label("reported"),
    ).where(r.c.spouse_id.is_(None))
    shown = (
        sa.select(ir.c.payee_id, sa.func.sum(ir.c.income_cents).label("shown"))
        .where(ir.c.form.in_(["1099-INT", "1099-DIV", "1099-NEC"]))
        .group_by(ir.c.payee_id)
        .subquery()
    )
    rep = reported.subquery()
    gaps = rows(
        engine,
        sa.select(sa.func.count())
        .select_from(rep.join(shown, shown.c.payee_id == rep.c.entity_id))
        .where(shown.c.shown > rep.c.reported),
    )
    assert int(gaps[0][0]) > 0  # type: ignore[call-overload]


def test_people_links_hold(population: tuple[Engine, SynthReport]) -> None:
    engine, _ = population
    e = t.entities
    spouses = rows(engine, sa.select(e.c.id, e.c.spouse_id).where(e.c.spouse_id.is_not(None)))
    pairs = {int(a): int(b) for a, b in spouses}  # type: ignore[call-overload]
    assert pairs and all(pairs[b] == a for a, b in pairs.items())
    names = rows(engine, sa.select(e.c.last_name, e.c.name_control).where(e.c.kind == "individual").limit(500))
    assert all(NameControl.for_individual(str(n)).value == nc for n, nc in names)
    routing = rows(engine, sa.select(t.returns.c.bank_routing).where(t.returns.c.bank_routing.is_not(None)))
    assert routing and all(str(x[0]).startswith("50") and aba_check_ok(str(x[0])) for x in routing)
    # Every employee is a principal who declares herself (and her household) as related.
    emp = rows(
        engine,
        sa.select(t.principals.c.id, t.principals.c.entity_id).where(
            t.principals.c.kind == "employee", t.principals.c.entity_id.is_not(None)
        ),
    )
    selfs = {str(p) for p, _e, rel in rows(engine, sa.select(t.principal_relations)) if rel == "self"}
    assert emp and all(str(p) in selfs for p, _ in emp)
    assigned = rows(engine, sa.select(sa.func.count()).select_from(t.cases).where(t.cases.c.assigned_to.is_not(None)))
    assert int(assigned[0][0]) > 0  # type: ignore[call-overload]


def test_same_seed_same_population_different_seed_different(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> list[list[tuple[object, ...]]]:
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        upgrade(engine)
        synthesize(engine, 1_500, seed=seed)
        tables = [tb for tb in t.CANONICAL_TABLES if tb.name != "sources"]
        out = []
        with engine.connect() as conn:
            for tb in tables:
                order = list(tb.primary_key.columns)
                plain = [c for c in tb.c if not c.name.endswith("_enc")]  # ciphertexts: random nonces
                out.append([tuple(r) for r in conn.execute(sa.select(*plain).order_by(*order))])
        engine.dispose()
        return out

    a, b, c = run("a.db", 5), run("b.db", 5), run("c.db", 6)
    assert a == b
    assert a != c


def test_synth_refuses_a_store_that_already_has_people(db_engine: Engine) -> None:
    synthesize(db_engine, 100, seed=1)
    with pytest.raises(PopulationExists):
        synthesize(db_engine, 100, seed=2)


def test_identifier_spaces_are_synthetic_and_distinct() -> None:
    import numpy as np

    idx = np.arange(0, SSN_SPACE, 4_999, dtype=np.int64)
    ssns = synthetic_ssns(3, idx)
    assert len(set(ssns.tolist())) == len(idx)
    assert all(TIN(s, TinType.SSN).is_synthetic for s in ssns.tolist())
    eins = synthetic_eins(3, np.arange(0, 9_999_999, 997, dtype=np.int64))
    assert all(e.startswith("00") and TIN(e, TinType.EIN).is_synthetic for e in eins.tolist())
    with pytest.raises(ValueError, match="outside"):
        synthetic_ssns(3, np.array([SSN_SPACE], dtype=np.int64))
