"""Notice PDFs: content read back with pypdf, the TIN only masked, deterministic bytes, validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from notices_pdf_text import all_bytes, flat, pdf_text, placed_runs

from taxvault.notices.documents import (
    CDP_TYPES,
    MAX_CENTS,
    NoticeDocument,
    NoticeError,
    NoticeType,
    UnreportedItem,
    cdp_deadline,
    format_money,
    mask_tin,
    printable,
)
from taxvault.notices.render import LEFT, PAGE_H, RIGHT, render_many, render_pdf, text_width, wrap
from taxvault.notices.templates import PLACEHOLDERS, TEMPLATES

SSN = "912345678"  # synthetic: area 912, group 34
SSN_FORMS = ("912345678", "912-34-5678", "912 34 5678", "91234", "912-34", "912 34")
"""The full TIN and its digits without the last four, in every punctuation a leak could take."""

NOTICE_DATE = dt.date(2025, 6, 16)

LABELS = {
    NoticeType.CP14: "CP14",
    NoticeType.CP501: "CP501",
    NoticeType.CP503: "CP503",
    NoticeType.CP504: "CP504",
    NoticeType.LT11: "LT11",
    NoticeType.L1058: "Letter 1058",
    NoticeType.CP2000: "CP2000",
}

# What each notice must say (checked on the whitespace-flattened text, case-insensitive).
PHRASES = {
    NoticeType.CP14: ("you have unpaid taxes", "pay the amount due", "penalties and interest keep accruing"),
    NoticeType.CP501: ("reminder", "pay the amount due", "penalties and interest keep accruing"),
    NoticeType.CP503: ("second reminder", "intent to levy"),
    NoticeType.CP504: ("intent to seize (levy)", "section 6331(d)", "state tax refund", "other property"),
    NoticeType.LT11: ("final notice", "collection due process", "form 12153", "within 30 days", "section 6330"),
    NoticeType.L1058: ("final notice", "collection due process", "form 12153", "within 30 days", "section 6330"),
    NoticeType.CP2000: ("proposal, not a bill", "if you agree", "disagree", "notice of deficiency"),
}

ITEMS = (
    UnreportedItem("ACME WIDGETS INC", "1099-NEC", 850_000, 0),
    UnreportedItem("FIRST PRAIRIE BANK", "1099-INT", 12_345, 10_000),
    UnreportedItem("NORTHWIND LOGISTICS LLC", "W-2", 4_210_077, 4_000_000),
)


def make(notice_type: NoticeType = NoticeType.CP14, **changes: Any) -> NoticeDocument:
    """A valid document of ``notice_type``, with ``changes`` applied."""
    fields: dict[str, Any] = {
        "notice_type": notice_type,
        "notice_number": "NTC-7f3a9c21",
        "notice_date": NOTICE_DATE,
        "respond_by": cdp_deadline(NOTICE_DATE) if notice_type in CDP_TYPES else dt.date(2025, 7, 7),
        "taxpayer_name": "JANE Q DOE & JOHN R DOE",
        "address_lines": ("4418 WILLOW BEND RD APT 7", "SPRINGFIELD IL 62704-0831"),
        "tin": SSN,
        "tin_type": "SSN",
        "form": "1040",
        "tax_period": 202412,
        "tax_cents": 1_234_56,
        "penalty_ftf_cents": 277_78,
        "penalty_ftp_cents": 30_86,
        "interest_cents": 45_21,
        "amount_due_cents": 1_234_56 + 277_78 + 30_86 + 45_21,
    }
    if notice_type is NoticeType.CP2000:
        fields.update(
            tax_cents=2_031_00,
            penalty_ftf_cents=0,
            penalty_ftp_cents=0,
            interest_cents=88_14,
            amount_due_cents=2_031_00 + 88_14,
            unreported=ITEMS,
            proposed_tax_increase_cents=2_031_00,
        )
    fields.update(changes)
    return NoticeDocument(**fields)


def amount_lines(text: str) -> dict[str, str]:
    """``label -> $amount`` for the lines of the amounts table."""
    labels = ("Tax", "Failure-to-file penalty", "Failure-to-pay penalty", "Interest", "Amount due")
    found = {}
    for label in labels:
        m = re.search(rf"^{re.escape(label)}\s*(\$[\d,]+\.\d\d)$", text, re.MULTILINE)
        assert m is not None, f"no table line for {label}"
        found[label] = m.group(1)
    return found


@pytest.mark.parametrize("notice_type", list(NoticeType))
def test_each_notice_reads_back(notice_type: NoticeType) -> None:
    doc = make(notice_type)
    pdf = render_pdf(doc)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    lines = text.splitlines()
    words = flat(text)

    assert "JANE Q DOE & JOHN R DOE" in lines
    assert "4418 WILLOW BEND RD APT 7" in lines
    assert "SPRINGFIELD IL 62704-0831" in lines
    assert "Social Security number XXX-XX-5678" in lines
    assert f"Notice {LABELS[notice_type]}" in lines
    assert "Notice number NTC-7f3a9c21" in lines
    assert "Tax period December 31, 2024" in lines
    assert "Notice date June 16, 2025" in lines
    assert "Form 1040" in lines
    respond_by = "July 16, 2025" if notice_type in CDP_TYPES else "July 7, 2025"
    assert respond_by in lines  # boxed under the deadline label
    assert f"by {respond_by}" in words  # and in the "what you need to do" wording

    assert amount_lines(text) == {
        "Tax": format_money(doc.tax_cents),
        "Failure-to-file penalty": format_money(doc.penalty_ftf_cents),
        "Failure-to-pay penalty": format_money(doc.penalty_ftp_cents),
        "Interest": format_money(doc.interest_cents),
        "Amount due": format_money(doc.amount_due_cents),
    }
    assert format_money(doc.amount_due_cents) in lines  # the boxed amount

    lowered = words.lower()
    for phrase in PHRASES[notice_type]:
        assert phrase in lowered, phrase
    if notice_type is not NoticeType.CP2000:
        assert "payer" not in lowered
        assert "not a bill" not in lowered


def test_balance_due_amounts_are_the_documents() -> None:
    text = pdf_text(render_pdf(make(NoticeType.CP14)))
    assert amount_lines(text) == {
        "Tax": "$1,234.56",
        "Failure-to-file penalty": "$277.78",
        "Failure-to-pay penalty": "$30.86",
        "Interest": "$45.21",
        "Amount due": "$1,588.41",
    }


def test_cp2000_lists_items_and_proposed_increase() -> None:
    text = pdf_text(render_pdf(make(NoticeType.CP2000)))
    lines = text.splitlines()
    assert "ACME WIDGETS INC 1099-NEC $8,500.00 $0.00 $8,500.00" in lines
    assert "FIRST PRAIRIE BANK 1099-INT $123.45 $100.00 $23.45" in lines
    assert "NORTHWIND LOGISTICS LLC W-2 $42,100.77 $40,000.00 $2,100.77" in lines
    assert "Total difference in income $10,624.22" in lines
    assert "Proposed additional tax $2,031.00" in lines
    assert "your tax increases by $2,031.00 and you would owe $2,119.14" in flat(text)


@pytest.mark.parametrize("notice_type", list(NoticeType))
def test_tin_is_nowhere_in_the_file(notice_type: NoticeType) -> None:
    pdf = render_pdf(make(notice_type))
    text = pdf_text(pdf)
    everything = all_bytes(pdf)
    assert b"XXX-XX-5678" in everything  # the check below looks where the masked TIN is
    for form in SSN_FORMS:
        assert form not in text
        assert form.encode() not in everything


def test_itin_and_ein_are_masked_as_notices_show_them() -> None:
    assert mask_tin("912345678", "SSN") == "XXX-XX-5678"
    assert mask_tin("912705678", "ITIN") == "XXX-XX-5678"
    assert mask_tin("001234567", "EIN") == "XX-XXX4567"
    ein = make(tin="001234567", tin_type="EIN", taxpayer_name="PRAIRIE TOOLWORKS LLC")
    pdf = render_pdf(ein)
    assert "Employer ID number XX-XXX4567" in pdf_text(pdf).splitlines()
    for leak in (b"001234567", b"00-1234567", b"00123"):
        assert leak not in all_bytes(pdf)
    itin = pdf_text(render_pdf(make(tin="912705678", tin_type="ITIN")))
    assert "Taxpayer ID number XXX-XX-5678" in itin.splitlines()


def test_repr_of_a_document_hides_the_tin() -> None:
    doc = make()
    assert SSN not in repr(doc)
    assert doc.masked_tin == "XXX-XX-5678"


def test_same_document_same_bytes() -> None:
    docs = [make(t) for t in NoticeType]
    first = [render_pdf(d) for d in docs]
    assert [render_pdf(d) for d in docs] == first
    assert render_many(docs) == first
    assert render_many([]) == []
    later = render_pdf(make(notice_date=dt.date(2025, 6, 17)))
    assert later != first[0]
    assert b"D:20250617000000Z" in later  # creation date is the notice date, not the clock
    assert b"D:20250616000000Z" in first[0]


BAD: list[tuple[str, dict[str, Any]]] = [
    ("total", {"amount_due_cents": 1}),
    ("float", {"interest_cents": 45.21}),
    ("bool", {"penalty_ftf_cents": True, "amount_due_cents": 1_234_56 + 1 + 30_86 + 45_21}),
    ("negative", {"interest_cents": -1, "amount_due_cents": 1_234_56 + 277_78 + 30_86 - 1}),
    ("huge", {"tax_cents": MAX_CENTS + 1}),
    ("short tin", {"tin": "91234567"}),
    ("letters", {"tin": "91234567X"}),
    ("never issued", {"tin": "000345678"}),
    ("tin type", {"tin_type": "TIN"}),
    ("respond before notice", {"respond_by": NOTICE_DATE}),
    ("period month", {"tax_period": 202413}),
    ("period text", {"tax_period": "202412"}),
    ("datetime", {"notice_date": dt.datetime(2025, 6, 16, 9, 0)}),
    ("empty name", {"taxpayer_name": "  "}),
    ("no address", {"address_lines": ()}),
    ("address list", {"address_lines": ["1 MAIN ST"]}),
    ("too many lines", {"address_lines": ("A", "B", "C", "D", "E", "F")}),
    ("zero due", {"tax_cents": 0, "penalty_ftf_cents": 0, "penalty_ftp_cents": 0, "interest_cents": 0}),
    ("items on cp14", {"unreported": ITEMS}),
    ("increase on cp14", {"proposed_tax_increase_cents": 5}),
    ("tin as notice number", {"notice_number": SSN}),
    ("tin in address", {"address_lines": ("912-34-5678 MAIN ST", "SPRINGFIELD IL")}),
]


@pytest.mark.parametrize(("case", "changes"), BAD, ids=[c for c, _ in BAD])
def test_invalid_documents_are_refused_without_the_tin(case: str, changes: dict[str, Any]) -> None:
    if case == "zero due":
        changes = {**changes, "amount_due_cents": 0}
    with pytest.raises(NoticeError) as info:
        make(NoticeType.CP14, **changes)
    message = str(info.value)
    assert message
    for form in SSN_FORMS:
        assert form not in message


def test_opaque_ids_holding_the_digits_apart_are_accepted() -> None:
    doc = make(notice_number="n9a1b2c3d4e5f6g7h8")  # the TIN's digits, but not a TIN
    assert "Notice number n9a1b2c3d4e5f6g7h8" in pdf_text(render_pdf(doc)).splitlines()
    with pytest.raises(NoticeError, match="notice_number contains"):
        make(notice_number="REF 912.34.5678")


def test_unknown_notice_type_is_refused() -> None:
    with pytest.raises(NoticeError, match="notice_type"):
        make(notice_type="CP99")  # type: ignore[arg-type]


def test_final_notices_give_the_full_cdp_period() -> None:
    for notice_type in CDP_TYPES:
        with pytest.raises(NoticeError, match="30 days"):
            make(notice_type, respond_by=NOTICE_DATE + dt.timedelta(days=29))
        # A weekend or holiday may move the deadline later (IRC 7503), never earlier.
        make(notice_type, respond_by=NOTICE_DATE + dt.timedelta(days=32))
    assert cdp_deadline(dt.date(2025, 6, 16)) == dt.date(2025, 7, 16)


def test_cp2000_needs_items_and_items_are_checked() -> None:
    with pytest.raises(NoticeError, match="unreported items"):
        make(NoticeType.CP2000, unreported=())
    with pytest.raises(NoticeError, match="reported_by_payer_cents"):
        UnreportedItem("ACME", "W-2", 10.5, 0)  # type: ignore[arg-type]
    with pytest.raises(NoticeError, match="payer_name"):
        UnreportedItem("", "W-2", 1, 0)
    with pytest.raises(NoticeError, match="payer_name contains"):
        make(NoticeType.CP2000, unreported=(UnreportedItem("PAYEE 912345678", "W-2", 100, 0),))
    # A proposal may have nothing to pay yet (amounts are what would be owed).
    zero = make(NoticeType.CP2000, tax_cents=0, interest_cents=0, amount_due_cents=0, proposed_tax_increase_cents=0)
    assert "Amount due $0.00" in pdf_text(render_pdf(zero)).splitlines()


def test_text_outside_latin1_is_folded_not_lost() -> None:
    assert printable("JOSÉ NUÑEZ") == "JOSÉ NUÑEZ"
    assert printable("ŁUKASZ ŐRS\u2019S \u2013 CO\tX") == "?UKASZ ORS'S - CO X"
    text = pdf_text(render_pdf(make(taxpayer_name="JOSÉ NUÑEZ", address_lines=("12 ŐAK ST", "AUSTIN TX 78701"))))
    assert "JOSÉ NUÑEZ" in text.splitlines()
    assert "12 OAK ST" in text.splitlines()


def _assert_inside_and_apart(pdf: bytes) -> None:
    """Every text run lies inside the margins, and runs on one baseline do not overlap."""
    runs = placed_runs(pdf)
    assert runs
    by_line: dict[tuple[int, float], list[tuple[float, float]]] = {}
    for run in runs:
        text = run.text.strip()
        style = "B" if run.font.endswith("Bold") else ""
        width = text_width(text, style, run.size)
        assert run.x >= LEFT - 0.01, run
        assert run.x + width <= RIGHT + 0.01, run
        assert 0 < run.y <= PAGE_H - 40, run
        by_line.setdefault((run.page, round(run.y, 1)), []).append((run.x, run.x + width))
    for spans in by_line.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, spans


def test_layout_holds_for_extreme_fields() -> None:
    big = MAX_CENTS // 4
    doc = make(
        NoticeType.CP2000,
        notice_number="N" * 40,
        taxpayer_name="MAXIMILIANA WOLFESCHLEGELSTEINHAUSEN-BERGERDORFF & " + "W" * 60,
        address_lines=tuple("W" * 80 for _ in range(5)),
        tax_cents=big,
        penalty_ftf_cents=big,
        penalty_ftp_cents=big,
        interest_cents=big,
        amount_due_cents=4 * big,
        proposed_tax_increase_cents=MAX_CENTS,
        unreported=(UnreportedItem("W" * 80, "1099-MISC-XX", MAX_CENTS, 0),),
    )
    pdf = render_pdf(doc)
    _assert_inside_and_apart(pdf)
    text = pdf_text(pdf)
    assert format_money(4 * big) in text.splitlines()
    for kind in NoticeType:
        _assert_inside_and_apart(render_pdf(make(kind)))


def test_long_cp2000_continues_on_more_pages() -> None:
    items = tuple(
        UnreportedItem(f"PAYER {i:02d} HOLDINGS AND TRUST COMPANY OF THE MIDWEST", "1099-DIV", 1000 + i, 0)
        for i in range(60)
    )
    pdf = render_pdf(make(NoticeType.CP2000, unreported=items))
    text = pdf_text(pdf)
    pages = int(re.findall(r"Page 1 of (\d+)", text)[0])
    assert pages >= 2
    assert f"Page {pages} of {pages}" in text
    assert text.count("Payer Form Reported by payer Shown on return Difference") >= 2  # heads repeat on a new page
    for i in range(60):
        assert f"PAYER {i:02d} HOLDINGS" in text
    _assert_inside_and_apart(pdf)
    assert "Amount due $2,119.14" in text.splitlines()
    footers = [r for r in placed_runs(pdf) if r.text.startswith("Synthetic data")]
    assert [(r.page, r.size, r.font) for r in footers] == [(n, 7.0, "/Helvetica") for n in range(1, pages + 1)]


def test_templates_cover_every_type_and_use_known_fields() -> None:
    assert set(TEMPLATES) == set(NoticeType)
    for notice_type, template in TEMPLATES.items():
        assert template.fields() <= PLACEHOLDERS, notice_type
        assert "respond_by" in template.fields(), notice_type
        assert template.sections[0].heading.startswith("What you need to do"), notice_type


@given(text=st.text(alphabet="abcdefghij WXYZ-$,.0123456789", max_size=400), width=st.floats(20, 500))
def test_wrap_keeps_words_and_width(text: str, width: float) -> None:
    lines = wrap(text, width)
    for line in lines:
        assert text_width(line) <= width + 1e-9
    assert "".join("".join(lines).split()) == "".join(text.split())


cents = st.integers(min_value=0, max_value=10**13)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tax=cents, ftf=cents, ftp=cents, interest=cents, kind=st.sampled_from(list(NoticeType)))
def test_any_split_reads_back_the_same_total(tax: int, ftf: int, ftp: int, interest: int, kind: NoticeType) -> None:
    total = tax + ftf + ftp + interest
    assume(total > 0 or kind is NoticeType.CP2000)
    doc = make(
        kind,
        tax_cents=tax,
        penalty_ftf_cents=ftf,
        penalty_ftp_cents=ftp,
        interest_cents=interest,
        amount_due_cents=total,
    )
    read = amount_lines(pdf_text(render_pdf(doc)))

    def cents_of(money: str) -> int:
        return int(money.replace("$", "").replace(",", "").replace(".", ""))

    assert cents_of(read["Amount due"]) == total
    assert [cents_of(read[k]) for k in ("Tax", "Failure-to-file penalty", "Failure-to-pay penalty", "Interest")] == [
        tax,
        ftf,
        ftp,
        interest,
    ]


def test_documents_are_frozen() -> None:
    doc = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.amount_due_cents = 0  # type: ignore[misc]
