"""Field positions of Publication 1220 records, 1-based and inclusive as the publication prints them.

Edition: IRS Publication 1220, "Specifications for Electronic Filing of Forms 1097,
1098, 1099, 3921, 3922, 5498, and W-2G", Rev. 9-2024 (tax year 2024), Part C,
"Record Format Specifications and Record Layouts": Transmitter "T", Payer "A",
Payee "B", End of Payer "C", State Totals "K" and End of Transmission "F" records.
Cross-checked with moov-io/irs ``pkg/config/specification.go`` (0-based there), the
Minnesota DOR copy of the B layout, and flexile's 1099-NEC generator spec; see
docs/irs-facts.md section 1.

Reader and writer both take positions from here, so they cannot drift apart.
Every record is 750 bytes; 749-750 are blank or CR/LF; 500-507 is the record
sequence number in every record.
"""

from __future__ import annotations

from typing import NamedTuple

from taxvault.formats.pub1220.amount_codes import AMOUNT_CODES

RECORD_LENGTH = 750


class Pos(NamedTuple):
    """1-based inclusive field span."""

    start: int
    end: int

    @property
    def width(self) -> int:
        return self.end - self.start + 1

    def take(self, record: bytes) -> bytes:
        return record[self.start - 1 : self.end]


SEQUENCE = Pos(500, 507)
PAYMENT_YEAR = Pos(2, 5)


class T:
    """Transmitter "T" record."""

    prior_year_data = Pos(6, 6)
    tin = Pos(7, 15)
    tcc = Pos(16, 20)
    test_file = Pos(28, 28)
    foreign_entity = Pos(29, 29)
    name = Pos(30, 69)
    name2 = Pos(70, 109)
    company_name = Pos(110, 149)
    company_name2 = Pos(150, 189)
    company_address = Pos(190, 229)
    company_city = Pos(230, 269)
    company_state = Pos(270, 271)
    company_zip = Pos(272, 280)
    total_payees = Pos(296, 303)
    contact_name = Pos(304, 343)
    contact_phone = Pos(344, 358)
    contact_email = Pos(359, 408)
    vendor_indicator = Pos(518, 518)
    vendor_name = Pos(519, 558)
    vendor_address = Pos(559, 598)
    vendor_city = Pos(599, 638)
    vendor_state = Pos(639, 640)
    vendor_zip = Pos(641, 649)
    vendor_contact_name = Pos(650, 689)
    vendor_contact_phone = Pos(690, 704)
    vendor_foreign_entity = Pos(740, 740)


class A:
    """Payer "A" record. Amount codes are 28-45 since TY2021 (18 codes, 1-9, A-H, J);
    earlier files use 28-43 (16 codes, 1-9, A-G) and leave 44-51 blank, so reading
    28-45 and dropping blanks serves both layouts."""

    combined_fed_state = Pos(6, 6)
    tin = Pos(12, 20)
    name_control = Pos(21, 24)
    last_filing = Pos(25, 25)
    type_of_return = Pos(26, 27)
    amount_codes = Pos(28, 45)
    amount_codes_legacy = Pos(28, 43)
    foreign_entity = Pos(52, 52)
    name = Pos(53, 92)
    name2 = Pos(93, 132)
    transfer_agent = Pos(133, 133)
    address = Pos(134, 173)
    city = Pos(174, 213)
    state = Pos(214, 215)
    zip = Pos(216, 224)
    phone = Pos(225, 239)


class B:
    """Payee "B" record (fields common to all forms, plus the 723-748 block the
    1099-NEC/-MISC/-INT/-DIV/-R/-G layouts share)."""

    corrected = Pos(6, 6)
    name_control = Pos(7, 10)
    tin_type = Pos(11, 11)
    tin = Pos(12, 20)
    account_number = Pos(21, 40)
    office_code = Pos(41, 44)
    amounts_start = 55
    amount_width = 12
    foreign_country = Pos(287, 287)
    name = Pos(288, 327)
    name2 = Pos(328, 367)
    address = Pos(368, 407)
    city = Pos(448, 487)
    state = Pos(488, 489)
    zip = Pos(490, 498)
    # Before the TY2020 revision the B record had 16 amounts (55-246) and the names
    # started right after them: foreign-country indicator 247, first name line
    # 248-287, second 288-327, 328-367 blank; the address (368-407) onwards is the
    # same in both layouts. Real files of that era still arrive (iterateco sample).
    legacy_marker = Pos(247, 270)
    legacy_foreign_country = Pos(247, 247)
    legacy_name = Pos(248, 287)
    legacy_name2 = Pos(288, 327)
    second_tin_notice = Pos(544, 544)
    form_specific = Pos(544, 748)
    state_tax = Pos(723, 734)
    local_tax = Pos(735, 746)
    fed_state_code = Pos(747, 748)

    @staticmethod
    def amount(code: str) -> Pos:
        start = B.amounts_start + B.amount_width * AMOUNT_CODES.index(code)
        return Pos(start, start + B.amount_width - 1)


class C:
    """End of Payer "C" record; K (state totals) shares 1-339."""

    payee_count = Pos(2, 9)
    totals_start = 16
    total_width = 18

    @staticmethod
    def total(code: str) -> Pos:
        start = C.totals_start + C.total_width * AMOUNT_CODES.index(code)
        return Pos(start, start + C.total_width - 1)


class K(C):
    """State Totals "K" record (Combined Federal/State Filing Program)."""

    state_tax = Pos(707, 724)
    local_tax = Pos(725, 742)
    fed_state_code = Pos(747, 748)


class F:
    """End of Transmission "F" record."""

    payer_count = Pos(2, 9)
    zeros = Pos(10, 30)
    total_payees = Pos(50, 57)


#: The 16 codes of the pre-2021 layout; H and J positions are blank there.
LEGACY_AMOUNT_CODES = AMOUNT_CODES[:16]
