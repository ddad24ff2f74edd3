"""The Spark backend (local mode) links like DuckDB: same model, same accuracy, nearly the same pairs."""

from __future__ import annotations

import pytest
from matching_fixtures import FIELDS, KEY, scores

from taxvault.matching.encode import encode_people
from taxvault.matching.linkage import link
from taxvault.matching.spark import java_available
from taxvault.matching.synthetic import partner_pair

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not java_available(), reason="Spark needs a Java runtime (java not on PATH, no JAVA_HOME)"),
]

N = 2_000


def _pairs(result: object) -> set[tuple[str, str]]:
    pairs = result.pairs  # type: ignore[attr-defined]
    return set(zip(pairs["left_id"].to_pylist(), pairs["right_id"].to_pylist(), strict=True))


@pytest.mark.parametrize("encoded", [False, True], ids=["clear", "encoded"])
def test_spark_local_mode_agrees_with_duckdb(encoded: bool) -> None:
    left, right, truth = partner_pair(N, N, 0.6, seed=21)
    if encoded:
        left, right = encode_people(left, KEY, FIELDS), encode_people(right, KEY, FIELDS)
    on_spark = link(left, right, FIELDS, encoded=encoded, backend="spark", seed=1)
    on_duckdb = link(left, right, FIELDS, encoded=encoded, backend="duckdb", seed=1)

    precision, recall, _ = scores(on_spark, truth)
    assert precision >= 0.99
    assert recall >= 0.98
    assert on_spark.pairs_compared == on_duckdb.pairs_compared  # same blocking rules, same candidates
    a, b = _pairs(on_spark), _pairs(on_duckdb)
    assert len(a & b) / len(a | b) >= 0.99  # training samples differ by engine; decisions barely
    assert on_spark.pairs.column_names == on_duckdb.pairs.column_names


def test_a_local_session_never_broadcasts_a_join() -> None:
    """Local mode: the driver is the executor; a broadcast only risks its heap (a CI failure)."""
    from taxvault.matching.spark import local_spark

    assert local_spark().conf.get("spark.sql.autoBroadcastJoinThreshold") == "-1"
