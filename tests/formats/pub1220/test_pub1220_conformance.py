"""The Pub 1220 reader against files written by other projects (tests/conformance/pub1220).

The moov-io fixtures come with .json twins of what that library reads; the
``others/`` files with an expected.json of totals worked out by a plain checker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taxvault.formats.pub1220 import AMOUNT_CODES, read_payee_record, read_pub1220

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance" / "pub1220"
SINGLE_B = sorted(CONFORMANCE.glob("payeeRecordWith*.ascii"))
OTHERS = json.loads((CONFORMANCE / "others" / "expected.json").read_text())


def _twin(path: Path) -> Any:
    return json.loads(path.with_suffix(".json").read_text())


def _assert_payee_matches(payee: Any, twin: dict[str, Any]) -> None:
    assert payee.tin == twin["payees_tin"]
    assert payee.tin_type == twin["type_of_tin"]
    assert payee.name_control == twin["payees_name_control"]
    assert payee.name == twin["first_payee_name_line"]
    assert payee.name2 == twin["second_payee_name_line"]
    assert payee.address == twin["payee_mailing_address"]
    assert payee.city == twin["payee_city"]
    assert payee.state == twin["payee_state"]
    assert payee.zip == twin["payee_zip_code"]
    assert payee.payment_year == twin["payment_year"]
    assert payee.account_number == twin["payers_account_number_for_payee"]
    for code in AMOUNT_CODES:
        key = f"payment_amount_{code}"
        if key in twin:
            assert payee.amounts[code] == twin[key], code
    assert payee.state_tax == twin["state_income_tax_withheld"]
    assert payee.local_tax == twin["local_income_tax_withheld"]
    assert int(payee.fed_state_code) == int(twin["combined_federal_state_code"])
    assert payee.valid


def test_fixture_files_are_present() -> None:
    assert len(SINGLE_B) == 6
    assert (CONFORMANCE / "oneTransactionFile.ascii").exists()
    assert len(OTHERS) == 3


@pytest.mark.parametrize("path", SINGLE_B, ids=lambda p: p.stem)
def test_single_payee_records_match_their_twins(path: Path) -> None:
    payee = read_payee_record(path.read_bytes())
    _assert_payee_matches(payee, _twin(path))
    assert payee.record_number == 1


def test_whole_moov_file_matches_its_twin() -> None:
    path = CONFORMANCE / "oneTransactionFile.ascii"
    twin = _twin(path)
    result = read_pub1220(path.read_bytes())
    assert result.record_count == 7

    t, tt = result.transmitter, twin["transmitter"]
    assert t.payment_year == tt["payment_year"]
    assert t.tin == tt["transmitter_tin"]
    assert t.tcc == tt["transmitter_control_code"]
    assert t.name == tt["transmitter_name"]
    assert t.company_name == tt["company_name"]
    assert t.company_address == tt["company_mailing_address"]
    assert t.total_payees == tt["total_number_of_payees"]
    assert t.test_file
    assert t.prior_year_data

    (payer,) = result.payers
    (person,) = twin["payment_persons"]
    tp = person["payer"]
    assert payer.tin == tp["payer_tin"]
    assert payer.name == tp["first_payer_name"]
    assert payer.name_control == tp["payer_name_control"]
    assert payer.type_of_return == tp["type_of_return"]
    assert payer.amount_codes == tp["amount_codes"]
    assert payer.payment_year == tp["payment_year"]
    assert (payer.address, payer.city, payer.state, payer.zip) == (
        tp["payer_shipping_address"],
        tp["payer_city"],
        tp["payer_state"],
        tp["payer_zip_code"],
    )
    assert payer.form == "1099-MISC"

    assert len(result.payees) == len(person["payees"]) == 2
    for payee, twin_payee in zip(result.payees.rows(), person["payees"], strict=True):
        _assert_payee_matches(payee, twin_payee)
        assert payee.record_number == twin_payee["record_sequence_number"]

    c = payer.end_of_payer
    assert c.payee_count == person["end_payer"]["number_of_payees"]
    for code in AMOUNT_CODES:
        assert c.totals[code] == person["end_payer"][f"control_total_{code}"]
    (k,) = payer.state_totals
    tk = person["states"][0]
    assert k.payee_count == tk["number_of_payees"]
    assert k.totals["7"] == tk["control_total_7"] == 1400
    assert k.fed_state_code == tk["combined_federal_state_code"]
    assert str(k.state_tax) == tk["state_income_tax_withheld_total"]
    assert str(k.local_tax) == tk["local_income_tax_withheld_total"]

    end = result.end_of_transmission
    assert end.payer_count == twin["end_transmitter"]["number_of_payer_records"]
    assert end.total_payees == twin["end_transmitter"]["total_number_of_payees"]

    # 1099-MISC of 2017: code 7 is box 7, nonemployee compensation (pre-2020 MISC table).
    assert result.amounts_by_box(0) == {"nonemployee_compensation": 700}
    # Control totals hold; the only remark is moov's K state-tax total (2) against B records (4 + 0),
    # an advisory field, so the file stays consistent.
    assert result.consistent
    assert [p.check for p in result.control_problems] == ["K.state_tax"]
    assert result.record_problems == ()


@pytest.mark.parametrize("expected", OTHERS, ids=lambda e: e["file"])
def test_other_writers_files_agree_with_expected_totals(expected: dict[str, Any]) -> None:
    data = (CONFORMANCE / "others" / expected["file"]).read_bytes()
    result = read_pub1220(data)
    assert result.record_count == expected["record_count"]
    assert result.transmitter.payment_year == int(expected["payment_year"])
    assert result.transmitter.total_payees == expected["t_total_payees_stated"]
    assert result.end_of_transmission.payer_count == expected["f_record"]["a_count"]
    assert result.end_of_transmission.total_payees == expected["f_record"]["payee_count"]
    assert len(result.payers) == expected["payers_computed"]
    assert len(result.payees) == expected["payees_computed_total"]
    for payer, exp in zip(result.payers, expected["payers"], strict=True):
        assert payer.record_number == exp["a_record"]
        assert payer.tin == exp["payer_tin"]
        assert payer.type_of_return == exp["type_of_return"]
        assert payer.amount_codes == exp["amount_codes_declared"]
        assert payer.payee_count == exp["payees_computed"]
        sums = result.payees.amounts[payer.payee_start : payer.payee_stop].sum(axis=0)
        computed = {code: int(sums[k]) for k, code in enumerate(AMOUNT_CODES) if sums[k]}
        assert computed == exp["totals_computed_cents"]
        c = payer.end_of_payer
        assert c.record_number == exp["c_record"]
        assert c.payee_count == exp["payees_stated"]
        stated = {code: v for code, v in c.totals.items() if v}
        assert stated == exp["totals_stated_cents"]
    assert result.consistent is expected["stated_totals_consistent"]
    assert result.control_problems == ()
    assert result.record_problems == ()
    # NUL padding never leaks into text
    for payee in result.payees.rows():
        assert "\x00" not in payee.name + payee.address + payee.city
        assert payee.name


def test_older_layout_names_are_read_from_their_own_positions() -> None:
    """iterateco writes the pre-2020 B layout: the name starts at 248, not 288."""
    data = (CONFORMANCE / "others" / "iterateco-fire-1099-gen-valid_minimal.txt").read_bytes()
    names = [p.name for p in read_pub1220(data).payees.rows()]
    assert names == ["SPACELEY SPROCKETS", "BOB LOBLAW LLP"]
