"""The synthetic partner data: realistic people, realistic errors, the truth kept aside."""

from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from taxvault.matching.fields import PERSON_FIELDS, normalise_people
from taxvault.matching.synthetic import corrupt, partner_pair, people

FIELDS = list(PERSON_FIELDS)


def test_people_are_synthetic_distinct_and_in_households() -> None:
    p = people(5_000, seed=3)
    assert p.num_rows == 5_000
    assert p.column_names == ["id", *FIELDS]
    assert pc.count_distinct(p["id"]).as_py() == 5_000
    tins = p["tin"].to_pylist()
    assert len(set(tins)) == len(tins)
    for t in tins:
        assert re.fullmatch(r"9\d{8}", t)
        assert 1 <= int(t[3:5]) <= 49  # group 01-49: never issued
    addresses = Counter(
        zip(p["street_number"].to_pylist(), p["street"].to_pylist(), p["postcode"].to_pylist(), strict=True)
    )
    assert sum(1 for c in addresses.values() if c > 1) > 500  # households share an address
    assert p.equals(people(5_000, seed=3))
    assert not p.equals(people(5_000, seed=4))


def test_twins_never_share_a_first_name() -> None:
    p = people(20_000, seed=5)
    key = Counter(
        zip(
            p["last_name"].to_pylist(),
            p["birth_date"].to_pylist(),
            p["street"].to_pylist(),
            p["first_name"].to_pylist(),
            strict=True,
        )
    )
    assert max(key.values()) == 1


def test_corrupt_makes_realistic_errors_and_keeps_the_truth() -> None:
    truth = people(10_000, seed=8)
    partner = corrupt(truth, seed=8)
    assert partner.num_rows == truth.num_rows
    assert set(partner["true_id"].to_pylist()) == set(truth["id"].to_pylist())
    assert set(partner["id"].to_pylist()).isdisjoint(set(truth["id"].to_pylist()))
    assert partner["true_id"].to_pylist() != truth["id"].to_pylist()  # shuffled

    clean = normalise_people(truth, FIELDS).to_pylist()
    by_id = {r["id"]: r for r in clean}
    seen = normalise_people(partner.drop_columns(["id"]), FIELDS).to_pylist()
    differing = [
        [f for f in FIELDS if by_id[r["true_id"]][f] != r[f]]
        for r in seen
    ]  # fmt: skip
    with_error = sum(1 for d in differing if d)
    with_two = sum(
        1 for d in differing if len(d) >= 2 and not set(d) <= {"street_number", "street", "city", "postcode", "state"}
    )
    assert 0.25 <= with_error / len(seen) <= 0.40  # rate 0.3, some errors invisible after normalisation
    assert with_two / len(seen) >= 0.03
    counts = Counter(f for d in differing for f in d)
    for field in FIELDS:
        assert counts[field] > 50, field
    missing_tin = sum(1 for r in seen if r["tin"] is None)
    assert 0.01 <= missing_tin / len(seen) <= 0.05
    nick = sum(
        1 for r in seen if r["first_name"] in {"BOB", "BILL", "LIZ", "JIM", "MIKE", "DAVE", "TOM", "JOE"}
    )  # fmt: skip
    assert nick > 10
    hyphenated = sum(
        1
        for r in seen
        if r["last_name"] and " " in r["last_name"] and " " not in (by_id[r["true_id"]]["last_name"] or "")
    )
    assert hyphenated > 10


def test_formatting_noise_disappears_after_normalisation() -> None:
    truth = people(3_000, seed=9)
    partner = corrupt(truth, seed=9, rate=0.0)
    raw_same = sum(
        1 for a, b in zip(truth.sort_by("id").to_pylist(), partner.sort_by("true_id").to_pylist(), strict=True)
        if all(a[f] == b[f] for f in FIELDS)
    )  # fmt: skip
    assert raw_same < 0.5 * truth.num_rows  # formats differ a lot ...
    left = normalise_people(truth, FIELDS).sort_by("id")
    right = normalise_people(partner.drop_columns(["id"]).rename_columns([*FIELDS, "id"]), FIELDS).sort_by("id")
    assert left.select(FIELDS).equals(right.select(FIELDS))  # ... but not the content


def test_partner_pair_truth_table() -> None:
    left, right, truth = partner_pair(4_000, 3_000, 0.5, seed=2)
    assert (left.num_rows, right.num_rows, truth.num_rows) == (4_000, 3_000, 1_500)
    assert "true_id" not in right.column_names
    assert truth.column_names == ["left_id", "right_id"]
    assert set(truth["left_id"].to_pylist()) <= set(left["id"].to_pylist())
    assert set(truth["right_id"].to_pylist()) <= set(right["id"].to_pylist())
    assert pc.count_distinct(truth["left_id"]).as_py() == truth.num_rows
    assert pc.count_distinct(truth["right_id"]).as_py() == truth.num_rows
    assert isinstance(left["tin"].type, pa.DataType)
