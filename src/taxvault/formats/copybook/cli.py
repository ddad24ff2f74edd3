"""``taxvault copybook decode|layout``: read any COBOL copybook file from the command line.

Why: people who receive a mainframe extract and its copybook want it as
JSON Lines, CSV or Parquet, and a layout dump to check offsets against the
sender's, as Cobrix users do.  Records that cannot be decoded go to a side
file (``OUT.quarantine.jsonl``: index, offset, field, reason and the raw
record in hex), created 0600 like the output, since both may hold TINs; the
terminal shows counts and reasons only, never a value.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import typer
from rich.console import Console

from taxvault.terminal import fail

app = typer.Typer(
    no_args_is_help=True,
    help="COBOL copybook files: decode records to JSON Lines, CSV or Parquet; print a copybook's layout.",
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

FORMAT_HELP = "F or FB (fixed length), V (RDW), VB (BDW + RDW), text (LF/CRLF lines)."


@dataclass
class Summary:
    """What a decode run did: counts by outcome and by (masked) reason."""

    records: int = 0
    decoded: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)


def quarantine_path(out: Path) -> Path:
    """``out.jsonl`` -> ``out.quarantine.jsonl`` (next to the output)."""
    return out.with_name(
        out.name[: -len(out.suffix)] + ".quarantine.jsonl" if out.suffix else out.name + ".quarantine.jsonl"
    )


_VALUE = re.compile(r"=\s*\S+|'[^']*'|\b\d+\b")


def reason_kind(field_name: str | None, reason: str) -> str:
    """A reason for the summary: digits and quoted or assigned values masked, so no value reaches the terminal."""
    masked = _VALUE.sub(lambda m: "= …" if m.group().startswith("=") else "#", reason)
    return f"{field_name}: {masked}" if field_name else masked


@dataclass(frozen=True)
class Source:
    """How to read the copybook text: its column format, COPY member folders, placeholder replacements."""

    source_format: str = "auto"
    copy_dirs: tuple[Path, ...] = ()
    replacing: tuple[str, ...] = ()
    honor_sync: bool = True
    decimal_point_comma: bool = False

    def replacements(self) -> dict[str, str]:
        out = {}
        for pair in self.replacing:
            tag, sep, text = pair.partition("=")
            if not sep or not tag:
                raise fail(f"--replacing {pair!r} is not TAG=TEXT (e.g. :PFX:=CUST)")
            out[tag] = text
        return out


SOURCE_FORMATS = ("auto", "fixed", "shifted", "trimmed", "free")
SourceFormatOption = typer.Option(
    "auto", "--source-format", help="Copybook columns: auto (detect), fixed, shifted, trimmed or free."
)
CopyDirOption = typer.Option([], "--copy-dir", help="Folder holding COPY members (repeat).")
ReplacingOption = typer.Option([], "--replacing", help="TAG=TEXT for :TAG: placeholders (repeat).")
DecimalCommaOption = typer.Option(
    False, "--decimal-point-comma", help="The program said DECIMAL-POINT IS COMMA (PIC ZZ.ZZ9,99)."
)
IgnoreSyncOption = typer.Option(
    False, "--ignore-sync", help="Lay SYNC items out without IBM slack bytes (files from tools that did not align)."
)


def _load_layout(path: Path, source: Source) -> Any:
    from taxvault.formats.copybook import parse_copybook

    if source.source_format not in SOURCE_FORMATS:
        raise fail(f"unknown source format {source.source_format!r} (one of {', '.join(SOURCE_FORMATS)})")
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise fail(f"cannot read the copybook {path}: {exc.strerror or exc}") from None
    return parse_copybook(
        text,
        source_name=path.name,
        source_format=source.source_format,  # type: ignore[arg-type]  # checked above
        replacing=source.replacements() or None,
        copy_dirs=list(source.copy_dirs) or [path.parent],
        honor_sync=source.honor_sync,
        decimal_point_comma=source.decimal_point_comma,
    )


class _Counting:
    """A read-only stream wrapper that counts bytes read (for the progress bar)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.read_bytes += len(data)
        return data


@app.command("decode")
def decode(
    data: Path = typer.Argument(..., help="The data file.", exists=False),
    copybook: Path = typer.Option(..., "--copybook", "-c", help="The copybook (.cpy/.cob)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .jsonl, .csv or .parquet."),
    encoding: str = typer.Option("cp037", "--encoding", help="Code page: cp037, cp500, cp1047, common, ascii ..."),
    record_format: str = typer.Option("F", "--record-format", "-f", help=FORMAT_HELP),
    record_length: int | None = typer.Option(None, "--record-length", help="Fixed record length (default: copybook)."),
    rdw_big_endian: bool = typer.Option(
        True, "--rdw-big-endian/--rdw-little-endian", help="RDW length in bytes 0-1 (IBM) or bytes 2-3 (PC)."
    ),
    rdw_adjustment: int = typer.Option(0, "--rdw-adjustment", help="Added to each RDW length (-4: it counts itself)."),
    bdw_big_endian: bool = typer.Option(True, "--bdw-big-endian/--bdw-little-endian", help="BDW byte order."),
    bdw_adjustment: int = typer.Option(
        0, "--bdw-adjustment", help="Added to each BDW length (+4: it excludes itself)."
    ),
    variable_size_occurs: bool = typer.Option(
        False, "--variable-size-occurs", help="OCCURS DEPENDING ON takes only its actual occurrences' bytes."
    ),
    segment_field: str | None = typer.Option(None, "--segment-field", help="Field holding the record type."),
    segment_map: list[str] = typer.Option(
        [], "--segment-map", help="VALUE=LAYOUT: records whose segment field is VALUE use that 01 record (repeat)."
    ),
    source_format: str = SourceFormatOption,
    copy_dir: list[Path] = CopyDirOption,
    replacing: list[str] = ReplacingOption,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any record was quarantined."),
    ignore_sync: bool = IgnoreSyncOption,
    decimal_point_comma: bool = DecimalCommaOption,
    dbcs: str = typer.Option(
        "hex", "--dbcs", help="DBCS (PIC G, DISPLAY-1) items: hex (default), refuse, or a Python codec name."
    ),
    strict_packed_spare: bool = typer.Option(
        False, "--strict-packed-spare", help="Quarantine records whose even-digit COMP-3 has a non-zero spare digit."
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."
    ),
) -> None:
    """Decode every record of DATA with the copybook; write OUT, quarantine what cannot be decoded."""
    from taxvault.formats.copybook import CopybookError, DecodeOptions, SegmentMap, get_code_page
    from taxvault.formats.copybook.records import RECORD_FORMATS, iter_records
    from taxvault.formats.copybook.segments import SegmentDecoder, sub_layout
    from taxvault.formats.copybook.writers import open_writer, output_format

    fmt = {"f": "F", "fb": "FB", "v": "V", "vb": "VB", "text": "text"}.get(record_format.lower())
    if fmt not in RECORD_FORMATS:
        raise fail(f"unknown record format {record_format!r}: {FORMAT_HELP}")
    if bool(segment_field) != bool(segment_map):
        raise fail("--segment-field and --segment-map go together")
    try:
        output_format(out)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        layout = _load_layout(
            copybook, Source(source_format, tuple(copy_dir), tuple(replacing), not ignore_sync, decimal_point_comma)
        )
        options = DecodeOptions(
            encoding=encoding,
            variable_size_occurs=variable_size_occurs,
            dbcs=dbcs,
            strict_packed_spare_digit=strict_packed_spare,
        )
        if dbcs not in ("hex", "refuse"):
            codecs.lookup(dbcs)  # an unknown codec is refused before any output is made
        segments = SegmentMap.parse(segment_field, segment_map) if segment_field else None
        layouts = [layout]
        get_code_page(encoding)  # an unknown code page is refused before any output is made
        if segments is not None:
            SegmentDecoder(layout, segments, options)  # so is a segment map that does not fit
            layouts = [sub_layout(layout, name) for name in dict.fromkeys(segments.layouts.values())]
    except (CopybookError, ValueError, LookupError) as exc:
        raise fail(str(exc)) from None
    try:
        stream = data.open("rb")
    except OSError as exc:
        raise fail(f"cannot read {data}: {exc.strerror or exc}") from None
    total = data.stat().st_size
    counting = _Counting(stream)
    summary = Summary()
    show = progress if progress is not None else err_console.is_terminal
    qpath = quarantine_path(out)
    try:
        writer = open_writer(out, layouts, options, record_type=segments is not None)
    except OSError as exc:
        stream.close()
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    quarantine = None
    failure: str | None = None
    try:
        records = iter_records(
            layout,
            counting,  # type: ignore[arg-type]  # only read() is used
            record_format=fmt,  # type: ignore[arg-type]
            options=options,
            record_length=record_length,
            rdw_big_endian=rdw_big_endian,
            rdw_adjustment=rdw_adjustment,
            bdw_big_endian=bdw_big_endian,
            bdw_adjustment=bdw_adjustment,
            errors="collect",
            segments=segments,
        )
        with _progress(show, total) as advance:
            for rec in records:
                summary.records += 1
                if rec.values is None:
                    assert rec.error is not None
                    if quarantine is None:
                        from taxvault.files import open_private

                        quarantine = open_private(qpath, "w", encoding="utf-8")
                    summary.quarantined += 1
                    summary.reasons[reason_kind(rec.error.field, rec.error.reason)] += 1
                    quarantine.write(_quarantine_line(rec) + "\n")
                else:
                    summary.decoded += 1
                    if rec.record_type is not None:
                        summary.types[rec.record_type] += 1
                    writer.write(rec.values, rec.record_type)
                if summary.records % 2048 == 0:
                    advance(counting.read_bytes)
            advance(counting.read_bytes)
    except CopybookError as exc:
        failure = str(exc)
    finally:
        writer.close()
        stream.close()
        if quarantine is not None:
            quarantine.close()
    _print_summary(summary, out, qpath if quarantine is not None else None)
    if failure is not None:
        raise fail(f"{data.name}: {failure} (the {summary.records} records before it were written)")
    if strict and summary.quarantined:
        raise typer.Exit(1)


def _quarantine_line(rec: Any) -> str:
    error = rec.error
    entry = {
        "index": rec.index,
        "offset": rec.offset,
        "field": error.field,
        "field_offset": getattr(error, "field_offset", None),
        "reason": error.reason,
        "length": len(rec.data),
        "raw_hex": bytes(rec.data).hex(),
    }
    return json.dumps(entry)


class _progress:
    """A rich progress bar over the bytes of the file, or nothing."""

    def __init__(self, show: bool, total: int) -> None:
        self.show = show
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.show:
            return lambda done: None
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task("decoding", total=self.total or None)
        return lambda done: self.bar.update(task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print_summary(summary: Summary, out: Path, qpath: Path | None) -> None:
    line = f"{summary.records} records: {summary.decoded} decoded to {out}, {summary.quarantined} quarantined"
    err_console.print(line, markup=False)
    for name, count in sorted(summary.types.items()):
        err_console.print(f"  {name}: {count}", markup=False)
    for reason, count in summary.reasons.most_common():
        err_console.print(f"  quarantined {count}: {reason}", markup=False)
    if qpath is not None:
        err_console.print(f"quarantine: {qpath} (0600; raw records in hex)", markup=False)


@app.command("layout")
def layout_command(
    copybook: Path = typer.Argument(..., help="The copybook (.cpy/.cob)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per item instead of a table."),
    source_format: str = SourceFormatOption,
    copy_dir: list[Path] = CopyDirOption,
    replacing: list[str] = ReplacingOption,
    ignore_sync: bool = IgnoreSyncOption,
    decimal_point_comma: bool = DecimalCommaOption,
) -> None:
    """Print every item with its level, picture/usage, offset and size (as Cobrix's layout dump)."""
    from taxvault.formats.copybook import CopybookError

    try:
        layout = _load_layout(
            copybook, Source(source_format, tuple(copy_dir), tuple(replacing), not ignore_sync, decimal_point_comma)
        )
    except CopybookError as exc:
        raise fail(f"{copybook.name}: {exc}") from None
    rows = layout_rows(layout)
    if as_json:
        sys.stdout.write(json.dumps({"record_length": layout.record_length, "items": rows}, indent=1) + "\n")
        return
    header = ("LEVEL NAME", "PICTURE / USAGE", "OCCURS", "OFFSET", "START", "END", "SIZE")
    lines = [_table_line(header)]
    for row in rows:
        label = f"{'  ' * row['depth']}{row['level']:02d} {row['name']}"
        kind = " ".join(x for x in (row["picture"], row["usage"]) if x)
        start, size = row["offset"], row["size"]
        lines.append(_table_line((label, kind, row["occurs"] or "", start, start + 1, start + size, size)))
    lines.append(f"record length {layout.record_length}")
    sys.stdout.write("\n".join(lines) + "\n")


def _table_line(cells: tuple[Any, ...]) -> str:
    label, kind, occurs, *numbers = cells
    return f"{label:<44} {kind:<26} {occurs:>8} " + " ".join(f"{n:>7}" for n in numbers)


def layout_rows(layout: Any) -> list[dict[str, Any]]:
    """One dict per item of the copybook: level, name, depth, picture, usage, occurs, offset (0-based), size."""
    rows = []
    for item in layout.items:
        if item.synthetic:
            continue
        depth = 0
        node = item.parent
        while node is not None and not node.synthetic:
            depth += 1
            node = node.parent
        occurs = None
        if item.occurs:
            low = item.occurs_min if item.occurs_min is not None else item.occurs_max
            occurs = f"{low}..{item.occurs_max}" if low != item.occurs_max else str(item.occurs_max)
        rows.append(
            {
                "level": item.level,
                "name": "SLACK BYTES" if item.slack else item.name,
                "slack": item.slack,
                "depth": depth,
                "picture": item.ftype.picture if item.ftype is not None else "",
                "usage": "" if item.ftype is None or item.ftype.usage.value == "display" else item.ftype.usage.value,
                "occurs": occurs,
                "depending_on": item.depending_on.name if item.depending_on is not None else None,
                "redefines": item.redefines.name if item.redefines is not None else None,
                "offset": item.offset,
                "size": item.size,
            }
        )
    return rows
