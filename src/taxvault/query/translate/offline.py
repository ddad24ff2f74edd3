"""The offline translator: a question in plain English to a typed :class:`Plan`, or a refusal.

Shipped with the product, no model server needed. It is a small semantic
parser over the vocabulary's words (``grammar.py``): the question is tagged
phrase by phrase (``tagger.py``), then read as one of a documented set of
forms (docs/asking-forms.md): counts, sums, averages, lowest/highest, top N,
"by" a dimension, comparisons between years, thresholds, time ranges and
"which ..." lists.

Never a guess: any word it does not know, any number it cannot place, any
combination it cannot express (an "or" across two fields, a date grouped by
year) makes it return :class:`Unsupported` with the reason and the nearest
forms it does support. A refusal never repeats numbers from the question (a
TIN typed into a question must not end up in a log).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from taxvault.query.plan import AggFn, Aggregate, Filter, Having, Op, Order, Plan
from taxvault.query.translate import Unsupported
from taxvault.query.translate.grammar import PHRASES
from taxvault.query.translate.tagger import Tagged, tag
from taxvault.query.translate.tokens import MAX_QUESTION_CHARS
from taxvault.query.translate.values import Numeral, is_year
from taxvault.query.vocab import FIELDS, EntitySet, join_path

T, M, R, INFO, N, X, C = (
    "taxpayers",
    "modules",
    "returns",
    "information_returns",
    "notices",
    "transactions",
    "cases",
)

EXAMPLES: dict[str, tuple[str, ...]] = {
    "count": (
        "How many taxpayers live in Texas?",
        "How many returns for 2024 claimed a refund over $5,000?",
        "Number of CP14 notices issued last year",
    ),
    "sum": (
        "Total wages reported on W-2s in 2024",
        "What is the total balance due on returns for tax year 2024 in Ohio?",
    ),
    "avg": ("Average adjusted gross income by filing status for 2024",),
    "top": ("Top 5 states by number of returns", "Which state has the most CP14 notices?"),
    "list": (
        "Which taxpayers in Ohio owe more than $10,000?",
        "List the 10 largest refunds for 2024",
    ),
    "compare": (
        "Returns in 2024 vs 2023 by filing status",
        "How many notices were issued each year?",
        "Cases opened in 2025 vs 2026",
    ),
    "having": ("Which states have more than 50 taxpayers?", "States with an average AGI over $80,000"),
}
"""Supported question forms, offered as the nearest ones when a question is refused."""

_DEFAULT_TIME: dict[str, str] = {
    R: "returns.tax_year",
    INFO: "information_returns.tax_year",
    N: "notices.issued_date",
    C: "cases.opened",
    X: "transactions.posted_date",
    M: "modules.tax_period",
}
"""The date or year a bare "in 2024" applies to, by the set the question is about."""

_DEFAULT_AMOUNT: dict[str, str] = {
    N: "notices.amount_due",
    X: "transactions.amount",
    INFO: "information_returns.income",
}
"""The amount a bare "over $10,000" applies to, by set (returns have too many amounts to pick one)."""

_LIST_FIELDS: dict[str, tuple[str, ...]] = {
    T: ("taxpayers.ref", "taxpayers.first_name", "taxpayers.last_name"),
    M: ("modules.ref", "modules.mft", "modules.tax_period"),
    R: ("returns.ref", "returns.tax_year"),
    INFO: ("information_returns.ref", "information_returns.form", "information_returns.tax_year"),
    N: ("notices.ref", "notices.notice_type", "notices.issued_date"),
    X: ("transactions.tc", "transactions.amount", "transactions.posted_date"),
    C: ("cases.ref", "cases.kind", "cases.status"),
}
_BUSINESS_LIST = ("taxpayers.ref", "taxpayers.business_name")
_ANY_LIST = ("taxpayers.ref", "taxpayers.first_name", "taxpayers.last_name", "taxpayers.business_name")

_TC_OF_WORD: dict[str, list[int]] = {
    "refund": [846],
    "refunds": [846],
    "payment": [610, 650, 670],
    "payments": [610, 650, 670],
}
"""Transaction codes a word means on transactions (Document 6209): TC 846 refund issued; TC 610
payment with the return, 650 federal tax deposit, 670 subsequent payment."""

_BY_YEAR_PHRASES = frozenset({"year over year", "year-over-year", "year on year", "year by year", "yearly", "annually"})
"""Words that group by year on their own, without "by" ("notices issued year over year")."""

_YEAR_DIMS = frozenset({"year", "tax_year", "date_year"})
"""Grouping by a year: "by year" (the set's own time), "by tax year", "by calendar year" (its own date)."""

YEAR_OF_DATE: dict[str, str] = {
    d.qualified: y.qualified
    for y in FIELDS.values()
    if y.year_of
    for d in FIELDS.values()
    if d.set == y.set and d.column == y.column and d.type == "date"
}
"""A date field -> its derived year field (notices.issued_date -> notices.issued_year)."""

_OWN_DATE: dict[str, str] = {
    R: "returns.filed_date",
    N: "notices.issued_date",
    C: "cases.opened",
    X: "transactions.posted_date",
}
"""The date a calendar year applies to, by set ("returns in calendar year 2025": filed in 2025)."""

_SPECIFIC_DATES = frozenset({"transactions.posted_date", "cases.opened", "cases.closed"})
"""Dates named by a verb that belongs to one set ("posted", "opened"): never silently dropped."""

_NUMBERED_DIMS = (("transactions.tc",), ("modules.mft",), ("modules.tax_period",), ("transactions.cycle",))
"""Dimensions a number can follow to name one value: TC 846, MFT 30, tax period 202412, cycle 202514."""

_OP = {"gt": Op.GT, "ge": Op.GE, "lt": Op.LT, "le": Op.LE, "eq": Op.EQ}


class _Refuse(Exception):
    def __init__(self, reason: str, kind: str = "count") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


# --- reading the tags -------------------------------------------------------------------------------


@dataclass
class _Item:
    kind: str
    value: Any
    text: str
    used: bool = False
    after: str = ""  # the filler words just before it ("amount of" in "total amount of all transactions")


@dataclass
class _Threshold:
    op: str
    values: list[Numeral]
    at: int  # index of the comparison word
    end: int  # index after the last number
    field: str | None = None
    having: bool = False  # a threshold on each group's count or aggregate ("states with more than 50 ...")


@dataclass
class _Time:
    op: str  # in | since | after | before | until | between | on
    years: list[int] = field(default_factory=list)
    dates: list[dt.date] = field(default_factory=list)  # a day, or a month's first and last day
    compare: bool = False
    at: int = 0
    field: str | None = None  # qualified field from a verb (filed, issued...) or "tax_year"
    calendar: bool = False  # "calendar year 2025": the records' own date, even when a verb names another's


@dataclass
class _Reading:
    ops: list[tuple[str, int]] = field(default_factory=list)
    sets: list[tuple[str, str | None, int]] = field(default_factory=list)
    fields: list[tuple[dict[str, str], int, str]] = field(default_factory=list)
    thresholds: list[_Threshold] = field(default_factory=list)
    values: list[tuple[str, list[Any], bool, int]] = field(default_factory=list)  # field, values, negated, at
    flags: list[tuple[str, str, Any, int]] = field(default_factory=list)
    times: list[_Time] = field(default_factory=list)
    dims: list[tuple[tuple[str, ...], int, bool, str]] = field(default_factory=list)  # candidates, at, plural, text
    grouped: bool = False
    compare: bool = False
    bound_flags: set[int] = field(default_factory=set)
    verb: tuple[str, int] | None = None  # the last date verb read without a time right after it
    kinds: list[str] = field(default_factory=list)  # the kind of every item, by index
    set_texts: dict[int, str] = field(default_factory=dict)  # the words that named a set, by index
    top: tuple[str, bool | str, int | None, int] | None = None  # direction, count / "date", n, at
    distinct: bool = False
    per_sets: list[str] = field(default_factory=list)  # "per return": an average over each such record
    side_by_side: list[str] = field(default_factory=list)  # "Texas vs Ohio": values compared, grouped by
    compare_words: list[str] = field(default_factory=list)  # the words that asked for a comparison
    verb_grouped: bool = False  # the date verb was followed by a grouping ("filed per year")


def _merge_numbers(tags: list[Tagged]) -> list[_Item]:
    """Numbers with their scale words ("10 thousand", "ten thousand dollars") as one item."""
    items: list[_Item] = []
    i = 0
    while i < len(tags):
        t = tags[i]
        if t.kind in ("num", "word_num"):
            num = t.value if t.kind == "num" else Numeral(t.value * 100, False, False, False, spelled=True)
            j = i + 1
            if j < len(tags) and tags[j].kind == "scale":
                num = Numeral(num.hundredths * tags[j].value, num.dollar_sign, num.has_decimals, True, num.spelled)
                j += 1
            if j < len(tags) and tags[j].kind == "filler" and tags[j].text in ("dollars", "dollar", "usd"):
                num = Numeral(num.hundredths, True, num.has_decimals, num.scaled, num.spelled)
                j += 1
            items.append(_Item("num", num, t.text))
            i = j
            continue
        if t.kind == "scale":
            raise _Refuse(f"I could not tell what '{t.text}' multiplies")
        items.append(_Item(t.kind, t.value, t.text))
        i += 1
    kept: list[_Item] = []
    dropped: list[str] = []
    for it in items:
        if it.kind == "filler":
            dropped.append(it.text)
            continue
        it.after = " ".join(dropped)
        dropped = []
        kept.append(it)
    out: list[_Item] = []
    for n, it in enumerate(kept):
        nxt = _peek(kept, n + 1)
        if it.kind == "when" and not (nxt is not None and _timeish(nxt)):
            continue  # "in", "for", "of", "to" that introduce no time connect words only
        out.append(it)
    return out


def _timeish_after(items: list[_Item], i: int) -> bool:
    nxt = _peek(items, i + 1)
    return nxt is not None and _timeish(nxt)


def _timeish(it: _Item) -> bool:
    return it.kind in ("rel", "month", "year_field") or (it.kind == "num" and _is_year_num(it))


def _is_year_num(it: _Item) -> bool:
    v: Numeral = it.value
    return (
        it.kind == "num"
        and not v.dollar_sign
        and not v.scaled
        and v.is_integer
        and is_year(v.integer)
        and "," not in it.text
    )


def _peek(items: list[_Item], i: int) -> _Item | None:
    return items[i] if 0 <= i < len(items) else None


def _read_time(items: list[_Item], i: int, when: str, today: dt.date) -> tuple[_Time, int] | None:
    """A time starting at ``items[i]`` (after the 'when' word, if any): years, a month, a day, or relative."""
    it = _peek(items, i)
    if it is None:
        return None
    if it.kind == "year_field" and _peek(items, i + 1) is not None:
        after = items[i + 1]
        skip = 1 if after.kind == "cmp" and after.value == "eq" else 0  # "tax year = 2024"
        got = _read_time(items, i + 1 + skip, when, today)
        if got is not None:
            got[0].field = str(it.value)  # "tax_year", or "calendar_year": the year of the records' own date
            got[0].calendar = it.value == "calendar_year"
            it.used = True
        return got
    if it.kind == "rel":
        it.used = True
        year = today.year + int(it.value)
        return _Time("in" if when in ("in", "of") else when, years=[year]), i + 1
    if it.kind == "month":
        month = int(it.value)
        nxt = _peek(items, i + 1)
        day: int | None = None
        j = i + 1
        if nxt is not None and nxt.kind == "num" and not _is_year_num(nxt) and nxt.value.is_integer:
            day = nxt.value.integer
            j += 1
        year_item = _peek(items, j)
        if year_item is None or not _is_year_num(year_item):
            raise _Refuse("a month needs its year (March 2025)")
        year = year_item.value.integer
        it.used = True
        if day is not None:
            try:
                return _Time("on" if when == "in" else when, dates=[dt.date(year, month, day)]), j + 1
            except ValueError:
                raise _Refuse("that date does not exist") from None
        last = calendar.monthrange(year, month)[1]
        return _Time(when, dates=[dt.date(year, month, 1), dt.date(year, month, last)]), j + 1
    if it.kind == "num" and _is_year_num(it):
        years = [it.value.integer]
        j = i + 1
        compare = False
        op = when
        while True:
            sep = _peek(items, j)
            nxt = _peek(items, j + 1)
            if sep is None or nxt is None:
                break
            if sep.kind == "year_field" and nxt.kind in ("and", "or", "vs", "when"):
                sep.used = True
                j += 1
                continue
            third = _peek(items, j + 2)
            tax_year_again = nxt.kind == "year_field" and nxt.value == "tax_year"
            if sep.kind in ("and", "or", "vs") and tax_year_again and third is not None and _is_year_num(third):
                compare = compare or sep.kind == "vs"  # "TY23 vs TY24"
                years.append(third.value.integer)
                nxt.used = True
                j += 3
                continue
            if sep.kind in ("and", "or", "vs") and nxt.kind == "num" and _is_year_num(nxt):
                compare = compare or sep.kind == "vs"
                years.append(nxt.value.integer)
                j += 2
                continue
            if sep.kind == "vs" and nxt.kind == "rel":
                compare = True
                years.append(today.year + int(nxt.value))
                j += 2
                continue
            if sep.kind == "when" and sep.value in ("to", "until") and nxt.kind == "num" and _is_year_num(nxt):
                if when not in ("in", "from") or len(years) != 1:
                    raise _Refuse("I can read a range of years as 'from 2022 to 2024' or 'between 2022 and 2024'")
                years.append(nxt.value.integer)
                op = "between"
                j += 2
                continue
            break
        if op == "from":
            op = "since"
        tail = _peek(items, j)
        if tail is not None and tail.kind == "year_field" and not _timeish_after(items, j):
            tail.used = True  # "the 2024 tax year", "2025 calendar year"
            return _Time(
                op, years=years, compare=compare, field=str(tail.value), calendar=tail.value != "tax_year"
            ), j + 1
        return _Time(op, years=years, compare=compare), j
    return None


def _read(items: list[_Item], today: dt.date) -> _Reading:
    """One pass over the items: thresholds, times, values, dimensions, sets, fields, top N."""
    r = _Reading(kinds=[it.kind for it in items])
    i = 0
    pending_not = False
    while i < len(items):
        it = items[i]
        k = it.kind
        if k == "cmp":
            i = _read_cmp(items, i, r, today)
            continue
        if k == "when" or (k == "num" and _is_year_num(it)) or k in ("rel", "month", "year_field"):
            when = it.value if k == "when" else "in"
            start = i + 1 if k == "when" else i
            got = _read_time(items, start, when, today)
            if got is not None:
                t, j = got
                t.at = i
                _adjective_year(items, j, t)
                if t.field is None and r.verb is not None and r.verb_grouped:
                    t.field = r.verb[0]  # "returns filed per year since 2024": the date grouped by
                r.times.append(t)
                i = j
                continue
            if k == "when":
                raise _Refuse("I could not read the time in the question")
            if k == "year_field" and r.grouped and _peek_kind_at(items, i - 1) == "and":
                year = "tax_year" if it.value == "tax_year" else "date_year"
                r.dims.append(((year,), i, False, it.text))  # "by state and tax year"
                i += 1
                continue
            if k == "year_field":
                raise _Refuse("say which tax year ('for tax year 2024'), or group 'by tax year'", "compare")
        if k == "num":
            nxt = _peek(items, i + 1)
            if nxt is not None and nxt.kind == "cmp_after":
                thr = _Threshold(nxt.value, [it.value], i, i + 2)
                r.thresholds.append(thr)
                i += 2
                continue
            if nxt is not None and nxt.kind == "top" and r.top is None:
                r.top = (nxt.value[0], nxt.value[1], _count_of(it.value), i)
                i += 2
                continue
            prev = _peek(items, i - 1)
            if prev is not None and prev.kind == "top" and r.top is not None and r.top[2] is None:
                r.top = (r.top[0], r.top[1], _count_of(it.value), r.top[3])
                i += 1
                continue
            if prev is not None and prev.kind == "list" and not it.value.dollar_sign:
                if r.top is not None and r.top[2] is None:  # "... desc limit 5"
                    r.top = (r.top[0], r.top[1], _count_of(it.value), r.top[3])
                else:
                    r.top = ("", False, _count_of(it.value), i)
                i += 1
                continue
            if prev is not None and prev.kind == "dim" and prev.value in _NUMBERED_DIMS and not _after_group(items, i):
                qualified = prev.value[0]
                if r.dims and r.dims[-1][1] == i - 1:
                    r.dims.pop()
                r.values.append((qualified, [_count_of(it.value)], pending_not, i))
                pending_not = False
                i += 1
                continue
            if (
                nxt is not None
                and nxt.kind == "field"
                and (it.value.hundredths == 0 or nxt.value.get(R) == "dependents")
            ):
                r.thresholds.append(_Threshold("eq", [it.value], i, i + 1))  # "zero tax", "3 dependents"
                i += 1
                continue
            if prev is not None and prev.kind == "field" and (it.value.dollar_sign or it.value.hundredths == 0):
                r.thresholds.append(_Threshold("eq", [it.value], i, i + 1))  # "total tax of $0"
                i += 1
                continue
            if nxt is not None and nxt.kind in ("dim", "set") and not it.value.dollar_sign and r.top is None:
                r.top = ("", False, _count_of(it.value), i)  # "the 3 states with ...", "the 5 notices with ..."
                i += 1
                continue
            raise _Refuse("I could not tell what a number in the question refers to")
        if k == "top":
            n_rows = r.top[2] if r.top is not None and r.top[0] == "" else None
            r.top = (it.value[0], it.value[1], n_rows, i)
            i += 1
            continue
        if k in ("agg", "list"):
            if k == "list" and it.text == "who" and not any(s[0] == T for s in r.sets):
                r.sets.append((T, "individual", i))
                r.set_texts[i] = "who"
            if k == "agg" and it.value == "distinct":
                r.distinct = True
                r.ops.append(("count", i))
            elif (
                k == "agg"
                and it.text in ("total", "totals")
                and _peek_kind_at(items, i + 1) == "set"
                and _peek_kind_at(items, i + 2) != "field"  # "total transaction amount" is an amount
                and not any(w in items[i + 1].after for w in ("amount", "value"))  # "total amount of all ..."
            ):
                r.ops.append(("count", i))  # "total notices by type": how many, not an amount
            else:
                r.ops.append((it.value if k == "agg" else "list", i))
            i += 1
            continue
        nxt_set, third = _peek(items, i + 1), _peek(items, i + 2)
        if (
            k == "set"
            and it.value[0] == T
            and it.value[1] is not None
            and nxt_set is not None
            and nxt_set.kind == "vs"
            and third is not None
            and third.kind == "set"
            and third.value[0] == T
            and third.value[1] not in (None, it.value[1])
        ):  # "individuals vs businesses": taxpayers of both kinds, side by side
            r.sets.append((T, None, i))
            r.set_texts[i] = third.text
            r.values.append(("taxpayers.kind", [it.value[1], third.value[1]], False, i))
            r.side_by_side.append("taxpayers.kind")
            i += 3
            continue
        if k == "set":
            r.sets.append((it.value[0], it.value[1], i))
            r.set_texts[i] = it.text
            i += 1
            continue
        if k == "field":
            r.fields.append((it.value, i, it.text))
            i += 1
            continue
        if k == "not":
            pending_not = True
            i += 1
            continue
        if k in ("state", "value", "mft"):
            i = _read_values(items, i, r, pending_not)
            pending_not = False
            continue
        if k == "flag":
            qualified, op, value = it.value
            nxt = _peek(items, i + 1)
            if it.text in ("closed", "resolved", "open") and nxt is not None and nxt.kind in ("when", "rel", "num"):
                # "closed in 2025": the date the case closed, not only its status
                got = _read_time(items, i + 2 if nxt.kind == "when" else i + 1, _when_of(nxt), today)
                if got is not None:
                    t, j = got
                    t.field = "cases.closed" if it.text != "open" else "cases.opened"
                    t.at = i
                    r.times.append(t)
                    i = j
                    continue
            if it.text in ("closed", "resolved") and nxt is not None and nxt.kind == "group":
                r.verb = ("cases.closed", i)  # "cases closed each year": by the year they closed
                r.verb_grouped = _groups_by_year(items, i + 1)
            if it.text == "open" and nxt is not None and nxt.kind == "group" and not pending_not:
                r.verb = ("cases.opened", i)  # "how many cases did each unit open per year": a verb
                r.verb_grouped = _groups_by_year(items, i + 1)
                i += 1
                continue
            if pending_not:
                if op != "=":
                    raise _Refuse("I can only negate a named value (not in Texas, not deceased)")
                value = not value if isinstance(value, bool) else value
                op = "=" if isinstance(value, bool) else "!="
                pending_not = False
            r.flags.append((qualified, op, value, i))
            i += 1
            continue
        if k == "date_field":
            nxt = _peek(items, i + 1)
            got = None
            if nxt is not None:
                got = _read_time(items, i + 2 if nxt.kind == "when" else i + 1, _when_of(nxt), today)
            if got is not None:
                t, j = got
                _adjective_year(items, j, t)
                if t.field is None or t.field == "calendar_year":  # "issued in calendar year 2025"
                    t.field = str(it.value)
                t.at = i
                r.times.append(t)
                i = j
                continue
            r.verb = (str(it.value), i)  # "filed", "issued" with no time after them (yet: "filed between ...")
            r.verb_grouped = _groups_by_year(items, i + 1)  # "filed per year" (not "filed by single filers")
            i += 1
            continue
        if k == "group":
            nxt = _peek(items, i + 1)
            if nxt is not None and nxt.kind == "year_field" and not _timeish_after(items, i + 1):
                year = "tax_year" if nxt.value == "tax_year" else "date_year"
                r.dims.append(((year,), i + 1, False, nxt.text))  # "by tax year", "per calendar year"
                r.grouped = True
                i += 2
                continue
            if nxt is not None and nxt.kind == "dim":
                r.grouped = True
            elif it.text == "per" and nxt is not None and nxt.kind == "set":
                r.per_sets.append(nxt.value[0])  # "average dependents per return": of each return (the source)
                i += 2
                continue
            elif not it.text.startswith(("by", "across", "for all")):  # "reported by taxpayers", "across all returns"
                raise _Refuse("I can group by state, year, form, notice type, filing status, MFT, case kind or status")
            i += 1
            continue
        if k == "dim" and it.value == ("year",) and it.text in _BY_YEAR_PHRASES:
            r.dims.append((("year",), i, False, it.text))  # "year over year", "annually": grouped by year
            r.grouped = True
            i += 1
            continue
        if k == "dim" and it.value == ("year",) and _peek(items, i + 1) is not None and _is_year_num(items[i + 1]):
            i += 1  # "in the year 2024": the year itself is the time
            continue
        if k == "dim" and it.value == ("returns.dependents",) and not _after_group(items, i):
            r.fields.append(({R: "dependents"}, i, it.text))  # "average number of dependents": an amount
            i += 1
            continue
        if k == "dim" and _names_next_value(items, i):
            i += 1  # "filing status is MFJ", "notice type CP14", "state = CA": the value is the filter
            if items[i].kind == "cmp" and items[i].value == "eq":
                i += 1
            continue
        if k == "dim" and "modules.status" in it.value and _peek_kind_at(items, i + 1) == "num":
            r.values.append(("modules.status", [_count_of(items[i + 1].value)], pending_not, i))  # status 21
            pending_not = False
            i += 2
            continue
        if k == "dim":
            prev = _peek(items, i - 1)
            if prev is not None and prev.kind in ("value", "mft") and not r.grouped:
                prev_field = "modules.mft" if prev.kind == "mft" else prev.value[0]
                if prev_field in it.value or (prev.kind == "mft" and "modules.mft" in it.value):
                    i += 1  # "1099-NEC forms", "CP14 notice type": the value's own noun
                    continue
            plural = it.text.endswith("s") and not it.text.endswith("status")  # "filing status" is one
            r.dims.append((tuple(it.value), i, plural, it.text))
            i += 1
            continue
        if k in ("and", "or", "vs", "cmp_after"):
            if k == "or" and _or_between_fields(items, i):
                raise _Refuse("I can't combine conditions with 'or' across different fields")
            if k == "cmp_after":
                raise _Refuse("I could not tell which amount 'or more' / 'or less' applies to")
            if k == "vs":
                r.compare = True
                r.compare_words.append(it.text)
            i += 1
            continue
        raise _Refuse(f"I could not place the words '{it.text}'")
    if pending_not:
        raise _Refuse("I can only negate a state or a named value (not in Texas, not deceased)")
    if r.compare:
        multi = [t for t in r.times if len(t.years) > 1 and t.op in ("in", "of")]
        if not multi and r.grouped and r.dims and set(r.compare_words) <= {"compare"}:
            r.compare = False  # "compare the number of open cases by unit": the groups side by side
            return r
        if not multi:
            raise _Refuse("I can compare years ('in 2024 vs 2023'), not other things", "compare")
        for t in multi:
            t.compare = True
    return r


def _context_sets(r: _Reading, *, verbs: bool) -> list[str]:
    """Sets the question points at without naming them: by a dimension, a TC, an MFT (or a date verb:
    "payments posted in 2025" are transactions' amounts, but a verb never makes a set's date apply)."""
    out = [c[0].split(".")[0] for c, _, _, _ in r.dims if "." in c[0]]
    if verbs:
        out += [t.field.split(".")[0] for t in r.times if t.field is not None and "." in t.field]
        out += [r.verb[0].split(".")[0]] if r.verb is not None else []
    coded = {q for q, _, _, _ in r.values}
    out += [X] if "transactions.tc" in coded else []
    out += [M] if "mft" in coded else []
    return list(dict.fromkeys(out))


def _groups_by_year(items: list[_Item], i: int) -> bool:
    """Whether ``items[i]`` starts "per year", "each year", "by calendar year"."""
    group, what = _peek(items, i), _peek(items, i + 1)
    if group is None or what is None or group.kind != "group":
        return False
    return (what.kind == "dim" and what.value[0] in _YEAR_DIMS) or what.kind == "year_field"


def _adjective_year(items: list[_Item], j: int, t: _Time) -> None:
    """ "a 2024 return", "2024 W-2s": a year written before the noun is the tax year."""
    nxt = _peek(items, j)
    if not (t.years and len(t.years) == 1 and t.field is None and nxt is not None):
        return
    if (nxt.kind == "set" and nxt.value[0] in (R, INFO)) or (
        nxt.kind == "value" and nxt.value[0] in ("information_returns.form", "returns.filing_status")
    ):
        t.field = "tax_year"


def _peek_kind_at(items: list[_Item], i: int) -> str | None:
    it = _peek(items, i)
    return it.kind if it is not None else None


def _names_next_value(items: list[_Item], i: int) -> bool:
    """Whether the dimension at ``i`` only names the field of the value after it (optionally after '=')."""
    j = i + 1
    if _peek_kind_at(items, j) == "cmp" and items[j].value == "eq":
        j += 1
    nxt = _peek(items, j)
    if nxt is None or nxt.kind not in ("value", "state", "mft", "flag"):
        return False
    field_name = {"state": "taxpayers.state", "mft": "modules.mft"}.get(nxt.kind)
    if nxt.kind == "value":
        field_name = nxt.value[0]
    if nxt.kind == "flag":
        field_name = nxt.value[0]
    return field_name in items[i].value


def _after_group(items: list[_Item], i: int) -> bool:
    j = i - 1
    while j >= 0 and items[j].kind in ("dim", "and"):
        j -= 1
    return j >= 0 and items[j].kind == "group"


def _when_of(it: _Item) -> str:
    return str(it.value) if it.kind == "when" else "in"


def _count_of(num: Numeral) -> int:
    if num.dollar_sign or not num.is_integer or num.integer < 1:
        raise _Refuse("a number of rows must be a whole number")
    return num.integer


def _or_between_fields(items: list[_Item], i: int) -> bool:
    a, b = _peek(items, i - 1), _peek(items, i + 1)
    if a is None or b is None:
        return False
    if a.kind == b.kind and a.kind in ("state", "num", "mft"):
        return False
    if a.kind == b.kind == "value":
        return bool(a.value[0] != b.value[0])
    return a.kind != b.kind


def _read_values(items: list[_Item], i: int, r: _Reading, negated: bool) -> int:
    """A coded value, or several joined by and/or/commas, as one filter (= or IN)."""
    first = items[i]
    qualified = _value_field(first)
    values = [_value_of(first)]
    j = i + 1
    while True:
        sep, nxt = _peek(items, j), _peek(items, j + 1)
        if nxt is not None and sep is not None and sep.kind in ("and", "or") and nxt.kind == first.kind:
            if _value_field(nxt) != qualified:
                break
            values.append(_value_of(nxt))
            j += 2
            continue
        if sep is not None and sep.kind == first.kind and _value_field(sep) == qualified:
            values.append(_value_of(sep))  # "Texas, Ohio and Utah" (commas are dropped)
            j += 1
            continue
        if sep is not None and sep.kind == "vs" and nxt is not None and nxt.kind == first.kind:
            if _value_field(nxt) != qualified or negated:
                raise _Refuse("I can compare values of one kind side by side ('Texas vs Ohio', 'W-2s vs 1099-NECs')")
            values.append(_value_of(nxt))  # "Texas vs Ohio": both, side by side
            if qualified not in r.side_by_side:
                r.side_by_side.append(qualified)
            j += 2
            continue
        break
    values = [x for v in values for x in (v if isinstance(v, tuple) else (v,))]  # "1099s": every 1099 form
    if negated and len(values) > 1:
        raise _Refuse("I can exclude one value at a time")
    r.values.append((qualified, list(dict.fromkeys(values)), negated, i))
    implied = {"returns.filing_status": R, "notices.notice_type": N, "information_returns.form": INFO}
    implied["cases.kind"] = C
    implied["taxpayers.tin_type"] = T
    if qualified in implied:
        r.sets.append((implied[qualified], None, i))
        r.sets.sort(key=lambda s: s[2])
    return j


def _value_field(it: _Item) -> str:
    if it.kind == "state":
        return "taxpayers.state"
    if it.kind == "mft":
        return "mft"
    return str(it.value[0])


def _value_of(it: _Item) -> Any:
    if it.kind in ("state", "mft"):
        return it.value
    return it.value[1]


def _read_cmp(items: list[_Item], i: int, r: _Reading, today: dt.date) -> int:
    """``over $10,000``, ``between $5k and $10k``, ``between 2022 and 2024``, ``at least 3``."""
    op = str(items[i].value)
    a = _peek(items, i + 1)
    if op == "between":
        b, c = _peek(items, i + 2), _peek(items, i + 3)
        if a is not None and a.kind == "month":  # between January 1, 2025 and April 15, 2025
            first = _read_time(items, i + 1, "in", today)
            sep = _peek(items, first[1]) if first is not None else None
            second = _read_time(items, first[1] + 1, "in", today) if first is not None and sep is not None else None
            if first is None or second is None or sep is None or sep.kind != "and" or not second[0].dates:
                raise _Refuse("I read date ranges as 'between March 1, 2025 and April 15, 2025'")
            lo, hi = first[0].dates[0], second[0].dates[-1]
            if lo > hi:
                raise _Refuse("the range starts after it ends")
            r.times.append(_Time("between", dates=[lo, hi], at=i, field=_verb_field(r, i)))
            return second[1]
        if a is None or b is None or c is None or b.kind != "and":
            raise _Refuse("I read ranges as 'between X and Y'")
        if _is_year_num(a) and _is_year_num(c) and not _amount_nearby(items, i, i + 4):
            lo, hi = a.value.integer, c.value.integer
            r.times.append(_Time("between", years=[min(lo, hi), max(lo, hi)], at=i, field=_verb_field(r, i)))
            return i + 4
        if a.kind == "rel":
            raise _Refuse("I read ranges of years as 'between 2022 and 2024'")
        if a.kind != "num" or c.kind != "num":
            raise _Refuse("I read ranges as 'between X and Y' with two amounts")
        r.thresholds.append(_Threshold("between", [a.value, c.value], i, i + 4))
        return i + 4
    if a is None:
        raise _Refuse("a comparison needs an amount after it")
    if a.kind == "num":
        r.thresholds.append(_Threshold(op, [a.value], i, i + 2))
        return i + 2
    raise _Refuse("a comparison needs an amount after it ('over $10,000')")


def _peek_kind(r: _Reading, i: int) -> str | None:
    return r.kinds[i] if 0 <= i < len(r.kinds) else None


def _verb_field(r: _Reading, i: int) -> str | None:
    """The date a verb just before a range names ("filed between ...")."""
    return r.verb[0] if r.verb is not None and r.verb[1] == i - 1 else None


def _amount_nearby(items: list[_Item], start: int, end: int) -> bool:
    before, after = _peek(items, start - 1), _peek(items, end)
    return any(x is not None and x.kind == "field" for x in (before, after))


# --- building the plan ------------------------------------------------------------------------------


@dataclass
class _Build:
    source: str = ""
    filters: list[Filter] = field(default_factory=list)
    extra_sets: list[str] = field(default_factory=list)


def _total_of(mapping: dict[str, str], text: str, head: tuple[str, str | None] | None) -> dict[str, str]:
    """ "total tax" on notices: a return's "total tax" is its own field, but records without one
    mean the total of their "tax" (the phrase is then "total" + the amount)."""
    if head is None or head[0] in mapping or not text.startswith("total "):
        return mapping
    rest = PHRASES.get(tuple(text.split()[1:]))
    if rest is not None and rest[0] == "field" and head[0] in rest[1]:
        return dict(rest[1])
    return mapping


def _head(r: _Reading) -> tuple[str, str | None] | None:
    """The set the question counts or lists: the first set named after the question word, else the first."""
    if not r.sets:
        coded = {q for q, _, _, _ in r.values}
        if "transactions.tc" in coded:
            return X, None  # "the sum of TC 846 refunds"
        if "mft" in coded:
            return M, None  # "how many 941s"
        return None
    op_at = r.ops[0][1] if r.ops else -1
    after = [s for s in r.sets if s[2] > op_at or r.set_texts.get(s[2]) == "who"]  # "who received CP14s"
    s = (after or r.sets)[0]
    return s[0], s[1]


def _field_for(mapping: dict[str, str], preferred: list[str]) -> str:
    for s in preferred:
        if s in mapping:
            return f"{s}.{mapping[s]}"
    return f"{next(iter(mapping))}.{next(iter(mapping.values()))}"


def _money_cents(num: Numeral) -> int:
    return num.hundredths


def _threshold_filter(thr: _Threshold, qualified: str) -> Filter:
    fd = FIELDS[qualified]
    if fd.type == "money":
        if any(v.spelled and not v.dollar_sign and not v.scaled and v.hundredths for v in thr.values):
            raise _Refuse(f"say the {fd.label} as an amount ('$1,000'), not as a count")
        values = [_money_cents(v) for v in thr.values]
    elif fd.type == "int":
        if any(v.dollar_sign or not v.is_integer for v in thr.values):
            raise _Refuse(f"{fd.label} is a whole number, not an amount of money")
        values = [v.integer for v in thr.values]
    else:
        raise _Refuse(f"I can't compare {fd.label} with a number")
    if thr.op == "between":
        lo, hi = sorted(values)
        return Filter(field=qualified, op=Op.BETWEEN, value=[lo, hi])
    return Filter(field=qualified, op=_OP[thr.op], value=values[0])


def _time_filters(t: _Time, qualified: str) -> list[Filter]:
    """A time on a year field (int), a tax period (YYYYMM) or a date field."""
    fd = FIELDS[qualified]
    if t.dates:
        if fd.type != "date":
            raise _Refuse(f"{fd.label} is a year, not a date")
        if len(t.dates) == 2:  # a month
            lo, hi = t.dates
        else:
            lo = hi = t.dates[0]
        if t.op in ("in", "on", "during", "between"):
            if lo == hi:
                return [Filter(field=qualified, op=Op.EQ, value=lo.isoformat())]
            return [Filter(field=qualified, op=Op.BETWEEN, value=[lo.isoformat(), hi.isoformat()])]
        bounds = {
            "since": (Op.GE, lo),
            "after": (Op.GT, hi),
            "before": (Op.LT, lo),
            "until": (Op.LE, hi),
            "to": (Op.LE, hi),
        }
        if t.op not in bounds:
            raise _Refuse("I could not read that date range")
        op, day = bounds[t.op]
        return [Filter(field=qualified, op=op, value=day.isoformat())]
    years = t.years
    if fd.type == "date":
        if t.compare:
            raise _Refuse(f"I can't compare years of {fd.label} side by side; ask for each year in turn")
        first, last = min(years), max(years)
        if t.op in ("in", "of") and len(years) > 1 and sorted(set(years)) != list(range(first, last + 1)):
            raise _Refuse("I can read years of a date only as one year or a range")
        lo, hi = dt.date(first, 1, 1), dt.date(last, 12, 31)
        if t.op in ("in", "of", "between"):
            return [Filter(field=qualified, op=Op.BETWEEN, value=[lo.isoformat(), hi.isoformat()])]
        single = {"since": (Op.GE, lo), "after": (Op.GT, hi), "before": (Op.LT, lo), "until": (Op.LE, hi)}
        if t.op not in single or len(years) > 1:
            raise _Refuse("I could not read that range of years")
        op, day = single[t.op]
        return [Filter(field=qualified, op=op, value=day.isoformat())]
    if qualified == "modules.tax_period":
        first, last = min(years), max(years)
        if t.op in ("in", "of", "between"):
            if t.compare or (len(years) > 1 and sorted(set(years)) != list(range(first, last + 1))):
                raise _Refuse("I can read tax periods only as one year or a range of years")
            return [Filter(field=qualified, op=Op.BETWEEN, value=[first * 100 + 1, last * 100 + 12])]
        period = {
            "since": (Op.GE, first * 100 + 1),
            "after": (Op.GT, first * 100 + 12),
            "before": (Op.LT, first * 100 + 1),
            "until": (Op.LE, first * 100 + 12),
        }
        if t.op not in period or len(years) > 1:
            raise _Refuse("I could not read that range of years")
        op, v = period[t.op]
        return [Filter(field=qualified, op=op, value=v)]
    # an integer year field
    if t.op in ("in", "of", "on"):
        if len(years) == 1:
            return [Filter(field=qualified, op=Op.EQ, value=years[0])]
        return [Filter(field=qualified, op=Op.IN, value=sorted(set(years)))]
    if t.op == "between":
        return [Filter(field=qualified, op=Op.BETWEEN, value=[min(years), max(years)])]
    ops = {"since": Op.GE, "after": Op.GT, "before": Op.LT, "until": Op.LE, "to": Op.LE}
    if t.op not in ops or len(years) > 1:
        raise _Refuse("I could not read that range of years")
    return [Filter(field=qualified, op=ops[t.op], value=years[0])]


def _reachable(a: str, b: str) -> bool:
    try:
        join_path(EntitySet(a), EntitySet(b))
    except LookupError:
        return False
    return True


def _time_field(t: _Time, source: str, mentioned: list[str]) -> str:
    candidates = [source, *[s for s in mentioned if s != source]]
    if t.field == "calendar_year":  # the year of the records' own date, never a tax year
        for s in candidates:
            if s in _OWN_DATE:
                return _OWN_DATE[s]
        raise _Refuse("these records have a tax year, not a date: say 'tax year 2024'", "compare")
    if t.field is not None and t.field != "tax_year":
        if t.field.split(".")[0] in candidates or t.field.startswith(T):
            return t.field
        if t.field in _SPECIFIC_DATES:
            raise _Refuse(f"'{FIELDS[t.field].label}' is a date of {t.field.split('.')[0]}, not of these records")
        t.field = "calendar_year" if t.calendar else None  # "W-2s issued in 2024": no date of these records
    if t.field == "calendar_year":
        for s in candidates:
            if s in _OWN_DATE:
                return _OWN_DATE[s]
        raise _Refuse("these records have a tax year, not a date: say 'tax year 2024'", "compare")
    if t.field == "tax_year":
        for s in candidates:
            if s in (R, INFO):
                return f"{s}.tax_year"
        return "modules.tax_period" if source != T else "returns.tax_year"
    for s in candidates:
        if s in _DEFAULT_TIME:
            return _DEFAULT_TIME[s]
    raise _Refuse("taxpayers have no date of their own: say which records (returns, notices, cases) the year is of")


def _year_dim(kind: str, sets: list[str], time_field: str | None, verb: str | None) -> str:
    """The year a "by year" groups by: a verb's date ("filed each year"), the time the question filters
    on, the tax year of returns and information returns, else the year of the records' own date."""
    if kind != "tax_year":
        if verb is not None and verb.split(".")[0] in sets and verb in YEAR_OF_DATE:
            return YEAR_OF_DATE[verb]  # "returns filed each year", "cases opened per year"
        if time_field is not None and time_field in YEAR_OF_DATE:
            return YEAR_OF_DATE[time_field]
    if kind == "date_year":
        for s in sets:
            if s in _OWN_DATE:
                return YEAR_OF_DATE[_OWN_DATE[s]]
        raise _Refuse("these records have a tax year, not a date: group 'by tax year'", "compare")
    int_year = time_field is not None and FIELDS[time_field].type == "int" and time_field != "modules.tax_period"
    if time_field is not None and int_year and (kind != "tax_year" or time_field.endswith(".tax_year")):
        return time_field
    for s in sets:
        if s in (R, INFO):
            return f"{s}.tax_year"
    if kind == "year":
        for s in sets:
            if s in _OWN_DATE:
                return YEAR_OF_DATE[_OWN_DATE[s]]
    raise _Refuse(
        "I can group by tax year (returns, information returns) or by the year of a date "
        "(notices issued, cases opened or closed, transactions posted, returns filed)",
        "compare",
    )


def _dim_field(
    cands: tuple[str, ...], source: str, mentioned: list[str], time_field: str | None, verb: str | None = None
) -> str:
    if cands == ("month",):
        raise _Refuse("I can group by year, not by month, quarter, week or day", "compare")
    if cands[0] in _YEAR_DIMS:
        return _year_dim(cands[0], list(dict.fromkeys([source, *mentioned])), time_field, verb)
    for c in cands:
        if c.split(".")[0] in (source, *mentioned):
            return c
    for c in cands:
        if _reachable(source, c.split(".")[0]):
            return c
    return cands[0]


def translate(question: str, *, today: dt.date) -> Plan | Unsupported:
    """The plan for ``question`` (relative dates read against ``today``), or why it can't be expressed."""
    try:
        return _translate(question, today)
    except _Refuse as refusal:
        return Unsupported(nearest=_nearest(refusal.kind), reason=refusal.reason)
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        first = first.removeprefix("Value error, ")
        return Unsupported(nearest=_nearest("count"), reason=f"that would not be a valid plan ({first})")


def _nearest(kind: str) -> tuple[str, ...]:
    return (*EXAMPLES.get(kind, ()), *(e for k, v in EXAMPLES.items() if k != kind for e in v[:1]))[:4]


def _translate(question: str, today: dt.date) -> Plan:
    if not question.strip():
        raise _Refuse("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise _Refuse(f"questions are at most {MAX_QUESTION_CHARS} characters")
    tagging = tag(question)
    if tagging.unknown is not None:
        raise _Refuse(_unknown_reason(tagging.unknown, tagging.reason))
    items = _merge_numbers(tagging.tags)
    if not items:
        raise _Refuse("I found no question in that")
    r = _read(items, today)
    return _assemble(r)


def _unknown_reason(word: str, why: str | None) -> str:
    if why == "write":
        return "questions can only read records; nothing can be changed by asking"
    if why == "secret":
        return "TINs, bank details and PINs can never be asked about"
    if why == "measure":
        return f"I compute counts, totals, averages, lowest and highest values, not a '{word}'"
    if why == "number":
        return "I could not read a number in the question"
    if any(ch.isdigit() for ch in word):
        return "I don't know a word with digits in the question"
    safe = word if word.isascii() and len(word) <= 30 else "one of the words"
    return f"I don't know the word '{safe}'"


def _assemble(r: _Reading) -> Plan:
    aggs_asked = [o for o, _ in r.ops if o != "list"]
    op = aggs_asked[0] if aggs_asked else ("list" if r.ops else None)  # "show the number of ...": a count
    if len({o for o, _ in r.ops if o != "list"}) > 1:
        aggs = [o for o, _ in r.ops if o != "list"]
        if not (set(aggs) <= {"sum", "count"} and aggs[0] == "count"):
            raise _Refuse("I can compute one kind of aggregate per question")
    head = _head(r)
    fields_mentioned = r.fields
    top = r.top

    # Which aggregate, if any.
    if op is None and top is not None and top[1] == "date" and r.dims:
        raise _Refuse("I can rank groups by a count or an amount, not by a date", "top")
    if op in ("max", "min") and top is not None and top[1] == "date":
        raise _Refuse("ask for the highest or lowest of an amount, or list the most recent records", "list")
    if op is None and top is not None and top[1] is False and top[2] is None and r.dims and r.grouped:
        op = "max" if top[0] == "desc" else "min"  # "the highest refund in each state"
        top = None
    if op is None and top is not None and top[1] is False and top[2] is None and not r.dims:
        op = "max" if top[0] == "desc" else "min"
        top = None
    if op is None and top is not None:
        op = "list"
    if op is None and (r.compare or any(t.compare for t in r.times)):
        op = "sum" if r.fields else "count"  # "compare collection cases opened in 2025 and 2026"
    if op is None and r.fields and r.fields[0][2].startswith("total ") and top is None and not r.ops:
        op = "sum"  # "what was the total income reported on 1099s": the phrase asks its total
    if op is None and head is not None and not r.dims and not r.grouped and (r.thresholds or r.values or r.flags):
        op = "list"  # "Returns in Texas with AGI above $250,000": a listing
    if op is None and r.grouped and r.fields and top is None:
        op = "sum"  # "W-2 wages by state": the amount's total per group
    if op is None and (r.dims or r.grouped) and head is not None:
        op = "count"
    if op is None and r.fields and r.fields[0][2].startswith("total ") and top is None:
        op = "sum"
    if op is None:
        raise _Refuse("I could not tell what to compute: ask 'how many', 'total', 'average' or 'which'")
    if op in ("max", "min") and top is None and r.ops and any(o == "list" for o, _ in r.ops):
        top = ("desc" if op == "max" else "asc", False, None, r.ops[0][1])
        op = "list"
    if op is None and r.fields and r.fields[0][2].startswith("total ") and not r.dims and top is None:
        op = "sum"  # "what was the total income ...": the phrase names the amount and asks its total

    mentioned = [s for s, _, _ in r.sets]
    b = _Build()

    # The measure field (sum, avg, min, max, or what a top N ranks by).
    thresholds = list(r.thresholds)
    bound: set[int] = set()
    for thr in thresholds:
        thr.field = _bind_threshold(thr, r, head, mentioned, bound)
    havings = [t for t in thresholds if t.having]
    thresholds = [t for t in thresholds if not t.having and t.field != "exists"]
    free_fields = [f for n, f in enumerate(fields_mentioned) if n not in bound]
    measure: list[str] = []
    preferred = [head[0]] if head else []
    preferred += [s for s in [*mentioned, *_context_sets(r, verbs=True)] if s not in preferred]
    tc_hints: list[list[int]] = []
    for mapping, _, text in free_fields:
        mapping = _total_of(mapping, text, head)
        measure.append(_field_for(mapping, preferred))
        if measure[-1] == "transactions.amount" and text.split()[0] in _TC_OF_WORD:
            tc_hints.append(_TC_OF_WORD[text.split()[0]])  # "refunds posted in 2025": TC 846
    owe_flags = [f for f in r.flags if f[0] == "returns.balance_due" and f[1] == ">" and f[3] not in r.bound_flags]
    if owe_flags and ((head is not None and head[0] == N) or (op in ("sum", "avg", "min", "max") and not measure)):
        for f in owe_flags:  # "how much is owed on CP14s", "how much did taxpayers in Texas owe"
            r.bound_flags.add(f[3])
        if op in ("sum", "avg", "min", "max") and not measure:
            measure = ["notices.amount_due" if head is not None and head[0] == N else "returns.balance_due"]
    if op in ("sum", "avg", "min", "max") and not measure and thresholds and thresholds[-1].field is not None:
        measure = [thresholds[-1].field]  # "the smallest refund greater than zero"
    if op in ("sum", "avg", "min", "max") and not measure:
        if head is not None and head[0] in _DEFAULT_AMOUNT:
            measure = [_DEFAULT_AMOUNT[head[0]]]
        elif op != "sum" or head is None:
            raise _Refuse("say which amount: wages, AGI, refund, balance due, amount due ...", "sum")
    if op in ("sum", "avg", "min", "max"):
        source = measure[0].split(".")[0] if measure else (head[0] if head else "")
    else:
        if head is None:
            bound_sets = [t.field.split(".")[0] for t in thresholds if t.field is not None]
            if measure:
                head = (measure[0].split(".")[0], None)
            elif bound_sets and op == "count":
                head = (bound_sets[0], None)  # "number of refunds over $1,000": returns
            elif r.dims and r.dims[0][0][0] not in _YEAR_DIMS and top is not None and top[1] is True:
                head = (r.dims[0][0][0].split(".")[0], None)  # "the most common notice type": count notices
            elif r.dims and r.ops and r.ops[0][0] == "list":
                raise _Refuse("say what to count ('which state has the most returns')", "top")
            else:
                raise _Refuse("say what to count or list: taxpayers, returns, W-2s, notices, cases ...")
        source = head[0]
    if not source:
        raise _Refuse("say what to total ('total wages', 'total amount due on notices')", "sum")
    if any(s != source for s in r.per_sets):
        raise _Refuse("I compute over the records themselves ('average refund per return'), not per taxpayer", "avg")
    b.source = source

    # Filters.
    kinds = {k for s_, k, _ in r.sets if s_ == T and k is not None}
    if head is not None and head[0] == T and head[1] is None and len(kinds) == 1:
        head = (T, kinds.pop())  # "how many entities are businesses"
    elif head is not None and head[0] == T and len(kinds) > 1:
        raise _Refuse("a taxpayer is one kind: individual, business or exempt organisation")
    if head is not None and head[0] == T and head[1] is not None and (source == T or op in ("count", "list")):
        b.filters.append(Filter(field="taxpayers.kind", op=Op.EQ, value=head[1]))
    for s, _kind, _ in r.sets:
        if s != source and s not in b.extra_sets and (head is None or s != head[0] or source != head[0]):
            b.extra_sets.append(s)
    other_kinds = {k for s_, k, _ in r.sets if s_ == T and k not in (None, "individual")}
    if T in b.extra_sets and source not in (T, C) and (head is None or head[0] != T) and not other_kinds:
        b.extra_sets.remove(T)  # "returns filed by single taxpayers": every return has its taxpayer
    elif T in b.extra_sets and other_kinds and (head is None or head[0] != T):
        if len(other_kinds) > 1:
            raise _Refuse("a taxpayer is one kind: individual, business or exempt organisation")
        b.filters.append(Filter(field="taxpayers.kind", op=Op.EQ, value=other_kinds.pop()))  # "notices to businesses"
    for thr in thresholds:
        assert thr.field is not None
        b.filters.append(_threshold_filter(thr, thr.field))
    if tc_hints and not any(q == "transactions.tc" for q, _, _, _ in r.values):
        codes: list[bool | int | str] = sorted({c for hint in tc_hints for c in hint})
        b.filters.append(
            Filter(field="transactions.tc", op=Op.EQ, value=codes[0])
            if len(codes) == 1
            else Filter(field="transactions.tc", op=Op.IN, value=codes)
        )
    for qualified, values, negated, _ in r.values:
        if qualified == "mft":
            if source == R or (source != M and R in mentioned):
                if values != [30]:
                    raise _Refuse("returns here are Form 1040 returns; other forms are tax modules (accounts)")
                b.filters.append(Filter(field="returns.form", op=Op.EQ, value="1040"))
                continue
            qualified = "modules.mft"
        if qualified == "transactions.tc" or qualified == "modules.mft":
            values = [int(v) for v in values]
        if negated:
            b.filters.append(Filter(field=qualified, op=Op.NE, value=values[0]))
        elif len(values) == 1:
            b.filters.append(Filter(field=qualified, op=Op.EQ, value=values[0]))
        else:  # sorted: "Texas or Ohio" and "Ohio or Texas" are one plan, one hash
            b.filters.append(Filter(field=qualified, op=Op.IN, value=sorted(values, key=str)))
    for qualified, fop, value, at in r.flags:
        if at in r.bound_flags:
            continue
        b.filters.append(Filter(field=qualified, op=Op(fop), value=value))
    as_condition = (op == "count" and not any(o in ("sum", "avg") for o, _ in r.ops) and top is None) or (
        op == "list" and top is None and not r.dims
    )
    if as_condition:
        for m in measure:  # "returns with business income", "how many in each state have a balance due"
            b.filters.append(Filter(field=m, op=Op.GT, value=0))
    time_field: str | None = None
    compare_field: str | None = None
    involved = [*mentioned, *(m.split(".")[0] for m in measure)]
    involved += [t.field.split(".")[0] for t in thresholds if t.field is not None]
    involved += [q.split(".")[0] for q, _, _, _ in r.values if "." in q]
    involved += [q.split(".")[0] for q, _, _, at in r.flags if at not in r.bound_flags]  # "got a refund in 2024"
    involved += _context_sets(r, verbs=False)
    closed = any(q == "cases.status" and v == "closed" for q, _, v, _ in r.flags)
    for t in r.times:
        if closed and t.field is None and C in (source, *involved):
            t.field = "cases.closed"  # "closed cases in 2025": those that closed in 2025
        qualified = _time_field(t, source, involved)
        if t.compare and not t.dates and qualified in YEAR_OF_DATE:
            qualified = YEAR_OF_DATE[qualified]  # "notices issued in 2025 vs 2026": side by side, by year issued
        b.filters.extend(_time_filters(t, qualified))
        time_field = qualified
        if t.compare:
            compare_field = qualified

    # Grouping.
    group_by: list[str] = []
    if compare_field is not None:
        group_by.append(compare_field)
    for qualified in r.side_by_side:  # "Texas vs Ohio", "W-2s vs 1099-NECs": one group per value
        compared = next(f.field for f in b.filters if f.field == qualified or (qualified == "mft" and "mft" in f.field))
        if compared not in group_by:
            group_by.append(compared)
    for cands, _, _, _ in r.dims:
        if not (r.grouped or top is not None or (r.ops and r.ops[0][0] == "list") or r.distinct or havings):
            raise _Refuse("say how to group: 'by state', 'per year', 'for each form'")
        fd = _dim_field(cands, source, mentioned, time_field, r.verb[0] if r.verb is not None else None)
        if fd not in group_by:
            group_by.append(fd)
    if r.grouped and not r.dims:
        raise _Refuse("I can group by state, year, form, notice type, filing status, MFT, case kind or status")

    order: list[Order] = []
    limit: int | None = None
    aggregates: list[Aggregate] = []
    select: list[str] = []
    if r.distinct:
        if not group_by or len(group_by) != 1:
            raise _Refuse("say what to count the different values of ('how many different states')")
        aggregates = [Aggregate(fn=AggFn.COUNT_DISTINCT, field=group_by[0])]
        group_by = []
    elif op == "list" and group_by and top is None and havings:
        # "which states have more than 50 taxpayers": the groups passing a threshold
        fn, what = _ranking(None, measure, r)
        aggregates = [Aggregate(fn=fn, field=what)]
    elif op == "list" and group_by:
        # "which state has the most returns": a ranking of groups
        fn, what = _ranking(top, measure, r)
        aggregates = [Aggregate(fn=fn, field=what)]
        if top is None:
            raise _Refuse("say what to rank by ('the most returns', 'the highest total wages')", "top")
        order = [Order(by=aggregates[0].label, descending=top[0] != "asc")]
        limit = top[2] if top[2] is not None else (None if r.dims[0][2] or top[1] == "sort" else 1)
    elif op == "list":
        amounts = [q for q, _, _, _ in r.flags if FIELDS[q].type in ("money", "int")]  # "owe money": show it
        select = _list_fields(head, source, [*measure, *amounts], thresholds)
        if top is not None:
            rank = measure[0] if measure else None
            if rank is None and amounts:  # "which 10 taxpayers owe the most": ranked by what they owe
                rank = amounts[0]
                b.filters = [f for f in b.filters if not (f.field == rank and f.op == Op.GT and f.value == 0)]
            if top[1] == "date":  # "the 10 most recent notices", "the oldest taxpayers"
                rank = "taxpayers.birth_date" if source == T else _DEFAULT_TIME.get(source)
                if rank is None or FIELDS[rank].type != "date":
                    raise _Refuse("I can order by date notices, cases, returns (filing), transactions and taxpayers")
                if source == R:
                    rank = "returns.filed_date"
                if rank not in select:
                    select.append(rank)
            if rank is None:
                raise _Refuse("say what to rank by ('the 10 largest refunds')", "list")
            order = [Order(by=rank, descending=top[0] != "asc")]
            limit = top[2] if top[2] is not None else (1 if _singular(r) and top[1] != "sort" else None)
    else:
        fn_of = {"count": AggFn.COUNT, "sum": AggFn.SUM, "avg": AggFn.AVG, "min": AggFn.MIN, "max": AggFn.MAX}
        if op == "count":
            aggregates = [Aggregate(fn=AggFn.COUNT)]
            if r.ops and any(o == "sum" for o, _ in r.ops) and measure:
                aggregates += [Aggregate(fn=AggFn.SUM, field=m) for m in measure]
        elif op == "sum" and not measure:
            raise _Refuse("say which amount to total: wages, AGI, refund, balance due, amount due ...", "sum")
        else:
            aggregates = [Aggregate(fn=fn_of[op], field=m) for m in dict.fromkeys(measure)]
        if top is not None:
            if not group_by:
                raise _Refuse("top N needs something to rank: 'top 5 states by number of returns'", "top")
            order = [Order(by=aggregates[0].label, descending=top[0] != "asc")]
            limit = top[2] if top[2] is not None else (None if (r.dims and r.dims[0][2]) or top[1] == "sort" else 1)
    having: list[Having] = []
    if havings and r.ops and r.ops[0][0] == "count" and r.dims and r.dims[0][1] == r.ops[0][1] + 1:
        raise _Refuse("I can list the groups past a threshold ('which states have more than 50 taxpayers'), "
                      "not count them", "having")  # fmt: skip
    for thr in havings:
        if not group_by:
            raise _Refuse("a threshold on a count or total keeps some groups: say which ('states with ...')", "having")
        having.append(_having(thr, aggregates, r))
    used = set(select) | {f.field for f in b.filters} | {a.field for a in aggregates if a.field}
    used |= {o.by for o in order}
    if any(m not in used for m in measure):
        raise _Refuse("I could not tell what to do with an amount the question names")
    plan = Plan(
        source=EntitySet(b.source),
        join=[EntitySet(s) for s in b.extra_sets],
        select=select,
        filters=b.filters,
        aggregates=aggregates,
        group_by=group_by,
        having=having,
        order_by=order,
        limit=limit,
    )
    return plan


def _having(thr: _Threshold, aggregates: list[Aggregate], r: _Reading) -> Having:
    """A group threshold on the plan's count or on the aggregate of the amount it names (added if missing)."""
    if thr.field == "count":
        agg = next((a for a in aggregates if a.fn == AggFn.COUNT and a.field is None), None)
        if agg is None:
            agg = Aggregate(fn=AggFn.COUNT)
            aggregates.append(agg)
        if any(v.dollar_sign or not v.is_integer for v in thr.values):
            raise _Refuse("a number of records is a whole number, not an amount of money")
        values = [v.integer for v in thr.values]
    else:
        assert thr.field is not None
        agg = next((a for a in aggregates if a.field == thr.field and a.fn in (AggFn.SUM, AggFn.AVG)), None)
        if agg is None:
            fn = AggFn.AVG if any(o == "avg" for o, _ in r.ops) else AggFn.SUM
            agg = Aggregate(fn=fn, field=thr.field)
            aggregates.append(agg)
        f = _threshold_filter(thr, thr.field)  # the same reading of the amount as a row threshold
        values = [int(v) for v in (f.value if isinstance(f.value, list) else [f.value])]
    if thr.op == "between":
        lo, hi = sorted(values)
        return Having(by=agg.label, op=Op.BETWEEN, value=[lo, hi])
    return Having(by=agg.label, op=_OP[thr.op], value=values[0])


def group_by_pending(r: _Reading) -> bool:
    """Whether the question ranks groups (its amount is what groups are ranked by, not a condition)."""
    return bool(r.dims) and (r.top is not None or r.grouped)


def _singular(r: _Reading) -> bool:
    """'the return with the highest refund' (one) vs 'returns with the highest refunds' (a ranking)."""
    nouns = [r.set_texts[at] for _, _, at in r.sets if at in r.set_texts]
    if len(nouns) > 1 and nouns[0] == "who":
        nouns = nouns[1:]  # "who are the taxpayers with the largest ...": the noun says how many
    if nouns:
        return not (nouns[0].endswith("s") or nouns[0] == "people")  # "who has the highest ...": one
    return not (r.fields and r.fields[-1][2].endswith("s"))


def _ranking(
    top: tuple[str, bool | str, int | None, int] | None, measure: list[str], r: _Reading
) -> tuple[AggFn, str | None]:
    if top is not None and top[1] is True:
        return AggFn.COUNT, None
    if measure:
        fn = AggFn.AVG if any(o == "avg" for o, _ in r.ops) else AggFn.SUM
        return fn, measure[0]
    return AggFn.COUNT, None


def _list_fields(
    head: tuple[str, str | None] | None, source: str, measure: list[str], thr: list[_Threshold]
) -> list[str]:
    base: tuple[str, ...]
    if head is not None and head[0] == T:
        base = _LIST_FIELDS[T] if head[1] == "individual" else _BUSINESS_LIST if head[1] else _ANY_LIST
    else:
        base = _LIST_FIELDS[source]
    out = list(base)
    for t in thr:
        if t.field is not None and t.field not in out:
            out.append(t.field)
    for m in measure:
        if m not in out:
            out.append(m)
    return out


def _bind_threshold(
    thr: _Threshold, r: _Reading, head: tuple[str, str | None] | None, mentioned: list[str], bound: set[int]
) -> str:
    """The field a threshold compares: the amount named just before or just after it, or the set's default."""
    preferred = ([head[0]] if head else []) + [s for s in mentioned if head is None or s != head[0]]
    for n, (mapping, at, _) in enumerate(r.fields):
        if n in bound:
            continue
        if at == thr.at - 1 or at == thr.end:
            if at == thr.at - 1 and _peek_kind(r, at - 1) == "agg" and (r.dims or r.grouped):
                thr.having = True  # "states with an average AGI over $80,000": the amount stays the measure
                return _field_for(mapping, preferred)
            if r.dims and not r.sets and r.top is None and r.ops and r.ops[0][0] == "list" and at == thr.end:
                thr.having = True  # "which states received more than $1 million in refunds": their total
                return _field_for(mapping, preferred)
            bound.add(n)
            return _field_for(mapping, preferred)
    for qualified, _, _, at in r.flags:
        if at == thr.at - 1 and FIELDS[qualified].type in ("money", "int"):
            r.bound_flags.add(at)  # "claimed a refund over $5,000", "owe more than $10,000"
            return qualified
    implied = {"information_returns.form": INFO, "notices.notice_type": N, "transactions.tc": X}
    money = all(v.looks_like_money for v in thr.values)
    counted = _peek_kind(r, thr.end) in ("value", "set")  # "more than 1 W-2", "over 3 notices": a count of records
    j = thr.end
    while _peek_kind(r, j) in ("flag", "value", "state"):
        j += 1  # "more than 10 open cases", "over 4 CP14 notices"
    counted = counted or _peek_kind(r, j) == "set"
    counted_set = next((s for s, _, at in sorted(r.sets, key=lambda x: x[2]) if thr.end <= at <= j), None)
    one = len(thr.values) == 1 and thr.values[0].hundredths == 100 and thr.op == "ge"
    none = len(thr.values) == 1 and thr.values[0].hundredths == 0 and thr.op == "gt"
    if counted and not money and (one or none) and counted_set is not None:
        return "exists"  # "taxpayers with at least one open case": with an open case (the join says it)
    if counted and not money and r.dims and head is not None and counted_set == head[0]:
        thr.having = True  # "states with more than 50 taxpayers": each group's count of what is counted
        return "count"
    if counted and not money:
        raise _Refuse("I can't count records per taxpayer ('more than one W-2'); ask how many W-2s, or by state")
    for qualified, _, _, at in r.values:
        if (at == thr.at - 1 or (money and at == thr.end)) and qualified in implied:
            return _DEFAULT_AMOUNT[implied[qualified]]  # "a 1099-NEC over $20,000", "over $5,000 in CP14s"
    if head is not None and head[0] in _DEFAULT_AMOUNT and not any(v.spelled and not money for v in thr.values):
        return _DEFAULT_AMOUNT[head[0]]  # "notices over $10,000", "1099-Rs over 50k" (not "more than one W-2")
    raise _Refuse("say which amount the comparison is about ('AGI over $100,000', 'refunds over $5,000')")


__all__ = ["EXAMPLES", "Unsupported", "translate"]
