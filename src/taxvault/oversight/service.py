"""What the CLI and the API call: a review, then the letters a confirmation owes.

The review and the letters are two units (the reviewer's, then the notice job's): the
letter needs the taxpayer's name and address, which the oversight role never reads.
If writing a letter fails, the confirmation stands and the scan job writes it later
(:func:`taxvault.oversight.letters.letters_pending`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from taxvault.access.door import Door, Session
from taxvault.errors import TaxvaultError
from taxvault.oversight.letters import issue_letters
from taxvault.oversight.review import ReviewAction, Reviewed, review_alert

log = logging.getLogger("taxvault.oversight")


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """A review's outcome and the refs of the letters it led to."""

    reviewed: Reviewed
    letters: list[str] = field(default_factory=list)
    letter_error: str | None = None


def review(door: Door, session: Session, ref: str, action: ReviewAction, reason: str | None = None) -> ReviewResult:
    """Review alert ``ref``; on the confirmation that completes a UNAX, write the taxpayer's letters."""
    done = review_alert(door, session, ref, action, reason)
    if not done.confirmed:
        return ReviewResult(done)
    try:
        letters = issue_letters(door, ref, request_id=session.request_id)
    except TaxvaultError as exc:
        log.error("UNAX letter not written; the scan job will retry", extra={"alert": ref})
        return ReviewResult(done, [], exc.kind)
    return ReviewResult(done, letters)
