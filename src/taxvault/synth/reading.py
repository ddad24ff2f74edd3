"""Reading the store to write synthetic files, through the door.

The legacy export (``taxvault synth --legacy``) and the synthetic partner files read
the whole population, clear TINs included. They do it as the system principal
``sys-synth``, in one read unit of the door: a Cedar decision (``export_synthetic``),
then the reads, then an audit event naming what was written. No decision, no read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection, Engine

from taxvault.access.door import Target
from taxvault.access.local import local_door
from taxvault.access.resources import Resource

SYNTH = "sys-synth"
PURPOSE = "synthetic_population"
ACTION = "export_synthetic"


@dataclass(slots=True)
class Export:
    """The unit's connection, and the names of the files (or fields) the export wrote, for its event."""

    conn: Connection
    wrote: list[str] = field(default_factory=list)


@contextmanager
def synthetic_export(engine: Engine, what: str) -> Iterator[Export]:
    """A read of the population as ``sys-synth`` for the export ``what`` (decided, audited)."""
    with local_door(engine) as door:
        session = door.system_session(SYNTH, PURPOSE)
        target = Target(f"synthetic-export:{what}")
        with door.unit(session) as unit:
            decided = unit.authorize(Resource.POPULATION, target, ACTION)  # Denied (audited) if not permitted
            export = Export(unit.conn)
            yield export
            unit.audit(ACTION, Resource.POPULATION, target.ref, decided.decision, export.wrote or ["population"])
