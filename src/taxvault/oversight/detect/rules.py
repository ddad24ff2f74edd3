"""The rules: name, severity and why each one exists.

Names are fixed (the simulator's truth file and independent scenarios use them).
Thresholds are robust statistics over the person's own history and her unit's
(median and median absolute deviation), never one number for everybody, with small
floors so that a quiet history does not make a single event look extreme.
"""

from __future__ import annotations

from dataclasses import dataclass

from taxvault.oversight.alerts import Severity


@dataclass(frozen=True, slots=True)
class Rule:
    """A named detector."""

    name: str
    severity: Severity
    rationale: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "household_lookup",
            "high",
            "A look-up of her own account, a declared relative's, a former spouse's, or an account sharing her "
            "address or household, her surname and ZIP, or her ZIP without a case (break-glass aside). Relations "
            "she never declared are invisible to the policy, so only the data can show them.",
        ),
        Rule(
            "coworker_lookup",
            "high",
            "An agency employee's account read by someone in or near her unit (same unit or manager) without an "
            "open case on it for the purpose, or by anyone outside the employee-accounts unit: colleagues are the "
            "accounts most tempting to browse.",
        ),
        Rule(
            "restricted_lookup",
            "critical",
            "A restricted (high-profile) taxpayer read by anyone but the special unit working an open case on her.",
        ),
        Rule(
            "no_open_case",
            "low",
            "A caseworker's read with no open case of hers on the taxpayer for the purpose she gave: need-to-know "
            "comes from the case, not from the role.",
        ),
        Rule(
            "case_closed",
            "medium",
            "A read after every case she had on the taxpayer closed: the work ended, the curiosity did not.",
        ),
        Rule(
            "never_assigned",
            "medium",
            "A read of a taxpayer she was never assigned a case on.",
        ),
        Rule(
            "burst",
            "high",
            "An hour touching far more taxpayers than both her own hours and her unit's (median + 6 MAD): "
            "browsing runs through many accounts, case work returns to a few. Look-ups that found nobody she "
            "may see touched no taxpayer: they are fishing, not a burst.",
        ),
        Rule(
            "off_hours",
            "medium",
            "Reads at an hour of the day at least two hours away from every hour she worked on her other days "
            "(her own hour histogram), when nobody is around to see the screen.",
        ),
        Rule(
            "celebrity",
            "high",
            "One taxpayer read within three days by three or more employees none of whom has a case on her: "
            "someone in the news.",
        ),
        Rule(
            "break_glass_excess",
            "medium",
            "Break-glass used far more often in 30 days than the other break-glass holders of her unit use it "
            "(their trimmed mean rate + 4 standard deviations; the agency's when her unit has few): the "
            "override is for emergencies.",
        ),
        Rule(
            "break_glass_unreviewed",
            "medium",
            "A break-glass access still unreviewed after the review period: an override nobody checked.",
        ),
        Rule(
            "grant_probe",
            "high",
            "An engineer's or contractor's attempt outside her grants (another dataset or purpose, before the "
            "start or after the end, or with no grant at all), or a day in a grant's last week reading far more "
            "taxpayers than her other days: probing the edges of a grant, or taking what she can before it ends.",
        ),
        Rule(
            "tin_fishing",
            "high",
            "Repeated TIN look-ups that found nothing she may see, far above her own usual typos: trying numbers.",
        ),
    )
}


def rule(name: str) -> Rule:
    """The rule called ``name`` (KeyError for an unknown one)."""
    return RULES[name]
