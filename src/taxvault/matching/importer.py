"""Partner data import: a CSV or Parquet file in, keyed tokens and sealed encodings stored.

Only the columns the mapping names are read from the file (CSV ``include_columns``,
Parquet column projection), and the mapping may name only fields of the partner side
of the agreement: a column the agreement does not name never enters the process.
On the way in:

- the partner's record id becomes a keyed token (HMAC-SHA256 under the agreement's
  linkage key); several rows may share one (a person's wage records, quarter by quarter);
- the quasi-identifiers (names, birth date, address, TIN) are encoded by
  :func:`taxvault.matching.encode.encode_people` with the same key, so linkage needs
  no raw value of either side;
- the program's own fields are checked (a date of death, integer cents, a quarter
  ``YYYYQn``) and an employer EIN becomes a keyed token;
- each row is sealed (AES-GCM under the agreement's payload key) before it is stored.

A row that cannot be used (no id, a bad date of death, wages that are not integer
cents...) is rejected and reported by row number and field, never by value; the rest
loads. The matching job (:func:`taxvault.jobs.matching.import_partner_file`) decides,
stores (:func:`store_import`) and audits in one unit of work through the door: the
import is recorded in the same transaction as the rows, or neither is.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.errors import Invalid
from taxvault.matching import encode as _encode
from taxvault.matching.agreements import Agreement, MatchingError, new_ref
from taxvault.matching.keys import AgreementKeys, create_key, keys_for
from taxvault.matching.tables import matching_imports, matching_partner_rows
from taxvault.oversight import canaries

FORMATS = ("csv", "parquet")
IMPORT_PURPOSE = "computer_matching"
MAX_REPORTED_REJECTIONS = 100
_BATCH = 5_000
_MAX_WAGE_CENTS = 10**13  # $100 billion: anything above is a unit error, not a wage
_QUARTER = re.compile(r"^\s*([0-9]{4})\s*[-/ ]?\s*[Qq]?\s*([1-4])\s*$")  # ASCII digits only
_US_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_COMPACT_DATE = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$")
_CENTS = re.compile(r"^-?[0-9]{1,15}$")


class PartnerFileError(Invalid, MatchingError):
    """The file or the mapping cannot be imported (named by file, never by a value)."""

    status, kind = Invalid.status, Invalid.kind


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected row: where and why, never the value."""

    row: int  # 1-based data row (header excluded)
    field: str
    reason: str


@dataclass
class ImportReport:
    """What one import read, stored and rejected."""

    import_ref: str
    agreement_ref: str
    file_name: str
    fields: tuple[str, ...]
    rows_read: int = 0
    rows_loaded: int = 0
    records: int = 0
    rejected: int = 0
    blanked: dict[str, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    audit_leaf: int | None = None


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``FIELD=COLUMN`` items as a dict (PartnerFileError on a malformed or repeated item)."""
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise PartnerFileError(f"a mapping is FIELD=COLUMN, got {item!r}")
        if name in mapping:
            raise PartnerFileError(f"field {name!r} is mapped twice")
        mapping[name] = column
    return mapping


def detect_format(path: Path, fmt: str | None = None) -> str:
    """``csv`` or ``parquet``: as given, else from the file's suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise PartnerFileError(f"unknown format {fmt!r} (csv or parquet)")
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise PartnerFileError(f"{path.name}: give --format csv or parquet (unknown suffix)")


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise PartnerFileError(f"{path.name}: the file is empty")
    return [h.strip() for h in header]


def read_columns(path: Path, columns: Sequence[str], fmt: str) -> pa.Table:
    """Only ``columns`` of the file, every one as text (nulls for empty cells)."""
    wanted = list(dict.fromkeys(columns))
    try:
        if fmt == "csv":
            names = _csv_header(path)
            missing = [c for c in wanted if c not in names]
            if missing:
                raise PartnerFileError(f"{path.name}: no column {', '.join(map(repr, missing))} in the file")
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted,
                    column_types={c: pa.string() for c in wanted},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        else:
            names = pq.read_schema(path).names
            missing = [c for c in wanted if c not in names]
            if missing:
                raise PartnerFileError(f"{path.name}: no column {', '.join(map(repr, missing))} in the file")
            table = pq.read_table(path, columns=wanted)
            table = pa.table({c: _as_text(table.column(c)) for c in wanted})
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise PartnerFileError(f"{path.name}: no such file") from None
        raise PartnerFileError(f"{path.name}: the file cannot be read as {fmt} ({type(exc).__name__})") from None
    return table


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%d")
    return column.cast(pa.string())


# -- field checks --------------------------------------------------------------------------------


def parse_date(text: str | None) -> str | None:
    """ISO ``YYYY-MM-DD`` from ISO, ``YYYYMMDD`` or ``MM/DD/YYYY`` (None if not a real date)."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10 and value[4] == "-":
            return dt.date.fromisoformat(value).isoformat()
        m = _COMPACT_DATE.match(value)
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        m = _US_DATE.match(value)
        if m:
            return dt.date(int(m[3]), int(m[1]), int(m[2])).isoformat()
    except ValueError:
        return None
    return None


def parse_quarter(text: str | None) -> str | None:
    """``YYYYQn`` from ``2024Q3``, ``2024-3``, ``2024 Q3``... (None if not a quarter)."""
    m = _QUARTER.match(text or "")
    return f"{m[1]}Q{m[2]}" if m else None


def parse_cents(text: str | None) -> int | None:
    """Integer cents (a value with a decimal point is refused: units must not be guessed)."""
    value = (text or "").strip().replace(",", "")
    if not _CENTS.match(value):
        return None
    cents = int(value)
    return cents if abs(cents) < _MAX_WAGE_CENTS else None


def normalise_ein(text: str | None) -> str | None:
    """Nine digits of an EIN (dashes and spaces dropped), or None."""
    digits = re.sub(r"[\s-]", "", text or "")
    return digits if len(digits) == 9 and digits.isdigit() else None


# -- sealing rows ---------------------------------------------------------------------------------


def _binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))


def _to_json(row: dict[str, Any], binary: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is not None and k in binary:
            out[k] = base64.b64encode(v).decode("ascii")
        elif isinstance(v, dt.date):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out


def seal_row(keys: AgreementKeys, token: str, person: dict[str, Any], extras: dict[str, Any]) -> bytes:
    """One partner row, sealed under the agreement's payload key and bound to its token."""
    data = json.dumps({"p": person, "x": extras}, separators=(",", ":"), sort_keys=True).encode()
    return keys.seal(data, token)


def encoded_schema(table: pa.Table) -> bytes:
    """The Arrow schema of the encoded person columns (names and types only: no data)."""
    return bytes(table.schema.serialize().to_pybytes())


# -- the import ------------------------------------------------------------------------------------


def check_mapping(agreement: Agreement, mapping: Mapping[str, str]) -> None:
    """The mapping names exactly the agreement's partner fields (PartnerFileError otherwise)."""
    named = set(agreement.partner_fields)
    extra = sorted(set(mapping) - named)
    if extra:
        raise PartnerFileError(
            f"the mapping names {', '.join(extra)}, which agreement {agreement.ref} does not name on the partner side"
        )
    missing = [f for f in agreement.partner_fields if f not in mapping]
    if missing:
        raise PartnerFileError(f"agreement {agreement.ref} names {', '.join(missing)}: map each to a column")


def file_hash(path: Path) -> str:
    """SHA-256 of the file (the same file is imported once per agreement); PartnerFileError if absent."""
    if not path.is_file():
        raise PartnerFileError(f"{path.name}: no such file")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def already_imported(conn: Connection, agreement: Agreement, content_hash: str) -> None:
    """PartnerFileError if a file with this content was imported under the agreement before."""
    seen = conn.execute(
        sa.select(matching_imports.c.ref).where(
            matching_imports.c.agreement_id == agreement.id, matching_imports.c.content_hash == content_hash
        )
    ).first()
    if seen is not None:
        raise PartnerFileError(f"this file was already imported under agreement {agreement.ref} ({seen.ref})")


@dataclass(frozen=True, slots=True)
class PreparedImport:
    """A partner file read, checked, tokenised and encoded, ready to be sealed and stored."""

    report: ImportReport
    content_hash: str
    fmt: str
    tokens: list[str]
    encoded: pa.Table  # the encoded person columns (no id), one row per kept row
    extras: list[dict[str, Any]]
    tin_hashes: list[bytes] = field(default_factory=list)  # the store's keyed hashes of the file's TINs (canaries)


def prepare_import(
    agreement: Agreement, path: Path, *, id_column: str, mapping: Mapping[str, str], fmt: str | None = None
) -> PreparedImport:
    """Read only the mapped columns, check each row, tokenise ids and encode people (no database).

    Creates the agreement's key on its first import. The caller has checked that the
    agreement is active and lets the actor import (the job, through the door).
    """
    fmt = detect_format(path, fmt)
    check_mapping(agreement, mapping)
    content_hash = file_hash(path)
    table = read_columns(path, [id_column, *mapping.values()], fmt)
    create_key(agreement.ref)
    keys = keys_for(agreement)
    report = ImportReport(new_ref("p"), agreement.ref, path.name[:255], agreement.partner_fields)
    tokens, people, extras = _prepare(table, agreement, keys, id_column, mapping, report)
    encoded = _encode.encode_people(
        pa.table({"id": pa.array(tokens, pa.string()), **people}), keys.linkage, agreement.link_fields, id_column="id"
    )
    if encoded.num_rows != len(tokens):
        raise PartnerFileError(f"{path.name}: encoding returned {encoded.num_rows} rows for {len(tokens)}")
    report.rows_loaded = len(tokens)
    report.records = len(set(tokens))
    tins = table.column(mapping["tin"]).to_pylist() if "tin" in mapping else []
    hashes = canaries.tin_hashes(str(t) for t in tins if t is not None)
    return PreparedImport(report, content_hash, fmt, tokens, encoded.drop_columns(["id"]), extras, hashes)


def import_fields(agreement: Agreement, report: ImportReport) -> tuple[str, ...]:
    """What the import's audit event names: the partner fields and the counts (never a value)."""
    return (
        *agreement.partner_fields,
        f"rows={report.rows_loaded}",
        f"rejected={report.rejected}",
        f"import={report.import_ref}",
    )


def store_import(conn: Connection, agreement: Agreement, prepared: PreparedImport, *, actor: str) -> ImportReport:
    """Seal every row under the agreement's key and store it (the caller owns the transaction)."""
    keys = keys_for(agreement)
    where = f"partner file import {prepared.report.import_ref} under agreement {agreement.ref}"
    canaries.check_hashes(conn, prepared.tin_hashes, where)  # an export's canary in a partner's file: alert
    report = prepared.report
    binary = frozenset(f.name for f in prepared.encoded.schema if _binary(f.type))
    import_id = _insert_import(conn, agreement, report, actor, prepared.content_hash, prepared.fmt, prepared.encoded)
    batch: list[dict[str, Any]] = []
    for token, person, extra in zip(prepared.tokens, prepared.encoded.to_pylist(), prepared.extras, strict=True):
        sealed = seal_row(keys, token, _to_json(person, binary), extra)
        batch.append({"agreement_id": agreement.id, "import_id": import_id, "record_token": token, "payload": sealed})
        if len(batch) >= _BATCH:
            conn.execute(matching_partner_rows.insert(), batch)
            batch = []
    if batch:
        conn.execute(matching_partner_rows.insert(), batch)
    return report


def _prepare(
    table: pa.Table,
    agreement: Agreement,
    keys: AgreementKeys,
    id_column: str,
    mapping: Mapping[str, str],
    report: ImportReport,
) -> tuple[list[str], dict[str, pa.Array], list[dict[str, Any]]]:
    """Check each row; returns the kept rows' tokens, raw person columns and sealed-to-be extras."""
    n = table.num_rows
    report.rows_read = n
    ids = table.column(id_column).to_pylist()
    columns = {f: table.column(mapping[f]).to_pylist() for f in agreement.partner_fields}
    keep = [True] * n

    def reject(i: int, name: str, reason: str) -> None:
        if keep[i]:
            keep[i] = False
            report.rejected += 1
            if len(report.rejections) < MAX_REPORTED_REJECTIONS:
                report.rejections.append(Rejection(i + 1, name, reason))

    for i, value in enumerate(ids):
        if value is None or not value.strip():
            reject(i, id_column, "no record id")
    if "birth_date" in columns:
        raw = columns["birth_date"]
        parsed = [parse_date(v) for v in raw]
        blanked = sum(1 for r, p in zip(raw, parsed, strict=True) if r is not None and p is None)
        if blanked:
            report.blanked["birth_date"] = blanked
        columns["birth_date"] = parsed
    extras_cols: dict[str, list[Any]] = {}
    checks = {
        "death_date": (parse_date, "not a date"),
        "wage_cents": (parse_cents, "not integer cents"),
        "quarter": (parse_quarter, "not a quarter YYYYQn"),
        "employer_ein": (normalise_ein, "not a nine-digit EIN"),
    }
    for name in agreement.partner_extra_fields:
        parse, reason = checks[name]
        values = [parse(v) for v in columns[name]]
        for i, v in enumerate(values):
            if v is None:
                reject(i, name, reason)
        if name == "employer_ein":
            values = [None if v is None else _encode.token(str(v), keys.linkage) for v in values]
        extras_cols[name] = values
    report.rejections.sort(key=lambda r: (r.row, r.field))
    kept = [i for i in range(n) if keep[i]]
    tokens = [_encode.token(ids[i].strip(), keys.linkage) for i in kept]
    people = {f: pa.array([columns[f][i] for i in kept], pa.string()) for f in agreement.link_fields}
    extras = [{name: extras_cols[name][i] for name in extras_cols} for i in kept]
    return tokens, people, extras


def _insert_import(
    conn: Connection,
    agreement: Agreement,
    report: ImportReport,
    actor: str,
    content_hash: str,
    fmt: str,
    encoded: pa.Table,
) -> int:
    result = conn.execute(
        matching_imports.insert()
        .values(
            ref=report.import_ref,
            agreement_id=agreement.id,
            imported_by=actor,
            imported_at=dt.datetime.now(dt.UTC),
            file_name=report.file_name,
            content_hash=content_hash,
            file_format=fmt,
            rows=report.rows_loaded,
            records=report.records,
            rejected=report.rejected,
            fields=list(agreement.partner_fields),
            encoded_schema=encoded_schema(encoded),
        )
        .returning(matching_imports.c.id)
    )
    return int(result.scalar_one())


# -- reading back (only while the agreement's key exists) -------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerData:
    """An agreement's imported partner data, opened: encoded people and the program rows."""

    people: pa.Table  # "id" (the record token) + encoded person columns, one row per record
    rows: list[tuple[str, dict[str, Any]]]  # (record token, program fields) per imported row


def iter_opened(conn: Connection, agreement: Agreement) -> Iterator[tuple[str, dict[str, Any], pa.Schema]]:
    """Every stored row of the agreement, opened: (token, {"p": person, "x": extras}, encoded schema)."""
    keys = keys_for(agreement)
    schemas = {
        int(i): pa.ipc.read_schema(pa.py_buffer(s))
        for i, s in conn.execute(
            sa.select(matching_imports.c.id, matching_imports.c.encoded_schema).where(
                matching_imports.c.agreement_id == agreement.id
            )
        )
    }
    r = matching_partner_rows.c
    q = (
        sa.select(r.import_id, r.record_token, r.payload)
        .where(r.agreement_id == agreement.id)
        .order_by(r.id)
        .execution_options(yield_per=_BATCH)
    )
    for import_id, token, payload in conn.execute(q):
        yield token, json.loads(keys.open(payload, token)), schemas[int(import_id)]


def read_partner_data(conn: Connection, agreement: Agreement) -> PartnerData:
    """Open the agreement's partner rows (AgreementDestroyed once shredded)."""
    people: dict[str, dict[str, Any]] = {}
    rows: list[tuple[str, dict[str, Any]]] = []
    schema: pa.Schema | None = None
    for token, body, row_schema in iter_opened(conn, agreement):
        schema = schema or row_schema
        if token not in people:
            people[token] = _from_json(body["p"], row_schema)
        rows.append((token, body["x"]))
    if schema is None:
        return PartnerData(pa.table({"id": pa.array([], pa.string())}), rows)
    full = pa.schema([pa.field("id", pa.string()), *schema])
    records = [{"id": token, **person} for token, person in people.items()]
    return PartnerData(pa.Table.from_pylist(records, schema=full), rows)


def _from_json(person: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    out = dict(person)
    for f in schema:
        v = out.get(f.name)
        if v is not None and _binary(f.type):
            out[f.name] = base64.b64decode(v)
    return out
