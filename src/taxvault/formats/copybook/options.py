"""Reader settings, kept in one immutable (hashable) object so compiled decoders can be cached per setting."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

Trimming = Literal["both", "left", "right", "none"]
FloatFormat = Literal["ieee754", "ibm"]
RootPolicy = Literal["collapse", "keep"]
ByteOrder = Literal["big", "little"]


@dataclass(frozen=True)
class DecodeOptions:
    """How bytes become values.  Defaults suit IBM mainframe extracts in code page 037.

    ``encoding``            code page name (see :mod:`.codepages`): ``cp037``, ``common``
                            (Cobrix default), ``cp500``, ``ascii`` ...
    ``string_trimming``     ``both`` strips code points <= U+0020 at both ends (Java trim).
    ``improved_null_detection``  all-0x00 text and blank/0x00 DISPLAY numbers are ``None``.
    ``strict_sign_overpunching`` overpunched signs are accepted only on signed pictures.
    ``float_format``        COMP-1/COMP-2 as IEEE 754 or IBM hexadecimal floating point.
    ``root``                ``collapse``: the 01 record's children are the top-level keys (one 01
                            only; with several 01 records each stays a key). ``keep``: the 01 names.
    ``drop_value_fillers`` / ``drop_group_fillers``  leave FILLER items out of the output;
                            kept group fillers are named FILLER_1, FILLER_2 ...; kept value
                            fillers FILLER_P1, FILLER_P2 ...
    ``variable_size_occurs`` OCCURS DEPENDING ON takes only the space of the actual
                            occurrences (true COBOL ODO) instead of reserving the maximum.
    ``segment_field`` / ``segment_redefines``  decode a REDEFINES item only when the
                            segment field holds one of its listed values (others are ``None``).
    ``strict_binary_digits`` binary (COMP, COMP-4, COMP-5, BINARY) values are returned as
                            stored, the full range of their bytes (a ``PIC 9(9) COMP`` in 4
                            bytes gives 0..4294967295), as JRecord and LegStar do.  With this
                            set, a binary value with more digits than its PIC allows makes
                            the record fail with :class:`RecordDecodeError` (field, offset,
                            reason) instead, so a loader quarantines it.
    ``native_binary``       byte order of native binary items (COMP-5, COMPUTATIONAL-5,
                            BINARY-CHAR/SHORT/LONG/DOUBLE): ``big`` on the mainframe (default),
                            ``little`` for files written by Micro Focus or GnuCOBOL on x86
                            (JRecord's Intel dialects).  COMP/COMP-4/BINARY stay big-endian.
    ``strict_packed_spare_digit``  a COMP-3 item with an even number of digits has one spare
                            high-order nibble (``S9(4) COMP-3`` is 3 bytes, 5 digit nibbles).
                            By default it is read like the others (the raw value); with this
                            set, a non-zero spare nibble makes the record fail with
                            :class:`RecordDecodeError` (field, offset, reason), as IBM's
                            compiler never writes one.
    ``dbcs``                how DBCS items (``PIC G``, ``PIC N USAGE DISPLAY-1``, 2 bytes per
                            character, no shift-out/shift-in) become text.  Python has no IBM
                            DBCS code page (cp300, cp930, cp939 ...), so by default (``hex``) the
                            value is the field's bytes as upper-case hex, 4 hex digits per
                            character, DBCS spaces (X'4040') trimmed like text; ``refuse``
                            makes such a record fail with :class:`RecordDecodeError`; any other
                            value is a Python codec name used to decode the bytes (one a
                            third-party package registers, or ``utf-16-be`` for files whose
                            DBCS fields were converted).
    """

    encoding: str = "cp037"
    string_trimming: Trimming = "both"
    improved_null_detection: bool = True
    strict_sign_overpunching: bool = True
    float_format: FloatFormat = "ieee754"
    root: RootPolicy = "collapse"
    drop_value_fillers: bool = True
    drop_group_fillers: bool = False
    variable_size_occurs: bool = False
    segment_field: str | None = None
    segment_redefines: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    strict_binary_digits: bool = False
    native_binary: ByteOrder = "big"
    strict_packed_spare_digit: bool = False
    dbcs: str = "hex"

    def with_segments(self, field_name: str, mapping: Mapping[str, Collection[str]]) -> DecodeOptions:
        """Copy with a segment-to-REDEFINES map, e.g. ``{"STATIC-DETAILS": ["C"], "CONTACTS": ["P"]}``."""
        frozen = tuple((name, tuple(values)) for name, values in mapping.items())
        return replace(self, segment_field=field_name, segment_redefines=frozen)

    def but(self, **changes: object) -> DecodeOptions:
        """Copy with some settings changed (``options.but(encoding="ascii")``)."""
        return replace(self, **changes)  # type: ignore[arg-type]
