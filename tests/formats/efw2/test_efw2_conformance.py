"""The EFW2 reader against files from other writers (tests/conformance/efw2, see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taxvault.formats.efw2 import ControlTotalsError, read_efw2

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance" / "efw2"
EXPECTED = json.loads((CONFORMANCE / "expected.json").read_text())


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: e["file"])
def test_reader_agrees_with_expected_totals(expected: dict[str, Any]) -> None:
    data = (CONFORMANCE / expected["file"]).read_bytes()
    result = read_efw2(data)
    assert result.record_count == expected["record_count"]
    assert result.submitter.ein == expected["submitter_ein"]
    assert len(result.employers) == expected["employers_computed"]
    assert len(result.employees) == expected["rw_computed_total"]
    assert result.final_rw_count == expected["rf_record"]["rw_count"]
    for employer, exp in zip(result.employers, expected["employers"], strict=True):
        assert employer.record_number == exp["re_record"]
        assert employer.tax_year == int(exp["tax_year"])
        assert employer.ein == exp["ein"]
        assert employer.employee_count == exp["rw_computed"]
        assert len(employer.state_wages) == exp["rs_count"]
        assert len(employer.optional_wages) == exp["ro_count"]
        lo, hi = employer.employee_start, employer.employee_stop
        for name, cents in exp["totals_computed_cents"].items():
            assert int(result.employees.amount(name)[lo:hi].sum()) == cents, name
        assert employer.total is not None
        assert employer.total.record_number == exp["rt_record"]
        assert employer.total.count == exp["rw_stated"]
        for name, cents in exp["totals_stated_cents"].items():
            assert employer.total.amounts[name] == cents, name
    assert result.consistent is expected["stated_totals_consistent"]
    assert result.record_problems == ()


def test_employees_carry_names_address_and_w2_boxes() -> None:
    result = read_efw2((CONFORMANCE / "sky8c9-simple-efw2-gen-xyz-sample.txt").read_bytes())
    first = result.employees.row(0)
    assert (first.ssn, first.first_name, first.middle_name, first.last_name) == (
        "111111111",
        "Mr A",
        "mA",
        "lA",
    )
    assert (first.location, first.city, first.state, first.zip) == ("AA ST S", "SAN JOSE", "CA", "11111")
    assert first.amounts["wages_tips_other_comp"] == 2507738
    assert first.amounts["social_security_tips"] == 812500
    assert result.employers[first.employer_index].name == "XYZ INC"
    assert result.control_problems == ()


def test_state_sample_reports_its_rs_quirks_as_warnings() -> None:
    result = read_efw2((CONFORMANCE / "sky8c9-simple-efw2-gen-25e7b4f-state-sample.txt").read_bytes())
    assert result.consistent
    checks = {(p.check, p.record_number) for p in result.control_problems}
    assert ("RS.ssn", 5) in checks
    assert all(p.severity == "warning" for p in result.control_problems)
    assert [s.state_code for s in result.employers[0].state_wages] == ["06", "06"]


def test_massachusetts_variant_is_refused_by_a_federal_reader() -> None:
    data = (CONFORMANCE / "ariwagen-ma-w2-efw2-gen-synthetic.txt").read_bytes()
    result = read_efw2(data)
    assert not result.consistent
    errors = {p.check for p in result.control_problems if p.severity == "error"}
    assert {"RT.count", "RF.rw_count"} <= errors
    with pytest.raises(ControlTotalsError) as err:
        read_efw2(data, strict=True)
    assert "RW" in str(err.value)
    assert all("12345000" not in p.message for p in err.value.problems)
