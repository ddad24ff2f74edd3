"""Server-rendered SVG charts (no script): bars of accesses per month for the taxpayer's report.

Why server side: the CSP allows no inline script, and a chart must also read without one;
the page carries the same numbers as a table for screen readers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 20, 40
MIN_MONTHS, MAX_MONTHS = 6, 24


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # "2026-05"
    count: int
    attempts: int
    x: float
    y: float
    width: float
    height: float
    attempts_y: float
    attempts_height: float


@dataclass(frozen=True, slots=True)
class MonthlyChart:
    """What the template draws: bars, the y-axis top and its label."""

    bars: list[Bar]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def total(self) -> int:
        return sum(b.count for b in self.bars)


def _month(value: dt.date) -> dt.date:
    return dt.date(value.year, value.month, 1)


def _previous(month: dt.date) -> dt.date:
    return _month(month - dt.timedelta(days=1))


def months_between(oldest: dt.date | None, until: dt.date) -> list[dt.date]:
    """First days of the months from ``oldest``'s to ``until``'s (at least 6, at most 24)."""
    months = [_month(until)]
    start = _month(oldest) if oldest else months[0]
    while months[0] > start and len(months) < MAX_MONTHS:
        months.insert(0, _previous(months[0]))
    while len(months) < MIN_MONTHS:
        months.insert(0, _previous(months[0]))
    return months


def monthly_chart(lines: Iterable[Mapping[str, object]], until: dt.date) -> MonthlyChart:
    """Bars of accesses (and refused attempts) per month from access-report lines (``time``, ``outcome``)."""
    parsed = [(dt.datetime.fromisoformat(str(line["time"]).replace("Z", "+00:00")).date(), line) for line in lines]
    months = months_between(min((d for d, _ in parsed), default=None), until)
    counts = {m: [0, 0] for m in months}
    for day, line in parsed:
        key = _month(day)
        if key in counts:
            counts[key][0 if line.get("outcome") == "disclosed" else 1] += 1
    peak = max((a + t for a, t in counts.values()), default=0)
    scale = (HEIGHT - TOP - BOTTOM) / max(peak, 1)
    slot = (WIDTH - LEFT - RIGHT) / len(months)
    base = HEIGHT - BOTTOM
    bars = []
    for i, m in enumerate(months):
        accesses, attempts = counts[m]
        h, ah = accesses * scale, attempts * scale
        x = LEFT + i * slot + slot * 0.15
        bars.append(
            Bar(m.strftime("%Y-%m"), accesses, attempts, round(x, 1), round(base - h, 1), round(slot * 0.7, 1),
                round(h, 1), round(base - h - ah, 1), round(ah, 1))
        )  # fmt: skip
    return MonthlyChart(bars, peak)
