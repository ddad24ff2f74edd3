"""The query vocabulary: the record sets, fields and relations a plan may name.

A plan never names a table or a column: it names a *field* of the vocabulary
(``returns.wages``), and this module alone knows the column behind it, its type
and how sensitive it is. So a translator (offline or a language model) can only
ever propose what is listed here, and the compiler only ever emits SQL over
known columns along known joins.

Sensitivity:
- ``public``: aggregate-safe attributes (state, tax year, form, amounts).
- ``sensitive``: identifies or locates a person (names, street, city, zip,
  birth date): listed to the people whose policy allows it, never filtered,
  grouped or sorted on by an analyst.
- ``secret``: never selectable, filterable, groupable nor sortable by anyone
  (TINs, bank numbers). Listed so a question about them gets a clear refusal.

Derived fields (``year_of``): the calendar year of a date (``notices.issued_year``,
``transactions.posted_year``, ``cases.opened_year`` ...), an integer a plan can
filter, group and sort on like a tax year ("notices issued per year", "2025 vs
2026"); the compiler emits the dialect's year extraction over the date column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class EntitySet(StrEnum):
    """A set of records a plan can start from or join."""

    TAXPAYERS = "taxpayers"
    MODULES = "modules"
    RETURNS = "returns"
    INFORMATION_RETURNS = "information_returns"
    NOTICES = "notices"
    TRANSACTIONS = "transactions"
    CASES = "cases"


TABLE_OF: dict[EntitySet, str] = {
    EntitySet.TAXPAYERS: "entities",
    EntitySet.MODULES: "tax_modules",
    EntitySet.RETURNS: "returns",
    EntitySet.INFORMATION_RETURNS: "information_returns",
    EntitySet.NOTICES: "notices",
    EntitySet.TRANSACTIONS: "transactions",
    EntitySet.CASES: "cases",
}
"""The store table behind each set (grants are scoped by these dataset names)."""

SET_NOUN: dict[EntitySet, tuple[str, str]] = {
    EntitySet.TAXPAYERS: ("taxpayer", "taxpayers"),
    EntitySet.MODULES: ("tax module", "tax modules"),
    EntitySet.RETURNS: ("return", "returns"),
    EntitySet.INFORMATION_RETURNS: ("information return", "information returns"),
    EntitySet.NOTICES: ("notice", "notices"),
    EntitySet.TRANSACTIONS: ("transaction", "transactions"),
    EntitySet.CASES: ("case", "cases"),
}

FieldType = Literal["text", "int", "money", "date", "bool"]
Sensitivity = Literal["public", "sensitive", "secret"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of the vocabulary: where it lives, its type, how sensitive it is."""

    set: EntitySet
    name: str
    column: str
    type: FieldType
    label: str
    sensitivity: Sensitivity = "public"
    mask: str | None = None  # key in access.masking.MASKS: shown masked unless the purpose needs it
    category: str | None = None  # grant category an engineer's grant must name (access.masking.GRANT_CATEGORY)
    values: tuple[str, ...] = field(default=())  # the known values of a coded text field (documentation)
    year_of: bool = False  # derived: the calendar year (int) of the date in ``column``

    @property
    def qualified(self) -> str:
        return f"{self.set.value}.{self.name}"


def _f(
    s: EntitySet,
    name: str,
    column: str,
    type_: FieldType,
    label: str,
    sensitivity: Sensitivity = "public",
    *,
    mask: str | None = None,
    category: str | None = None,
    values: tuple[str, ...] = (),
) -> FieldDef:
    return FieldDef(s, name, column, type_, label, sensitivity, mask, category, values)


def _year(s: EntitySet, name: str, column: str, label: str) -> FieldDef:
    """A derived field: the calendar year of a date column ("notices issued per year", "2025 vs 2026")."""
    return FieldDef(s, name, column, "int", label, year_of=True)


_T, _M, _R, _I, _N, _X, _C = (
    EntitySet.TAXPAYERS,
    EntitySet.MODULES,
    EntitySet.RETURNS,
    EntitySet.INFORMATION_RETURNS,
    EntitySet.NOTICES,
    EntitySet.TRANSACTIONS,
    EntitySet.CASES,
)
_LINE = "line_items"
_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR",
    "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP",
)  # fmt: skip

_FIELDS: tuple[FieldDef, ...] = (
    # taxpayers (entities)
    _f(_T, "ref", "ref", "text", "taxpayer id"),
    _f(_T, "kind", "kind", "text", "kind of taxpayer", values=("individual", "business", "exempt_org")),
    _f(_T, "tin_type", "tin_type", "text", "TIN type", values=("SSN", "ITIN", "EIN")),
    _f(_T, "tin", "tin_enc", "text", "TIN", "secret", mask="tin", category="tin_last4"),
    _f(_T, "first_name", "first_name", "text", "first name", "sensitive", category="name"),
    _f(_T, "last_name", "last_name", "text", "last name", "sensitive", category="name"),
    _f(_T, "business_name", "business_name", "text", "business name", "sensitive", category="name"),
    _f(_T, "name_control", "name_control", "text", "name control", "sensitive", category="name"),
    _f(_T, "address_line", "address_line", "text", "street address", "sensitive", category="address"),
    _f(_T, "city", "city", "text", "city", "sensitive", category="address"),
    _f(_T, "state", "state", "text", "state", category="address", values=_STATES),
    _f(_T, "zip", "zip", "text", "ZIP code", "sensitive", category="address"),
    _f(_T, "birth_date", "birth_date", "date", "birth date", "sensitive", mask="birth_date", category="birth_date"),
    _f(_T, "death_date", "death_date", "date", "death date", "sensitive", category="birth_date"),
    _f(_T, "deceased", "is_deceased", "bool", "deceased"),
    # tax modules
    _f(_M, "ref", "ref", "text", "module id"),
    _f(_M, "mft", "mft", "int", "MFT code", values=("30", "1", "2", "67")),
    _f(_M, "tax_period", "tax_period", "int", "tax period (YYYYMM)"),
    _f(_M, "status", "status", "text", "module status", values=("12", "21")),
    # returns
    _f(_R, "ref", "ref", "text", "return id"),
    _f(_R, "tax_year", "tax_year", "int", "tax year"),
    _f(_R, "form", "form", "text", "return form", values=("1040",)),
    _f(_R, "filing_status", "filing_status", "text", "filing status", category="filing_status",
       values=("S", "MFJ", "MFS", "HOH", "QSS")),
    _f(_R, "dependents", "dependents", "int", "number of dependents", category=_LINE),
    _f(_R, "filed_date", "filed_date", "date", "filing date"),
    _year(_R, "filed_year", "filed_date", "year filed"),
    *(
        _f(_R, n, f"{n}_cents", "money", n.replace("_", " "), category=_LINE)
        for n in (
            "wages", "interest", "dividends", "business_income", "retirement_income", "total_income", "agi",
            "deduction", "taxable_income", "tax", "credits", "total_tax", "withholding", "payments", "refund",
            "balance_due",
        )
    ),
    _f(_R, "bank_routing", "bank_routing", "text", "routing number", "secret", mask="bank_routing", category="bank"),
    _f(_R, "bank_account", "bank_account", "text", "account number", "secret", mask="bank_account", category="bank"),
    # information returns (the taxpayer is the payee)
    _f(_I, "ref", "ref", "text", "information return id"),
    _f(_I, "form", "form", "text", "information return form",
       values=("W-2", "1099-NEC", "1099-INT", "1099-DIV", "1099-MISC", "1099-R", "1099-G", "1099-B")),
    _f(_I, "tax_year", "tax_year", "int", "tax year"),
    _f(_I, "income", "income_cents", "money", "reported income", category="amounts"),
    _f(_I, "withholding", "withholding_cents", "money", "reported withholding", category="amounts"),
    _f(_I, "payer_tin", "payer_tin_enc", "text", "payer TIN", "secret", mask="payer_tin", category="payer_tin"),
    _f(_I, "payee_tin", "payee_tin_enc", "text", "payee TIN", "secret", mask="payee_tin", category="payee_tin"),
    # notices
    _f(_N, "ref", "ref", "text", "notice id"),
    _f(_N, "notice_type", "notice_type", "text", "notice type",
       values=("CP14", "CP501", "CP503", "CP504", "CP2000", "LT11")),
    _f(_N, "issued_date", "issued_date", "date", "issue date"),
    _year(_N, "issued_year", "issued_date", "year issued"),
    _f(_N, "amount_due", "amount_due_cents", "money", "amount due"),
    _f(_N, "tax", "tax_cents", "money", "tax on the notice"),
    _f(_N, "penalty", "penalty_cents", "money", "penalty"),
    _f(_N, "interest", "interest_cents", "money", "interest on the notice"),
    _f(_N, "respond_by", "respond_by", "date", "respond-by date"),
    # transactions
    _f(_X, "tc", "tc", "int", "transaction code"),
    _f(_X, "amount", "amount_cents", "money", "transaction amount"),
    _f(_X, "posted_date", "posted_date", "date", "posting date"),
    _year(_X, "posted_year", "posted_date", "year posted"),
    _f(_X, "cycle", "cycle", "int", "posting cycle"),
    _f(_X, "reason_code", "reason_code", "int", "reason code"),
    # cases
    _f(_C, "ref", "ref", "text", "case id"),
    _f(_C, "kind", "kind", "text", "case kind", values=("assistance", "collection", "examination", "aur")),
    _f(_C, "purpose", "purpose", "text", "case purpose"),
    _f(_C, "unit", "unit", "text", "unit"),
    _f(_C, "status", "status", "text", "case status", values=("open", "closed")),
    _f(_C, "opened", "opened_at", "date", "date opened"),
    _f(_C, "closed", "closed_at", "date", "date closed"),
    _year(_C, "opened_year", "opened_at", "year opened"),
    _year(_C, "closed_year", "closed_at", "year closed"),
)  # fmt: skip

FIELDS: dict[str, FieldDef] = {f.qualified: f for f in _FIELDS}
"""Every field by its qualified name (``set.field``)."""

BY_NAME: dict[str, tuple[FieldDef, ...]] = {}
for _fd in _FIELDS:
    BY_NAME[_fd.name] = (*BY_NAME.get(_fd.name, ()), _fd)


@dataclass(frozen=True, slots=True)
class Relation:
    """A known relation between two sets: ``left.left_column = right.right_column``.

    ``via`` names a link table (``case_subjects``) joined in between:
    ``left.left_column = via.via_left`` and ``via.via_right = right.right_column``.
    """

    left: EntitySet
    right: EntitySet
    left_column: str
    right_column: str
    via: str | None = None
    via_left: str | None = None
    via_right: str | None = None


RELATIONS: tuple[Relation, ...] = (
    Relation(_M, _T, "entity_id", "id"),
    Relation(_R, _T, "entity_id", "id"),
    Relation(_R, _M, "module_id", "id"),
    Relation(_I, _T, "payee_id", "id"),
    Relation(_X, _M, "module_id", "id"),
    Relation(_N, _M, "module_id", "id"),
    Relation(_C, _T, "id", "id", via="case_subjects", via_left="case_id", via_right="entity_id"),
)
"""The only joins a plan can make. At most one relation per pair of sets."""


def relation(a: EntitySet, b: EntitySet) -> Relation | None:
    """The relation between two sets, in either direction."""
    for r in RELATIONS:
        if {r.left, r.right} == {a, b}:
            return r
    return None


def join_path(start: EntitySet, goal: EntitySet) -> list[EntitySet]:
    """The shortest chain of sets from ``start`` to ``goal`` along known relations (both ends included)."""
    frontier: list[list[EntitySet]] = [[start]]
    seen = {start}
    while frontier:
        nxt: list[list[EntitySet]] = []
        for path in frontier:
            if path[-1] == goal:
                return path
            for s in EntitySet:  # enum order: deterministic
                if s not in seen and relation(path[-1], s) is not None:
                    seen.add(s)
                    nxt.append([*path, s])
        frontier = nxt
    raise LookupError(f"no relation joins {start.value} to {goal.value}")
