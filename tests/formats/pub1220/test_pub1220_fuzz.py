"""Fuzzing: whatever bytes arrive, the Pub 1220 reader raises only FormatError or returns problems."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxvault.formats.pub1220 import FormatError, read_pub1220

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance" / "pub1220"
SEEDS = [
    (CONFORMANCE / "oneTransactionFile.ascii").read_bytes(),
    *(p.read_bytes() for p in sorted((CONFORMANCE / "others").glob("*.txt"))),
]


def _read(data: bytes) -> None:
    try:
        result = read_pub1220(data)
    except FormatError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        return
    # a parsed file is internally coherent
    assert len(result.payees) == sum(p.payee_count for p in result.payers)
    for p in result.record_problems:
        assert p.record_type == "B"
        assert p.field


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    _read(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 5249), st.binary(min_size=1, max_size=20)), max_size=8),
)
def test_mutated_valid_files(seed: bytes, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(seed)
    for offset, chunk in edits:
        offset %= len(data)
        data[offset : offset + len(chunk)] = chunk[: len(data) - offset]
    _read(bytes(data))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    offset=st.integers(0, 5249),
    byte=st.sampled_from(b"0123456789-+{}JR \x00ABCKFTZ\r\n"),
)
def test_single_byte_edits(seed: bytes, offset: int, byte: int) -> None:
    data = bytearray(seed)
    data[offset % len(data)] = byte
    _read(bytes(data))


@settings(max_examples=100)
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 5249), insert=st.binary(max_size=5))
def test_truncated_or_shifted_files(seed: bytes, cut: int, insert: bytes) -> None:
    cut %= len(seed)
    _read(seed[:cut] + insert + seed[cut + 1 :])
