"""The bundled IMF copybooks: they parse, have the documented lengths, and encode->decode round-trips."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from taxvault.formats.copybook import (
    DecodeOptions,
    decode_record,
    encode_record,
    iter_records,
    load_bundled_copybook,
    rdw_header,
)

ENTITY = load_bundled_copybook("imf_entity")
MODULE = load_bundled_copybook("imf_module")
ENCODINGS = ("cp037", "ascii")
MAX_AMOUNT = Decimal("99999999999.99")

# Printable characters that exist in both cp037 and ASCII (names with punctuation included).
_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '-.,&/#"


def _text(max_size: int, alphabet: str = _NAME_CHARS) -> st.SearchStrategy[str]:
    # Decoding trims leading/trailing blanks (as Cobrix does), so generate trimmed text.
    return st.text(alphabet=alphabet, max_size=max_size).map(str.strip)


_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
_amounts = st.one_of(
    st.just(Decimal(0)),
    st.just(MAX_AMOUNT),
    st.just(-MAX_AMOUNT),
    st.integers(min_value=-(10**13) + 1, max_value=10**13 - 1).map(lambda c: Decimal(c).scaleb(-2)),
)
_dates = st.one_of(st.just(0), st.integers(min_value=19000101, max_value=20991231))


@st.composite
def entities(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "ENT_TIN": draw(_digits),
        "ENT_TIN_TYPE": draw(st.sampled_from("SIE")),
        "ENT_NAME_CONTROL": draw(_text(4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ&-")),
        "ENT_NAME": {
            "ENT_LAST_NAME": draw(_text(35)),
            "ENT_FIRST_NAME": draw(_text(35)),
            "ENT_MIDDLE_NAME": draw(_text(20)),
        },
        "ENT_ADDRESS": {
            "ENT_ADDR_LINE_1": draw(_text(35)),
            "ENT_ADDR_LINE_2": draw(_text(35)),
            "ENT_CITY": draw(_text(22)),
            "ENT_STATE": draw(_text(2, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
            "ENT_ZIP": {"ENT_ZIP_5": draw(_text(5, "0123456789")), "ENT_ZIP_4": draw(_text(4, "0123456789"))},
        },
        "ENT_BIRTH_DATE": draw(_dates),
        "ENT_DEATH_DATE": draw(_dates),
        "ENT_FLAGS": {
            "ENT_DECEASED_FLAG": draw(st.sampled_from("YN")),
            "ENT_RESTRICTED_FLAG": draw(st.sampled_from("YN")),
            "ENT_EMPLOYEE_FLAG": draw(st.sampled_from("YN")),
        },
        "ENT_SPOUSE_TIN": draw(_digits),
        "ENT_FILING_STATUS": draw(st.integers(min_value=1, max_value=5)),
    }


@st.composite
def modules(draw: st.DrawFn) -> dict[str, Any]:
    transactions = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "TXN_CODE": st.integers(min_value=0, max_value=999),
                    "TXN_AMOUNT": _amounts,
                    "TXN_23C_DATE": _dates,
                    "TXN_CYCLE": st.integers(min_value=0, max_value=999999),
                    "TXN_DLN": st.text(alphabet="0123456789", min_size=14, max_size=14),
                    "TXN_REASON_CODE": st.integers(min_value=0, max_value=999),
                }
            ),
            min_size=1,
            max_size=99,
        )
    )
    return {
        "MOD_KEY": {
            "MOD_TIN": draw(_digits),
            "MOD_MFT_CODE": draw(st.sampled_from([30, 1, 2, 67])),
            "MOD_TAX_PERIOD": draw(st.integers(min_value=190001, max_value=209912)),
        },
        "MOD_STATUS": draw(st.integers(min_value=0, max_value=99)),
        "MOD_BALANCE": draw(_amounts),
        "MOD_TXN_COUNT": len(transactions),
        "MOD_TRANSACTION": transactions,
    }


def test_bundled_copybooks_parse_with_expected_lengths() -> None:
    assert ENTITY.record_length == 250
    assert MODULE.record_length == 28 + 99 * 41
    assert MODULE.item("MOD-TRANSACTION").occurs_max == 99
    assert MODULE.item("MOD-TRANSACTION").element_size == 41
    assert MODULE.item("MOD-BALANCE").size == 7
    assert MODULE.item("TXN-AMOUNT").offset == 31


@settings(max_examples=150, deadline=None)
@given(values=entities(), encoding=st.sampled_from(ENCODINGS))
def test_entity_round_trip(values: dict[str, Any], encoding: str) -> None:
    data = encode_record(ENTITY, values, encoding=encoding)
    assert len(data) == 250
    assert decode_record(ENTITY, data, encoding=encoding) == values


@settings(max_examples=100, deadline=None)
@given(values=modules(), encoding=st.sampled_from(ENCODINGS), variable=st.booleans())
def test_module_round_trip(values: dict[str, Any], encoding: str, variable: bool) -> None:
    data = encode_record(MODULE, values, encoding=encoding, variable_size_occurs=variable)
    expected_length = 28 + 41 * len(values["MOD_TRANSACTION"]) if variable else MODULE.record_length
    assert len(data) == expected_length
    options = DecodeOptions(encoding=encoding, variable_size_occurs=variable)
    decoded = decode_record(MODULE, data, options=options)
    assert decoded == values
    assert isinstance(decoded["MOD_BALANCE"], Decimal)


@settings(max_examples=25, deadline=None)
@given(batch=st.lists(modules(), min_size=1, max_size=5))
def test_module_file_round_trip_rdw_and_sized(batch: list[dict[str, Any]]) -> None:
    """A variable-length file written with RDWs, and one with no header at all, read back in full."""
    payloads = [encode_record(MODULE, v, variable_size_occurs=True) for v in batch]
    rdw_file = b"".join(rdw_header(len(p), adjustment=-4) + p for p in payloads)
    options = DecodeOptions(variable_size_occurs=True)
    got = [
        r.values
        for r in iter_records(
            MODULE, io.BytesIO(rdw_file), record_format="V", rdw_adjustment=-4, options=options, chunk_size=97
        )
    ]
    assert got == batch
    sized = [r.values for r in iter_records(MODULE, io.BytesIO(b"".join(payloads)), options=options, chunk_size=61)]
    assert sized == batch
