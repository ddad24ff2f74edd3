"""The envelope of the agency's EBCDIC master-file extracts: header, data records, trailer.

Why an envelope: a bare file of fixed IMF records says neither what it holds
nor whether it is whole. Every extract taxvault reads or writes is therefore a
variable-length (RDW) file in code page 037 whose first record is a header
(``extract_control.cpy``: extract id, source system, run date, synthetic flag)
and whose last record is a trailer with the control totals (data-record count
and a hash total of the extract's amounts), the way mainframe extract jobs
frame their output. The extract id names the data copybook:

========  ======  ====================  =============================================
id        system  copybook              one record per
========  ======  ====================  =============================================
BMFENTTY  BMF     bmf_entity.cpy        business / exempt organisation
IMFENTTY  IMF     imf_entity.cpy        individual (the bundled IMF entity layout)
CMSSTAFF  CMS     cms_staff.cpy         principal, with declared related TINs
IMFMODUL  IMF     imf_module.cpy        tax module with its transactions
BMFMODUL  BMF     imf_module.cpy        business tax module (941, 990), same layout
IMFRETRN  IMF     imf_return.cpy        original return (TC 150 detail) + dependents
IMFNOTIC  IMF     imf_notice.cpy        notice issued on a module (CP14 ...)
CMSCASES  CMS     cms_case.cpy          case with its subjects
========  ======  ====================  =============================================

Amount hash totals: module extracts total ``MOD-BALANCE``, the return extract
``RET-TOTAL-TAX``, the notice extract ``NTC-AMOUNT-DUE``, the others 0.

Not in any extract: time-boxed access grants, which exist only in taxvault
(approved there, never in a legacy system).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from taxvault.formats.copybook import (
    CopybookError,
    DecodeOptions,
    Layout,
    encode_record,
    get_decoder,
    iter_raw_records,
    parse_copybook,
    rdw_header,
)
from taxvault.formats.fixedwidth import FormatError

ENCODING = "cp037"
CONTROL_COPYBOOK = "extract_control"
HEADER = "HDR"
TRAILER = "TRL"
HEADER_MAGIC = "HDR".encode(ENCODING)


@dataclass(frozen=True)
class ExtractKind:
    """One kind of extract: its id, source system, data copybook and amount-total field."""

    extract_id: str
    system: str
    copybook: str
    amount_path: tuple[str, ...] = ()

    def amount(self, values: Mapping[str, Any]) -> Any:
        """The record's amount that the trailer hash total sums (None if the extract has none)."""
        node: Any = values
        for key in self.amount_path:
            node = node.get(key) if isinstance(node, Mapping) else None
        return node if self.amount_path else None


EXTRACT_KINDS: dict[str, ExtractKind] = {
    k.extract_id: k
    for k in (
        ExtractKind("BMFENTTY", "BMF", "bmf_entity"),
        ExtractKind("IMFENTTY", "IMF", "imf_entity"),
        ExtractKind("CMSSTAFF", "CMS", "cms_staff"),
        ExtractKind("IMFMODUL", "IMF", "imf_module", ("MOD_BALANCE",)),
        ExtractKind("BMFMODUL", "BMF", "imf_module", ("MOD_BALANCE",)),
        ExtractKind("IMFRETRN", "IMF", "imf_return", ("RET_LINE_ITEMS", "RET_TOTAL_TAX")),
        ExtractKind("IMFNOTIC", "IMF", "imf_notice", ("NTC_AMOUNT_DUE",)),
        ExtractKind("CMSCASES", "CMS", "cms_case"),
    )
}

_OPTIONS = DecodeOptions(encoding=ENCODING, variable_size_occurs=True)


@cache
def layout(name: str) -> Layout:
    """The parsed copybook ``name`` from the package's copybook directory (cached)."""
    text = (resources.files("taxvault.formats.copybook") / "copybooks" / f"{name}.cpy").read_text("utf-8")
    return parse_copybook(text, source_name=f"{name}.cpy")


@dataclass(frozen=True)
class Extract:
    """A framed extract: what its header and trailer say, and its raw data records.

    ``records[i]`` is the payload (no RDW) of data record ``i + 1``; record
    numbers count data records from 1 (the header is record 0).
    """

    kind: ExtractKind
    synthetic: bool
    run_date: int
    stated_count: int
    stated_amount_total: Decimal
    records: list[bytes]


def is_extract(data: bytes) -> bool:
    """True when ``data`` starts like an extract: an RDW and an EBCDIC ``HDR`` record."""
    return len(data) >= 7 and data[2:4] == b"\x00\x00" and data[4:7] == HEADER_MAGIC


def extract_id(data: bytes, name: str = "extract") -> str:
    """The extract id named by the header record (the file is framed later, by :func:`read_extract`)."""
    length = int.from_bytes(data[:2], "big")
    head = data[4 : 4 + length]
    if length != layout(CONTROL_COPYBOOK).record_length or len(head) != length:
        raise FormatError(f"{name}: extract header record has the wrong length")
    try:
        values = get_decoder(layout(CONTROL_COPYBOOK), _OPTIONS).decode(head)
    except CopybookError:
        raise FormatError(f"{name}: extract header record cannot be decoded") from None
    kind = EXTRACT_KINDS.get(str(values.get("CTL_EXTRACT_ID")))
    if kind is None:
        raise FormatError(f"{name}: unknown extract id in the header")
    return kind.extract_id


def read_extract(data: bytes, name: str = "extract") -> Extract:
    """Frame an extract; raise :class:`FormatError` (one line) if it is not a whole one."""
    try:
        raws = [bytes(r.data) for r in iter_raw_records(io.BytesIO(data), record_format="V")]
    except CopybookError as exc:
        raise FormatError(f"{name}: not a whole RDW extract ({exc})") from None
    if len(raws) < 2:
        raise FormatError(f"{name}: an extract needs a header and a trailer record")
    control = get_decoder(layout(CONTROL_COPYBOOK), _OPTIONS)
    size = layout(CONTROL_COPYBOOK).record_length
    if len(raws[0]) != size or len(raws[-1]) != size:
        raise FormatError(f"{name}: header or trailer record has the wrong length (truncated file?)")
    try:
        head = control.decode(raws[0])
        tail = control.decode(raws[-1])
    except CopybookError:
        raise FormatError(f"{name}: header or trailer record cannot be decoded") from None
    if head.get("CTL_REC_TYPE") != HEADER or tail.get("CTL_REC_TYPE") != TRAILER:
        raise FormatError(f"{name}: last record is not a trailer (truncated file?)")
    kind = EXTRACT_KINDS.get(str(head.get("CTL_EXTRACT_ID")))
    if kind is None or tail.get("CTL_EXTRACT_ID") != kind.extract_id:
        raise FormatError(f"{name}: unknown extract id in the header, or header and trailer disagree")
    count = tail.get("CTL_RECORD_COUNT")
    total = tail.get("CTL_AMOUNT_TOTAL")
    if not isinstance(count, int) or not isinstance(total, Decimal):
        raise FormatError(f"{name}: trailer control totals are not numeric")
    records = raws[1:-1]
    if count != len(records):
        raise FormatError(
            f"{name}: trailer states {count} data records but the file holds {len(records)} (records lost or added)"
        )
    run_date = head.get("CTL_RUN_DATE")
    return Extract(
        kind=kind,
        synthetic=head.get("CTL_SYNTHETIC") == "Y",
        run_date=run_date if isinstance(run_date, int) else 0,
        stated_count=count,
        stated_amount_total=total,
        records=records,
    )


def decode_records(extract: Extract) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(record number, raw payload, values or None when the record cannot be decoded)."""
    decoder = get_decoder(layout(extract.kind.copybook), _OPTIONS)
    for number, raw in enumerate(extract.records, start=1):
        try:
            values, used = decoder.decode_at(raw, 0)
        except CopybookError:
            yield number, raw, None
            continue
        yield number, raw, values if used == len(raw) else None


def write_extract(
    extract_id: str,
    records: Iterable[Mapping[str, Any]],
    *,
    synthetic: bool,
    run_date: dt.date,
) -> bytes:
    """Encode data records (decoder-shaped dicts) into a whole extract with header and trailer."""
    kind = EXTRACT_KINDS[extract_id]
    data_layout = layout(kind.copybook)
    control = layout(CONTROL_COPYBOOK)
    out = io.BytesIO()
    header = {
        "CTL_REC_TYPE": HEADER,
        "CTL_EXTRACT_ID": extract_id,
        "CTL_SYSTEM": kind.system,
        "CTL_RUN_DATE": int(run_date.strftime("%Y%m%d")),
        "CTL_SYNTHETIC": "Y" if synthetic else "N",
    }
    _put(out, encode_record(control, header, encoding=ENCODING))
    count = 0
    total = Decimal(0)
    for values in records:
        _put(out, encode_record(data_layout, values, encoding=ENCODING, variable_size_occurs=True))
        count += 1
        total += Decimal(kind.amount(values) or 0)
    trailer = {**header, "CTL_REC_TYPE": TRAILER, "CTL_RECORD_COUNT": count, "CTL_AMOUNT_TOTAL": total}
    _put(out, encode_record(control, trailer, encoding=ENCODING))
    return out.getvalue()


def _put(out: io.BytesIO, payload: bytes) -> None:
    out.write(rdw_header(len(payload)))
    out.write(payload)


def cents(value: Any) -> int | None:
    """A decoded packed amount (Decimal dollars) as integer cents; None when absent or not whole cents."""
    if not isinstance(value, Decimal):
        return None
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def dollars(cents_value: int) -> Decimal:
    """Integer cents as the Decimal dollars a packed S9(11)V99 field takes."""
    return Decimal(cents_value).scaleb(-2)
