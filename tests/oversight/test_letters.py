"""The UNAX letter: written for a confirmed UNAX only, read back from its PDF, never a TIN, audited."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from review_world import TP_TIN, alert, door, entity_ref, last_event, module_ref, reads_by, session, world
from sqlalchemy.engine import Engine

from taxvault.access.door import Door
from taxvault.errors import Conflict
from taxvault.oversight.letters import issue_letters, letter_pdf, letters_pending
from taxvault.oversight.review import review_alert
from taxvault.oversight.service import review
from taxvault.oversight.tables import oversight_letters

__all__ = ["door", "world"]  # fixtures


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def test_confirmed_unax_writes_the_taxpayers_letter(world: Engine, door: Door) -> None:
    tp_leaves = reads_by(door, "cw-alice", [module_ref("tp"), entity_ref("tp")])
    other_leaves = reads_by(door, "cw-alice", [module_ref("other")])
    denied = reads_by(door, "cw-alice", [module_ref("tp")], allowed=False)
    ref = alert(world, "cw-alice", entity_ref("tp"), tp_leaves + other_leaves + denied, "k1")

    first = review(door, session(door, "ovs-a"), ref, "confirm")
    assert first.letters == []  # one confirmation is not a determination
    with world.connect() as conn:
        assert letters_pending(conn) == []
    done = review(door, session(door, "ovs-b"), ref, "confirm")
    assert done.reviewed.confirmed and len(done.letters) == 1

    with world.connect() as conn:
        row = conn.execute(sa.select(oversight_letters)).mappings().one()
        pdf = letter_pdf(conn, done.letters[0])
    assert pdf is not None and row["subject"] == entity_ref("tp")  # the alert's taxpayer only
    text = _text(pdf)
    assert "Notice of unauthorized inspection" in text
    assert "7431" in text and "$1,000" in text and "2 years" in text  # her rights
    assert "your tax account transcript" in text and "your taxpayer account record" in text  # what was accessed
    assert text.count(" UTC: ") == 2  # when: the two allowed reads of her records, not the denied one
    assert "JANE PAYER" in text and "10 Elm St" in text
    assert "XXX-XX-0001" in text
    digits = re.sub(r"\D", "", text)
    assert TP_TIN not in digits and TP_TIN not in pdf.decode("latin-1")  # never the TIN
    assert "cw-alice" not in text  # the employee is not named

    ev = last_event(door)  # recorded in the audit log, by the notice job, about her
    assert (ev.principal, ev.action, ev.resource) == ("sys-notices", "issue_unax_letter:unax_letter", row["ref"])
    assert ev.decision.value == "allow" and ev.subject == entity_ref("tp")

    # idempotent: the same alert never sends her a second letter
    assert issue_letters(door, ref) == []


def test_no_letter_before_confirmation(world: Engine, door: Door) -> None:
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    ref = alert(world, "cw-alice", entity_ref("tp"), leaves, "k2")
    review_alert(door, session(door, "ovs-a"), ref, "confirm")
    with pytest.raises(Conflict):
        issue_letters(door, ref)


def test_a_confirmed_alert_without_its_letter_is_pending(world: Engine, door: Door) -> None:
    leaves = reads_by(door, "cw-alice", [module_ref("tp")])
    ref = alert(world, "cw-alice", None, leaves, "k3")  # no subject: letters go to whoever was read
    review_alert(door, session(door, "ovs-a"), ref, "confirm")
    review_alert(door, session(door, "ovs-b"), ref, "confirm")
    with world.connect() as conn:
        assert letters_pending(conn) == [ref]
    written = issue_letters(door, ref)
    assert len(written) == 1
    with world.connect() as conn:
        assert letters_pending(conn) == []
        subject = conn.execute(sa.select(oversight_letters.c.subject)).scalar_one()
    assert subject == entity_ref("tp")
