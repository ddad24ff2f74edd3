"""Field positions of SSA EFW2 records, 1-based and inclusive as the specification prints them.

Edition: SSA "Specifications for Filing Forms W-2 Electronically (EFW2)", Publication
42-007, Tax Year 2024, Version 1 (Section 4, "Record Specifications": RA, RE,
RW, RO, RS, RT, RU, RV, RF). Cross-checked with the neogov EFW2 wiki pages,
``mminer237/efw2-maker`` and the sky8c9 sample files (see
docs/irs-facts.md section 2 and tests/conformance/efw2/README.md).

Every record is 512 bytes. Money fields are unsigned, right-justified, zero-filled
cents: 11 digits in RW/RO/RS, 15 in RT/RU/RV. Reader and writer share these tables.
"""

from __future__ import annotations

from taxvault.formats.pub1220.layout import Pos

RECORD_LENGTH = 512


class RA:
    """Submitter record."""

    ein = Pos(3, 11)
    user_id = Pos(12, 19)
    vendor_code = Pos(20, 23)
    resub = Pos(29, 29)
    resub_wfid = Pos(30, 35)
    software_code = Pos(36, 37)
    company_name = Pos(38, 94)
    company_location = Pos(95, 116)
    company_delivery = Pos(117, 138)
    company_city = Pos(139, 160)
    company_state = Pos(161, 162)
    company_zip = Pos(163, 167)
    company_zip4 = Pos(168, 171)
    submitter_name = Pos(217, 273)
    submitter_location = Pos(274, 295)
    submitter_delivery = Pos(296, 317)
    submitter_city = Pos(318, 339)
    submitter_state = Pos(340, 341)
    submitter_zip = Pos(342, 346)
    submitter_zip4 = Pos(347, 350)
    contact_name = Pos(396, 422)
    contact_phone = Pos(423, 437)
    contact_phone_ext = Pos(438, 442)
    contact_email = Pos(446, 485)
    contact_fax = Pos(489, 498)
    preparer_code = Pos(500, 500)


class RE:
    """Employer record."""

    tax_year = Pos(3, 6)
    agent_indicator = Pos(7, 7)
    ein = Pos(8, 16)
    agent_for_ein = Pos(17, 25)
    terminating_business = Pos(26, 26)
    establishment_number = Pos(27, 30)
    other_ein = Pos(31, 39)
    name = Pos(40, 96)
    location = Pos(97, 118)
    delivery = Pos(119, 140)
    city = Pos(141, 162)
    state = Pos(163, 164)
    zip = Pos(165, 169)
    zip4 = Pos(170, 173)
    kind_of_employer = Pos(174, 174)
    employment_code = Pos(219, 219)
    tax_jurisdiction = Pos(220, 220)
    third_party_sick_pay = Pos(221, 221)
    contact_name = Pos(222, 248)
    contact_phone = Pos(249, 263)
    contact_phone_ext = Pos(264, 268)
    contact_fax = Pos(269, 278)
    contact_email = Pos(279, 318)


class RW:
    """Employee wage record (one Form W-2)."""

    ssn = Pos(3, 11)
    first_name = Pos(12, 26)
    middle_name = Pos(27, 41)
    last_name = Pos(42, 61)
    suffix = Pos(62, 65)
    location = Pos(66, 87)
    delivery = Pos(88, 109)
    city = Pos(110, 131)
    state = Pos(132, 133)
    zip = Pos(134, 138)
    zip4 = Pos(139, 142)
    statutory_employee = Pos(486, 486)
    retirement_plan = Pos(488, 488)
    third_party_sick_pay = Pos(489, 489)


#: RW money fields (11 digits each): name -> (start, W-2 box / code). Order is file order.
RW_AMOUNTS: tuple[tuple[str, int, str], ...] = (
    ("wages_tips_other_comp", 188, "1"),
    ("federal_income_tax_withheld", 199, "2"),
    ("social_security_wages", 210, "3"),
    ("social_security_tax_withheld", 221, "4"),
    ("medicare_wages_and_tips", 232, "5"),
    ("medicare_tax_withheld", 243, "6"),
    ("social_security_tips", 254, "7"),
    ("dependent_care_benefits", 276, "10"),
    ("deferred_401k", 287, "12D"),
    ("deferred_403b", 298, "12E"),
    ("deferred_408k6", 309, "12F"),
    ("deferred_457b", 320, "12G"),
    ("deferred_501c18d", 331, "12H"),
    ("nonqualified_457", 353, "11"),
    ("employer_hsa", 364, "12W"),
    ("nonqualified_not_457", 375, "11"),
    ("nontaxable_combat_pay", 386, "12Q"),
    ("group_term_life_over_50k", 408, "12C"),
    ("nonstatutory_stock_options", 419, "12V"),
    ("deferrals_409a", 430, "12Y"),
    ("roth_401k", 441, "12AA"),
    ("roth_403b", 452, "12BB"),
    ("employer_health_coverage", 463, "12DD"),
    ("qsehra_benefits", 474, "12FF"),
)
RW_AMOUNT_WIDTH = 11


class RO:
    """Employee optional record (fields used outside Puerto Rico / territories)."""


RO_AMOUNTS: tuple[tuple[str, int, str], ...] = (
    ("allocated_tips", 12, "8"),
    ("uncollected_tax_on_tips", 23, "12A+B"),
    ("archer_msa", 34, "12R"),
    ("simple_retirement", 45, "12S"),
    ("qualified_adoption_expenses", 56, "12T"),
    ("uncollected_ss_rrta_on_gtl", 67, "12M"),
    ("uncollected_medicare_on_gtl", 78, "12N"),
    ("income_409a", 89, "12Z"),
    ("roth_457b", 111, "12EE"),
)


class RS:
    """State wage record (optional for SSA; kept for state matching)."""

    state_code = Pos(3, 4)
    taxing_entity = Pos(5, 9)
    ssn = Pos(10, 18)
    first_name = Pos(19, 33)
    middle_name = Pos(34, 48)
    last_name = Pos(49, 68)
    suffix = Pos(69, 72)
    reporting_period = Pos(197, 202)
    sui_total_wages = Pos(203, 213)
    sui_taxable_wages = Pos(214, 224)
    state_employer_account = Pos(248, 267)
    state_code2 = Pos(274, 275)
    state_taxable_wages = Pos(276, 286)
    state_income_tax = Pos(287, 296)
    local_taxable_wages = Pos(308, 318)
    local_income_tax = Pos(319, 325)


class RT:
    """Total record: closes the RW records of one RE."""

    rw_count = Pos(3, 9)


#: RT money fields (15 digits each), named like the RW fields they total.
RT_AMOUNTS: tuple[tuple[str, int], ...] = (
    ("wages_tips_other_comp", 10),
    ("federal_income_tax_withheld", 25),
    ("social_security_wages", 40),
    ("social_security_tax_withheld", 55),
    ("medicare_wages_and_tips", 70),
    ("medicare_tax_withheld", 85),
    ("social_security_tips", 100),
    ("dependent_care_benefits", 130),
    ("deferred_401k", 145),
    ("deferred_403b", 160),
    ("deferred_408k6", 175),
    ("deferred_457b", 190),
    ("deferred_501c18d", 205),
    ("nonqualified_457", 235),
    ("employer_hsa", 250),
    ("nonqualified_not_457", 265),
    ("nontaxable_combat_pay", 280),
    ("employer_health_coverage", 295),
    ("group_term_life_over_50k", 310),
    ("third_party_sick_pay_tax_withheld", 325),
    ("nonstatutory_stock_options", 340),
    ("deferrals_409a", 355),
    ("roth_401k", 370),
    ("roth_403b", 385),
    ("qsehra_benefits", 400),
)
RT_AMOUNT_WIDTH = 15


class RU:
    """Total optional record: closes the RO records of one RE."""

    ro_count = Pos(3, 9)


RU_AMOUNTS: tuple[tuple[str, int], ...] = (
    ("allocated_tips", 10),
    ("uncollected_tax_on_tips", 25),
    ("archer_msa", 40),
    ("simple_retirement", 55),
    ("qualified_adoption_expenses", 70),
    ("uncollected_ss_rrta_on_gtl", 85),
    ("uncollected_medicare_on_gtl", 100),
    ("income_409a", 115),
    ("roth_457b", 145),
)


class RV:
    """State total record (optional)."""

    rs_count = Pos(3, 9)
    state_taxable_wages = Pos(10, 24)
    state_income_tax = Pos(25, 39)


class RF:
    """Final record."""

    rw_count = Pos(8, 16)
