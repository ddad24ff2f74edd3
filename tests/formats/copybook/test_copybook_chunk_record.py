"""Records of the fixed-length batch path (``data`` cut from the chunk on access) act as plain records.

``iter_records`` on a fixed-length layout with tables yields records that
keep their read chunk instead of a copy of their bytes (records._ChunkRecord).
A caller must not see the difference: ``data`` is ``bytes`` with the record's
bytes, and equality, hashing, pickling, copying, ``dataclasses.replace`` and
``repr`` behave as for a ``DecodedRecord`` built by its constructor.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import pickle

from taxvault.formats.copybook import DecodedRecord, encode_records, iter_records, load_bundled_copybook

MODULE = load_bundled_copybook("imf_module")
ROWS = [
    {"MOD_KEY": {"MOD_TIN": f"90000000{i}"}, "MOD_TXN_COUNT": 1, "MOD_TRANSACTION": [{"TXN_CODE": 150 + i}]}
    for i in range(3)
]


def _records() -> tuple[bytes, list[DecodedRecord]]:
    image = encode_records(MODULE, ROWS)
    return image, list(iter_records(MODULE, io.BytesIO(image)))


def test_data_is_the_records_own_bytes() -> None:
    image, records = _records()
    size = MODULE.record_length
    assert len(records) == 3
    # the lazy record is what this path yields (else the tests below would test the plain class only)
    assert all(type(rec) is not DecodedRecord and isinstance(rec, DecodedRecord) for rec in records)
    for i, rec in enumerate(records):
        assert type(rec.data) is bytes
        assert rec.data == image[i * size : (i + 1) * size]
        assert rec.offset == i * size and rec.values is not None
        assert rec.values["MOD_TRANSACTION"][0]["TXN_CODE"] == 150 + i


def test_equal_to_a_constructed_record_both_ways() -> None:
    _, records = _records()
    rec = records[1]
    plain = DecodedRecord(rec.index, rec.offset, rec.data, rec.values)
    assert rec == plain and plain == rec
    assert (rec != plain) is False and (plain != rec) is False
    assert rec != records[0] and plain != records[0]
    other = DecodedRecord(rec.index, rec.offset, b"x" + rec.data[1:], rec.values)
    assert rec != other and other != rec


def test_copies_pickles_replaces_and_reprs_as_a_plain_record() -> None:
    _, records = _records()
    rec = records[2]
    plain = DecodedRecord(rec.index, rec.offset, rec.data, rec.values)
    pickled = pickle.loads(pickle.dumps(rec))  # noqa: S301 - bytes made just above
    for clone in (pickled, copy.copy(rec), copy.deepcopy(rec)):
        assert type(clone) is DecodedRecord and clone == plain
    moved = dataclasses.replace(rec, index=7)
    assert moved.index == 7 and moved.data == rec.data and moved.values == rec.values
    assert repr(rec) == repr(plain)
    assert dataclasses.asdict(rec) == dataclasses.asdict(plain)
    error_only = DecodedRecord(0, 0, b"ab", None)
    assert hash(type(rec)(0, 0, b"ab", None)) == hash(error_only)
