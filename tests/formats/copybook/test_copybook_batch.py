"""The column-wise batch decoder gives exactly what the record decoder gives, record by record.

Over every conformance copybook and the bundled IMF ones, random options and
random records (random bytes, records cut short, encoded records, counters
out of range), ``BatchDecoder.decode_many`` must return the record decoder's
values -- same types, same Decimal exponents -- or its error for the same
records.  And the batch path must really run for the IMF layouts (a batch
decoder that always declined would pass the equality test).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.copybook import (
    DecodeOptions,
    Layout,
    RecordDecodeError,
    RecordEncodeError,
    get_decoder,
    iter_records,
    load_bundled_copybook,
    parse_copybook,
)
from taxvault.formats.copybook.batch import get_batch_decoder
from taxvault.formats.copybook.encoder import encode_record_plain

CORPUS = Path(__file__).resolve().parents[2] / "conformance" / "cobrix"
LAYOUTS: dict[str, Layout] = {
    p.stem: parse_copybook(p.read_text(encoding="latin-1")) for p in sorted(CORPUS.glob("case_*/*.cob"))
}
LAYOUTS["imf_entity"] = load_bundled_copybook("imf_entity")
LAYOUTS["imf_module"] = load_bundled_copybook("imf_module")
LAYOUTS["mixed"] = parse_copybook(
    """
       01  REC.
           05  ID        PIC X(4).
           05  AMT       PIC S9(5)V99 COMP-3.
           05  UAMT      PIC 9(3)V9 COMP-3.
           05  PK0       PIC S9(3) COMP-3.
           05  BIG       PIC S9(19)V99 COMP-3.
           05  N         PIC 9.
           05  FIX       PIC 99 OCCURS 2.
           05  T OCCURS 0 TO 3 DEPENDING ON N.
               10  T-X   PIC XX.
               10  T-P   PIC S9(3)V9 COMP-3.
               10  T-G.
                   15  T-D PIC 9(3).
           05  TAIL      PIC X(2).
"""
)


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, str(value))


def _one(decoder: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", _typed(decoder.decode(data))
    except RecordDecodeError as exc:
        return "error", (exc.reason, exc.field)


def _batch(result: Any) -> tuple[str, Any]:
    if isinstance(result, RecordDecodeError):
        return "error", (result.reason, result.field)
    return "ok", _typed(result)


_options = st.builds(
    DecodeOptions,
    encoding=st.sampled_from(["cp037", "common", "ascii", "cp273"]),
    string_trimming=st.sampled_from(["both", "left", "right", "none"]),
    improved_null_detection=st.booleans(),
    strict_sign_overpunching=st.booleans(),
    strict_binary_digits=st.booleans(),
    drop_value_fillers=st.booleans(),
    drop_group_fillers=st.booleans(),
    root=st.sampled_from(["collapse", "keep"]),
)
_interesting = st.sampled_from([0x00, 0x40, 0x20, 0x15, 0x41, 0xF1, 0x31, 0x0C, 0x0D, 0x0F, 0x1C, 0x9F, 0xFF, 0x02])
_bytes = st.lists(st.one_of(_interesting, st.integers(0, 255)), max_size=400).map(bytes)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    name=st.sampled_from(sorted(LAYOUTS)), options=_options, raw=_bytes, cuts=st.lists(st.integers(0, 5000), max_size=6)
)
def test_batch_matches_record_decoder(name: str, options: DecodeOptions, raw: bytes, cuts: list[int]) -> None:
    layout = LAYOUTS[name]
    batch = get_batch_decoder(layout, options)
    if batch is None:
        return
    decoder = get_decoder(layout, options)
    length = layout.record_length
    full = (raw * (length // max(len(raw), 1) + 1))[:length] if raw else bytes(length)
    records = [full, raw, full[: length // 2]] + [full[: c % (length + 1)] for c in cuts]
    with contextlib.suppress(RecordEncodeError):
        records.append(encode_record_plain(layout, {}, encoding=options.encoding))
    buf = b"".join(records)
    starts, pos = [], 0
    for r in records:
        starts.append(pos)
        pos += len(r)
    got = batch.decode_many(buf, starts, [len(r) for r in records])
    assert [_batch(g) for g in got] == [_one(decoder, r) for r in records]


def test_batch_runs_for_the_imf_layouts_and_iter_records_uses_it() -> None:
    for name in ("imf_entity", "imf_module"):
        assert get_batch_decoder(LAYOUTS[name], DecodeOptions()) is not None
    module = LAYOUTS["imf_module"]
    values = {"MOD_KEY": {"MOD_TIN": "900000001"}, "MOD_TRANSACTION": [{"TXN_CODE": 150}, {"TXN_CODE": 806}]}
    record = encode_record_plain(module, values)
    batch = get_batch_decoder(module, DecodeOptions())
    assert batch is not None
    calls: list[int] = []
    original = batch.decode_many

    def counting(*args: Any) -> Any:
        calls.append(len(args[1]))
        return original(*args)

    batch.decode_many = counting  # type: ignore[method-assign,assignment]
    try:
        got = [r.values for r in iter_records(module, io.BytesIO(record * 3))]
        variable = DecodeOptions(variable_size_occurs=True)
        rdw = b"".join(len(record[:110]).to_bytes(2, "big") + b"\0\0" + record[:110] for _ in range(2))
        got_v = [r.values for r in iter_records(module, io.BytesIO(rdw), record_format="V", options=variable)]
    finally:
        del batch.decode_many
    assert calls == [3, 2]  # the F records and the V records (variable_size_occurs) went through the columns
    assert got == [get_decoder(module, DecodeOptions()).decode(record)] * 3
    assert got_v == [get_decoder(module, variable).decode(record[:110])] * 2


# -- generated copybooks: the generated decoder, the batch decoder and the closure decoder agree

_PICS = [
    "PIC X(3)",
    "PIC X(1)",
    "PIC 9(4)",
    "PIC S9(3)V99",
    "PIC 9(2)V9 COMP-3",
    "PIC S9(7)V99 COMP-3",
    "PIC S9(5) COMP-3",
    "PIC 9(19) COMP-3",
    "PIC S9(4) COMP",
    "PIC 9(8) COMP",
    "PIC S9(3) SIGN LEADING SEPARATE",
    "COMP-2",
    "PIC N(2)",
    "PIC Z(3)9.99",
]


@st.composite
def generated_copybooks(draw: st.DrawFn) -> str:
    """A 01 record with leaves, nested groups, fixed tables, REDEFINES and at most one ODO (counter first)."""
    lines = ["       01  REC."]
    serial = iter(range(1, 1000))
    odo_done = False

    def leaf(level: int, extra: str = "") -> str:
        return f"{' ' * (level // 5 * 3)}           {level:02d}  F{next(serial)} {draw(st.sampled_from(_PICS))}{extra}."

    def group(level: int, depth: int) -> None:
        nonlocal odo_done
        last_leaf: str | None = None
        for _ in range(draw(st.integers(1, 4))):
            choice = draw(st.integers(0, 9))
            pad = " " * (level // 5 * 3)
            if choice <= 4 or depth >= 2:
                text = leaf(level)
                lines.append(text)
                last_leaf = text.split()[1]
            elif choice == 5 and last_leaf is not None:
                lines.append(f"{pad}           {level:02d}  R{next(serial)} REDEFINES {last_leaf} PIC X(1).")
                last_leaf = None
            elif choice == 6:
                lines.append(leaf(level, f" OCCURS {draw(st.integers(1, 3))}"))
                last_leaf = None
            elif choice == 7 and not odo_done and depth == 0:
                odo_done = True
                counter = f"C{next(serial)}"
                lines.append(f"{pad}           {level:02d}  {counter} PIC 9.")
                lines.append(f"{pad}           {level:02d}  T{next(serial)} OCCURS 0 TO 4 DEPENDING ON {counter}.")
                group(level + 5, depth + 1)
                last_leaf = None
            else:
                lines.append(f"{pad}           {level:02d}  G{next(serial)}.")
                group(level + 5, depth + 1)
                last_leaf = None

    group(5, 0)
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=generated_copybooks(), options=_options, raws=st.lists(_bytes, min_size=1, max_size=4))
def test_generated_copybooks_three_decoders_agree(text: str, options: DecodeOptions, raws: list[bytes]) -> None:
    from taxvault.formats.copybook import RecordDecoder

    layout = parse_copybook(text)
    plain = RecordDecoder(layout, options, generate=False)
    fast = RecordDecoder(layout, options)
    length = layout.record_length
    records = [r for raw in raws for r in ((raw * (length // max(len(raw), 1) + 1))[:length], raw)]
    expected = [_one(plain, r) for r in records]
    assert [_one(fast, r) for r in records] == expected
    batch = get_batch_decoder(layout, options)
    if batch is not None:
        starts = [sum(len(r) for r in records[:i]) for i in range(len(records))]
        got = batch.decode_many(b"".join(records), starts, [len(r) for r in records])
        assert [_batch(g) for g in got] == expected
