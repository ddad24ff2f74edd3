"""The UNAX letter: telling a taxpayer that an employee inspected her records without authority.

IRC 7431(e) (as amended by the Taxpayer First Act, 2019) has the agency notify the
taxpayer when it proposes disciplinary or adverse action against an employee for an
unauthorized inspection, giving the date of the inspection and her rights; 7431(a),
(c) and (d) give those rights (a civil action for damages in a district court, the
greater of $1,000 per act or actual damages plus punitive damages for a willful or
grossly negligent inspection, within two years of discovery). See docs/irs-facts.md.

Once two reviewers confirm an alert, the notice job (``sys-notices``, its own narrow
permit ``system-unax-letter``) writes one letter per taxpayer the alert's allowed
accesses were about, in a write unit through the door: the letter row (PDF and its
SHA-256) and the audit event naming the letter and its taxpayer commit together. The
oversight reviewers never see the taxpayer's name or address; the letter shows the
TIN only masked (last four digits). The employee is not named (the notice tells what
was inspected and when, not by whom).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from fpdf import FPDF
from sqlalchemy.engine import Connection

from taxvault.access.door import Door, Target
from taxvault.access.resources import Resource
from taxvault.access.system_principals import NOTICES
from taxvault.errors import Conflict
from taxvault.notices.documents import format_date, printable
from taxvault.notices.render import AGENCY_LINES, BODY_SIZE, BOTTOM, LEFT, RIGHT, SYNTHETIC_MARK, TOP, wrap
from taxvault.oversight.review import door_now, find_alert
from taxvault.oversight.tables import oversight_alerts, oversight_letters
from taxvault.store.tables import entities, tax_modules

if TYPE_CHECKING:
    from taxvault.audit import AuditEvent

PURPOSE = "unax_notice"
LETTER_FIELDS = ["name", "address", "tin_last4", "accesses"]

WHAT = {
    "entity": "your taxpayer account record (name, address and identifying information)",
    "module_list": "the list of your tax accounts",
    "module_transcript": "your tax account transcript (assessments, payments and other transactions)",
    "notices": "notices we sent you",
    "returns": "your tax return",
    "information_returns": "information returns filed about you (such as Forms W-2 and 1099)",
    "matching_lead": "a computer-matching record about you",
}
_MASK = {"SSN": "XXX-XX-", "ITIN": "XXX-XX-", "EIN": "XX-XXX"}

RIGHTS = (
    "Under section 7431(a) of the Internal Revenue Code you may bring a civil action for damages against "
    "the United States in a United States district court for the unauthorized inspection of your return "
    "or return information.",
    "Under section 7431(c), if the court finds for you, you may recover the greater of $1,000 for each act "
    "of unauthorized inspection or disclosure, or the actual damages you sustained plus punitive damages "
    "when the inspection was willful or the result of gross negligence, together with the costs of the action.",
    "Under section 7431(d), you must bring the action within 2 years after the date you discovered the "
    "unauthorized inspection. Receiving this letter may be that date.",
    "You do not have to reply to this letter. Keep it with your records; refer to its letter number if you "
    "contact us or an attorney about it.",
)


@dataclass(frozen=True, slots=True)
class Access:
    """One inspection the letter reports: when, and what (never by whom)."""

    time: dt.datetime
    what: str


@dataclass(frozen=True, slots=True)
class LetterContent:
    """Everything a letter prints (the TIN only masked)."""

    letter_ref: str
    letter_date: dt.date
    determined_on: dt.date
    name: str
    address_lines: tuple[str, ...]
    masked_tin: str
    accesses: tuple[Access, ...]


def issue_letters(door: Door, alert_ref: str, *, request_id: str | None = None) -> list[str]:
    """Write the letters of confirmed alert ``alert_ref`` that are not written yet; returns their refs.

    Idempotent: a taxpayer who already has this alert's letter gets no second one.
    """
    session = door.system_session(NOTICES, PURPOSE, request_id=request_id)
    written: list[str] = []
    with door.unit(session, write=True) as unit:
        row = find_alert(unit, alert_ref, "issue_unax_letter", lock=True)
        if row["state"] != "confirmed":
            raise Conflict("a letter follows a confirmed UNAX only", code="alert-not-confirmed")
        by_subject = _accesses_by_subject(door, unit.conn, [int(x) for x in row["leaves"]], row["subject"])
        lt = oversight_letters.c
        done = {str(s) for (s,) in unit.conn.execute(sa.select(lt.subject).where(lt.alert_id == row["id"]))}
        now = door_now(door)
        determined = _aware(row["updated_at"]).date()
        for subject, accesses in sorted(by_subject.items()):
            if subject in done:
                continue
            person = unit.conn.execute(sa.select(entities).where(entities.c.ref == subject)).mappings().first()
            if person is None:
                continue
            ref = "u" + secrets.token_hex(10)
            target = Target(ref, int(person["id"]), subject=subject)
            decided = unit.authorize(Resource.UNAX_LETTER, target, "issue_unax_letter")
            content = LetterContent(
                letter_ref=ref,
                letter_date=now.date(),
                determined_on=determined,
                name=_name(person),
                address_lines=(
                    str(person["address_line"]),
                    f"{person['city']}, {person['state']} {person['zip']}",
                ),
                masked_tin=_MASK.get(str(person["tin_type"]), "XXX-XX-") + str(person["tin_last4"]),
                accesses=tuple(accesses),
            )
            pdf = render_letter(content)
            unit.conn.execute(
                oversight_letters.insert().values(
                    ref=ref, alert_id=row["id"], subject=subject, sha256=hashlib.sha256(pdf).hexdigest(), pdf=pdf,
                    created_by=session.principal, created_at=now,
                )
            )  # fmt: skip
            unit.audit("issue_unax_letter", Resource.UNAX_LETTER, ref, decided.decision, LETTER_FIELDS)
            written.append(ref)
    return written


def letters_pending(conn: Connection) -> list[str]:
    """Refs of confirmed alerts without any letter yet (the scan job retries them)."""
    a, lt = oversight_alerts.c, oversight_letters.c
    has_letter = sa.exists().where(lt.alert_id == a.id)
    return [str(r) for (r,) in conn.execute(sa.select(a.ref).where(a.state == "confirmed", ~has_letter))]


def letter_pdf(conn: Connection, letter_ref: str) -> bytes | None:
    """The stored PDF of a letter (for the notice job's mailing and for tests)."""
    value = conn.execute(sa.select(oversight_letters.c.pdf).where(oversight_letters.c.ref == letter_ref)).scalar()
    return None if value is None else bytes(value)


def _accesses_by_subject(
    door: Door, conn: Connection, leaves: Sequence[int], only: str | None
) -> dict[str, list[Access]]:
    """The allowed reads among ``leaves``, by the taxpayer they were about (``only`` that one if set)."""
    events: list[AuditEvent] = []
    for leaf in sorted(set(leaves)):
        ev = door.audit.event(leaf)
        if ev.decision.value == "allow" and not ev.action.startswith(("confirm_", "dismiss_", "refer_")):
            events.append(ev)
    owners = _owners(conn, [ev.resource for ev in events if not ev.subject])
    found: dict[str, list[Access]] = {}
    for ev in events:
        subject = ev.subject or owners.get(ev.resource)
        if subject is None or (only is not None and subject != only):
            continue
        kind = ev.action.split(":", 1)[1] if ":" in ev.action else ev.action
        found.setdefault(subject, []).append(Access(ev.time, WHAT.get(kind, "your tax records")))
    return found


def _owners(conn: Connection, refs: list[str]) -> dict[str, str]:
    """v1 events carry no subject: the taxpayer a resource ref belongs to (entity or module)."""
    if not refs:
        return {}
    unique = sorted(set(refs))
    found = {str(r): str(r) for (r,) in conn.execute(sa.select(entities.c.ref).where(entities.c.ref.in_(unique)))}
    for mref, eref in conn.execute(
        sa.select(tax_modules.c.ref, entities.c.ref)
        .select_from(tax_modules.join(entities, entities.c.id == tax_modules.c.entity_id))
        .where(tax_modules.c.ref.in_(unique))
    ):
        found[str(mref)] = str(eref)
    return found


def _name(person: sa.RowMapping) -> str:
    if person["business_name"]:
        return str(person["business_name"])
    parts = (person["first_name"], person["middle_name"], person["last_name"])
    return " ".join(str(p) for p in parts if p)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# -- the PDF -------------------------------------------------------------------------------------------


class _Letter:
    """A page with a cursor: wrapped paragraphs, headings, page breaks (the notices' house style)."""

    def __init__(self, content: LetterContent) -> None:
        pdf = FPDF(orientation="P", unit="pt", format="letter")
        pdf.set_auto_page_break(False)
        pdf.set_margins(LEFT, TOP, 612.0 - RIGHT)
        pdf.set_creation_date(dt.datetime.combine(content.letter_date, dt.time(0), tzinfo=dt.UTC))
        pdf.set_title(f"Letter {content.letter_ref}: unauthorized inspection of your tax information")
        pdf.set_author(f"{AGENCY_LINES[1]} (synthetic data)")
        pdf.set_creator("taxvault")
        pdf.set_line_width(0.6)
        self.pdf = pdf
        self.y = TOP
        self.pages = 1
        pdf.add_page()

    def text(self, x: float, y: float, text: str, style: str = "", size: float = BODY_SIZE) -> None:
        self.pdf.set_font("helvetica", style, size)
        self.pdf.text(x, y, printable(text))

    def need(self, height: float) -> None:
        if self.y + height > BOTTOM:
            self.pdf.add_page()
            self.pages += 1
            self.y = TOP

    def paragraph(
        self, text: str, style: str = "", size: float = BODY_SIZE, gap: float = 6.0, indent: float = 0.0
    ) -> None:
        line_h = size * 1.3
        for line in wrap(printable(text), RIGHT - LEFT - indent, style, size):
            self.need(line_h)
            self.y += line_h
            self.text(LEFT + indent, self.y - 3, line, style, size)
        self.y += gap

    def heading(self, text: str) -> None:
        self.need(40)
        self.y += 6
        self.paragraph(text, "B", 11.0, gap=2.0)

    def footers(self) -> None:
        for n in range(1, self.pdf.page + 1):
            self.pdf.page = n
            self.pdf.line(LEFT, 760, RIGHT, 760)
            self.text(LEFT, 770, SYNTHETIC_MARK, "", 7)
            self.text(RIGHT - 50, 770, f"Page {n} of {self.pages}", "", 7)


def render_letter(content: LetterContent) -> bytes:
    """The letter as PDF bytes (deterministic for the same content)."""
    c = _Letter(content)
    for i, line in enumerate(AGENCY_LINES):
        c.text(LEFT, TOP + 10 + i * 12, line, "B" if i == 0 else "", 10)
    facts = (
        ("Letter number", content.letter_ref),
        ("Date", format_date(content.letter_date)),
        ("Taxpayer ID number", content.masked_tin),
    )
    for i, (label, value) in enumerate(facts):
        c.text(336, TOP + 10 + i * 12, label, "", 9)
        c.text(446, TOP + 10 + i * 12, value, "B", 9)
    y = 150.0
    c.text(LEFT, y, content.name, "B", 10)
    for line in content.address_lines:
        y += 12
        c.text(LEFT, y, line, "", 10)
    c.y = y + 30
    c.paragraph("Notice of unauthorized inspection of your tax information", "B", 14.0, gap=8.0)
    c.paragraph(
        "We are writing to tell you that an employee of this agency inspected your tax return information "
        "without authorization: the inspection was not needed for the employee's assigned duties. We are "
        "required to tell you about it (Internal Revenue Code section 7431(e))."
    )
    c.heading("What was inspected, and when")
    for access in content.accesses:
        when = access.time.astimezone(dt.UTC)
        c.paragraph(f"- {format_date(when.date())} at {when:%H:%M} UTC: {access.what}", gap=1.0, indent=8.0)
    c.y += 5
    c.heading("What we determined")
    c.paragraph(
        f"On {format_date(content.determined_on)}, after a review by two oversight reviewers, we made an "
        "administrative determination that this inspection was unauthorized, and disciplinary or adverse action "
        "against the employee is being proposed. This letter gives you the date of the inspection and your rights."
    )
    c.heading("Your rights")
    for text in RIGHTS:
        c.paragraph(text)
    c.footers()
    return bytes(c.pdf.output())
