"""Generate a population and load it into the store, chunk by chunk, in one transaction.

Either the whole population lands or none of it does. The load is one unit of work
of the door, acting as the system principal ``sys-synth``: the Cedar decision
(``synthesize`` on ``population``), every row and the job's audit event commit in
one transaction; a failure part-way (the audit append included) leaves the store
as it was.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Door, Target
from taxvault.access.ip_pin import PEPPER_NAME
from taxvault.access.local import local_door
from taxvault.access.resources import Resource
from taxvault.access.system_principals import SYNTH, ensure_system_principals
from taxvault.errors import Conflict
from taxvault.keys import load_or_create_secret
from taxvault.store import tables as t
from taxvault.store.bulk import (
    assert_foreign_keys,
    foreign_keys_validated_after,
    indexes_built_after,
    insert_columns,
    next_ids,
    reset_sequences,
)
from taxvault.store.tins import protect_columns
from taxvault.synth.payers import business_modules, generate_payers
from taxvault.synth.population import (
    CREATED_AT,
    HOUSEHOLDS_PER_CHUNK,
    Counters,
    chunk_rng,
    generate_chunk,
    households,
)
from taxvault.synth.principals import fixed_grant_rows, fixed_principal_rows

GENERATOR_VERSION = "1"
ACTION = "synthesize"
PURPOSE = "synthetic_population"
MEAN_HOUSEHOLD_SIZE = 1.948
"""Expected persons per household under the shares in :mod:`taxvault.synth.population`."""

_ID_TABLES = (
    t.entities,
    t.tax_modules,
    t.transactions,
    t.returns,
    t.information_returns,
    t.cases,
    t.notices,
    t.grants,
)
_CHUNK_ORDER = (
    "entities",
    "principals",
    "principal_relations",
    "tax_modules",
    "returns",
    "return_dependents",
    "transactions",
    "information_returns",
    "cases",
    "case_subjects",
    "notices",
)
_LOADED = (*_CHUNK_ORDER, "grants")


class PopulationExists(Conflict):
    """The store already holds taxpayers; synth loads only into an empty store."""


@dataclass
class SynthReport:
    """What a synth run produced."""

    persons: int = 0
    households: int = 0
    chunks: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    under_reporters: int = 0
    source_id: int = 0

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def synthesize(
    engine: Engine,
    taxpayers: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    door: Door | None = None,
) -> SynthReport:
    """Generate about ``taxpayers`` people (plus their employers, banks...) into the store.

    Households stay whole: exactly :func:`planned_people` people, a few more than asked.

    ``progress`` is called with the number of people added after each chunk. Acts
    as ``sys-synth`` through ``door`` (by default a local door over ``engine``, which
    signs a tree head over the job's event when it ends); the system principals
    ``taxvault init`` creates are created here first if missing.
    """
    if taxpayers < 1:
        raise ValueError("taxpayers must be at least 1")
    pepper = load_or_create_secret(PEPPER_NAME)
    report = SynthReport()
    with engine.begin() as conn:  # stamped like the rest of the population when synth makes them
        ensure_system_principals(conn, now=CREATED_AT)
    with ExitStack() as stack:
        if door is None:
            door = stack.enter_context(local_door(engine))
        session = door.system_session(SYNTH, PURPOSE)
        target = Target(f"population:seed-{seed}:n-{taxpayers}")
        with door.unit(session, write=True) as unit:
            decided = unit.authorize(Resource.POPULATION, target, ACTION)  # Denied (audited) if not permitted
            _load(unit.conn, report, taxpayers, seed, pepper, progress)
            unit.audit(ACTION, Resource.POPULATION, target.ref, decided.decision, list(_LOADED))
    return report


def _load(
    conn: Connection,
    report: SynthReport,
    taxpayers: int,
    seed: int,
    pepper: bytes,
    progress: Callable[[int], None] | None,
) -> None:
    """The whole load on the unit's connection (the unit commits it with its event)."""
    if conn.execute(sa.select(sa.func.count()).select_from(t.entities)).scalar_one():
        raise PopulationExists("the store already holds taxpayers; synth needs an empty store")
    source_id = int(
        conn.execute(
            t.sources.insert()
            .values(
                kind="synth",
                name="taxvault.synth",
                generator_version=GENERATOR_VERSION,
                seed=seed,
                created_at=dt.datetime.now(dt.UTC),
            )
            .returning(t.sources.c.id)
        ).scalar_one()
    )
    report.source_id = source_id
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for the index builds
    counters = Counters(next_ids(conn, _ID_TABLES))
    loaded = [t.metadata.tables[name] for name in _LOADED]
    # PostgreSQL: COPY (store/bulk.py) with the foreign keys checked once per table at the end (one
    # join each) rather than row by row, after the indexes are built. SQLite: checked below.
    with foreign_keys_validated_after(conn, loaded), indexes_built_after(conn, loaded):
        _load_population(conn, report, taxpayers, seed, source_id, counters, pepper, progress)
    assert_foreign_keys(conn)
    reset_sequences(conn, _ID_TABLES)


def _load_population(
    conn: Connection,
    report: SynthReport,
    taxpayers: int,
    seed: int,
    source_id: int,
    counters: Counters,
    pepper: bytes,
    progress: Callable[[int], None] | None,
) -> None:
    """Load the fixed principals, the payers, the households chunk by chunk, then 941s."""
    _insert(conn, report, "principals", fixed_principal_rows())
    grants = fixed_grant_rows(counters.ids["grants"], np.random.default_rng([seed, 13]))
    counters.ids["grants"] += len(grants["id"])
    _insert(conn, report, "grants", grants)
    payers = generate_payers(seed, taxpayers, counters.ids["entities"], source_id)
    counters.ids["entities"] += payers.size
    _insert(conn, report, "entities", payers.rows)

    wages = np.zeros(payers.size, dtype=np.int64)
    withholding = np.zeros(payers.size, dtype=np.int64)
    for chunk_index, (n_households, _) in enumerate(_chunk_plan(taxpayers, seed)):
        chunk = generate_chunk(seed, chunk_index, n_households, counters, payers, source_id, pepper)
        for name in _CHUNK_ORDER:
            if name == "entities":
                _insert_entities(conn, report, chunk.tables[name])
            else:
                _insert(
                    conn,
                    report,
                    name,
                    _managers_first(chunk.tables[name]) if name == "principals" else chunk.tables[name],
                )
        wages += chunk.employer_wages
        withholding += chunk.employer_withholding
        report.persons += chunk.persons
        report.households += n_households
        report.under_reporters += len(chunk.truth.under_reported_entity_ids)
        report.chunks += 1
        if progress:
            progress(chunk.persons)

    modules, transactions = business_modules(
        payers,
        wages,
        withholding,
        seed,
        counters.ids["tax_modules"],
        counters.ids["transactions"],
        source_id,
        np.random.default_rng([seed, 11]),
    )
    _insert(conn, report, "tax_modules", modules)
    _insert(conn, report, "transactions", transactions)


def _chunk_plan(taxpayers: int, seed: int) -> Iterator[tuple[int, int]]:
    """(households, people) per chunk, until the population holds at least ``taxpayers`` people.

    Households stay whole, so the last chunk usually overshoots by a few people
    (10,000 asked with seed 1 gives 10,008). The sizes are drawn first in each chunk's
    own stream, so this plan is known before anything is generated.
    """
    people = chunk_index = 0
    while people < taxpayers:
        remaining = taxpayers - people
        n = min(HOUSEHOLDS_PER_CHUNK, max(1, math.ceil(remaining / MEAN_HOUSEHOLD_SIZE)))
        _, adults, deps = households(chunk_rng(seed, chunk_index), n)
        made = int(adults.sum() + deps.sum())
        people += made
        chunk_index += 1
        yield n, made


def planned_people(taxpayers: int, seed: int) -> int:
    """How many people ``synthesize(engine, taxpayers, seed)`` makes: whole households, at least ``taxpayers``."""
    return sum(made for _, made in _chunk_plan(taxpayers, seed))


def _insert(conn: Connection, report: SynthReport, name: str, rows: dict[str, object]) -> None:
    table = t.metadata.tables[name]
    rows = protect_columns(conn, name, rows)  # TINs land only hashed and encrypted
    report.add(name, insert_columns(conn, table, rows))  # type: ignore[arg-type]


def _insert_entities(conn: Connection, report: SynthReport, rows: dict[str, object]) -> None:
    """Entities, with spouses that name each other.

    The load runs inside the door's unit (the write lock is already held), where SQLite
    checks each row's foreign keys as it lands: a spouse link to a person inserted later
    in the same batch would fail. So on SQLite the entities land without their spouse
    links, which are set right after, when every spouse exists (foreign keys stay checked
    row by row, with no deferred bookkeeping that would scan unindexed child tables).
    PostgreSQL checks a COPY's rows at its end: one pass.
    """
    if conn.dialect.name != "sqlite":
        _insert(conn, report, "entities", rows)
        return
    spouses = rows["spouse_id"]
    ids = rows["id"]
    assert isinstance(spouses, list)
    _insert(conn, report, "entities", {**rows, "spouse_id": [None] * len(spouses)})
    id_list = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)  # type: ignore[call-overload]
    links = [(int(s), int(i)) for i, s in zip(id_list, spouses, strict=True) if s is not None]
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.executemany("UPDATE entities SET spouse_id = ? WHERE id = ?", links)


def _managers_first(rows: dict[str, object]) -> dict[str, object]:
    """Order principal rows so a manager exists before the staff who name her."""
    managers = rows["manager_id"]
    assert isinstance(managers, list)
    order = sorted(range(len(managers)), key=lambda i: managers[i] is not None)
    return {k: [v[i] for i in order] if isinstance(v, list) else v[order] for k, v in rows.items()}  # type: ignore[index]
