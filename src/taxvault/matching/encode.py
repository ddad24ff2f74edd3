"""Privacy-preserving encodings of person fields, keyed per matching agreement.

Two agencies can link their records without either handing the other a name,
a date of birth or a TIN: each side encodes its file with the agreement's key
and only the encodings travel. Destroying the key (crypto-shredding) makes
every encoding made with it unlinkable to anything again.

What an encoded file holds, per canonical field (see :data:`DERIVED`):

* **The TIN token**: HMAC-SHA256 of the normalised TIN under the key, in full
  hex (:func:`token`), so a partner's TIN token can be looked up directly.
* **Other exact tokens**: for each derived column, SHA-256 of a secret subkey
  of that column's domain (derived from the key by HMAC) followed by the value,
  truncated to 60 bits in a BIGINT (:func:`domain_token`): keyed, unrelated
  across columns, small and quick to join (collisions among a few million
  distinct values: about n^2 / 2^61). Derived values are tokenised too: the
  canonical given name (nicknames resolved before encoding, BOB -> ROBERT),
  surname parts (for hyphenated and double surnames), the first three letters
  of the surname (for blocking), the year, month and day of birth (month and
  day share one domain so that a day/month swap is visible), the first three
  ZIP digits.
* **TIN deletion tokens** (``tin_del0`` .. ``tin_del8``, see
  :data:`TIN_DELETIONS`): "one digit wrong or two digits swapped" by token
  equality alone.
* **Keyed Bloom filters (CLKs)** for first name, surname and street: every
  character and every bigram of the padded value sets :data:`CLK_K` bits,
  chosen by an HMAC of the q-gram under the key, in a :data:`CLK_BITS`-bit
  filter stored as four signed 64-bit integers (``<field>_clk0`` .. ``_clk3``).
  Two filters are compared by their Dice coefficient ``2|a & b| / (|a| + |b|)``,
  which tracks the q-gram overlap of the underlying strings: a typo or a
  transposition leaves most bits in common. Without the key the bit positions
  mean nothing; the known limit of CLKs (frequency analysis of very common
  values across a large file) is why the key is per agreement and destroyed
  with it.

Nothing in the output lets a raw value be read back without the key, and the
same key always gives the same encoding (deterministic), which is what linkage
needs. Rows keep their input order. :func:`person_features` computes the same
derived columns *in the clear* (no key): linkage in the clear and on encodings
then use the same columns, blocking rules and comparison levels, and differ
only in how near values are recognised (Jaro-Winkler and Damerau-Levenshtein
on strings versus Dice on filters and deletion tokens).

Columnar throughout, with no Python per row: each source column (a name, the
date of birth, the TIN, ...) is dictionary-encoded by Arrow, its distinct
values go through DuckDB SQL once (derivations, keyed hashes built from
DuckDB's ``sha256``, q-gram filters), and the results are expanded back to the
rows with ``take``. Names, dates and places repeat a lot, so they cost little;
what is left at scale is the TIN's eleven hashes (it is distinct per person).
Python only computes the few thousand q-gram bit masks.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from taxvault.matching.fields import PERSON_FIELDS, canonical_given_names, check_fields, normalise_people

CLK_BITS = 256
CLK_WORDS = CLK_BITS // 64
CLK_K = 4
"""Bits set per q-gram: a 6-letter name (13 q-grams) sets about 50 of the 256 bits; an 11-letter one about 85.
Measured on generated names: 99% of one-typo pairs keep a Dice >= 0.62, 2% of pairs of different names reach it."""

CLK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _"
"""Normalised values use A-Z, 0-9 and space; ``_`` pads both ends."""

DERIVED: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "first_name_canon"),
    "last_name": ("last_name", "last_name_p1", "last_name_p2", "last_name_pre"),
    "birth_date": ("birth_date", "birth_year", "birth_month", "birth_day"),
    "tin": ("tin",),
    "street_number": ("street_number",),
    "street": ("street",),
    "city": ("city",),
    "postcode": ("postcode", "postcode3"),
    "state": ("state",),
}
"""Per canonical field, the columns linkage uses (same names in the clear and encoded)."""

JOINT: dict[str, tuple[str, ...]] = {
    "name_lo": ("first_name", "last_name"),
    "name_hi": ("first_name", "last_name"),
    "name_ph_lo": ("first_name", "last_name"),
    "name_ph_hi": ("first_name", "last_name"),
    "birth_digits": ("birth_date",),
}
"""Columns derived from several fields (or order-free forms of one), present when all their fields are.

``name_lo`` / ``name_hi``: the canonical given name and the surname in alphabetical
order, so that a record whose given name and surname were swapped between files
keeps the same pair (blocking on names alone, or on the date of birth and either
name, survives the swap). ``name_ph_lo`` / ``name_ph_hi``: the same with each name
replaced by its phonetic code (metaphone: JASMINE and JASMWINE, PETERSON and
PETERSEN agree). ``birth_digits``: the eight digits of the date of birth sorted, so
two adjacent digits transposed anywhere in the date (1979-08-21, 1979-02-81) give
the same value. Encoded, each is a keyed token like any other column: the sorting
and the phonetic code are computed in the clear by the agency before anything
leaves it; given name and surname tokens share one domain (``name``) precisely so
that a swap is visible."""

FUZZY_FIELDS: tuple[str, ...] = ("first_name", "last_name", "street")
"""Fields that also get a Bloom filter when encoded (compared by similarity, not only equality)."""

CLK_UNIGRAMS = True
"""Single characters go into the filter too, besides bigrams: a swap of two letters in a short name
("ILNDA") leaves half its bigrams but all its letters, which keeps such typos above the "close" thresholds."""

TIN_DELETIONS = 9
"""Encoded TINs carry a token of each 8-digit string obtained by deleting one digit (``tin_del0``..``tin_del8``).
Two TINs one substitution apart share the deletion at that position; two TINs differing by one swap of
adjacent digits share deletion i of one and i+1 of the other. So "one digit or one transposition apart"
(Damerau-Levenshtein distance 1 in the clear) is decided by token equality, with no similarity structure
exposed: unlike a Bloom filter of digits, the tokens say nothing about which digits agree."""

_DOMAIN = {"birth_month": "birth_md", "birth_day": "birth_md", "last_name_p1": "last_name_part"}
_DOMAIN["last_name_p2"] = "last_name_part"
_DOMAIN.update({"name_lo": "name", "name_hi": "name", "name_ph_lo": "name_ph", "name_ph_hi": "name_ph"})

CLK_DOMAIN = {"first_name": "name", "last_name": "name"}
"""Bloom-filter bit domains: given name and surname share one, so that a filter of one file's given name
can be compared with the other file's surname (names swapped between files); the street has its own."""

_SQL = {
    "first_name": "first_name",
    "first_name_canon": "first_name_canon",
    "last_name": "last_name",
    "last_name_p1": "split_part(last_name, ' ', 1)",
    "last_name_p2": "CASE WHEN contains(last_name, ' ') THEN list_last(string_split(last_name, ' ')) END",
    "last_name_pre": "substr(replace(last_name, ' ', ''), 1, 3)",
    "birth_date": "birth_date",
    "birth_year": "substr(birth_date, 1, 4)",
    "birth_month": "substr(birth_date, 6, 2)",
    "birth_day": "substr(birth_date, 9, 2)",
    "tin": "tin",
    "street_number": "street_number",
    "street": "street",
    "city": "city",
    "postcode": "postcode",
    "postcode3": "CASE WHEN length(postcode) >= 3 THEN substr(postcode, 1, 3) END",
    "state": "state",
    "birth_digits": "array_to_string(list_sort(string_split(replace(birth_date, '-', ''), '')), '')",
}


class EncodingError(ValueError):
    """Encoding was asked for something it cannot do (no key, missing id column, unknown field)."""


def token(value: str, key: bytes) -> str:
    """HMAC-SHA256 keyed token (64 hex digits) of one normalised identifier, e.g. a TIN.

    This is exactly the value in the ``tin`` column of :func:`encode_people`
    (given the normalised TIN: digits only).
    """
    _check_key(key)
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def subkey(domain: str, key: bytes) -> bytes:
    """The 32-byte key of one token domain, derived from the agreement key (HMAC-SHA256)."""
    return hmac.new(key, f"subkey\x1f{domain}".encode(), hashlib.sha256).digest()


def domain_token(domain: str, value: str, key: bytes) -> int:
    """The 60-bit integer token of ``value`` in a column ``domain`` (what the SQL computes; for tests).

    SHA-256 of the domain's secret subkey followed by the value, truncated to 60
    bits: a keyed pseudorandom function like HMAC (truncation rules out length
    extension, the one weakness of a secret prefix), at a quarter of HMAC's cost,
    which matters for the nine deletion tokens of every TIN.
    """
    digest = hashlib.sha256(subkey(domain, key) + value.encode()).hexdigest()
    return int(digest[:15], 16)


def tin_deletion_columns() -> list[str]:
    """Names of the TIN deletion-variant token columns of an encoded file."""
    return [f"tin_del{i}" for i in range(TIN_DELETIONS)]


def clk_columns(field: str) -> list[str]:
    """Names of the Bloom-filter words of an encoded fuzzy field."""
    return [f"{field}_clk{i}" for i in range(CLK_WORDS)]


def joint_columns(fields: Sequence[str]) -> list[str]:
    """The :data:`JOINT` columns ``fields`` allow (all their source fields present)."""
    have = set(fields)
    return [c for c, needs in JOINT.items() if set(needs) <= have]


def derived_columns(fields: Sequence[str]) -> list[str]:
    """Every derived column of ``fields`` (per-field ones in canonical order, then the joint ones)."""
    ordered = [f for f in PERSON_FIELDS if f in fields]
    return [*(c for f in ordered for c in DERIVED[f]), *joint_columns(ordered)]


def feature_columns(fields: Sequence[str], *, encoded: bool) -> list[str]:
    """The columns :func:`person_features` / :func:`encode_people` produce for ``fields`` (id excluded)."""
    cols: list[str] = []
    for f in fields:
        cols.extend(DERIVED[f])
        if encoded and f in FUZZY_FIELDS:
            cols.extend(clk_columns(f))
        if encoded and f == "tin":
            cols.extend(tin_deletion_columns())
    cols.extend(joint_columns(fields))
    return cols


def phonetic_codes(names: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Metaphone code of each *normalised* name (spaces dropped; null stays null), once per distinct value."""
    import jellyfish

    chunked = pa.chunked_array([names]) if isinstance(names, pa.Array) else names
    encoded = pc.dictionary_encode(chunked.combine_chunks())
    codes = [jellyfish.metaphone(v.replace(" ", "")) or None for v in encoded.dictionary.to_pylist()]
    return pa.chunked_array([pa.array(codes, pa.string()).take(encoded.indices)])


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise EncodingError("an encoding key must be at least 16 bytes")


def _pads(key: bytes) -> tuple[str, str]:
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


def _signed(words: np.ndarray) -> list[int]:
    return [int(x) for x in words.astype(np.uint64).view(np.int64)]


def _clk_masks(key: bytes, fields: Sequence[str]) -> pa.Table:
    """Per (field, bigram): the CLK_K bits it sets, as CLK_WORDS signed 64-bit words."""
    rows: dict[str, list[object]] = {"domain": [], "gram": []}
    words: list[list[int]] = []
    grams = ["".join(p) for p in itertools.product(CLK_ALPHABET, repeat=2)]
    if CLK_UNIGRAMS:
        grams += list(CLK_ALPHABET)
    for field in fields:
        for gram in grams:
            domain = CLK_DOMAIN.get(field, field)
            digest = hmac.new(key, f"clk\x1f{domain}\x1f{gram}".encode(), hashlib.sha256).digest()
            bits = np.frombuffer(digest, dtype=">u2")[:CLK_K].astype(np.int64) % CLK_BITS
            w = np.zeros(CLK_WORDS, dtype=np.uint64)
            for bit in bits.tolist():
                w[bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
            rows["domain"].append(field)
            rows["gram"].append(gram)
            words.append(_signed(w))
    cols: dict[str, object] = dict(rows)
    for i in range(CLK_WORDS):
        cols[f"m{i}"] = pa.array([w[i] for w in words], pa.int64())
    return pa.table(cols)


def _connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    return con


def person_features(
    table: pa.Table,
    fields: Sequence[str],
    *,
    key: bytes | None = None,
    id_column: str = "id",
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Normalise and derive the linkage columns of ``fields``; tokenise them and add CLKs when ``key`` is given.

    The id column comes through unchanged, first; rows keep their input order. Without a key the derived
    columns are normalised strings (for linkage in the clear); with a key they
    are tokens and Bloom filters only.
    """
    check_fields(fields)
    if id_column not in table.column_names:
        raise EncodingError(f"table has no id column {id_column!r}")
    missing = [f for f in fields if f not in table.column_names]
    if missing:
        raise EncodingError(f"table has no column(s) for field(s) {missing}")
    if key is not None:
        _check_key(key)
    ordered = [f for f in PERSON_FIELDS if f in fields]
    # The id column is renamed so that no name taken from a file ever reaches SQL text.
    base = normalise_people(table.select([id_column, *ordered]).rename_columns(["__tv_id", *ordered]), ordered)
    if "first_name" in ordered:
        base = base.append_column("first_name_canon", canonical_given_names(base.column("first_name")))
    if "first_name" in ordered and "last_name" in ordered:
        base = base.append_column("__tv_fph", phonetic_codes(base.column("first_name_canon")))
        base = base.append_column("__tv_lph", phonetic_codes(base.column("last_name")))
    own = con is None
    con = con or _connect()
    try:
        out = _derive(con, base, ordered, key)
    finally:
        if own:
            con.close()
    return pa.table([base.column("__tv_id"), *out.values()], names=[id_column, *out])


def _derive(
    con: duckdb.DuckDBPyConnection, base: pa.Table, fields: Sequence[str], key: bytes | None
) -> dict[str, pa.ChunkedArray]:
    """The derived columns (tokens and CLKs with a key), in output order, each computed per distinct value.

    Every column is a function of one source column (the TIN, a name, the date of birth, ...) or, for the
    name pairs, of one per-row string Arrow builds (the lesser or greater of two names). So each source is
    dictionary-encoded once, its few distinct values go through the SQL (normalised derivations, keyed
    hashes, q-gram filters), and the results are expanded back with ``take``: no per-row SQL, no joins,
    no sort to restore the row order.
    """
    out: dict[str, pa.ChunkedArray] = {}
    fuzzy = [f for f in fields if f in FUZZY_FIELDS] if key is not None else []
    if fuzzy and key is not None:
        con.register("__tv_masks", _clk_masks(key, fuzzy))
    try:
        for f in fields:
            sources: dict[str, list[str]] = {}
            for c in DERIVED[f]:
                sources.setdefault("first_name_canon" if c == "first_name_canon" else f, []).append(c)
            got: dict[str, pa.ChunkedArray] = {}
            for src, cols in sources.items():
                got.update(
                    _per_distinct(con, base.column(src), src, cols, key, clk=f if f in fuzzy and src == f else None)
                )
            out.update({c: got[c] for c in DERIVED[f]})
            if key is not None and f == "tin":
                out.update({c: got[c] for c in tin_deletion_columns()})
            if f in fuzzy:
                out.update({c: got[c] for c in clk_columns(f)})
        joint = joint_columns(fields)
        if "name_lo" in joint:
            pairs = {"name": ("first_name_canon", "last_name"), "name_ph": ("__tv_fph", "__tv_lph")}
            for prefix, (a_name, b_name) in pairs.items():
                a, b = base.column(a_name), base.column(b_name)
                # Byte-wise order, as SQL's least/greatest on VARCHAR; null when either is null: no pair.
                a_first = pc.less_equal(a, b)
                for part, arr in (("lo", pc.if_else(a_first, a, b)), ("hi", pc.if_else(a_first, b, a))):
                    c = f"{prefix}_{part}"
                    out.update(_per_distinct(con, arr, "v", [c], key, expr={c: "v"}))
        if "birth_digits" in joint:
            out.update(_per_distinct(con, base.column("birth_date"), "birth_date", ["birth_digits"], key))
    finally:
        if fuzzy:
            con.unregister("__tv_masks")
    return out


def _per_distinct(
    con: duckdb.DuckDBPyConnection,
    values: pa.ChunkedArray,
    name: str,
    cols: Sequence[str],
    key: bytes | None,
    *,
    clk: str | None = None,
    expr: dict[str, str] | None = None,
) -> dict[str, pa.ChunkedArray]:
    """Columns ``cols`` (SQL of :data:`_SQL` over a column ``name``) of each distinct value, expanded to the rows.

    With a key each becomes its token (the TIN its HMAC and deletion tokens), and ``clk`` names the field
    whose Bloom-filter words are added. SQL text holds only our own column names and hex key material.
    """
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    dictionary = encoded.dictionary
    con.register(
        "__tv_dict", pa.table({"__tv_i": pa.array(np.arange(len(dictionary), dtype=np.int64)), name: dictionary})
    )
    try:
        exprs = expr or {c: _SQL[c] for c in cols}
        selects: list[str] = []
        for c in cols:
            if key is None:
                selects.append(f"{exprs[c]} AS {c}")
            elif c == "tin":
                ipad, opad = _pads(key)
                selects.append(f"sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(tin)))) AS tin")
                for i in range(TIN_DELETIONS):
                    msg = f"substr(tin, 1, {i}) || substr(tin, {i + 2})"
                    selects.append(f"{_keyed(key, 'tin_del', msg)} AS tin_del{i}")
            else:
                selects.append(f"{_keyed(key, _DOMAIN.get(c, c), f'({exprs[c]})')} AS {c}")
        sql = f"SELECT d.__tv_i, {', '.join(selects)}"
        source = "__tv_dict AS d"
        if clk is not None:
            words = ", ".join(f"bit_or(m.m{i}) AS w{i}" for i in range(CLK_WORDS))
            grams = "list_transform(range(1, length(s) + 2), lambda i: substr('_' || s || '_', i, 2))"
            if CLK_UNIGRAMS:
                grams = f"list_concat({grams}, list_transform(range(1, length(s) + 1), lambda i: substr(s, i, 1)))"
            source += (
                f" LEFT JOIN (SELECT g.__tv_i, {words} FROM ("  # noqa: S608
                f"SELECT __tv_i, unnest({grams}) AS gram FROM (SELECT __tv_i, {name} AS s FROM __tv_dict)"
                f") g JOIN __tv_masks m ON m.domain = '{clk}' AND m.gram = g.gram GROUP BY g.__tv_i) AS k"
                " ON k.__tv_i = d.__tv_i"
            )
            sql += "".join(f", k.w{i} AS {clk}_clk{i}" for i in range(CLK_WORDS))
        # __tv_i is the dictionary position, so that the rows come back in dictionary order for take().
        per_value = con.sql(f"{sql} FROM {source} ORDER BY d.__tv_i").to_arrow_table()
    finally:
        con.unregister("__tv_dict")
    return {
        c: pa.chunked_array([per_value.column(c).combine_chunks().take(encoded.indices)])
        for c in per_value.column_names[1:]
    }


def _keyed(key: bytes, domain: str, msg_sql: str) -> str:
    """SQL for :func:`domain_token`: 60 bits of SHA-256(subkey || value) as a non-negative BIGINT."""
    return f"('0x' || substr(sha256(unhex('{subkey(domain, key).hex()}') || encode({msg_sql})), 1, 15))::BIGINT"


def encode_people(table: pa.Table, key: bytes, fields: Sequence[str], *, id_column: str = "id") -> pa.Table:
    """Encode the named canonical fields of ``table`` under ``key``: id column + encoded columns only.

    No raw value, and nothing from which one can be read without the key, is in
    the output. Deterministic for the same key. See the module docstring for
    the columns.
    """
    _check_key(key)
    return person_features(table, fields, key=key, id_column=id_column)


def dice(a: Sequence[int], b: Sequence[int]) -> float:
    """Dice coefficient of two CLKs given as their signed 64-bit words (the SQL computes the same)."""
    wa = np.array(a, dtype=np.int64).view(np.uint64)
    wb = np.array(b, dtype=np.int64).view(np.uint64)

    def popcount(x: np.ndarray) -> int:
        return int(sum(bin(int(v)).count("1") for v in x))

    total = popcount(wa) + popcount(wb)
    return 0.0 if total == 0 else 2.0 * popcount(wa & wb) / total
