"""The agency extends the published rate table with a file, without a release; a bad file is refused clearly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from taxvault.ledger.accruals import (
    RATES_FILE_ENV,
    RATES_KNOWN_UNTIL,
    RateFileError,
    RateNotPublished,
    Terms,
    accrue,
    underpayment_rate,
)
from taxvault.ledger.posting import Posted

DAY_AFTER = RATES_KNOWN_UNTIL + dt.timedelta(days=1)
TERMS = Terms(due_date=dt.date(2026, 4, 15), filed_date=dt.date(2026, 4, 15))
TAX = [Posted(1, 150, 1_000_000, dt.date(2026, 5, 20))]


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rates.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_without_a_file_the_next_quarter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RATES_FILE_ENV, raising=False)
    with pytest.raises(RateNotPublished):
        underpayment_rate(DAY_AFTER)


def test_the_file_extends_the_table_and_the_rate_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on = DAY_AFTER + dt.timedelta(days=120)
    results = []
    for pct in (6, 9):
        start2 = DAY_AFTER.replace(month=DAY_AFTER.month + 3)
        path = _file(tmp_path, f"quarter_start,percent,source\n{DAY_AFTER},{pct},Rev. Rul. test\n{start2},{pct},test\n")
        monkeypatch.setenv(RATES_FILE_ENV, path)
        assert underpayment_rate(DAY_AFTER).percent == pct
        assert underpayment_rate(DAY_AFTER).source == "Rev. Rul. test"
        results.append(accrue(TAX, TERMS, on).interest)
    assert results[1] > results[0] > 0


@pytest.mark.parametrize(
    "text",
    [
        "2026-08-01,6,gap\n",  # not the next quarter start
        "2026-07-01,six,bad\n",
        "2026-07-01,6\n",
        "2026-07-01,6,ok\n2027-01-01,6,gap\n",
        "2026-07-01,45,too high\n",
    ],
)
def test_a_bad_file_is_refused_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(RATES_FILE_ENV, _file(tmp_path, text))
    with pytest.raises(RateFileError) as info:
        underpayment_rate(DAY_AFTER)
    assert "rates.csv:" in str(info.value)


def test_a_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RATES_FILE_ENV, str(tmp_path / "absent.csv"))
    with pytest.raises(RateFileError):
        underpayment_rate(DAY_AFTER)
