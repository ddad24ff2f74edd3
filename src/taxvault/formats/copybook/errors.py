"""Exception types of the copybook reader.

Every failure caused by bad input (copybook text, record bytes, file framing,
values given to the encoder) is reported through one of these classes, so a
caller such as the ingest pipeline can quarantine the offending record with a
clear reason instead of crashing on an arbitrary ``ValueError`` or
``IndexError`` raised deep inside the decoder.
"""

from __future__ import annotations


class CopybookError(Exception):
    """Base class of every error raised by :mod:`taxvault.formats.copybook`."""


class CopybookSyntaxError(CopybookError):
    """The copybook text cannot be understood.

    ``line`` is the 1-based line number of the copybook source where the
    problem was found (``None`` when the problem is not tied to one line, for
    example an empty copybook).
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


class RecordDecodeError(CopybookError):
    """One record cannot be decoded as a whole, so a loader must quarantine it.

    Raised when the record's shape cannot be known (an OCCURS DEPENDING ON
    counter that is blank, invalid or out of range) and, with
    ``DecodeOptions.strict_binary_digits``, when a binary value has more digits
    than its PIC allows.  Other bad *field* contents decode to ``None`` (the
    Cobrix rules).  ``field`` is the item's dotted path, ``field_offset`` its
    byte offset inside the record (0-based), ``record_index`` and ``offset``
    (the record's byte offset in the file) are filled in by the file readers.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        record_index: int | None = None,
        offset: int | None = None,
        field_offset: int | None = None,
    ) -> None:
        self.reason = message
        self.field = field
        self.record_index = record_index
        self.offset = offset
        self.field_offset = field_offset
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.record_index is not None:
            where.append(f"record {self.record_index}")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        if self.field is not None:
            where.append(f"field {self.field}")
        if self.field_offset is not None:
            where.append(f"at record byte {self.field_offset}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(self, record_index: int, offset: int) -> RecordDecodeError:
        """Return a copy that also says which record of which file position failed."""
        return RecordDecodeError(
            self.reason,
            field=self.field,
            record_index=record_index,
            offset=offset,
            field_offset=self.field_offset,
        )

    def at(self, field_offset: int) -> RecordDecodeError:
        """Return a copy that says where in the record the field starts (kept if already known)."""
        if self.field_offset is not None:
            return self
        return RecordDecodeError(
            self.reason,
            field=self.field,
            record_index=self.record_index,
            offset=self.offset,
            field_offset=field_offset,
        )


class FileFormatError(CopybookError):
    """The file cannot be split into records (broken RDW/BDW, truncated last record)."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.reason = message
        self.offset = offset
        super().__init__(f"byte offset {offset}: {message}" if offset is not None else message)


class RecordEncodeError(CopybookError):
    """A value cannot be written into its field (too long, too many digits, wrong type, unknown key)."""


class UnsupportedEncodingError(CopybookError, ValueError):
    """The requested code page is unknown or not a single-byte character set."""
