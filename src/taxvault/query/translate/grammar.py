"""The offline translator's words: every phrase it understands, and what each means.

Why one table: the translator refuses any question with a word that is not
here (never a guess), so this table *is* the language it speaks; the
documentation of supported forms (docs/asking-forms.md) is written from it.
Phrases are matched longest first over lower-case tokens.

A tag is ``(kind, value)``:

- ``agg``: count, sum, avg, min, max, distinct; ``list``: a listing question
- ``set``: (set name, taxpayer kind or None)
- ``field``: {set name: field name} (the field a word means depends on the set asked about)
- ``value``: (qualified field, value): a filter on a coded field (filing status, notice type, ...)
- ``state``: a USPS code
- ``cmp``: gt, ge, lt, le, eq, between; ``cmp_after``: ge/le written after the number ("or more")
- ``group``: a group-by marker (by, per, for each); ``dim``: a dimension to group by
- ``top``: (direction, implies a count) for top / most / highest / fewest / lowest
- ``year_field`` / ``date_field``: a verb that says which date a year applies to (filed, issued, ...)
- ``when``: a word that introduces a time (in, during, since, before, after, from, to, between)
- ``rel``: a relative year offset (last year = -1); ``month``: a month number
- ``vs``: a comparison between years; ``and`` / ``or``; ``not``; ``flag``: a condition (with a refund)
- ``filler``: words that carry no meaning here
"""

from __future__ import annotations

from typing import Any

from taxvault.query.translate.lexicon import (
    CASE_KINDS,
    CASE_UNITS,
    FILING_STATUSES,
    INFO_FORMS,
    MFT_BY_FORM,
    NOTICE_TYPES,
    STATE_NAME_PHRASES,
)

Tag = tuple[str, Any]
Phrases = dict[tuple[str, ...], Tag]

T, M, R, INFO, N, X, C = "taxpayers", "modules", "returns", "information_returns", "notices", "transactions", "cases"

_AGG = {
    "how many": "count",
    "how much": "sum",
    "number of": "count",
    "the number of": "count",
    "count of": "count",
    "count": "count",
    "counts": "count",
    "total number of": "count",
    "how many different": "distinct",
    "how many distinct": "distinct",
    "how many unique": "distinct",
    "number of distinct": "distinct",
    "number of different": "distinct",
    "number of unique": "distinct",
    "total": "sum",
    "totals": "sum",
    "sum": "sum",
    "sum of": "sum",
    "combined": "sum",
    "aggregate": "sum",
    "overall": "sum",
    "average": "avg",
    "averages": "avg",
    "avg": "avg",
    "mean": "avg",
    "maximum": "max",
    "max": "max",
    "minimum": "min",
    "min": "min",
}

_LIST = [
    "which",
    "list",
    "list all",
    "list the",
    "show",
    "show me",
    "show all",
    "display",
    "find",
    "find all",
    "give me",
    "give me a list of",
    "get",
    "who",
    "what are the",
    "name the",
    "a list of",
]

_SETS: dict[str, tuple[str, str | None]] = {
    "taxpayer": (T, "individual"),
    "taxpayers": (T, "individual"),
    "individual": (T, "individual"),
    "individuals": (T, "individual"),
    "individual taxpayers": (T, "individual"),
    "person": (T, "individual"),
    "persons": (T, "individual"),
    "people": (T, "individual"),
    "filer": (T, "individual"),
    "filers": (T, "individual"),
    "citizens": (T, "individual"),
    "residents": (T, "individual"),
    "business": (T, "business"),
    "businesses": (T, "business"),
    "company": (T, "business"),
    "companies": (T, "business"),
    "employer": (T, "business"),
    "employers": (T, "business"),
    "business taxpayers": (T, "business"),
    "exempt organization": (T, "exempt_org"),
    "exempt organizations": (T, "exempt_org"),
    "exempt organisation": (T, "exempt_org"),
    "exempt organisations": (T, "exempt_org"),
    "tax-exempt organizations": (T, "exempt_org"),
    "tax exempt organizations": (T, "exempt_org"),
    "exempt orgs": (T, "exempt_org"),
    "charities": (T, "exempt_org"),
    "charity": (T, "exempt_org"),
    "nonprofits": (T, "exempt_org"),
    "nonprofit": (T, "exempt_org"),
    "non-profits": (T, "exempt_org"),
    "nonprofit organizations": (T, "exempt_org"),
    "entities": (T, None),
    "entity": (T, None),
    "all taxpayers": (T, None),
    "account": (M, None),
    "accounts": (M, None),
    "tax account": (M, None),
    "tax accounts": (M, None),
    "module": (M, None),
    "modules": (M, None),
    "tax module": (M, None),
    "tax modules": (M, None),
    "return": (R, None),
    "returns": (R, None),
    "tax return": (R, None),
    "tax returns": (R, None),
    "income tax return": (R, None),
    "income tax returns": (R, None),
    "individual returns": (R, None),
    "individual income tax returns": (R, None),
    "filing": (R, None),
    "filings": (R, None),
    "information return": (INFO, None),
    "information returns": (INFO, None),
    "info return": (INFO, None),
    "info returns": (INFO, None),
    "information statements": (INFO, None),
    "third-party reports": (INFO, None),
    "notice": (N, None),
    "notices": (N, None),
    "letter": (N, None),
    "letters": (N, None),
    "notices and letters": (N, None),
    "transaction": (X, None),
    "transactions": (X, None),
    "case": (C, None),
    "cases": (C, None),
}

_FIELDS: dict[str, dict[str, str]] = {
    "wages": {R: "wages", INFO: "income"},
    "wage": {R: "wages", INFO: "income"},
    "salaries": {R: "wages", INFO: "income"},
    "salary": {R: "wages", INFO: "income"},
    "wages and salaries": {R: "wages", INFO: "income"},
    "interest": {R: "interest", N: "interest", INFO: "income"},
    "interest income": {R: "interest", INFO: "income"},
    "taxable interest": {R: "interest"},
    "dividends": {R: "dividends", INFO: "income"},
    "dividend income": {R: "dividends", INFO: "income"},
    "business income": {R: "business_income"},
    "self-employment income": {R: "business_income"},
    "retirement income": {R: "retirement_income"},
    "pensions": {R: "retirement_income", INFO: "income"},
    "pension income": {R: "retirement_income", INFO: "income"},
    "total income": {R: "total_income"},
    "gross income": {R: "total_income"},
    "income": {R: "total_income", INFO: "income"},
    "reported income": {INFO: "income"},
    "agi": {R: "agi"},
    "adjusted gross income": {R: "agi"},
    "deduction": {R: "deduction"},
    "deductions": {R: "deduction"},
    "standard deduction": {R: "deduction"},
    "taxable income": {R: "taxable_income"},
    "income tax": {R: "tax"},
    "tax before credits": {R: "tax"},
    "tax": {R: "total_tax", N: "tax"},
    "taxes": {R: "total_tax", N: "tax"},
    "tax liability": {R: "total_tax"},
    "total tax liability": {R: "total_tax"},
    "liability": {R: "total_tax"},
    "liabilities": {R: "total_tax"},
    "tax owed": {R: "total_tax", N: "tax"},
    "total tax": {R: "total_tax"},
    "credits": {R: "credits"},
    "tax credits": {R: "credits"},
    "withholding": {R: "withholding", INFO: "withholding"},
    "withholdings": {R: "withholding", INFO: "withholding"},
    "tax withheld": {R: "withholding", INFO: "withholding"},
    "federal income tax withheld": {R: "withholding", INFO: "withholding"},
    "withheld": {R: "withholding", INFO: "withholding"},
    "amount withheld": {R: "withholding", INFO: "withholding"},
    "payments": {R: "payments", X: "amount"},
    "payment": {R: "payments", X: "amount"},
    "estimated payments": {R: "payments"},
    "refund": {R: "refund", X: "amount"},
    "refunds": {R: "refund", X: "amount"},
    "refund amount": {R: "refund", X: "amount"},
    "refund amounts": {R: "refund", X: "amount"},
    "balance due": {R: "balance_due", N: "amount_due"},
    "balances due": {R: "balance_due", N: "amount_due"},
    "amount owed": {R: "balance_due", N: "amount_due"},
    "amounts owed": {R: "balance_due", N: "amount_due"},
    "amount due": {N: "amount_due", R: "balance_due"},
    "amounts due": {N: "amount_due", R: "balance_due"},
    "penalty": {N: "penalty"},
    "penalties": {N: "penalty"},
    "dependents": {R: "dependents"},
    "dependent": {R: "dependents"},
    "children": {R: "dependents"},
    "amount": {N: "amount_due", X: "amount", INFO: "income"},
    "amounts": {N: "amount_due", X: "amount", INFO: "income"},
    "dollar amount": {N: "amount_due", X: "amount", INFO: "income"},
    "value": {N: "amount_due", X: "amount", INFO: "income"},
    "compensation": {INFO: "income"},
}
"""Money and number words. Keys are word phrases; the value maps a set to the field it means there."""

_VALUE_FIELDS: list[tuple[dict[tuple[str, ...], Any], str]] = [
    (CASE_UNITS, "cases.unit"),
    (FILING_STATUSES, "returns.filing_status"),
    (NOTICE_TYPES, "notices.notice_type"),
    (INFO_FORMS, "information_returns.form"),
    (CASE_KINDS, "cases.kind"),
]

_DIMS: dict[str, tuple[str, ...]] = {
    "state": ("taxpayers.state",),
    "states": ("taxpayers.state",),
    "year": ("year",),
    "years": ("year",),
    "tax year": ("year",),
    "tax years": ("year",),
    "form": ("information_returns.form", "returns.form", "modules.mft"),
    "forms": ("information_returns.form", "returns.form", "modules.mft"),
    "form type": ("information_returns.form", "returns.form", "modules.mft"),
    "form types": ("information_returns.form", "returns.form", "modules.mft"),
    "type of form": ("information_returns.form", "returns.form", "modules.mft"),
    "notice type": ("notices.notice_type",),
    "notice types": ("notices.notice_type",),
    "type of notice": ("notices.notice_type",),
    "kind of notice": ("notices.notice_type",),
    "type": ("notices.notice_type", "cases.kind", "information_returns.form", "taxpayers.kind"),
    "types": ("notices.notice_type", "cases.kind", "information_returns.form", "taxpayers.kind"),
    "kind": ("cases.kind", "taxpayers.kind", "notices.notice_type"),
    "kinds": ("cases.kind", "taxpayers.kind", "notices.notice_type"),
    "case type": ("cases.kind",),
    "case types": ("cases.kind",),
    "case kind": ("cases.kind",),
    "type of case": ("cases.kind",),
    "kind of case": ("cases.kind",),
    "taxpayer type": ("taxpayers.kind",),
    "entity type": ("taxpayers.kind",),
    "type of taxpayer": ("taxpayers.kind",),
    "filing status": ("returns.filing_status",),
    "filing statuses": ("returns.filing_status",),
    "status": ("cases.status", "modules.status", "returns.filing_status"),
    "statuses": ("cases.status", "modules.status", "returns.filing_status"),
    "case status": ("cases.status",),
    "module status": ("modules.status",),
    "account status": ("modules.status",),
    "mft": ("modules.mft",),
    "mfts": ("modules.mft",),
    "mft code": ("modules.mft",),
    "mft codes": ("modules.mft",),
    "tax period": ("modules.tax_period",),
    "tax periods": ("modules.tax_period",),
    "period": ("modules.tax_period",),
    "unit": ("cases.unit",),
    "units": ("cases.unit",),
    "purpose": ("cases.purpose",),
    "transaction code": ("transactions.tc",),
    "transaction codes": ("transactions.tc",),
    "tc": ("transactions.tc",),
    "tcs": ("transactions.tc",),
    "city": ("taxpayers.city",),
    "cities": ("taxpayers.city",),
    "zip code": ("taxpayers.zip",),
    "zip codes": ("taxpayers.zip",),
    "zip": ("taxpayers.zip",),
    "number of dependents": ("returns.dependents",),
    "posting cycle": ("transactions.cycle",),
    "cycle": ("transactions.cycle",),
}
"""Dimensions to group by: candidates in order of preference (the first the question's set can reach)."""

_GROUP = [
    "by",
    "per",
    "for each",
    "in each",
    "for every",
    "in every",
    "each",
    "every",
    "broken down by",
    "break down by",
    "breakdown by",
    "grouped by",
    "group by",
    "split by",
    "across",
    "across all",
    "across the",
    "by each",
    "by their",
    "for all",
]

_TOP: dict[str, tuple[str, bool]] = {
    "top": ("desc", False),
    "the top": ("desc", False),
    "most": ("desc", True),
    "the most": ("desc", True),
    "highest": ("desc", False),
    "the highest": ("desc", False),
    "largest": ("desc", False),
    "the largest": ("desc", False),
    "biggest": ("desc", False),
    "the biggest": ("desc", False),
    "greatest": ("desc", False),
    "the greatest": ("desc", False),
    "most number of": ("desc", True),
    "fewest": ("asc", True),
    "the fewest": ("asc", True),
    "least": ("asc", True),
    "the least": ("asc", True),
    "lowest": ("asc", False),
    "the lowest": ("asc", False),
    "smallest": ("asc", False),
    "the smallest": ("asc", False),
    "bottom": ("asc", False),
    "the bottom": ("asc", False),
}

_CMP = {
    "over": "gt",
    "more than": "gt",
    "greater than": "gt",
    "larger than": "gt",
    "bigger than": "gt",
    "higher than": "gt",
    "above": "gt",
    "exceeding": "gt",
    "exceeds": "gt",
    "exceed": "gt",
    "in excess of": "gt",
    "upwards of": "gt",
    ">": "gt",
    "at least": "ge",
    "no less than": "ge",
    "not less than": "ge",
    "a minimum of": "ge",
    ">=": "ge",
    "under": "lt",
    "less than": "lt",
    "fewer than": "lt",
    "lower than": "lt",
    "smaller than": "lt",
    "below": "lt",
    "<": "lt",
    "at most": "le",
    "no more than": "le",
    "not more than": "le",
    "up to": "le",
    "a maximum of": "le",
    "<=": "le",
    "exactly": "eq",
    "equal to": "eq",
    "equals": "eq",
    "=": "eq",
    "of exactly": "eq",
    "between": "between",
}

_CMP_AFTER = {
    "or more": "ge",
    "or greater": "ge",
    "or higher": "ge",
    "or above": "ge",
    "or over": "ge",
    "and up": "ge",
    "and above": "ge",
    "plus": "ge",
    "+": "ge",
    "or less": "le",
    "or fewer": "le",
    "or lower": "le",
    "or below": "le",
    "or under": "le",
    "and under": "le",
    "and below": "le",
}

_YEAR_FIELDS = {
    "tax year": "tax_year",
    "for tax year": "tax_year",
    "in tax year": "tax_year",
    "ty": "tax_year",
}

_DATE_FIELDS: dict[str, str] = {
    "filed": "returns.filed_date",
    "submitted": "returns.filed_date",
    "received": "returns.filed_date",
    "issued": "notices.issued_date",
    "sent": "notices.issued_date",
    "mailed": "notices.issued_date",
    "sent out": "notices.issued_date",
    "opened": "cases.opened",
    "open": "cases.opened",
    "created": "cases.opened",
    "started": "cases.opened",
    "closed": "cases.closed",
    "resolved": "cases.closed",
    "posted": "transactions.posted_date",
    "born": "taxpayers.birth_date",
    "died": "taxpayers.death_date",
}
"""Verbs that say which date a year or date applies to (``filed in 2025``)."""

_WHEN = {
    "in": "in",
    "during": "in",
    "for": "in",
    "of": "in",
    "from": "from",
    "since": "since",
    "after": "after",
    "before": "before",
    "prior to": "before",
    "until": "until",
    "through": "until",
    "thru": "until",
    "to": "to",
    "till": "until",
    "on or after": "since",
    "on or before": "until",
    "as of": "until",
    "by": "until",
    "-": "to",
}
"""Words that introduce a time; ``in`` and ``for`` are also fillers elsewhere (the parser decides)."""

_REL = {
    "this year": 0,
    "the current year": 0,
    "current year": 0,
    "this calendar year": 0,
    "last year": -1,
    "the last year": -1,
    "previous year": -1,
    "the previous year": -1,
    "prior year": -1,
    "the prior year": -1,
    "last calendar year": -1,
    "the year before": -2,
    "the year before last": -2,
    "two years ago": -2,
    "2 years ago": -2,
    "three years ago": -3,
    "3 years ago": -3,
    "last tax year": -1,
    "this tax year": 0,
    "the last tax year": -1,
    "the previous tax year": -1,
}

_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}

_VS = ["vs", "vs.", "versus", "compared to", "compared with", "compare", "against", "relative to"]

_FLAGS: dict[str, tuple[str, str, Any]] = {
    "deceased": ("taxpayers.deceased", "=", True),
    "dead": ("taxpayers.deceased", "=", True),
    "who died": ("taxpayers.deceased", "=", True),
    "that died": ("taxpayers.deceased", "=", True),
    "living": ("taxpayers.deceased", "=", False),
    "alive": ("taxpayers.deceased", "=", False),
    "not deceased": ("taxpayers.deceased", "=", False),
    "non-deceased": ("taxpayers.deceased", "=", False),
    "open": ("cases.status", "=", "open"),
    "still open": ("cases.status", "=", "open"),
    "active": ("cases.status", "=", "open"),
    "pending": ("cases.status", "=", "open"),
    "closed": ("cases.status", "=", "closed"),
    "resolved": ("cases.status", "=", "closed"),
    "with a refund": ("returns.refund", ">", 0),
    "with refunds": ("returns.refund", ">", 0),
    "with a refund due": ("returns.refund", ">", 0),
    "getting a refund": ("returns.refund", ">", 0),
    "get a refund": ("returns.refund", ">", 0),
    "got a refund": ("returns.refund", ">", 0),
    "received a refund": ("returns.refund", ">", 0),
    "receive a refund": ("returns.refund", ">", 0),
    "due a refund": ("returns.refund", ">", 0),
    "owed a refund": ("returns.refund", ">", 0),
    "claiming a refund": ("returns.refund", ">", 0),
    "claimed a refund": ("returns.refund", ">", 0),
    "refund returns": ("returns.refund", ">", 0),
    "with a balance due": ("returns.balance_due", ">", 0),
    "with balance due": ("returns.balance_due", ">", 0),
    "with a balance": ("returns.balance_due", ">", 0),
    "with balances due": ("returns.balance_due", ">", 0),
    "balance due returns": ("returns.balance_due", ">", 0),
    "owe": ("returns.balance_due", ">", 0),
    "owes": ("returns.balance_due", ">", 0),
    "owed": ("returns.balance_due", ">", 0),
    "owing": ("returns.balance_due", ">", 0),
    "owe money": ("returns.balance_due", ">", 0),
    "owe tax": ("returns.balance_due", ">", 0),
    "owe taxes": ("returns.balance_due", ">", 0),
    "with dependents": ("returns.dependents", ">", 0),
    "with children": ("returns.dependents", ">", 0),
    "with kids": ("returns.dependents", ">", 0),
    "claiming dependents": ("returns.dependents", ">", 0),
    "claimed dependents": ("returns.dependents", ">", 0),
    "with no dependents": ("returns.dependents", "=", 0),
    "no dependents": ("returns.dependents", "=", 0),
    "zero dependents": ("returns.dependents", "=", 0),
    "0 dependents": ("returns.dependents", "=", 0),
    "no children": ("returns.dependents", "=", 0),
    "no refund": ("returns.refund", "=", 0),
    "no balance due": ("returns.balance_due", "=", 0),
    "nothing due": ("returns.balance_due", "=", 0),
    "without dependents": ("returns.dependents", "=", 0),
    "with no children": ("returns.dependents", "=", 0),
    "without children": ("returns.dependents", "=", 0),
}
"""Conditions written as words. ``owe`` followed by an amount becomes a threshold on the balance due."""

_OWE = {"owe", "owes", "owed", "owing"}

_FILLER_PHRASES = [
    "live in",
    "lives in",
    "living in",
    "who live",
    "who lives",
    "that live",
    "reside in",
    "resides in",
    "residing in",
    "resident in",
    "located in",
    "based in",
    "headquartered in",
    "from the state of",
    "in the state of",
    "the state of",
    "in total",
    "on record",
    "in the system",
    "in the database",
    "are there",
    "is there",
    "were there",
    "there are",
    "do we have",
    "does the agency have",
    "have we got",
    "amount of",
    "amounts of",
    "the amount of",
    "dollar amount of",
    "the value of",
    "value of",
    "assigned to",
    "assigned to the",
    "belonging to",
    "that belong to",
]
"""Phrases that only connect words ("taxpayers who live in Texas"), read before the words inside them."""

_AND = ["and", "&", "as well as", "plus also"]
_OR = ["or", "and/or", "either"]
_NOT = ["not", "excluding", "except", "except for", "other than", "outside", "outside of", "apart from", "besides"]

_FILLERS = [
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "at",
    "to",
    "for",
    "with",
    "from",
    "by",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "do",
    "does",
    "did",
    "done",
    "has",
    "have",
    "had",
    "what",
    "whats",
    "what's",
    "how",
    "there",
    "their",
    "they",
    "them",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "who",
    "whom",
    "whose",
    "which",
    "me",
    "my",
    "i",
    "we",
    "us",
    "our",
    "you",
    "your",
    "please",
    "tell",
    "give",
    "show",
    "list",
    "get",
    "find",
    "see",
    "let",
    "know",
    "all",
    "any",
    "every",
    "each",
    "some",
    "total",
    "were",
    "issued",
    "reported",
    "filed",
    "made",
    "currently",
    "now",
    "so",
    "far",
    "overall",
    "altogether",
    "per",
    "cent",
    "number",
    "amount",
    "dollar",
    "dollars",
    "usd",
    "worth",
    "value",
    "values",
    "record",
    "records",
    "data",
    "row",
    "rows",
    "entries",
    "entry",
    "everyone",
    "everybody",
    "anyone",
    "anybody",
    "whose",
    "those",
    "that",
    "which",
    "who",
    "have",
    "has",
    "having",
    "had",
    "did",
    "does",
    "do",
    "can",
    "could",
    "would",
    "will",
    "should",
    "may",
    "might",
    "just",
    "only",
    "also",
    "too",
    "about",
]
"""Words ignored wherever they are (after every phrase above had its chance)."""

FILLER_WORDS = frozenset(_FILLERS) - {
    "total",
    "show",
    "list",
    "find",
    "get",
    "give",
    "which",
    "who",
    "by",
    "each",
    "every",
}
FILLER_WORDS = FILLER_WORDS | {
    "report",
    "reports",
    "reporting",
    "claim",
    "claims",
    "claimed",
    "claiming",
    "got",
    "gets",
    "getting",
    "include",
    "includes",
    "included",
    "including",
    "shows",
    "showing",
    "contain",
    "contains",
    "containing",
    "hold",
    "holds",
    "held",
    "many",
    "much",
    "up",
    "out",
    "as",
    "than",
    "whole",
    "entire",
    "distinct",
    "separate",
    "state's",
    "respectively",
    "then",
    "listed",
    "?",
    ",",
    ".",
    "!",
    ":",
    '"',
    "(",
    ")",
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def build_phrases() -> Phrases:
    """Every phrase the translator knows, to its tag. Later entries do not override earlier ones."""
    out: Phrases = {}

    def put(words: tuple[str, ...], tag: Tag) -> None:
        out.setdefault(words, tag)

    for text in _FILLER_PHRASES:
        put(_words(text), ("filler", None))

    for text, tag in _FLAGS.items():
        put(_words(text), ("flag", tag))
    for text, agg in _AGG.items():
        put(_words(text), ("agg", agg))
    for text in _LIST:
        put(_words(text), ("list", None))
    for text, top in _TOP.items():
        put(_words(text), ("top", top))
    for text, cmp in _CMP.items():
        put(_words(text), ("cmp", cmp))
    for text, cmp in _CMP_AFTER.items():
        put(_words(text), ("cmp_after", cmp))
    for text, rel in _REL.items():
        put(_words(text), ("rel", rel))
    for text in _VS:
        put(_words(text), ("vs", None))
    for text, year_field in _YEAR_FIELDS.items():
        put(_words(text), ("year_field", year_field))
    for text, dims in _DIMS.items():
        put(_words(text), ("dim", dims))
    for text, fields in _FIELDS.items():
        put(_words(text), ("field", fields))
    for table, qualified in _VALUE_FIELDS:
        for words, value in table.items():
            put(words, ("value", (qualified, value)))
    for words, mft in MFT_BY_FORM.items():
        put(words, ("mft", mft))
        put(("form", *words), ("mft", mft))
    for words, code in STATE_NAME_PHRASES.items():
        put(words, ("state", code))
        put(("state", "of", *words), ("state", code))
    for text, s in _SETS.items():
        put(_words(text), ("set", s))
    for text in _GROUP:
        put(_words(text), ("group", None))
    for text, field_name in _DATE_FIELDS.items():
        put(_words(text), ("date_field", field_name))
    for text, when in _WHEN.items():
        put(_words(text), ("when", when))
    for text, month in _MONTHS.items():
        put(_words(text), ("month", month))
    for text in _AND:
        put(_words(text), ("and", None))
    for text in _OR:
        put(_words(text), ("or", None))
    for text in _NOT:
        put(_words(text), ("not", None))
    return out


PHRASES: Phrases = build_phrases()
MAX_PHRASE = max(len(k) for k in PHRASES)
OWE_WORDS = frozenset(_OWE)
