"""Benchmark of the copybook writer and reader on the bundled IMF copybooks, at two sizes.

Why: the synthetic population and the ingest pipeline write and read
millions of IMF entity and tax-module records, so the figures that matter are
records per second for each path a caller can take: ``encode_record`` one
record at a time, ``encode_records`` in bulk, ``iter_records`` over a file
(fixed-length entities; RDW modules), and ``decode_columns`` for columnar bulk
reads.  The input rows are made before the clock starts, so only the codec is
timed.  Each size also times an *anchor* in the same run -- the plain closure
decoder (no generated code, no batches) on the same records -- so figures
from different machines or loads compare by their ratio to it.

    .venv/bin/python bench/copybook.py                      # 20k and 100k records
    .venv/bin/python bench/copybook.py --sizes 2000,20000   # smoke run
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from taxvault.formats import copybook as cb

_LAST = ("SMITH", "JOHNSON", "O'BRIEN", "NGUYEN", "GARCIA-LOPEZ", "MILLER", "DAVIS", "WILSON")
_FIRST = ("MARY", "JAMES", "PATRICIA", "ROBERT", "JENNIFER", "MICHAEL", "LINDA", "DAVID")
_CITY = ("SPRINGFIELD", "RIVERSIDE", "FRANKLIN", "GREENVILLE", "BRISTOL", "CLINTON")
FIXED_CAP = 100_000
_STATE = ("CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA")


def make_entities(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Synthetic entity rows with the decoder's shape (nested groups, trimmed text)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        married = rng.random() < 0.4
        rows.append(
            {
                "ENT_TIN": f"{900000000 + i:09d}",
                "ENT_TIN_TYPE": "S",
                "ENT_NAME_CONTROL": rng.choice(_LAST)[:4],
                "ENT_NAME": {
                    "ENT_LAST_NAME": rng.choice(_LAST),
                    "ENT_FIRST_NAME": rng.choice(_FIRST),
                    "ENT_MIDDLE_NAME": rng.choice(("A", "B", "", "LEE")),
                },
                "ENT_ADDRESS": {
                    "ENT_ADDR_LINE_1": f"{rng.randrange(1, 9999)} MAIN ST",
                    "ENT_ADDR_LINE_2": rng.choice(("", "APT 4", "UNIT 12B")),
                    "ENT_CITY": rng.choice(_CITY),
                    "ENT_STATE": rng.choice(_STATE),
                    "ENT_ZIP": {"ENT_ZIP_5": f"{rng.randrange(100000):05d}", "ENT_ZIP_4": ""},
                },
                "ENT_BIRTH_DATE": 19400101 + rng.randrange(60) * 10000 + rng.randrange(12) * 100,
                "ENT_DEATH_DATE": 0,
                "ENT_FLAGS": {"ENT_DECEASED_FLAG": "N", "ENT_RESTRICTED_FLAG": "N", "ENT_EMPLOYEE_FLAG": "N"},
                "ENT_SPOUSE_TIN": f"{rng.randrange(10**9):09d}" if married else "",
                "ENT_FILING_STATUS": 2 if married else 1,
            }
        )
    return rows


def make_modules(count: int, seed: int = 2) -> list[dict[str, Any]]:
    """Synthetic tax-module rows with 1 to 5 transactions each (3 on average)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        txns = [
            {
                "TXN_CODE": rng.choice((150, 806, 610, 846, 290)),
                "TXN_AMOUNT": Decimal(rng.randrange(-(10**8), 10**8)).scaleb(-2),
                "TXN_23C_DATE": 20240415 + rng.randrange(10),
                "TXN_CYCLE": 202416,
                "TXN_DLN": f"{rng.randrange(10**14):014d}",
                "TXN_REASON_CODE": 0,
            }
            for _ in range(rng.randint(1, 5))
        ]
        rows.append(
            {
                "MOD_KEY": {"MOD_TIN": f"{900000000 + i:09d}", "MOD_MFT_CODE": 30, "MOD_TAX_PERIOD": 202312},
                "MOD_STATUS": 10,
                "MOD_BALANCE": Decimal(rng.randrange(-(10**7), 10**7)).scaleb(-2),
                "MOD_TXN_COUNT": len(txns),
                "MOD_TRANSACTION": txns,
            }
        )
    return rows


def _rate(count: int, fn: Callable[[], object]) -> tuple[float, object]:
    # CPU time of this process: on a shared machine wall time measures the neighbours too.
    start = time.process_time()
    result = fn()
    return count / (time.process_time() - start), result


def _stream(label: str, count: int, make: Callable[[], Iterator[Any]], expected: list[Any] | None = None) -> None:
    """Time decoding as a stream (each value dropped once made, as a loader does), then check it untimed.

    Keeping every decoded record alive would time Python's cycle collector
    scanning an ever larger heap, not the decoder; the inputs made before the
    clock are frozen out of the collector for the same reason.
    """
    gc.collect()
    gc.freeze()
    rate, _ = _rate(count, lambda: deque(make(), maxlen=0))
    print(f"  {label:<52} {rate:>12,.0f} records/s (CPU)")
    if expected is not None:
        assert list(make()) == expected, label
    gc.unfreeze()


def _report(label: str, count: int, fn: Callable[[], object]) -> object:
    rate, result = _rate(count, fn)
    print(f"  {label:<52} {rate:>12,.0f} records/s (CPU)")
    return result


def bench_entity(count: int) -> None:
    layout = cb.load_bundled_copybook("imf_entity")
    rows = make_entities(count)
    print(f"imf_entity x {count:,} ({layout.record_length} bytes, fixed length)")
    records = _report("encode_record (one at a time)", count, lambda: [cb.encode_record(layout, r) for r in rows])
    recs: list[bytes] = records  # type: ignore[assignment]
    data = b"".join(recs)
    if hasattr(cb, "encode_records"):
        bulk = _report("encode_records (bulk)", count, lambda: cb.encode_records(layout, rows))
        assert bulk == data
    plain = cb.RecordDecoder(layout, cb.DecodeOptions(), generate=False)
    _stream("anchor: closure decoder (one at a time)", count, lambda: (plain.decode(r) for r in recs), rows)
    _stream("decode_record (one at a time)", count, lambda: (cb.decode_record(layout, r) for r in recs), rows)
    _stream(
        "iter_records (F, from a file)",
        count,
        lambda: (r.values for r in cb.iter_records(layout, io.BytesIO(data))),
        rows,
    )
    if hasattr(cb, "decode_columns"):
        _report("decode_columns (lists)", count, lambda: cb.decode_columns(layout, data))
        _report("decode_columns (numpy where possible)", count, lambda: cb.decode_columns(layout, data, numpy=True))


def bench_module(count: int) -> None:
    layout = cb.load_bundled_copybook("imf_module")
    rows = make_modules(count)
    variable = cb.DecodeOptions(variable_size_occurs=True)
    print(f"imf_module x {count:,} (1-5 transactions; RDW file and fixed {layout.record_length} bytes)")
    payloads = _report(
        "encode_record variable (one at a time)",
        count,
        lambda: [cb.encode_record(layout, r, variable_size_occurs=True) for r in rows],
    )
    # Fixed 4087-byte records are 2 GB per 500k: measure them on at most FIXED_CAP rows.
    fixed_rows = rows[:FIXED_CAP]
    fixed = _report(
        f"encode_record fixed 4087 bytes ({len(fixed_rows):,} rows)",
        len(fixed_rows),
        lambda: [cb.encode_record(layout, r) for r in fixed_rows],
    )
    rdw_file = b"".join(cb.rdw_header(len(p)) + p for p in payloads)  # type: ignore[attr-defined]
    if hasattr(cb, "encode_records"):
        bulk = _report(
            "encode_records variable + RDW (bulk)",
            count,
            lambda: cb.encode_records(layout, rows, variable_size_occurs=True, rdw=True),
        )
        assert bulk == rdw_file
    plain = cb.RecordDecoder(layout, variable, generate=False)
    pays: list[bytes] = payloads  # type: ignore[assignment]
    _stream("anchor: closure decoder, variable (one at a time)", count, lambda: (plain.decode(p) for p in pays), rows)
    _stream(
        "decode_record variable (one at a time)",
        count,
        lambda: (cb.decode_record(layout, p, options=variable) for p in pays),
        rows,
    )
    _stream(
        "iter_records (V, RDW file)",
        count,
        lambda: (r.values for r in cb.iter_records(layout, io.BytesIO(rdw_file), record_format="V", options=variable)),
        rows,
    )
    fixed_file = b"".join(fixed)  # type: ignore[arg-type]
    _stream(
        f"iter_records (F, fixed 4087 bytes, {len(fixed_rows):,} rows)",
        len(fixed_rows),
        lambda: (r.values for r in cb.iter_records(layout, io.BytesIO(fixed_file))),
        fixed_rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000", help="comma-separated record counts")
    parser.add_argument("--only", choices=("entity", "module"), default=None)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        if args.only in (None, "entity"):
            bench_entity(size)
        if args.only in (None, "module"):
            bench_module(size)


if __name__ == "__main__":
    main()
