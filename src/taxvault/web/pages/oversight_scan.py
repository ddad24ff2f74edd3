"""Oversight's "Scan now": one pass of the browsing detectors over the log, its progress polled.

The scheduled job scans every few minutes; a reviewer who has just been told of a
suspicion, or who starts on a store whose log was never scanned, runs a pass now and
watches it move (events judged of events to judge). The pass is the API's
``POST /v1/oversight/scan`` (:func:`taxvault.oversight.queue.decide_scan`: decided and
audited before anything is read, a refusal is the page's 403; then
:func:`taxvault.oversight.job.run_once`), in a background task of this session; when it ends
the page says what it found and links to the alert queue.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from taxvault.access.resources import Resource
from taxvault.oversight import queue
from taxvault.oversight.job import run_once
from taxvault.web.kit import (
    NAV,
    NavItem,
    Page,
    WebUser,
    current_user,
    door_access,
    page_router,
    render,
    roles_any,
    start_task,
)

router = page_router("/web/oversight/scan")
User = Annotated[WebUser, Depends(current_user)]

NAV.append(NavItem("Scan", "/web/oversight/scan/", roles_any("oversight")))


def scan_summary(report: dict[str, Any]) -> str:
    """One line for the page: what the pass read and raised (rule names and counts only)."""
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted((report.get("by_rule") or {}).items()))
    return (
        f"scanned {int(report.get('events', 0)):,} events (leaves {report.get('start_leaf', 0)}.."
        f"{report.get('end_leaf', 0)}): {int(report.get('new_alerts', 0)):,} new alerts"
        + (f" ({rules})" if rules else "")
        + f", {int(report.get('letters', 0)):,} letters"
    )


@router.get("/")
def scan_page(request: Request, user: User) -> HTMLResponse:
    """The "Scan now" form (nothing is read until it is posted)."""
    return render(request, "oversight/scan.html", Page("Scan the audit log"))


@router.post("/")
def scan_start(request: Request, user: User) -> Response:
    """Start one pass in the background: refused (and audited) at once if she may not scan."""
    access = door_access(request, user, Resource.OVERSIGHT_ALERT)
    door = access.door
    queue.decide_scan(door, access.session)  # a refusal is the 403 page now, not a failed task

    def work(report: Any) -> tuple[bytes, str, str]:
        report(0, "deciding")

        def moved(done: int, total: int) -> None:
            report(min(99, 100 * done // total) if total else 99, f"{done:,} of {total:,} events judged")

        result = run_once(door, progress=moved)
        line = scan_summary(result)
        report(100, line)
        return (line + "\n").encode(), "text/plain; charset=utf-8", "scan-report.txt"

    return start_task(request, user, "Scanning the audit log", work)
