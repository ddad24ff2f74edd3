"""A small store for oversight tests: reviewers, an employee under review, her manager, a taxpayer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import Door, Session, Target
from taxvault.access.local import local_door
from taxvault.access.policy import PolicyDecision
from taxvault.access.resources import Resource
from taxvault.access.system_principals import ensure_system_principals
from taxvault.audit import AuditEvent
from taxvault.oversight.alerts import raise_alert
from taxvault.store import tables as t
from taxvault.store.tins import protect_row

CREATED = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
TP_TIN = "900020001"

# name -> (id, tin, last name)
ENTITIES = {"tp": (1, TP_TIN, "PAYER"), "alice_self": (2, "900020002", "WORKER"), "other": (3, "900020003", "OTHER")}

PRINCIPALS: tuple[tuple[str, str, str, str | None, str | None, str | None], ...] = (
    # id, kind, roles, unit, own entity, manager
    ("mgr-carol", "employee", "caseworker manager break_glass", "collection", None, None),
    ("mgr-dan", "employee", "caseworker manager", "examination", None, None),
    ("cw-alice", "employee", "caseworker break_glass", "collection", "alice_self", "mgr-carol"),
    ("ovs-a", "oversight", "oversight privacy_officer", "privacy", None, None),
    ("ovs-b", "oversight", "oversight inspector_general", "tigta", None, None),
    ("ovs-c", "oversight", "oversight auditor", "audit", "tp", None),  # the taxpayer herself
    ("ovs-d", "oversight", "oversight auditor", "audit", None, None),  # under review in one alert
)


def root_conftest(config: pytest.Config) -> Any:
    """tests/conftest.py as pytest loaded it (``from conftest import`` may find another directory's)."""
    plugin = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parent.parent / "conftest.py"))
    assert plugin is not None, "tests/conftest.py is not loaded"
    return plugin


def entity_ref(name: str) -> str:
    return f"e{ENTITIES[name][0]:020x}"


def module_ref(name: str) -> str:
    return f"m{ENTITIES[name][0]:020x}"


def build(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(t.sources.insert().values(id=1, kind="synth", name="oversight-world", created_at=CREATED))
        for name, (eid, tin, last) in ENTITIES.items():
            conn.execute(
                t.entities.insert().values(
                    id=eid, **protect_row(conn, "entities", {"ref": entity_ref(name), "tin": tin}),
                    tin_type="SSN", kind="individual", last_name=last, first_name="JANE", name_control=last[:4],
                    address_line=f"{eid}0 Elm St", city="Springfield", state="IL", zip=f"6270{eid}",
                    birth_date=dt.date(1980, 1, eid), is_employee=name == "alice_self", is_restricted=False,
                    source_id=1, source_record=eid,
                )
            )  # fmt: skip
            conn.execute(
                t.tax_modules.insert().values(
                    id=eid, ref=module_ref(name), entity_id=eid, mft=30, tax_period=202412, status="open",
                    source_id=1, source_record=eid,
                )
            )  # fmt: skip
        for pid, kind, roles, unit, own, manager in PRINCIPALS:
            conn.execute(
                t.principals.insert().values(
                    id=pid, kind=kind, display_name=pid, roles=roles, unit=unit,
                    entity_id=ENTITIES[own][0] if own else None, manager_id=manager, dollar_limit_cents=0,
                    active=True, created_at=CREATED,
                )
            )  # fmt: skip
        ensure_system_principals(conn)


@contextmanager
def door_over(engine: Engine) -> Iterator[Door]:
    with local_door(engine, sign_on_exit=False) as door:
        yield door


def session(door: Door, who: str, purpose: str = "oversight_review") -> Session:
    return door.session(door.caller(who), purpose, channel="cli")


def reads_by(door: Door, who: str, refs: list[str], *, allowed: bool = True) -> list[int]:
    """Audit leaves of reads ``who`` made of ``refs`` (recorded through the door, as the routes would)."""
    s = session(door, who, "collection")
    with door.unit(s) as unit:
        for ref in refs:
            decision = PolicyDecision(
                allowed, ("caseworker-assigned",) if allowed else ("forbid-own-or-related-account",)
            )
            kind = Resource.ENTITY if ref.startswith("e") else Resource.MODULE_TRANSCRIPT
            unit.audit("read", kind, Target(ref).ref, decision, ["transactions"])
    return list(unit.leaves)


def alert(engine: Engine, principal: str | None, subject: str | None, leaves: list[int], key: str) -> str:
    with engine.begin() as conn:
        return raise_alert(
            conn, rule="household_lookup", severity="high", summary=f"{principal} looked up {subject}",
            leaves=leaves, principal_id=principal, subject=subject, window=None, dedupe=key,
        )  # fmt: skip


def last_event(door: Door) -> AuditEvent:
    return door.audit.event(door.audit.tree_head().tree_size - 1)


def state_of(engine: Engine, ref: str) -> str:
    from taxvault.oversight.tables import oversight_alerts

    with engine.connect() as conn:
        return str(conn.execute(sa.select(oversight_alerts.c.state).where(oversight_alerts.c.ref == ref)).scalar_one())


@pytest.fixture
def world(db_engine: Engine) -> Engine:
    build(db_engine)
    return db_engine


@pytest.fixture
def door(world: Engine) -> Iterator[Door]:
    with door_over(world) as d:
        yield d
