"""The access report PDF on its own: the chart's bars per month, page breaks, the masked TIN."""

from __future__ import annotations

import datetime as dt
import io
import re

from pypdf import PdfReader

from taxvault.audit.access_report import Line
from taxvault.audit.report_pdf import ReportDocument, monthly_counts, render_report_pdf

NOW = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)


def line(i: int, when: dt.datetime, *, outcome: str = "disclosed", break_glass: bool = False) -> Line:
    return Line(
        event=1000 - i, time=when, accessor=f"employee-{i:012x}", unit="collection", role="caseworker",
        purpose="collection", action="read", record="entity", fields=("name", "tin:masked"),
        break_glass=break_glass, outcome=outcome,
    )  # fmt: skip


def test_monthly_counts_split_accesses_and_attempts_and_cover_the_months_between() -> None:
    lines = [
        line(0, dt.datetime(2026, 11, 3, tzinfo=dt.UTC)),
        line(1, dt.datetime(2026, 11, 30, 23, tzinfo=dt.UTC), outcome="denied"),
        line(2, dt.datetime(2026, 3, 1, tzinfo=dt.UTC)),
        line(3, dt.datetime(2026, 3, 9, tzinfo=dt.UTC)),
    ]
    months = monthly_counts(lines, NOW.date())
    assert months[0][0] == dt.date(2026, 3, 1) and months[-1][0] == dt.date(2026, 12, 1) and len(months) == 10
    counts = {m: (a, t) for m, a, t in months}
    assert counts[dt.date(2026, 3, 1)] == (2, 0) and counts[dt.date(2026, 11, 1)] == (1, 1)
    assert sum(a + t for _, a, t in months) == 4
    # Old events beyond two years are left out of the chart (they stay in the tables).
    old = [line(9, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))]
    assert len(monthly_counts(old, NOW.date())) == 24 and sum(a for _, a, _ in monthly_counts(old, NOW.date())) == 0


def test_the_chart_draws_one_bar_per_month_and_kind_and_pages_are_numbered() -> None:
    lines = [line(i, NOW - dt.timedelta(days=3 * i)) for i in range(150)]  # Dec back to mid-Jan: 12 months
    lines += [line(500, NOW - dt.timedelta(days=40), outcome="denied", break_glass=False)]
    lines[5] = line(5, lines[5].time, break_glass=True)
    doc = ReportDocument("ANA Q. PUBLIC", "6789", "SSN", NOW, lines, truncated=True)
    pdf = render_report_pdf(doc)
    assert pdf == render_report_pdf(doc)  # deterministic
    reader = PdfReader(io.BytesIO(pdf))
    first = reader.pages[0].get_contents()
    assert first is not None
    filled = len(re.findall(rb"\bre f\b", first.get_data()))
    months = monthly_counts(lines, NOW.date())
    bars = sum(1 for _, a, _ in months if a) + sum(1 for _, _, t in months if t)
    assert filled == bars + 2  # plus the legend's two swatches
    texts = [page.extract_text() for page in reader.pages]
    assert len(texts) > 2
    for n, text in enumerate(texts, start=1):
        assert f"Page {n} of {len(texts)}" in text
    whole = "\n".join(texts)
    assert "XXX-XX-6789" in whole and "ANA Q. PUBLIC" in whole
    assert "150 accesses by 150 employees; 1 emergency" in whole.replace("\n", " ")
    assert "the online report has them all" in whole.replace("\n", " ")
    assert whole.count("[emergency access]") == 1


def test_an_ein_is_masked_as_notices_print_it() -> None:
    doc = ReportDocument("ACME LLC", "4321", "EIN", NOW, [], truncated=False)
    text = PdfReader(io.BytesIO(render_report_pdf(doc))).pages[0].extract_text()
    assert "XX-XXX4321" in text and "0 accesses by 0 employees" in text and "None." in text
