"""Migration 0011 upgrades a store that already holds grants: they keep working, the new rules hold."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.access.policy import PrincipalFacts
from taxvault.access.principals import Caller
from taxvault.store import make_engine
from taxvault.store.migrate import alembic_config, upgrade
from taxvault.store.tables import grants

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def bare(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database, not migrated yet."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    admin_url = os.environ.get("TAXVAULT_TEST_PG_URL")
    if not admin_url:
        pytest.fail("TAXVAULT_TEST_PG_URL is not set")
    name = f"tv_mig_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_an_existing_store_with_grants_upgrades(bare: Engine) -> None:
    cfg = alembic_config(bare)
    for head in ScriptDirectory.from_config(cfg).get_heads():
        if head != "0011":
            command.upgrade(cfg, head)  # the store as it was before grants had a lifecycle
    with bare.begin() as conn:
        assert "requested_by" not in {c["name"] for c in sa.inspect(conn).get_columns("grants")}
        conn.execute(
            sa.text(
                "INSERT INTO principals (id, kind, display_name, roles, active, dollar_limit_cents, created_at) "
                "VALUES (:id, :kind, :id, :roles, :t, 0, :now)"
            ),
            [
                {"id": "eng-x", "kind": "contractor", "roles": "engineer", "t": True, "now": NOW},
                {"id": "lead-x", "kind": "employee", "roles": "engineer grant_approver", "t": True, "now": NOW},
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO grants (ref, principal_id, datasets, fields, purpose, starts_at, ends_at, approver_id,"
                " renewals, state, created_at) VALUES ('g00aa11bb', 'eng-x', '[\"entities\"]', '[\"name\"]',"
                " 'schema_check', :s, :e, 'lead-x', 0, 'active', :s)"
            ),
            {"s": NOW - dt.timedelta(days=1), "e": NOW + dt.timedelta(days=60)},
        )
    upgrade(bare)
    with bare.begin() as conn:
        row = conn.execute(sa.select(grants).where(grants.c.ref == "g00aa11bb")).one()
        assert (row.state, row.approver_id, row.requested_by, row.renewals) == ("active", "lead-x", "eng-x", 0)
        eng = Caller(PrincipalFacts("eng-x", "contractor", frozenset({"engineer"}), "", 0), None, None)
        (held,) = Door.active_grants(conn, eng, NOW)  # the door still sees it, as before
        assert (held.purpose, held.datasets) == ("schema_check", frozenset({"entities"}))
    with pytest.raises(sa.exc.IntegrityError), bare.begin() as conn:  # approved by its requester: refused
        conn.execute(grants.update().where(grants.c.ref == "g00aa11bb").values(requested_by="lead-x"))
    with pytest.raises(sa.exc.IntegrityError), bare.begin() as conn:  # active without an approver: refused
        conn.execute(grants.update().where(grants.c.ref == "g00aa11bb").values(approver_id=None))
    with pytest.raises(sa.exc.IntegrityError), bare.begin() as conn:  # renewed twice: refused
        conn.execute(grants.update().where(grants.c.ref == "g00aa11bb").values(renewals=2))
    with bare.begin() as conn:  # a request waits for its approver
        conn.execute(grants.update().where(grants.c.ref == "g00aa11bb").values(approver_id=None, state="requested"))
