"""The fast paths agree with the plain ones: same bytes, same values, same errors.

The generated encoder, the generated decoder (with its strip()/null shortcut
and inline integers), the fixed-length ``iter_records`` path and the bulk
APIs are optimisations only; these property tests run them against the plain
tree-walking writer and the closure decoder on every conformance copybook and
the bundled IMF ones, with random values, random bytes and random options.

Agreeing is not enough: a fast path that always declined (or crashed and was
caught) would agree too.  So the callers catch only the fast path's legitimate
refusals, every hand-over to the plain code is counted (``fastpath.STATS``),
and the tests assert the count: zero for values and records the fast path
supports, exactly one where it must decline.
"""

from __future__ import annotations

import contextlib
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.copybook import (
    DecodeOptions,
    FileFormatError,
    Item,
    Kind,
    Layout,
    RecordDecodeError,
    RecordDecoder,
    RecordEncodeError,
    Usage,
    decode_columns,
    decode_record,
    encode_record,
    encode_records,
    iter_raw_records,
    iter_records,
    load_bundled_copybook,
    parse_copybook,
    rdw_header,
)
from taxvault.formats.copybook.encoder import encode_record_plain, get_encoder
from taxvault.formats.copybook.fastpath import ENCODER_REFUSALS, STATS, Fallback

CORPUS = Path(__file__).resolve().parents[2] / "conformance" / "cobrix"
LAYOUTS: dict[str, Layout] = {
    p.stem: parse_copybook(p.read_text(encoding="latin-1")) for p in sorted(CORPUS.glob("case_*/*.cob"))
}
LAYOUTS["imf_entity"] = load_bundled_copybook("imf_entity")
LAYOUTS["imf_module"] = load_bundled_copybook("imf_module")
LAYOUTS["redefines_signs"] = parse_copybook(
    """
       01  REC.
           05  KIND          PIC X.
           05  BODY          PIC X(6).
           05  NUM REDEFINES BODY PIC S9(5)V99.
           05  AMOUNTS.
               10  A-LEAD    PIC S9(3) SIGN LEADING.
               10  A-SEP     PIC S9(3)V9 SIGN TRAILING SEPARATE.
               10  A-LSEP    PIC S99 SIGN LEADING SEPARATE.
               10  A-BIN     PIC S9(9) COMP.
               10  A-UBIN    PIC 9(4) COMP.
               10  A-PACK    PIC 9(5) COMP-3.
               10  A-SCALED  PIC 9(3)PP.
               10  A-EDIT    PIC Z(3)9.99-.
               10  A-FLT     COMP-1.
               10  A-NAT     PIC N(3).
           05  N             PIC 9.
           05  TAB OCCURS 0 TO 4 DEPENDING ON N.
               10  T-X       PIC XX.
               10  T-V       PIC S9(3)V9 COMP-3.
           05  FIX           PIC 99 OCCURS 2.
           05  FILLER        PIC X(3).
"""
)
LAYOUTS["justified_bwz"] = parse_copybook(
    """
       01  REC.
           05  NAME          PIC X(6) JUSTIFIED RIGHT.
           05  AMT           PIC 9(3)V99 BLANK WHEN ZERO.
           05  EDT           PIC ZZ9.99 BLANK WHEN ZERO.
           05  CNT           PIC 9(2).
"""
)
ENCODINGS = ["cp037", "common", "cp273", "ascii", "cp1148", "cp037_extended"]
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_layout_names = st.sampled_from(sorted(LAYOUTS))


def _rarely(valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], clean: bool = False) -> st.SearchStrategy[Any]:
    """Mostly ``valid``; about one draw in forty from ``bad`` (so most records stay encodable); ``clean``: never."""
    if clean:
        return valid
    return st.integers(0, 39).flatmap(lambda k: bad if k == 0 else valid)


def _leaf_values(item: Item, clean: bool = False) -> st.SearchStrategy[Any]:
    ftype = item.ftype
    assert ftype is not None
    junk = st.sampled_from(
        [1.5, True, b"x", "12", "abc", Decimal("NaN"), Decimal("sNaN"), Decimal("-Inf"), [], {}, chr(0x20AC), 10**30]
    )
    if ftype.kind in (Kind.TEXT, Kind.EDITED_TEXT):
        size = ftype.size // 2 if ftype.usage is Usage.NATIONAL else ftype.size
        text = st.text(alphabet=st.sampled_from("AZaz09 .-'&" if clean else "AZaz09 .-'&\u00e9"), max_size=size)
        return _rarely(text, st.one_of(junk, st.text(min_size=size + 1, max_size=size + 1)), clean)
    if ftype.kind is Kind.FLOAT:
        return _rarely(st.one_of(st.floats(width=32, allow_nan=False), st.integers(-(10**6), 10**6)), junk, clean)
    limit = 10 ** max(ftype.digits, 1)
    low = -limit + 1 if ftype.signed and not (clean and ftype.edited) else 0  # not every edit mask shows a sign
    ints = st.integers(low, limit - 1)
    decimals = st.builds(lambda i: Decimal(i).scaleb(-ftype.scale), ints) if ftype.scale > 0 else ints
    edges = st.sampled_from([limit, -1, -limit, Decimal("0.001"), Decimal("1E+3"), Decimal("-0")])
    if clean:  # an int counts whole units: with decimal places (or P scaling) only scaled values always fit
        return st.builds(lambda i: Decimal(i).scaleb(-ftype.scale), ints) if ftype.scale else ints
    return _rarely(st.one_of(ints, decimals), st.one_of(junk, edges))


def _written(items: list[Item], clean: bool) -> list[Item]:
    """The items a record's values may name; ``clean`` leaves out redefining ones (the fast path declines them)."""
    return [c for c in items if not (clean and c.redefines is not None)]


def _required(item: Item) -> bool:
    """Whether a valid record must give ``item`` (a DEPENDING ON table with a minimum above 0, or a group with one)."""
    if item.depending_on is not None and (item.occurs_min or 0) > 0:
        return True
    return item.is_group and any(_required(c) for c in item.children if c.redefines is None)


def _values(item: Item, depth: int = 0, clean: bool = False) -> st.SearchStrategy[Any]:
    """Values of the decoder's shape for ``item``, often valid, sometimes wrong in one place (``clean``: never)."""
    if item.is_group:
        written = _written(item.children, clean)
        needed = {c.key: _item_values(c, clean) for c in written if clean and _required(c)}
        children = {c.key: _item_values(c, clean) for c in written if c.key not in needed}
        valid = st.fixed_dictionaries(needed, optional=children)
        if not needed:
            valid = st.one_of(valid, st.none())
        return _rarely(valid, st.sampled_from([{"NO_SUCH_KEY": 1}, "x", [], 0]), clean)
    if item.is_counter:  # written from its table's length; an explicit value must agree with it
        return _rarely(st.none(), _leaf_values(item), clean)
    return st.one_of(_leaf_values(item, clean), st.none())


def _item_values(item: Item, clean: bool = False) -> st.SearchStrategy[Any]:
    element = _values(item, clean=clean)
    if not item.occurs:
        return element
    high = item.count_max
    if item.depending_on is None:
        sizes = _rarely(st.sampled_from([0, high]), st.sampled_from([1, high + 1]), clean)
    else:
        low = item.occurs_min or 0
        sizes = _rarely(st.integers(low, min(high, low + 4)), st.sampled_from([high + 1, max(low - 1, 0), high]), clean)
    tables = sizes.flatmap(lambda n: st.lists(element, min_size=n, max_size=n))
    return tables if clean and _required(item) else st.one_of(tables, st.none())


@st.composite
def record_values(draw: st.DrawFn, layout: Layout, clean: bool = False) -> dict[str, Any]:
    root = layout.roots[0]
    items = root.children if root.is_group else [root]
    out: dict[str, Any] = {}
    for child in _written(items, clean):
        if (clean and _required(child)) or draw(st.integers(0, 5)) > 0:
            out[child.key] = draw(_item_values(child, clean))
    if not clean and draw(st.integers(0, 40)) == 0:
        out["NO_SUCH_KEY"] = 1
    return out


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except RecordEncodeError as exc:
        return "error", str(exc)


@FAST
@given(data=st.data(), name=_layout_names, encoding=st.sampled_from(ENCODINGS), variable=st.booleans())
def test_generated_encoder_matches_plain_writer(data: st.DataObject, name: str, encoding: str, variable: bool) -> None:
    layout = LAYOUTS[name]
    values = data.draw(record_values(layout))
    kwargs: dict[str, Any] = {"encoding": encoding, "variable_size_occurs": variable}
    expected = _outcome(lambda: encode_record_plain(layout, values, **kwargs))
    before = STATS.encoder_fallbacks
    assert _outcome(lambda: encode_record(layout, values, **kwargs)) == expected
    handed_over = STATS.encoder_fallbacks - before
    fast = get_encoder(layout, encoding, variable_size_occurs=variable)
    if fast is None:  # no generated encoder: nothing to hand over
        assert handed_over == 0
        return
    try:
        got = fast(values)
    except ENCODER_REFUSALS:  # only these: any other exception from generated code fails the test
        assert handed_over == 1, "encode_record must have used the plain writer for this record"
        return
    assert handed_over == 0, "the fast path wrote the record; encode_record must not have redone it"
    assert expected == ("ok", got)


@FAST
@given(data=st.data(), name=_layout_names, encoding=st.sampled_from(ENCODINGS), variable=st.booleans())
def test_generated_encoder_writes_valid_values_itself(
    data: st.DataObject, name: str, encoding: str, variable: bool
) -> None:
    """Valid values of the shapes it supports never leave the fast path (an encoder that always declined fails)."""
    layout = LAYOUTS[name]
    fast = get_encoder(layout, encoding, variable_size_occurs=variable)
    if fast is None:
        return
    values = data.draw(record_values(layout, clean=True))
    expected = encode_record_plain(layout, values, encoding=encoding, variable_size_occurs=variable)
    before = STATS.encoder_fallbacks
    assert fast(values) == expected
    assert encode_record(layout, values, encoding=encoding, variable_size_occurs=variable) == expected
    assert encode_records(layout, [values, values], encoding=encoding, variable_size_occurs=variable) == 2 * expected
    assert STATS.encoder_fallbacks == before


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"NUM": Decimal("-12.34")}, "a present REDEFINES"),
        ({"A_PACK": Decimal("NaN")}, "NaN"),
        ({"A_PACK": Decimal("Infinity")}, "Infinity"),
        ({"A_BIN": Decimal("sNaN")}, "signalling NaN"),
        ({"KIND": "\u20ac"}, "a character outside the code page"),
        ({"A_PACK": 1.5}, "a float for a decimal field"),
    ],
)
def test_generated_encoder_declines_exactly_once(values: dict[str, Any], why: str) -> None:
    layout = LAYOUTS["redefines_signs"]
    fast = get_encoder(layout, "cp037")
    assert fast is not None
    with pytest.raises(Fallback):
        fast(values)
    before = STATS.encoder_fallbacks
    expected = _outcome(lambda: encode_record_plain(layout, values))
    assert _outcome(lambda: encode_record(layout, values)) == expected, why
    assert STATS.encoder_fallbacks == before + 1, why
    assert _outcome(lambda: encode_records(layout, [values])) == expected, why
    assert STATS.encoder_fallbacks == before + 2, why


def test_generated_encoder_exists_for_the_imf_copybooks() -> None:
    for name in ("imf_entity", "imf_module"):
        for encoding in ("cp037", "ascii", "cp1148"):
            for variable in (False, True):
                assert get_encoder(LAYOUTS[name], encoding, variable_size_occurs=variable) is not None


def _typed(value: Any) -> Any:
    """A comparable form that also tells int, Decimal and float apart (1 == Decimal(1) in Python)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, str(value))


_options = st.builds(
    DecodeOptions,
    encoding=st.sampled_from(ENCODINGS),
    string_trimming=st.sampled_from(["both", "left", "right", "none"]),
    improved_null_detection=st.booleans(),
    strict_sign_overpunching=st.booleans(),
    variable_size_occurs=st.booleans(),
    drop_group_fillers=st.booleans(),
    drop_value_fillers=st.booleans(),
    root=st.sampled_from(["collapse", "keep"]),
)

# Bytes that exercise the trim/null shortcut: spaces, NUL, NEL (0x15), NBSP (0x41), controls, digits.
_interesting = st.sampled_from([0x00, 0x40, 0x20, 0x15, 0x41, 0x05, 0x0D, 0x25, 0xF1, 0x31, 0xC1, 0x9F, 0xFF])
_record_bytes = st.lists(st.one_of(_interesting, st.integers(0, 255)), max_size=600).map(bytes)


def _decode_outcome(decoder: RecordDecoder, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", _typed(decoder.decode(data))
    except RecordDecodeError as exc:
        return "error", str(exc)


@FAST
@given(data=st.data(), name=_layout_names, options=_options, raw=_record_bytes)
def test_generated_decoder_matches_closure_decoder(
    data: st.DataObject, name: str, options: DecodeOptions, raw: bytes
) -> None:
    layout = LAYOUTS[name]
    plain = RecordDecoder(layout, options, generate=False)
    fast = RecordDecoder(layout, options)
    assert plain.generated_groups == 0
    records = [raw, (raw * (layout.record_length // max(len(raw), 1) + 1))[: layout.record_length]]
    values = data.draw(record_values(layout))
    with contextlib.suppress(RecordEncodeError):
        records.append(encode_record_plain(layout, values, encoding=options.encoding))
    for record in records:
        before = STATS.decoder_fallbacks
        assert _decode_outcome(fast, record) == _decode_outcome(plain, record)
        if len(record) >= layout.record_length:  # a whole record never leaves the generated code
            assert STATS.decoder_fallbacks == before


def test_generated_decoder_hands_only_short_records_over() -> None:
    layout = LAYOUTS["imf_entity"]
    decoder = RecordDecoder(layout, DecodeOptions())
    assert decoder.generated_groups > 0
    image = encode_record(layout, {"ENT_TIN": "123456789"})
    before = STATS.decoder_fallbacks
    full = decoder.decode(image)
    assert STATS.decoder_fallbacks == before
    short = decoder.decode(image[:20])
    assert STATS.decoder_fallbacks > before
    assert short["ENT_TIN"] == full["ENT_TIN"] == "123456789"


def _fixed_options(options: DecodeOptions) -> DecodeOptions:
    return options.but(variable_size_occurs=False)


@FAST
@given(name=_layout_names, options=_options, raw=_record_bytes, count=st.integers(0, 4))
def test_decode_columns_match_decode_record(name: str, options: DecodeOptions, raw: bytes, count: int) -> None:
    layout = LAYOUTS[name]
    options = _fixed_options(options)
    length = layout.record_length
    image = (raw * (count * length // max(len(raw), 1) + 1))[: count * length] if raw else bytes(count * length)
    try:
        rows = [decode_record(layout, image[i * length : (i + 1) * length], options=options) for i in range(count)]
    except RecordDecodeError:
        return
    columns = decode_columns(layout, image, options=options)
    for column in columns.values():
        assert len(column) == count
    for i, row in enumerate(rows):
        rebuilt: dict[str, Any] = {}
        for path, column in columns.items():
            node = rebuilt
            *parents, last = path.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = column[i]
        assert _typed(rebuilt) == _typed(row)


def test_decode_columns_numpy_and_errors() -> None:
    layout = LAYOUTS["imf_entity"]
    rows = [{"ENT_TIN": f"{i:09d}", "ENT_BIRTH_DATE": 19600101 + i} for i in range(5)]
    image = encode_records(layout, rows)
    columns = decode_columns(layout, image, numpy=True)
    assert columns["ENT_BIRTH_DATE"].tolist() == [19600101 + i for i in range(5)]  # type: ignore[union-attr]
    assert columns["ENT_TIN"] == [f"{i:09d}" for i in range(5)]
    with pytest.raises(FileFormatError, match="partial record of 3 bytes"):
        decode_columns(layout, image + b"abc")
    with pytest.raises(ValueError, match="fixed-shape"):
        decode_columns(LAYOUTS["imf_module"], b"", options=DecodeOptions(variable_size_occurs=True))


@settings(max_examples=50, deadline=None)
@given(data=st.data(), name=_layout_names, rdw=st.booleans(), variable=st.booleans())
def test_encode_records_is_the_concatenation(data: st.DataObject, name: str, rdw: bool, variable: bool) -> None:
    layout = LAYOUTS[name]
    batch = data.draw(st.lists(record_values(layout), max_size=4))
    try:
        singles = [encode_record(layout, v, variable_size_occurs=variable) for v in batch]
    except RecordEncodeError as exc:
        with pytest.raises(RecordEncodeError, match=re.escape(str(exc)[:20])):
            encode_records(layout, batch, variable_size_occurs=variable, rdw=rdw)
        return
    expected = b"".join((rdw_header(len(s)) if rdw else b"") + s for s in singles)
    assert encode_records(layout, batch, variable_size_occurs=variable, rdw=rdw) == expected


@FAST
@given(name=_layout_names, raw=st.binary(max_size=3000), chunk=st.integers(1, 700), options=_options)
def test_fixed_iter_records_matches_raw_split(name: str, raw: bytes, chunk: int, options: DecodeOptions) -> None:
    layout = LAYOUTS[name]
    options = _fixed_options(options)
    decoder = RecordDecoder(layout, options)
    expected: list[Any] = []
    try:
        for rec in iter_raw_records(io.BytesIO(raw), record_length=layout.record_length, chunk_size=chunk):
            try:
                expected.append((rec.index, rec.offset, rec.data, _typed(decoder.decode(rec.data)), None))
            except RecordDecodeError as exc:
                expected.append((rec.index, rec.offset, rec.data, None, str(exc.located(rec.index, rec.offset))))
    except FileFormatError as exc:
        expected.append(("framing", str(exc)))
    got: list[Any] = []
    try:
        for dec in iter_records(layout, io.BytesIO(raw), options=options, chunk_size=chunk, errors="collect"):
            got.append(
                (
                    dec.index,
                    dec.offset,
                    dec.data,
                    None if dec.values is None else _typed(dec.values),
                    None if dec.error is None else str(dec.error),
                )
            )
    except FileFormatError as exc:
        got.append(("framing", str(exc)))
    assert got == expected


def test_fast_decoded_record_is_a_normal_frozen_record() -> None:
    layout = LAYOUTS["imf_entity"]
    image = encode_records(layout, [{"ENT_TIN": "123456789"}])
    (record,) = iter_records(layout, io.BytesIO(image))
    assert record == type(record)(0, 0, image, decode_record(layout, image))
    assert hash(record.index) == 0 and record.error is None
    with pytest.raises(AttributeError):
        record.index = 3  # type: ignore[misc]


def test_justified_right_and_blank_when_zero_are_written_as_cobol_does() -> None:
    layout = LAYOUTS["justified_bwz"]
    values = {"NAME": "AB", "AMT": Decimal("0.00"), "EDT": Decimal(0), "CNT": 0}
    plain = encode_record_plain(layout, values, encoding="ascii")
    assert plain == b"    AB" + b"     " + b"      " + b"00"
    before = STATS.encoder_fallbacks
    assert encode_record(layout, values, encoding="ascii") == plain  # the generated encoder, same bytes
    assert STATS.encoder_fallbacks == before
    decoded = decode_record(layout, plain, encoding="ascii")
    assert decoded == {"NAME": "AB", "AMT": Decimal("0.00"), "EDT": Decimal("0.00"), "CNT": 0}
    assert encode_record(layout, values | {"AMT": Decimal("1.50")}, encoding="ascii")[6:11] == b"00150"
