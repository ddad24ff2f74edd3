"""Closed vocabularies of the domain for the offline translator: states, forms, notices, statuses.

Why here and not in the parser: these are facts about the domain (the USPS
state codes, the IRS form names and their MFT codes, the notice series), and
the documentation of supported questions (docs/asking-forms.md) lists them from
the same tables. Keys are lower-case word tuples as the tokenizer produces them.
"""

from __future__ import annotations

STATES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "PR": "Puerto Rico",
}
"""USPS codes and names (50 states, DC, Puerto Rico)."""

STATE_CODE_WORDS_AMBIGUOUS = frozenset({"in", "or", "me", "hi", "ok", "oh", "pa", "la", "de", "ma", "al", "co", "id"})
"""Two-letter codes that are also English words: read as a state only when written in
capitals in the question ("IN", "OR") or right after "state"."""

STATE_NAME_PHRASES: dict[tuple[str, ...], str] = {tuple(name.lower().split()): code for code, name in STATES.items()}
STATE_NAME_PHRASES[("washington", "dc")] = "DC"
STATE_NAME_PHRASES[("washington", "d.c.")] = "DC"
STATE_NAME_PHRASES[("d.c.",)] = "DC"

INFO_FORMS: dict[tuple[str, ...], str] = {
    ("w-2",): "W-2",
    ("w2",): "W-2",
    ("w-2s",): "W-2",
    ("w2s",): "W-2",
    ("w-2's",): "W-2",
    ("wage", "statement"): "W-2",
    ("wage", "statements"): "W-2",
    ("wage", "and", "tax", "statement"): "W-2",
    ("wage", "and", "tax", "statements"): "W-2",
    ("1099-nec",): "1099-NEC",
    ("1099-necs",): "1099-NEC",
    ("1099nec",): "1099-NEC",
    ("nec",): "1099-NEC",
    ("nonemployee", "compensation"): "1099-NEC",
    ("non-employee", "compensation"): "1099-NEC",
    ("nonemployee", "compensation", "statement"): "1099-NEC",
    ("nonemployee", "compensation", "statements"): "1099-NEC",
    ("1099-int",): "1099-INT",
    ("1099-ints",): "1099-INT",
    ("1099int",): "1099-INT",
    ("interest", "statement"): "1099-INT",
    ("interest", "statements"): "1099-INT",
    ("1099-div",): "1099-DIV",
    ("1099-divs",): "1099-DIV",
    ("1099div",): "1099-DIV",
    ("dividend", "statement"): "1099-DIV",
    ("dividend", "statements"): "1099-DIV",
    ("1099-misc",): "1099-MISC",
    ("1099misc",): "1099-MISC",
    ("1099-r",): "1099-R",
    ("1099-rs",): "1099-R",
    ("1099r",): "1099-R",
    ("1099-g",): "1099-G",
    ("1099g",): "1099-G",
    ("1099-b",): "1099-B",
    ("1099b",): "1099-B",
}

ALL_1099 = ("1099-NEC", "1099-INT", "1099-DIV", "1099-MISC", "1099-R", "1099-G", "1099-B")
FORM_FAMILIES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("1099",): ALL_1099,
    ("1099s",): ALL_1099,
    ("1099's",): ALL_1099,
    ("form", "1099"): ALL_1099,
    ("forms", "1099"): ALL_1099,
}
"""Several forms at once: "1099s" are every 1099 form."""

TIN_TYPES: dict[tuple[str, ...], str] = {
    ("itin",): "ITIN",
    ("itins",): "ITIN",
    ("itin", "filers"): "ITIN",
    ("itin", "holders"): "ITIN",
    ("ein",): "EIN",
    ("eins",): "EIN",
}
"""TIN types (never the TINs themselves): the ``tin_type`` column of taxpayers."""
"""Information return forms (the ``form`` column of information_returns)."""

RETURN_FORMS: dict[tuple[str, ...], str] = {
    ("1040",): "1040",
    ("1040s",): "1040",
    ("1040's",): "1040",
    ("form", "1040"): "1040",
    ("form", "1040s"): "1040",
}
"""Return forms held as returns rows (individual income tax)."""

MFT_BY_FORM: dict[tuple[str, ...], int] = {
    ("1040",): 30,
    ("941",): 1,
    ("941s",): 1,
    ("1120",): 2,
    ("1120s",): 2,
    ("990",): 67,
    ("990s",): 67,
}
"""Form names that name an MFT (the account a module is for), Document 6209 section 2."""

MFT_CODES = frozenset({30, 1, 2, 67})

NOTICE_TYPES: dict[tuple[str, ...], str] = {
    ("cp14",): "CP14",
    ("cp14s",): "CP14",
    ("cp-14",): "CP14",
    ("cp501",): "CP501",
    ("cp501s",): "CP501",
    ("cp-501",): "CP501",
    ("cp503",): "CP503",
    ("cp503s",): "CP503",
    ("cp-503",): "CP503",
    ("cp504",): "CP504",
    ("cp504s",): "CP504",
    ("cp-504",): "CP504",
    ("lt11",): "LT11",
    ("lt11s",): "LT11",
    ("lt-11",): "LT11",
    ("letter", "1058"): "L1058",
    ("letters", "1058"): "L1058",
    ("l1058",): "L1058",
    ("l1058s",): "L1058",
    ("cp2000",): "CP2000",
    ("cp2000s",): "CP2000",
    ("cp-2000",): "CP2000",
    ("underreporter",): "CP2000",
    ("under-reporter",): "CP2000",
    ("first", "balance", "due"): "CP14",
    ("intent", "to", "levy"): "CP504",
}
"""Notice types (the ``notice_type`` column of notices)."""

FILING_STATUSES: dict[tuple[str, ...], str] = {
    ("single",): "S",
    ("single", "filers"): "S",
    ("married", "filing", "jointly"): "MFJ",
    ("married", "couples", "filing", "jointly"): "MFJ",
    ("couples", "filing", "jointly"): "MFJ",
    ("filing", "jointly"): "MFJ",
    ("filed", "jointly"): "MFJ",
    ("joint", "returns"): "MFJ",
    ("married", "couples", "filing", "separately"): "MFS",
    ("filing", "separately"): "MFS",
    ("filed", "separately"): "MFS",
    ("married", "filing", "joint"): "MFJ",
    ("married", "joint"): "MFJ",
    ("joint",): "MFJ",
    ("jointly",): "MFJ",
    ("joint", "filers"): "MFJ",
    ("mfj",): "MFJ",
    ("married", "filing", "separately"): "MFS",
    ("married", "filing", "separate"): "MFS",
    ("married", "separate"): "MFS",
    ("separately",): "MFS",
    ("mfs",): "MFS",
    ("head", "of", "household"): "HOH",
    ("heads", "of", "household"): "HOH",
    ("head", "of", "households"): "HOH",
    ("hoh",): "HOH",
    ("qualifying", "surviving", "spouse"): "QSS",
    ("qualifying", "widow"): "QSS",
    ("qualifying", "widower"): "QSS",
    ("qss",): "QSS",
}
"""Filing statuses (the ``filing_status`` column of returns)."""

CASE_KINDS: dict[tuple[str, ...], str] = {
    ("collection",): "collection",
    ("collections",): "collection",
    ("examination",): "examination",
    ("examinations",): "examination",
    ("exam",): "examination",
    ("exams",): "examination",
    ("audit",): "examination",
    ("audits",): "examination",
    ("aur",): "aur",
    ("underreporter",): "aur",
    ("under-reporter",): "aur",
    ("automated", "underreporter"): "aur",
    ("assistance",): "assistance",
    ("taxpayer", "assistance"): "assistance",
}
"""Case kinds (the ``kind`` column of cases)."""

CASE_UNITS: dict[tuple[str, ...], str] = {
    ("collection", "unit"): "collection",
    ("collections", "unit"): "collection",
    ("examination", "unit"): "examination",
    ("exam", "unit"): "examination",
    ("aur", "unit"): "aur",
    ("underreporter", "unit"): "aur",
    ("assistance", "unit"): "assistance",
    ("special", "unit"): "special",
    ("employee", "accounts", "unit"): "employee_accounts",
    ("employee", "accounts"): "employee_accounts",
}
"""Units that work cases (the ``unit`` column of cases)."""
