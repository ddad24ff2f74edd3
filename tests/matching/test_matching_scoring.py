"""DuckDB's own blocking and scoring give what Splink's predict gives; the TIN's guarded edit distance is exact."""

from __future__ import annotations

import random

import duckdb
import numpy as np
import pyarrow as pa
from matching_fixtures import FIELDS

from taxvault.matching import linkage
from taxvault.matching.synthetic import partner_pair


def test_guarded_tin_edit_distance_is_the_edit_distance() -> None:
    rng = random.Random(5)
    rows: list[tuple[str, str]] = []
    for _ in range(4000):
        a = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 11)))
        b = list(a)
        op = rng.randint(0, 4)
        i = rng.randint(0, max(len(b) - 1, 0))
        if op == 0 and b:
            b[i] = rng.choice("0123456789")
        elif op == 1 and len(b) > 1 and i < len(b) - 1:
            b[i], b[i + 1] = b[i + 1], b[i]
        elif op == 2:
            b.insert(i, rng.choice("0123456789"))
        elif op == 3 and b:
            del b[i]
        else:
            b = [rng.choice("0123456789") for _ in range(len(a))]
        rows.append((a, "".join(b)))
    table = pa.table({"tin_l": [a for a, _ in rows], "tin_r": [b for _, b in rows]})
    con = duckdb.connect()
    con.register("t", table)
    got = con.execute(
        f"SELECT count(*) FILTER ({linkage._tin_edit_sql()}),"  # noqa: S608
        " count(*) FILTER (damerau_levenshtein(tin_l, tin_r) <= 1),"
        f" count(*) FILTER (({linkage._tin_edit_sql()}) <> (damerau_levenshtein(tin_l, tin_r) <= 1)) FROM t"
    ).fetchall()[0]
    assert got[0] == got[1] > 2000  # most pairs are one edit apart, a few are not
    assert got[2] == 0


class _SplinkRun:
    """Runs SQL on a DuckDB connection but is not linkage's DuckDB runner: linkage then blocks and scores with
    Splink's own ``predict`` (the path Spark takes)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.con.close()


def _scored(splink_predict: bool) -> tuple[pa.Table, int]:
    from splink import DuckDBAPI

    left, right, _ = partner_pair(200, 200, 0.6, 4)
    fields = tuple(FIELDS)
    left_in, _ = linkage._prepare(left, fields, False, "left", "id")
    right_in, _ = linkage._prepare(right, fields, False, "right", "id")
    con = linkage._duckdb_connection(None, None)
    run: linkage._Run = _SplinkRun(con) if splink_predict else linkage._DuckRun(con)
    seconds: dict[str, float] = {}
    try:
        with linkage._quiet_splink():
            return linkage._splink(
                DuckDBAPI(connection=con), run, left_in, right_in, fields, False, 0.0, 1, None, seconds, "duckdb"
            )
    finally:
        run.close()


def test_duckdb_blocking_and_scoring_equal_splink_predict() -> None:
    ours, compared = _scored(splink_predict=False)
    theirs, compared_splink = _scored(splink_predict=True)
    assert compared == compared_splink == ours.num_rows > 200  # threshold 0: every candidate pair, once
    keys = [("unique_id_l", "ascending"), ("unique_id_r", "ascending")]
    ours, theirs = ours.sort_by(keys), theirs.sort_by(keys)
    assert ours.column("unique_id_l").equals(theirs.column("unique_id_l"))
    assert ours.column("unique_id_r").equals(theirs.column("unique_id_r"))
    for col in ("match_probability", "bf_first_name", "bf_address"):
        np.testing.assert_allclose(ours.column(col).to_numpy(), theirs.column(col).to_numpy(), rtol=1e-9)
    assert float(np.max(ours.column("match_probability").to_numpy())) > 0.99
