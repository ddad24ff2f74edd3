"""Encodings and clear features are frozen: the same key and input give the same bytes, release after release.

Partners encode their files on their own side, perhaps months apart and with
different taxvault versions; a link between an old encoding and a new one only
works if every token and filter bit is unchanged. The digests below were taken
from the encoder as it stood before it was made faster (2026-12-05); any change
to them is a change of the encoding itself (and of the F1 figures measured on it).
"""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa
import pytest

from taxvault.matching.encode import encode_people, person_features
from taxvault.matching.fields import PERSON_FIELDS

KEY = b"frozen-fixture-key-0123456789abc"

_FIRST = ["Robert", "BOB", "bobby", "Élodie", "Mary Ann", "Linda", "Jasmine", "liz", "Chris", "Zelda J", "", None]
_LAST = ["Smith-Jones", "smith", "O'Brien Jr.", "Van der Berg", "Morrison", "Nguyễn", "Lee III", "  ", None, "Peterson"]
_STREETS = ["Oak Street", "OAK ST", "North Elm Avenue", "Main St.", "5th Boulevard", "Route 66", "", None]
_CITIES = ["Saint Paul", "St. Paul", "Fort Worth", "Austin", "Mount Vernon", None]
_STATES = ["Minnesota", "mn", "TX", "Texas", "new york", "ZZ", None]


def _date(rng: random.Random) -> str | None:
    y, m, d = rng.randint(1920, 2010), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}", f"{y}{m:02d}{d:02d}", f"{m:02d}-{d:02d}-{y}", "7 March 1980", "", None]
    )


def _tin(rng: random.Random) -> str | None:
    digits = f"{rng.randint(0, 999_999_999):09d}"
    return rng.choice([digits, f"{digits[:3]}-{digits[3:5]}-{digits[5:]}", digits[:8], "", None])


def people(n: int = 3000, seed: int = 17) -> pa.Table:
    """``n`` people with repeated names, places and dates, formatting noise, gaps and odd values."""
    rng = random.Random(seed)
    rows = [
        {
            "id": f"p{i}",
            "first_name": rng.choice(_FIRST),
            "last_name": rng.choice(_LAST),
            "birth_date": _date(rng),
            "tin": _tin(rng),
            "street_number": rng.choice([str(rng.randint(1, 9999)), "7 A", "", None]),
            "street": rng.choice(_STREETS),
            "city": rng.choice(_CITIES),
            "postcode": rng.choice([f"{rng.randint(0, 99999):05d}", "55101-1234", "12", "", None]),
            "state": rng.choice(_STATES),
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows)


def digests(table: pa.Table) -> dict[str, str]:
    """Per column, the first 16 hex digits of SHA-256 of its values in row order (types included)."""
    return {
        name: hashlib.sha256(
            f"{table.schema.field(name).type}:{table.column(name).to_pylist()!r}".encode()
        ).hexdigest()[:16]
        for name in table.column_names
    }


CASES = {
    "encoded-all": (list(PERSON_FIELDS), KEY),
    "encoded-names-date": (["first_name", "last_name", "birth_date"], KEY),
    "encoded-tin-street": (["tin", "street"], KEY),
    "clear-all": (list(PERSON_FIELDS), None),
}

FROZEN: dict[str, dict[str, str]] = {
    "clear-all": {
        "id": "621e31b1287db124",
        "first_name": "c03f98ae28fc6416",
        "first_name_canon": "7e26168a525a965a",
        "last_name": "c88315eba5c27a1c",
        "last_name_p1": "0ba4cb651e970742",
        "last_name_p2": "3de28a3266062669",
        "last_name_pre": "a45f149574bf27da",
        "birth_date": "285ecb43ba2f2707",
        "birth_year": "05749c59c1fcdd6d",
        "birth_month": "6aff012863b10812",
        "birth_day": "cda92949eba38c9a",
        "tin": "a92d242e0dce6052",
        "street_number": "42955f2449333593",
        "street": "a13bc5277e34f539",
        "city": "4def19e038b495f7",
        "postcode": "dd85e184f44be81f",
        "postcode3": "7bbb5f3dc9cb031d",
        "state": "55ec5fb4a1f2a937",
        "name_lo": "f303875d164a2718",
        "name_hi": "d6419fda1244b4aa",
        "name_ph_lo": "430dcd4627b7950c",
        "name_ph_hi": "83bde7e6a1f6b9e5",
        "birth_digits": "d308b1926bf32c86",
    },
    "encoded-all": {
        "id": "621e31b1287db124",
        "first_name": "a12c0a79a4591148",
        "first_name_canon": "bdf8ee76f0316e25",
        "first_name_clk0": "6d36fe3fc38a456b",
        "first_name_clk1": "34929489923f6bf3",
        "first_name_clk2": "511098bb3245dad4",
        "first_name_clk3": "d30868b7e724eda4",
        "last_name": "8c9c0b8620bd59fb",
        "last_name_p1": "f790673796ba96c2",
        "last_name_p2": "fa0e1102e9318d12",
        "last_name_pre": "345f4b1ea13710bf",
        "last_name_clk0": "4661baafa3cd30b8",
        "last_name_clk1": "3627c56dd9407bac",
        "last_name_clk2": "abf96339ad6c237c",
        "last_name_clk3": "618b5912c24188c8",
        "birth_date": "bbee10bcd0f8c41b",
        "birth_year": "947294c2cf7c6373",
        "birth_month": "d9c4d7d98d54caac",
        "birth_day": "50e7411a4bfb1bd8",
        "tin": "882b7bf80a37df67",
        "tin_del0": "a1ab02eaee0cfcb1",
        "tin_del1": "ab945fffe7223863",
        "tin_del2": "ef72036a60cd2ec6",
        "tin_del3": "5f8a4bfd0bd0e0e9",
        "tin_del4": "f1a6b1442445e39d",
        "tin_del5": "fe48e1b0451c8365",
        "tin_del6": "f7f4d9f468b58f27",
        "tin_del7": "92e035fdf1564680",
        "tin_del8": "96a45201585e0194",
        "street_number": "9da3a948e6e5db2d",
        "street": "f479fa586792930b",
        "street_clk0": "83e817de982705bc",
        "street_clk1": "152e56a99633cf72",
        "street_clk2": "43a42ecddeaf88e7",
        "street_clk3": "94d1c65e1cce6779",
        "city": "80cfa28759be4b6f",
        "postcode": "18e13c8d0d339c3f",
        "postcode3": "c6847a9b775f93f2",
        "state": "248af1e7e51a14ef",
        "name_lo": "08502438912648ad",
        "name_hi": "eb9a72030f352cf1",
        "name_ph_lo": "dc11f845460c9d3f",
        "name_ph_hi": "82f0691f667d81c8",
        "birth_digits": "f7f023cbf943fc0b",
    },
    "encoded-names-date": {
        "id": "621e31b1287db124",
        "first_name": "a12c0a79a4591148",
        "first_name_canon": "bdf8ee76f0316e25",
        "first_name_clk0": "6d36fe3fc38a456b",
        "first_name_clk1": "34929489923f6bf3",
        "first_name_clk2": "511098bb3245dad4",
        "first_name_clk3": "d30868b7e724eda4",
        "last_name": "8c9c0b8620bd59fb",
        "last_name_p1": "f790673796ba96c2",
        "last_name_p2": "fa0e1102e9318d12",
        "last_name_pre": "345f4b1ea13710bf",
        "last_name_clk0": "4661baafa3cd30b8",
        "last_name_clk1": "3627c56dd9407bac",
        "last_name_clk2": "abf96339ad6c237c",
        "last_name_clk3": "618b5912c24188c8",
        "birth_date": "bbee10bcd0f8c41b",
        "birth_year": "947294c2cf7c6373",
        "birth_month": "d9c4d7d98d54caac",
        "birth_day": "50e7411a4bfb1bd8",
        "name_lo": "08502438912648ad",
        "name_hi": "eb9a72030f352cf1",
        "name_ph_lo": "dc11f845460c9d3f",
        "name_ph_hi": "82f0691f667d81c8",
        "birth_digits": "f7f023cbf943fc0b",
    },
    "encoded-tin-street": {
        "id": "621e31b1287db124",
        "tin": "882b7bf80a37df67",
        "tin_del0": "a1ab02eaee0cfcb1",
        "tin_del1": "ab945fffe7223863",
        "tin_del2": "ef72036a60cd2ec6",
        "tin_del3": "5f8a4bfd0bd0e0e9",
        "tin_del4": "f1a6b1442445e39d",
        "tin_del5": "fe48e1b0451c8365",
        "tin_del6": "f7f4d9f468b58f27",
        "tin_del7": "92e035fdf1564680",
        "tin_del8": "96a45201585e0194",
        "street": "f479fa586792930b",
        "street_clk0": "83e817de982705bc",
        "street_clk1": "152e56a99633cf72",
        "street_clk2": "43a42ecddeaf88e7",
        "street_clk3": "94d1c65e1cce6779",
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_is_byte_identical_to_the_frozen_encoder(case: str) -> None:
    fields, key = CASES[case]
    table = people()
    out = encode_people(table, key, fields) if key else person_features(table, fields)
    assert digests(out) == FROZEN[case]
