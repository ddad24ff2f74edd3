"""The balance-due notice series as a pure rule: which notice, if any, a module gets on a date.

    CP14 -> CP501 -> CP503 -> CP504 -> LT11 (ACS) or Letter 1058 (field collection)

CP14 is the first notice of a balance due; CP501 and CP503 remind; CP504 is the
notice of intent to levy (IRC 6331(d): at least 30 days before a levy); LT11 and
Letter 1058 are the final notice of intent to levy with the right to a
collection due process hearing within 30 days (IRC 6330). Letter 1058 goes out
when a revenue officer works the account (an open collection case assigned to
a person), LT11 otherwise (the Automated Collection System).

The series stops when the balance is paid (nothing is owed on the module) and
waits while a TC 570 hold is open. A new assessment (TC 290/300) after the last
notice starts a new series at CP14, since what is owed has changed.

Intervals (UNCERTAIN: the IRM's exact cycle counts are not in our sources; these
are the commonly published ones): each notice follows the previous one by at
least :data:`MIN_INTERVAL_DAYS` days and only after the previous notice's
respond-by date has passed. Respond-by periods are in :data:`RESPOND_DAYS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from taxvault.notices.documents import NoticeType

BALANCE_DUE_SERIES: tuple[NoticeType, ...] = (
    NoticeType.CP14,
    NoticeType.CP501,
    NoticeType.CP503,
    NoticeType.CP504,
    NoticeType.LT11,
)
"""The series in order; the last step is LT11 or L1058 (see :func:`final_notice`)."""

FINAL_NOTICES = frozenset({NoticeType.LT11, NoticeType.L1058})
SERIES_TYPES = frozenset(BALANCE_DUE_SERIES) | FINAL_NOTICES

MIN_INTERVAL_DAYS = 35
"""Five weeks between consecutive notices of the series."""

RESPOND_DAYS: dict[NoticeType, int] = {
    NoticeType.CP14: 21,
    NoticeType.CP501: 21,
    NoticeType.CP503: 21,
    NoticeType.CP504: 30,  # IRC 6331(d)(2): at least 30 days before levy
    NoticeType.LT11: 30,  # IRC 6330(a)(3)(B): 30 days to request a CDP hearing
    NoticeType.L1058: 30,
    NoticeType.CP2000: 30,
}

MIN_BALANCE_CENTS = 100
"""No notice for less than a dollar owed."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A notice of the series already issued to the module."""

    notice_type: NoticeType
    issued: dt.date
    respond_by: dt.date


def respond_by(notice_type: NoticeType, issued: dt.date) -> dt.date:
    """The date the notice asks the taxpayer to act by."""
    return issued + dt.timedelta(days=RESPOND_DAYS[notice_type])


def final_notice(field_collection: bool) -> NoticeType:
    """Letter 1058 when a revenue officer works the account, LT11 from ACS otherwise."""
    return NoticeType.L1058 if field_collection else NoticeType.LT11


def next_notice(
    history: Sequence[Issued],
    *,
    on: dt.date,
    balance_cents: int,
    hold: bool,
    assessed_on: dt.date | None,
    field_collection: bool = False,
) -> NoticeType | None:
    """The notice of the series due on ``on``, or None. Pure.

    ``history``: the module's series notices, any order; ``balance_cents``: the
    posted balance as of ``on`` (positive: owed); ``assessed_on``: the date of the
    latest assessment (TC 150/290/300 debit) on or before ``on``, None if none.
    """
    if hold or assessed_on is None or balance_cents < MIN_BALANCE_CENTS:
        return None
    current = sorted(
        (i for i in history if i.issued >= assessed_on and i.notice_type in SERIES_TYPES),
        key=lambda i: (i.issued, BALANCE_DUE_SERIES.index(_step(i.notice_type))),
    )
    if not current:
        return NoticeType.CP14
    last = current[-1]
    if last.notice_type in FINAL_NOTICES:
        return None  # the series is complete: enforcement, not another notice
    if (on - last.issued).days < MIN_INTERVAL_DAYS or on <= last.respond_by:
        return None
    nxt = BALANCE_DUE_SERIES[BALANCE_DUE_SERIES.index(last.notice_type) + 1]
    return final_notice(field_collection) if nxt is NoticeType.LT11 else nxt


def _step(t: NoticeType) -> NoticeType:
    return NoticeType.LT11 if t in FINAL_NOTICES else t
