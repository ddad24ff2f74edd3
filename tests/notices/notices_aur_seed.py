"""Stores for the under-reporter tests: a synthetic population with its truth, and hand-built returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.model.records import FilingStatus
from taxvault.model.tax import compute_return
from taxvault.store.tables import entities, information_returns, return_dependents, returns, sources, tax_modules
from taxvault.store.tins import protect_row
from taxvault.synth.load import synthesize
from taxvault.synth.population import Chunk, generate_chunk


@dataclass
class SynthTruth:
    """What the generator made wrong: omitted income (cents) by the return's primary filer."""

    omitted_by_entity: dict[int, int] = field(default_factory=dict)


def synthesize_with_truth(engine: Engine, taxpayers: int, seed: int) -> SynthTruth:
    """Load a synthetic population and keep each chunk's truth (the loader itself drops it)."""
    truth = SynthTruth()

    def keep_truth(*args: Any, **kwargs: Any) -> Chunk:
        chunk = generate_chunk(*args, **kwargs)
        t = chunk.truth
        truth.omitted_by_entity.update(zip(t.under_reported_entity_ids, t.omitted_cents, strict=True))
        return chunk

    with mock.patch("taxvault.synth.load.generate_chunk", keep_truth):
        synthesize(engine, taxpayers, seed=seed)
    return truth


def _tin() -> str:
    # Synthetic SSN range: area 900-999, group 01-49.
    n = uuid.uuid4().int
    return f"9{n % 100:02d}{n // 100 % 49 + 1:02d}{n // 10_000 % 10_000:04d}"


class HandBuilt:
    """Minimal rows for hand-built returns: people, payers, modules, returns and information returns."""

    def __init__(self, conn: Connection, year: int = 2024) -> None:
        self.conn = conn
        self.year = year
        self.source_id = int(
            conn.execute(
                sources.insert()
                .values(kind="synth", name="aur-tests", seed=1, created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
                .returning(sources.c.id)
            ).scalar_one()
        )

    def _entity(self, **values: Any) -> int:
        row = {
            "ref": uuid.uuid4().hex,
            "tin": _tin(),
            "tin_type": "SSN",
            "kind": "individual",
            "name_control": "TEST",
            "address_line": "1 MAIN ST",
            "city": "ANYTOWN",
            "state": "VA",
            "zip": "22000",
            "source_id": self.source_id,
            "source_record": 0,
            **values,
        }
        row = protect_row(self.conn, "entities", row)
        return int(self.conn.execute(entities.insert().values(**row).returning(entities.c.id)).scalar_one())

    def person(self, last: str = "TEST", born: dt.date = dt.date(1980, 6, 1)) -> int:
        return self._entity(last_name=last, first_name="PAT", birth_date=born, name_control=last[:4])

    def payer(self, name: str) -> int:
        return self._entity(
            kind="business", tin_type="EIN", tin=f"00{uuid.uuid4().int % 10**7:07d}", business_name=name
        )

    def info_return(
        self, form: str, payee: int, payer: int | None, amount: int, boxes: dict[str, int] | None = None
    ) -> None:
        self.conn.execute(
            information_returns.insert().values(
                **protect_row(
                    self.conn,
                    "information_returns",
                    {"ref": uuid.uuid4().hex, "payer_tin": "001234567", "payee_tin": "900011234"},
                ),
                form=form,
                tax_year=self.year,
                payer_tin_type="EIN",
                payee_tin_type="SSN",
                payer_id=payer,
                payee_id=payee,
                income_cents=amount,
                withholding_cents=0,
                boxes=boxes if boxes is not None else {"1": amount},
                source_id=self.source_id,
                source_record=0,
            )
        )

    def filed_return(
        self,
        entity: int,
        status: FilingStatus,
        *,
        spouse: int | None = None,
        children: list[int] | None = None,
        under_17: int | None = None,
        mft: int = 30,
        form: str = "1040",
        aged_65: int = 0,
        deduction_override: int | None = None,
        **lines: int,
    ) -> tuple[int, int]:
        """A module and a return whose lines the model computed from ``lines``; (module id, return id).

        ``children`` are the dependents listed; ``under_17`` how many the filer claimed
        the child tax credit for (all of them unless given).
        """
        kids = children or []
        claimed = len(kids) if under_17 is None else under_17
        computed = compute_return(status, self.year, children_under_17=claimed, aged_65=aged_65, **lines)
        module = int(
            self.conn.execute(
                tax_modules.insert()
                .values(
                    ref=uuid.uuid4().hex,
                    entity_id=entity,
                    mft=mft,
                    tax_period=self.year * 100 + 12,
                    status="12",
                    source_id=self.source_id,
                    source_record=0,
                )
                .returning(tax_modules.c.id)
            ).scalar_one()
        )
        values = {
            "ref": uuid.uuid4().hex,
            "module_id": module,
            "entity_id": entity,
            "spouse_id": spouse,
            "tax_year": self.year,
            "form": form,
            "filing_status": status.value,
            "dependents": len(kids),
            "filed_date": dt.date(self.year + 1, 4, 1),
            "dln": "29211090123454",
            "source_id": self.source_id,
            "source_record": 0,
            **dataclasses.asdict(computed),
        }
        if deduction_override is not None:
            values["deduction_cents"] = deduction_override
        ret = int(self.conn.execute(returns.insert().values(**values).returning(returns.c.id)).scalar_one())
        for kid in kids:
            self.conn.execute(return_dependents.insert().values(return_id=ret, entity_id=kid, relationship="child"))
        return module, ret


def count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
