"""The wording of each notice: headline, what to do, by when, and what happens if not.

One :class:`NoticeTemplate` per :class:`~taxvault.notices.documents.NoticeType`.
The wording follows the IRS notices of the same number (their structure: a
headline, the amount, a billing summary, "what you need to do", the
consequence, the taxpayer's rights), shortened and with no promise the
agency's processes do not keep. Sources: irs.gov "Understanding your CP14 /
CP501 / CP503 / CP504 / LT11 / Letter 1058 / CP2000 notice" pages; IRC 6331(d)
(notice of intent to levy, at least 30 days before a levy), IRC 6330 (CDP
hearing requested within 30 days; levy suspended while it is pending,
6330(e); Tax Court review of the determination, 6330(d)), IRC 6651(d) (the
failure-to-pay rate rises to 1% a month after a notice of intent to levy),
IRC 6212/6213 (a notice of deficiency, CP3219A, and 90 days to petition the
Tax Court, which is where an unanswered CP2000 leads).

Why plain Python and not text files: the templates are part of the code's
contract (tests check every one has a deadline and the placeholders the
renderer fills), they need no package data, and a typo is a test failure,
not a blank on a printed notice.

Placeholders (``str.format`` fields, filled by the renderer from the validated
document; taxpayer-supplied text never goes through a format string):
:data:`PLACEHOLDERS`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from taxvault.notices.documents import NoticeType

PLACEHOLDERS = frozenset(
    {"form", "tax_year", "tax_period", "notice_date", "respond_by", "amount_due", "proposed_increase", "cdp_days"}
)
"""Fields a template may use: ``{amount_due}`` is ``$1,234.56``, dates read ``July 16, 2025``."""


@dataclass(frozen=True, slots=True)
class Section:
    """A headed block of paragraphs."""

    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NoticeTemplate:
    """The fixed wording of one notice type.

    ``code_label`` is how the notice names itself in its header (``CP14``,
    ``Letter 1058``); ``amount_label`` and ``deadline_label`` head the boxed
    amount and date beside the headline; ``summary_heading`` heads the amounts
    table; ``sections`` follow it, the first being "what you need to do".
    """

    code_label: str
    title: str
    headline: str
    intro: tuple[str, ...]
    amount_label: str
    deadline_label: str
    summary_heading: str
    sections: tuple[Section, ...]

    def texts(self) -> tuple[str, ...]:
        """Every string of the template that is formatted with placeholders."""
        return (
            self.headline,
            *self.intro,
            self.amount_label,
            self.deadline_label,
            self.summary_heading,
            *(s.heading for s in self.sections),
            *(p for s in self.sections for p in s.paragraphs),
        )

    def fields(self) -> frozenset[str]:
        """The placeholder names the template uses."""
        return frozenset(name for text in self.texts() for _, name, _, _ in string.Formatter().parse(text) if name)


_CANT_PAY = Section(
    "If you can't pay the full amount",
    (
        "Pay as much as you can now and call us to set up a payment plan for the rest, or ask about other "
        "options. Interest and penalties continue on any unpaid balance.",
    ),
)

_DISAGREE = Section(
    "If you disagree",
    (
        "Call us at the number on this notice or write to us at the address above. Include a copy of this "
        "notice and any documents that support your position.",
    ),
)

_ALREADY_PAID = (
    "If you paid the full amount in the last 14 days or already set up a payment plan, you can disregard this notice."
)

_CDP_RIGHTS = Section(
    "Your right to a Collection Due Process hearing",
    (
        "You have the right to a Collection Due Process (CDP) hearing with the Independent Office of Appeals "
        "under Internal Revenue Code section 6330. To request one, complete Form 12153, Request for a "
        "Collection Due Process or Equivalent Hearing, and send it to the address on this letter by "
        "{respond_by}, within {cdp_days} days of the date of this letter ({notice_date}).",
        "If you request a hearing within the {cdp_days} days, we generally won't levy for this tax period "
        "while the hearing and any appeal are pending, and you can ask the United States Tax Court to review "
        "the Appeals determination. If you ask later, you can request an equivalent hearing, but you can't "
        "take its decision to the Tax Court.",
    ),
)

_LEVY_PROPERTY = (
    "We can levy (seize) your wages, bank accounts, Social Security and other income, state tax refunds, "
    "and other property or rights to property."
)

_TEMPLATES: dict[NoticeType, NoticeTemplate] = {
    NoticeType.CP14: NoticeTemplate(
        code_label="CP14",
        title="Balance due",
        headline="You have unpaid taxes for the tax period ending {tax_period}",
        intro=(
            "Our records show you owe {amount_due} on your Form {form} for the tax period ending {tax_period}. "
            "The amount includes the penalties and interest shown in the billing summary.",
        ),
        amount_label="Amount due",
        deadline_label="Pay by",
        summary_heading="Billing summary",
        sections=(
            Section(
                "What you need to do immediately",
                (
                    "Pay the amount due, {amount_due}, by {respond_by}. Penalties and interest keep accruing "
                    "on any part of the balance you don't pay by then.",
                    _ALREADY_PAID,
                ),
            ),
            _CANT_PAY,
            _DISAGREE,
        ),
    ),
    NoticeType.CP501: NoticeTemplate(
        code_label="CP501",
        title="Reminder: balance due",
        headline="Reminder: you have a balance due for the tax period ending {tax_period}",
        intro=(
            "We wrote to you about this balance before and haven't received full payment. You still owe "
            "{amount_due} on your Form {form} for the tax period ending {tax_period}.",
        ),
        amount_label="Amount due",
        deadline_label="Pay by",
        summary_heading="Billing summary",
        sections=(
            Section(
                "What you need to do immediately",
                (
                    "Pay the amount due, {amount_due}, by {respond_by}. Penalties and interest keep accruing "
                    "on any part of the balance you don't pay by then.",
                    _ALREADY_PAID,
                ),
            ),
            _CANT_PAY,
            _DISAGREE,
        ),
    ),
    NoticeType.CP503: NoticeTemplate(
        code_label="CP503",
        title="Second reminder: balance due",
        headline="Important: we still haven't received payment for the tax period ending {tax_period}",
        intro=(
            "This is our second reminder. You still owe {amount_due} on your Form {form} for the tax period "
            "ending {tax_period}, and interest and the failure-to-pay penalty continue to increase.",
        ),
        amount_label="Amount due",
        deadline_label="Pay by",
        summary_heading="Billing summary",
        sections=(
            Section(
                "What you need to do immediately",
                (
                    "Pay the amount due, {amount_due}, by {respond_by}, or call us to set up a payment plan.",
                    _ALREADY_PAID,
                ),
            ),
            Section(
                "If you don't pay by {respond_by}",
                (
                    "We will send you a notice of our intent to levy (seize) your property or rights to "
                    "property, and penalties and interest will keep increasing.",
                ),
            ),
            _CANT_PAY,
            _DISAGREE,
        ),
    ),
    NoticeType.CP504: NoticeTemplate(
        code_label="CP504",
        title="Notice of intent to levy",
        headline="Notice of intent to seize (levy) your property or rights to property",
        intro=(
            "You have an unpaid balance of {amount_due} on your Form {form} for the tax period ending "
            "{tax_period}. We wrote to you about it before and haven't received full payment. Under Internal "
            "Revenue Code section 6331(d), this is notice of our intent to levy.",
        ),
        amount_label="Amount due immediately",
        deadline_label="Pay by",
        summary_heading="Billing summary",
        sections=(
            Section(
                "What you need to do immediately",
                (
                    "Pay the amount due, {amount_due}, by {respond_by}, or call us to set up a payment plan.",
                    _ALREADY_PAID,
                ),
            ),
            Section(
                "If you don't pay by {respond_by}",
                (
                    "We may levy (seize) your state tax refund, and we may then levy your other property "
                    "or rights to property. " + _LEVY_PROPERTY,
                    "The failure-to-pay penalty may increase to 1% a month (Internal Revenue Code section "
                    "6651(d)), and interest keeps accruing until you pay in full.",
                ),
            ),
            _CANT_PAY,
            _DISAGREE,
        ),
    ),
    NoticeType.LT11: NoticeTemplate(
        code_label="LT11",
        title="Final notice of intent to levy",
        headline="Final notice: notice of intent to levy and notice of your right to a hearing",
        intro=(
            "We have written to you about your unpaid balance of {amount_due} on your Form {form} for the tax "
            "period ending {tax_period}, and haven't received full payment. We intend to levy (seize) your "
            "property or rights to property under Internal Revenue Code section 6331.",
        ),
        amount_label="Amount due immediately",
        deadline_label="Request a hearing by",
        summary_heading="Billing summary",
        sections=(
            Section(
                "What you need to do immediately",
                (
                    "Pay the amount due, {amount_due}, by {respond_by}, or call us to set up a payment plan. "
                    "If you disagree, request a Collection Due Process hearing by {respond_by} using Form 12153.",
                    _ALREADY_PAID,
                ),
            ),
            _CDP_RIGHTS,
            Section(
                "If you don't pay or request a hearing by {respond_by}",
                (
                    _LEVY_PROPERTY,
                    "The failure-to-pay penalty may increase to 1% a month (Internal Revenue Code section "
                    "6651(d)), and interest keeps accruing until you pay in full.",
                ),
            ),
            _CANT_PAY,
        ),
    ),
    NoticeType.L1058: NoticeTemplate(
        code_label="Letter 1058",
        title="Final notice of intent to levy",
        headline="Final notice: reply within {cdp_days} days. Notice of intent to levy and of your right to a hearing",
        intro=(
            "Your Form {form} for the tax period ending {tax_period} has an unpaid balance of {amount_due}. "
            "Despite our earlier notices, it hasn't been paid. We intend to levy (seize) your property or "
            "rights to property under Internal Revenue Code section 6331.",
        ),
        amount_label="Amount due immediately",
        deadline_label="Request a hearing by",
        summary_heading="Billing summary",
        sections=(
            Section(
                "What you need to do immediately",
                (
                    "Pay the amount due, {amount_due}, by {respond_by}, or contact the revenue officer named "
                    "on this letter to arrange payment. If you disagree, request a Collection Due Process "
                    "hearing by {respond_by} using Form 12153.",
                    _ALREADY_PAID,
                ),
            ),
            _CDP_RIGHTS,
            Section(
                "If you don't pay or request a hearing by {respond_by}",
                (
                    _LEVY_PROPERTY,
                    "The failure-to-pay penalty may increase to 1% a month (Internal Revenue Code section "
                    "6651(d)), and interest keeps accruing until you pay in full.",
                ),
            ),
            _CANT_PAY,
        ),
    ),
    NoticeType.CP2000: NoticeTemplate(
        code_label="CP2000",
        title="Proposed changes to your tax return",
        headline="Proposed changes to your {tax_year} Form {form}",
        intro=(
            "The income and payment information payers such as employers and banks reported to us doesn't "
            "match what you reported on your tax return. The differences are listed below. If our "
            "information is correct, your tax increases by {proposed_increase} and you would owe {amount_due}.",
            "This is a proposal, not a bill. Nothing is assessed until you respond or the response date passes.",
        ),
        amount_label="Proposed amount due",
        deadline_label="Respond by",
        summary_heading="Proposed amount due",
        sections=(
            Section(
                "What you need to do",
                (
                    "Review the proposed changes and respond by {respond_by}. If you agree, sign the response "
                    "form and return it; you can pay {amount_due} now to limit interest.",
                    'If you disagree with some or all of the changes, mark the response form "disagree", '
                    "explain why and send copies of documents that support your position by {respond_by}.",
                ),
            ),
            Section(
                "If you don't respond by {respond_by}",
                (
                    "We will send you a statutory notice of deficiency proposing to assess the additional tax. "
                    "You will then have 90 days to petition the United States Tax Court before it is assessed.",
                ),
            ),
        ),
    ),
}

TEMPLATES: Mapping[NoticeType, NoticeTemplate] = MappingProxyType(_TEMPLATES)
"""The template of each notice type (read-only)."""


def template_for(notice_type: NoticeType | str) -> NoticeTemplate:
    """The template of ``notice_type``."""
    return TEMPLATES[NoticeType(notice_type)]
