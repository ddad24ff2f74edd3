"""Minimal store rows the ledger tests post against (one source, one entity, modules)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.store.tables import entities, sources, tax_modules
from taxvault.store.tins import protect_row


def seed_source(conn: Connection) -> int:
    return int(
        conn.execute(
            sources.insert()
            .values(kind="synth", name="ledger-tests", seed=1, created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
            .returning(sources.c.id)
        ).scalar_one()
    )


def seed_module(conn: Connection, source_id: int, tax_period: int = 202412) -> int:
    entity = conn.execute(
        entities.insert()
        .values(
            **protect_row(
                conn,
                "entities",
                {
                    "ref": uuid.uuid4().hex,
                    "tin": f"9{uuid.uuid4().int % 10**8:08d}",
                    "tin_type": "SSN",
                    "kind": "individual",
                    "last_name": "TEST",
                    "name_control": "TEST",
                    "address_line": "1 MAIN ST",
                    "city": "ANYTOWN",
                    "state": "VA",
                    "zip": "22000",
                    "source_id": source_id,
                    "source_record": 0,
                },
            )
        )
        .returning(entities.c.id)
    ).scalar_one()
    return int(
        conn.execute(
            tax_modules.insert()
            .values(
                ref=uuid.uuid4().hex,
                entity_id=entity,
                mft=30,
                tax_period=tax_period,
                status="12",
                source_id=source_id,
                source_record=0,
            )
            .returning(tax_modules.c.id)
        ).scalar_one()
    )


def count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
