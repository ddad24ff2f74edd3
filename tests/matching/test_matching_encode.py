"""Normalisation and keyed encodings: deterministic, keyed, nothing raw left, similarity preserved."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxvault.matching.encode import (
    CLK_WORDS,
    EncodingError,
    clk_columns,
    dice,
    domain_token,
    encode_people,
    feature_columns,
    person_features,
    tin_deletion_columns,
    token,
)
from taxvault.matching.fields import PERSON_FIELDS, FieldError, canonical_given_names, normalise_field, normalise_people

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
FIELDS = list(PERSON_FIELDS)


def people_table() -> pa.Table:
    return pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "first_name": ["Robert", "BOB", "Roberta", "Linda"],
            "last_name": ["Smith-Jones", "smith", "Smyth", "O'Brien Jr."],
            "birth_date": ["1980-03-07", "1980-07-03", "3/7/1980", None],
            "tin": ["900-12-3456", "900123465", "900123456", None],
            "street_number": ["12", "12", "7 A", None],
            "street": ["Oak Street", "OAK ST", "Elm Avenue", "Main St"],
            "city": ["Saint Paul", "St. Paul", "Austin", "Boise"],
            "postcode": ["55101-1234", "55101", "78701", None],
            "state": ["Minnesota", "mn", "TX", "ID"],
        }
    )


def row(table: pa.Table, ident: str) -> dict[str, object]:
    rows = [r for r in table.to_pylist() if r["id"] == ident]
    assert len(rows) == 1
    found: dict[str, object] = rows[0]
    return found


def test_normalisation_removes_formatting_not_content() -> None:
    out = normalise_people(people_table(), FIELDS).to_pylist()
    assert [r["tin"] for r in out] == ["900123456", "900123465", "900123456", None]
    dates = ["1980-03-07", "19800307", "3/7/1980", "03-07-1980", "3.7.1980", "1980-03-07T00:00:00", "7 March 1980"]
    assert normalise_field("birth_date", pa.array(dates)).to_pylist() == ["1980-03-07"] * 6 + [None]
    assert [r["birth_date"] for r in out] == ["1980-03-07", "1980-07-03", "1980-03-07", None]
    assert [r["street"] for r in out] == ["OAK ST", "OAK ST", "ELM AVE", "MAIN ST"]
    assert [r["city"] for r in out] == ["ST PAUL", "ST PAUL", "AUSTIN", "BOISE"]
    assert [r["state"] for r in out] == ["MN", "MN", "TX", "ID"]
    assert [r["postcode"] for r in out] == ["55101", "55101", "78701", None]
    assert [r["last_name"] for r in out] == ["SMITH JONES", "SMITH", "SMYTH", "OBRIEN"]
    assert [r["street_number"] for r in out] == ["12", "12", "7A", None]
    assert out[1]["first_name"] == "BOB"  # nicknames are left to the linkage model
    assert canonical_given_names(pa.array(["BOB", "ROBERT", "LIZ", "ZELDA"])).to_pylist() == [
        "ROBERT",
        "ROBERT",
        "ELIZABETH",
        "ZELDA",
    ]


def test_normalise_rejects_unknown_fields() -> None:
    with pytest.raises(FieldError):
        normalise_people(people_table(), ["shoe_size"])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.sampled_from(["first_name", "last_name", "street", "city", "state", "tin"]))
def test_normalisation_is_idempotent(text: str, field: str) -> None:
    once = normalise_field(field, pa.array([text], pa.string()))
    twice = normalise_field(field, once)
    assert once.to_pylist() == twice.to_pylist()
    value = once.to_pylist()[0]
    assert value is None or (value == value.strip() and "  " not in value)


def test_token_is_hmac_sha256_and_matches_the_tin_column() -> None:
    assert token("900123456", KEY) == hmac.new(KEY, b"900123456", hashlib.sha256).hexdigest()
    encoded = encode_people(people_table(), KEY, FIELDS)
    assert row(encoded, "a")["tin"] == token("900123456", KEY)
    assert row(encoded, "a")["tin"] == row(encoded, "c")["tin"]  # same TIN, different formatting
    assert token("900123456", OTHER_KEY) != token("900123456", KEY)
    with pytest.raises(EncodingError):
        token("900123456", b"short")


def test_encoded_table_holds_no_raw_value() -> None:
    table = people_table()
    encoded = encode_people(table, KEY, FIELDS)
    assert encoded.column_names == ["id", *feature_columns(FIELDS, encoded=True)]
    raw = {v for f in FIELDS for v in table.column(f).to_pylist() if v}
    raw |= {v for f in FIELDS for v in normalise_people(table, FIELDS).column(f).to_pylist() if v}
    for name in encoded.column_names[1:]:
        col = encoded.column(name)
        if name == "tin":
            assert all(v is None or (len(v) == 64 and v not in raw) for v in col.to_pylist())
        else:
            assert pa.types.is_integer(col.type), name
    assert row(encoded, "d")["tin"] is None  # missing stays missing


def test_encoding_is_deterministic_and_keyed() -> None:
    a = encode_people(people_table(), KEY, FIELDS).sort_by("id")
    b = encode_people(people_table(), KEY, FIELDS).sort_by("id")
    c = encode_people(people_table(), OTHER_KEY, FIELDS).sort_by("id")
    assert a.equals(b)
    for name in ("first_name", "last_name", "birth_date", "postcode"):
        assert set(a.column(name).to_pylist()).isdisjoint(set(c.column(name).to_pylist()) - {None})


def test_derived_tokens_carry_nicknames_surname_parts_and_date_parts() -> None:
    encoded = encode_people(people_table(), KEY, FIELDS)
    a, b, c = row(encoded, "a"), row(encoded, "b"), row(encoded, "c")
    assert a["first_name"] != b["first_name"]
    assert a["first_name_canon"] == b["first_name_canon"] == domain_token("first_name_canon", "ROBERT", KEY)
    assert a["last_name_p1"] == b["last_name_p1"]  # SMITH-JONES and SMITH share a surname part
    assert a["last_name_p2"] == domain_token("last_name_part", "JONES", KEY)
    assert b["last_name_p2"] is None
    # 1980-03-07 against 1980-07-03: day and month swapped, visible through the shared domain.
    assert a["birth_year"] == b["birth_year"]
    assert a["birth_month"] == b["birth_day"]
    assert a["birth_day"] == b["birth_month"]
    assert a["birth_date"] == c["birth_date"]


def test_tin_deletion_tokens_detect_one_transposition_only() -> None:
    table = pa.table({"id": ["x", "y", "z"], "tin": ["900123456", "900123465", "917654320"]})
    encoded = encode_people(table, KEY, ["tin"])
    x, y, z = (row(encoded, i) for i in "xyz")
    dels = tin_deletion_columns()
    shared_xy = {(i, j) for i, ci in enumerate(dels) for j, cj in enumerate(dels) if x[ci] == y[cj]}
    assert (7, 8) in shared_xy or (8, 7) in shared_xy  # the swap of the last two digits
    assert all(x[ci] != z[cj] for ci in dels for cj in dels)


def test_bloom_filters_keep_typos_close_and_strangers_apart() -> None:
    names = ["CHRISTOPHER", "CHRISTOHPER", "CHRISTOPER", "KRISTOPHER", "MARGARET", "WILLIAM", "ELIZABETH"]
    table = pa.table({"id": [str(i) for i in range(len(names))], "first_name": names})
    encoded = encode_people(table, KEY, ["first_name"])
    by_id = {r["id"]: [r[c] for c in clk_columns("first_name")] for r in encoded.to_pylist()}
    assert len(by_id["0"]) == CLK_WORDS
    close = [dice(by_id["0"], by_id[str(i)]) for i in (1, 2, 3)]
    far = [dice(by_id["0"], by_id[str(i)]) for i in (4, 5, 6)]
    assert min(close) >= 0.75
    assert max(far) < min(close)
    assert sum(far) / len(far) < 0.5
    assert dice(by_id["0"], by_id["0"]) == 1.0


def test_features_in_the_clear_have_the_same_columns_without_filters() -> None:
    clear = person_features(people_table(), FIELDS)
    assert clear.column_names == ["id", *feature_columns(FIELDS, encoded=False)]
    assert row(clear, "b")["first_name_canon"] == "ROBERT"
    assert row(clear, "a")["postcode3"] == "551"


def test_encoding_errors_are_clear() -> None:
    with pytest.raises(EncodingError, match="id column"):
        encode_people(people_table().drop_columns(["id"]), KEY, FIELDS)
    with pytest.raises(EncodingError, match="no column"):
        encode_people(people_table().drop_columns(["city"]), KEY, FIELDS)
    with pytest.raises(EncodingError, match="16 bytes"):
        encode_people(people_table(), b"tiny", FIELDS)


def test_rows_keep_their_order_beyond_one_duckdb_row_group() -> None:
    # DuckDB may reorder rows of multi-threaded queries over several row groups (122,880 rows each);
    # linkage maps its row numbers back to ids, so the order must hold (regression: 1M-row clear links).
    n = 300_000
    table = pa.table({"id": [f"r{i}" for i in range(n)], "postcode": [f"{i % 90000 + 10000:05d}" for i in range(n)]})
    for out in (person_features(table, ["postcode"]), encode_people(table, KEY, ["postcode"])):
        assert out.column("id").to_pylist() == table.column("id").to_pylist()
    clear = person_features(table, ["postcode"])
    assert clear.column("postcode").to_pylist() == table.column("postcode").to_pylist()


def _swap_table() -> pa.Table:
    return pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "first_name": ["Jasmine", "Morrison", "Jasmine", None],
            "last_name": ["Morrison", "Jasmine", "Morrisen", "Morrison"],
            "birth_date": ["1979-08-21", "1979-02-81", "1979-12-08", "1980-01-01"],
        }
    )


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encoded"])
def test_swapped_names_phonetic_codes_and_transposed_dates_share_a_value(key: bytes | None) -> None:
    fields = ["first_name", "last_name", "birth_date"]
    out = person_features(_swap_table(), fields, key=key).to_pylist()
    a, b, c, d = out
    assert (a["name_lo"], a["name_hi"]) == (b["name_lo"], b["name_hi"])  # given name and surname swapped
    assert a["name_ph_lo"] == c["name_ph_lo"] and a["name_ph_hi"] == c["name_ph_hi"]  # MORRISEN sounds as MORRISON
    assert (a["name_lo"], a["name_hi"]) != (c["name_lo"], c["name_hi"])
    assert a["birth_digits"] == b["birth_digits"] == c["birth_digits"]  # the same eight digits
    assert d["birth_digits"] != a["birth_digits"]
    assert d["name_lo"] is None and d["name_ph_hi"] is None  # one name missing: no pair to block on
    if key is not None:
        assert isinstance(a["name_lo"], int) and "MORRISON" not in str(out)


def test_given_name_and_surname_filters_share_a_domain_so_a_swap_is_visible() -> None:
    enc = encode_people(_swap_table(), KEY, ["first_name", "last_name"]).to_pylist()
    first_a = [enc[0][c] for c in clk_columns("first_name")]
    last_b = [enc[1][c] for c in clk_columns("last_name")]
    assert dice(first_a, last_b) == 1.0  # JASMINE as a given name and as a surname: the same filter
    other = encode_people(_swap_table(), OTHER_KEY, ["first_name", "last_name"]).to_pylist()
    assert [other[0][c] for c in clk_columns("first_name")] != first_a


def test_joint_columns_only_with_both_names() -> None:
    assert "name_lo" not in feature_columns(["first_name"], encoded=True)
    assert {"name_lo", "name_hi", "name_ph_lo", "name_ph_hi"} <= set(
        feature_columns(["first_name", "last_name"], encoded=False)
    )
    assert "birth_digits" in feature_columns(["birth_date"], encoded=True)
