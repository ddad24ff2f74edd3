"""Check a Pub 1220 file's own control totals against its records.

Why: the C, K, F and T records restate what the B records hold (payee counts and
one total per amount code). A disagreement means records were lost, duplicated
or altered between the payer's system and us; ingest must see it, not guess.

Severities: payee counts, per-code C and K totals and the F/T counts are
mandatory in Pub 1220 (Rev. 9-2024, Part C), so a mismatch is an ``error``. The
K record's state/local tax totals (707-742), the record sequence numbers, codes
with amounts the A record did not declare, and B state codes with no K record
are ``warning`` s: writers in the wild get them wrong in files that are
otherwise whole (the moov-io sample states a K state-tax total of 2 for B
records holding 4).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from taxvault.formats.fixedwidth import ControlProblem, RecordProblem
from taxvault.formats.pub1220.amount_codes import AMOUNT_CODES
from taxvault.formats.pub1220.model import ControlTotals, EndOfTransmission, PayeeColumns, Payer, Transmitter

#: Combined Federal/State Filing Program codes are the states' FIPS codes; some
#: writers put the postal abbreviation in K 747-748 instead, so both are accepted.
STATE_CODE_BY_POSTAL = {
    "AL": "01",
    "AK": "02",
    "AZ": "04",
    "AR": "05",
    "CA": "06",
    "CO": "07",
    "CT": "08",
    "DE": "10",
    "DC": "11",
    "FL": "12",
    "GA": "13",
    "HI": "15",
    "ID": "16",
    "IL": "17",
    "IN": "18",
    "IA": "19",
    "KS": "20",
    "KY": "21",
    "LA": "22",
    "ME": "23",
    "MD": "24",
    "MA": "25",
    "MI": "26",
    "MN": "27",
    "MS": "28",
    "MO": "29",
    "MT": "30",
    "NE": "31",
    "NV": "32",
    "NH": "33",
    "NJ": "34",
    "NM": "35",
    "NY": "36",
    "NC": "37",
    "ND": "38",
    "OH": "39",
    "OK": "40",
    "OR": "41",
    "PA": "42",
    "RI": "44",
    "SC": "45",
    "SD": "46",
    "TN": "47",
    "TX": "48",
    "UT": "49",
    "VT": "50",
    "VA": "51",
    "WA": "53",
    "WV": "54",
    "WI": "55",
    "WY": "56",
}


def normalise_state_code(code: str) -> str:
    """``"AL"`` -> ``"01"``, ``"1"`` -> ``"01"``; blank stays blank."""
    code = code.strip().upper()
    if code.isdigit():
        return code.zfill(2)
    return STATE_CODE_BY_POSTAL.get(code, code)


def check_controls(
    transmitter: Transmitter,
    payers: tuple[Payer, ...],
    payees: PayeeColumns,
    end: EndOfTransmission,
    sequence: npt.NDArray[np.int64],
    record_problems: tuple[RecordProblem, ...] = (),
) -> list[ControlProblem]:
    """All control-total problems of a file, in record order."""
    out: list[ControlProblem] = []
    expected = np.arange(1, len(sequence) + 1)
    wrong = np.flatnonzero(sequence != expected)
    if wrong.size:
        out.append(
            ControlProblem(
                check="sequence_number",
                message=f"{wrong.size} record(s) have a sequence number (500-507) other than their position, "
                f"first record {int(wrong[0]) + 1}",
                record_number=int(wrong[0]) + 1,
                severity="warning",
            )
        )

    total = len(payees)
    out += _count(
        "T.total_payees",
        "T total number of payees",
        transmitter.record_number,
        transmitter.total_payees,
        total,
    )
    states = _normalised_states(payees) if any(p.state_totals or p.combined_fed_state for p in payers) else None
    for payer in payers:
        out += _payer_controls(payer, payees, states)
    out += _count("F.payer_count", "F number of A records", end.record_number, end.payer_count, len(payers))
    out += _count("F.total_payees", "F total number of payees", end.record_number, end.total_payees, total)
    return out


def _count(check: str, what: str, record: int, stated: int | None, computed: int) -> list[ControlProblem]:
    if stated is None:
        return [ControlProblem(check, f"{what} (record {record}) is missing or not numeric", record, None, computed)]
    if stated != computed:
        return [
            ControlProblem(
                check,
                f"{what} (record {record}) states {stated}, the file holds {computed}",
                record,
                stated,
                computed,
            )
        ]
    return []


def _totals(check: str, totals: ControlTotals, sums: npt.NDArray[np.int64], count: int) -> list[ControlProblem]:
    kind = totals.record_type
    out = _count(f"{check}.payee_count", f"{kind} payee count", totals.record_number, totals.payee_count, count)
    for k, code in enumerate(AMOUNT_CODES):
        stated = totals.totals.get(code)
        computed = int(sums[k])
        if stated is None:
            out.append(
                ControlProblem(
                    f"{check}.total_{code}",
                    f"{kind} total for amount code {code} (record {totals.record_number}) is not a number",
                    totals.record_number,
                    None,
                    computed,
                )
            )
        elif stated != computed:
            out.append(
                ControlProblem(
                    f"{check}.total_{code}",
                    f"{kind} total for amount code {code} (record {totals.record_number}) "
                    f"states {stated} cents, the payees sum to {computed}",
                    totals.record_number,
                    stated,
                    computed,
                )
            )
    return out


def _normalised_states(payees: PayeeColumns) -> npt.NDArray[np.str_]:
    """B 747-748 state codes normalised, decoding each distinct value once (not once per payee)."""
    uniques, inverse = np.unique(payees.fed_state_code, return_inverse=True)
    mapped = np.array([normalise_state_code(u.decode("latin-1")) for u in uniques] or [""], dtype="U2")
    return mapped[inverse] if len(uniques) else np.zeros(0, dtype="U2")


def _payer_controls(payer: Payer, payees: PayeeColumns, states: npt.NDArray[np.str_] | None) -> list[ControlProblem]:
    lo, hi = payer.payee_start, payer.payee_stop
    amounts = payees.amounts[lo:hi]
    out = _totals("C", payer.end_of_payer, amounts.sum(axis=0), hi - lo)

    used = np.flatnonzero((amounts != 0).any(axis=0))
    undeclared = [AMOUNT_CODES[k] for k in used if AMOUNT_CODES[k] not in payer.amount_codes]
    if undeclared:
        out.append(
            ControlProblem(
                "A.amount_codes",
                f"payer at record {payer.record_number}: payees hold amounts under code(s) "
                f"{''.join(undeclared)} that the A record does not declare",
                payer.record_number,
                severity="warning",
            )
        )

    if states is None:
        return out
    payer_states = states[lo:hi]
    covered: set[str] = set()
    for k in payer.state_totals:
        code = normalise_state_code(k.fed_state_code)
        covered.add(code)
        mask = payer_states == code
        out += _totals("K", k, amounts[mask].sum(axis=0), int(mask.sum()))
        for label, stated, column in (
            ("state_tax", k.state_tax, payees.state_tax),
            ("local_tax", k.local_tax, payees.local_tax),
        ):
            computed = int(column[lo:hi][mask].sum())
            if stated is not None and stated != computed:
                out.append(
                    ControlProblem(
                        f"K.{label}",
                        f"K {label.replace('_', ' ')} withheld total (record {k.record_number}) "
                        f"states {stated} cents, the payees sum to {computed}",
                        k.record_number,
                        stated,
                        computed,
                        severity="warning",
                    )
                )
    if payer.combined_fed_state:
        missing = sorted({s for s in payer_states if s and s not in covered})
        if missing:
            out.append(
                ControlProblem(
                    "K.missing",
                    f"payer at record {payer.record_number}: payees name state code(s) {', '.join(missing)} "
                    "with no K record",
                    payer.record_number,
                    severity="warning",
                )
            )
    return out
