"""Raising alerts: idempotent on dedupe, bulk, refusing TINs in summaries."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.access.door import REF_PATTERN
from taxvault.errors import Invalid
from taxvault.oversight.alerts import AlertDraft, raise_alert, raise_alerts
from taxvault.oversight.tables import oversight_alerts

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _draft(key: str, **kw: object) -> AlertDraft:
    base: dict[str, object] = {
        "rule": "burst",
        "severity": "medium",
        "summary": "E000001 read 240 records in one hour (baseline 12)",
        "leaves": [5, 3, 3],
        "principal_id": "E000001",
        "subject": None,
        "window": (T0, T0 + dt.timedelta(hours=1)),
        "dedupe": key,
    }
    base |= kw
    return AlertDraft(**base)  # type: ignore[arg-type]


def test_raise_alert_is_idempotent_on_dedupe(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        ref = raise_alert(
            conn,
            rule="household_lookup",
            severity="high",
            summary="E000001 looked up e0123456789 (same surname and address)",
            leaves=[7, 2],
            principal_id="E000001",
            subject="e0123456789",
            window=None,
            dedupe="household_lookup:E000001:e0123456789",
        )
        again = raise_alert(
            conn,
            rule="household_lookup",
            severity="high",
            summary="a second scan",
            leaves=[9],
            principal_id="E000001",
            subject="e0123456789",
            window=None,
            dedupe="household_lookup:E000001:e0123456789",
        )
    assert ref == again and re.fullmatch(REF_PATTERN, ref)
    with db_engine.connect() as conn:
        rows = conn.execute(sa.select(oversight_alerts)).mappings().all()
    assert len(rows) == 1
    assert (
        rows[0]["leaves"] == [2, 7] and rows[0]["state"] == "open" and rows[0]["summary"].startswith("E000001 looked")
    )


def test_raise_alerts_bulk_keeps_order_and_collapses_duplicates(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        first = raise_alerts(conn, [_draft("burst:a"), _draft("burst:b")])
    with db_engine.begin() as conn:
        refs = raise_alerts(conn, [_draft("burst:c"), _draft("burst:a"), _draft("burst:c"), _draft("burst:b")])
    assert refs[1] == first[0] and refs[3] == first[1] and refs[0] == refs[2]
    assert len(set(refs)) == 3
    with db_engine.connect() as conn:
        stored = conn.execute(sa.select(oversight_alerts.c.dedupe, oversight_alerts.c.window_start)).all()
    assert sorted(d for d, _ in stored) == ["burst:a", "burst:b", "burst:c"]
    assert all(w is not None for _, w in stored)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"summary": "looked up 123-45-6789 twice"}, "alert-tin"),
        ({"summary": "looked up 123456789 twice"}, "alert-tin"),
        ({"dedupe": "tin_fishing:123-45-6789"}, "alert-tin"),
        ({"severity": "urgent"}, "alert-severity"),
        ({"rule": "Burst!"}, "alert-rule"),
        ({"leaves": [-1]}, "alert-leaves"),
        ({"window": (T0, T0 - dt.timedelta(hours=1))}, "alert-window"),
        ({"dedupe": ""}, "alert-dedupe"),
    ],
)
def test_bad_drafts_are_refused(db_engine: Engine, change: dict[str, object], code: str) -> None:
    with db_engine.begin() as conn, pytest.raises(Invalid) as info:
        raise_alerts(conn, [_draft("ok"), _draft("bad", **change)])
    assert info.value.code == code
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(oversight_alerts)).scalar_one() == 0


def test_a_dedupe_key_may_carry_a_long_id(db_engine: Engine) -> None:
    """Machine keys name reviews and leaves by number; only a TIN written as one is refused there."""
    with db_engine.begin() as conn:
        ref = raise_alerts(conn, [_draft("break_glass_unreviewed:123456789")])[0]
    assert re.fullmatch(REF_PATTERN, ref)
