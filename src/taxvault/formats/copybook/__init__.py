"""COBOL copybook reader and writer: mainframe record layouts -> Python values, and back.

Why this exists: the agency's master files (IMF entity and tax-module
extracts, and every other legacy feed) are fixed- or variable-length EBCDIC
records described by COBOL copybooks.  This package reads *any* copybook, not
only ours, and decodes records the way the reference open-source reader
(Cobrix) does, which the conformance suite in ``tests/conformance/cobrix``
checks case by case.

Typical use::

    layout = parse_copybook(text)                    # once; CopybookSyntaxError on bad text
    for rec in iter_records(layout, stream, record_format="V", encoding="cp037"):
        rec.values                                   # dict: groups -> dict, OCCURS -> list
    data = encode_record(layout, values, encoding="cp037")
    image = encode_records(layout, rows)             # bulk: one file image
    columns = decode_columns(layout, image)          # bulk read of fixed-length records, by column

Decimal places are exact (``decimal.Decimal``); integers are ``int``; only
COMP-1/COMP-2 give ``float``.  Bad field contents decode to ``None``; a record
whose shape cannot be known (a blank or out-of-range OCCURS DEPENDING ON
counter, at any depth) raises :class:`RecordDecodeError` with the field, its
offset in the record and the reason; a file that cannot be split raises
:class:`FileFormatError`.

Binary fields (COMP, COMP-4, COMP-5, BINARY) have one rule for every width:
the value is what the bytes hold over their whole range (``PIC 9(9) COMP`` in
4 bytes reads up to 4294967295), as JRecord and LegStar read them;
``DecodeOptions(strict_binary_digits=True)`` reports values with more digits
than the PIC instead.  Copybook dialects (fixed, trimmed, shifted or free
source format, COPY ... REPLACING, ``:TAG:`` placeholders, 66 RENAMES and 88
conditions as metadata) and every rule are described in ``docs/copybook.md``.
"""

from .bulk import decode_columns, encode_records
from .bundled import load_bundled_copybook
from .codepages import CodePage, get_code_page
from .decoder import RecordDecoder, decode_record, get_decoder
from .encoder import encode_record
from .errors import (
    CopybookError,
    CopybookSyntaxError,
    FileFormatError,
    RecordDecodeError,
    RecordEncodeError,
    UnsupportedEncodingError,
)
from .layout import Layout, output_key, parse_copybook
from .options import DecodeOptions
from .parser import Condition, Item, Renames
from .picture import FieldType, Kind, Usage
from .records import (
    DecodedRecord,
    RawRecord,
    iter_raw_records,
    iter_records,
    rdw_header,
)
from .segments import SegmentMap, SegmentMapError, sub_layout

__all__ = [
    "CodePage",
    "Condition",
    "CopybookError",
    "CopybookSyntaxError",
    "DecodeOptions",
    "DecodedRecord",
    "FieldType",
    "FileFormatError",
    "Item",
    "Kind",
    "Layout",
    "RawRecord",
    "RecordDecodeError",
    "RecordDecoder",
    "RecordEncodeError",
    "Renames",
    "SegmentMap",
    "SegmentMapError",
    "UnsupportedEncodingError",
    "Usage",
    "decode_columns",
    "decode_record",
    "encode_record",
    "encode_records",
    "get_code_page",
    "get_decoder",
    "iter_raw_records",
    "iter_records",
    "load_bundled_copybook",
    "output_key",
    "parse_copybook",
    "rdw_header",
    "sub_layout",
]
