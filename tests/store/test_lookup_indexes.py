"""The look-ups the API will make are served by indexes (checked in the schema, both stores)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def _indexed_prefixes(engine: Engine, table: str) -> set[tuple[str | None, ...]]:
    insp = sa.inspect(engine)
    cols: list[tuple[str | None, ...]] = [tuple(ix["column_names"]) for ix in insp.get_indexes(table)]
    cols += [tuple(uq["column_names"]) for uq in insp.get_unique_constraints(table)]
    cols.append(tuple(insp.get_pk_constraint(table)["constrained_columns"]))
    return {c[:n] for c in cols for n in range(1, len(c) + 1)}


def test_lookup_paths_are_indexed(db_engine: Engine) -> None:
    wanted = {
        "entities": [("tin_hash",), ("ref",), ("household_id",)],
        "tax_modules": [("entity_id",), ("ref",)],
        "transactions": [("module_id",)],
        "returns": [("module_id",), ("entity_id",)],
        "information_returns": [("payee_tin_hash",), ("payee_id",), ("payer_tin_hash",)],
        "cases": [("assigned_to",), ("ref",)],
        "case_subjects": [("case_id",), ("entity_id",), ("module_id",)],
        "principal_relations": [("principal_id",), ("entity_id",)],
    }
    for table, paths in wanted.items():
        have = _indexed_prefixes(db_engine, table)
        for path in paths:
            assert path in have, f"{table} has no index for {path}"
