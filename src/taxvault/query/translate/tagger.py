"""Tokens to tags: each phrase of the question to what it means, or to "unknown".

Why a separate pass: the interpreter reasons over a short list of meanings
(a set, a field, a state, a threshold) instead of raw words, and a word the
grammar does not know is found here, before any interpretation could paper
over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taxvault.query.translate.grammar import FILLER_WORDS, MAX_PHRASE, PHRASES
from taxvault.query.translate.lexicon import STATE_CODE_WORDS_AMBIGUOUS, STATES
from taxvault.query.translate.tokens import Token, tokenize
from taxvault.query.translate.values import read_numeral, scale_of, word_number


@dataclass(frozen=True, slots=True)
class Tagged:
    """One tag over tokens ``[start, end)``; ``text`` is the phrase as written (lower case)."""

    kind: str
    value: Any
    start: int
    end: int
    text: str


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


WRITE_WORDS = _wordset(
    """delete remove drop update insert modify alter erase truncate create add set replace
    merge adjust abate reverse assign reassign grant revoke approve send issue mark close reopen
    write overwrite purge destroy wipe edit rename upsert exec execute"""
)
"""Verbs that ask for a change: the plan language cannot express them (refused with that reason)."""

_BEFORE_A_COMMAND = _wordset("please and then to now you must should can could would will i we let's also")

SECRET_WORDS = _wordset(
    """ssn ssns tin tins social-security password passwords pin pins
    routing bank-account account-number"""
)
SECRET_PHRASES: tuple[tuple[str, ...], ...] = (
    ("social", "security", "number"),
    ("social", "security", "numbers"),
    ("bank", "account"),
    ("bank", "accounts"),
    ("account", "number"),
    ("account", "numbers"),
    ("routing", "number"),
    ("routing", "numbers"),
    ("taxpayer", "identification", "number"),
    ("ip", "pin"),
)
"""Identifiers and bank details: never selectable, filterable nor groupable by anyone."""

UNSUPPORTED_MEASURES = _wordset(
    """median medians percentile percentiles percent percentage percentages proportion proportions ratio
    ratios share rate rates growth trend trends distribution variance deviation correlation predict forecast
    why likely probability chance increase decrease change difference"""
)
"""Measures the plan language does not compute (yet): refused by name rather than approximated."""


@dataclass(frozen=True, slots=True)
class Tagging:
    """The tags of a question, or the first thing in it that cannot be read."""

    tags: list[Tagged]
    unknown: str | None = None
    reason: str | None = None


def _state_code(tok: Token, prev: str | None, shouting: bool = False) -> str | None:
    code = tok.text.upper()
    if len(code) != 2 or code not in STATES:
        return None
    if tok.text in STATE_CODE_WORDS_AMBIGUOUS:  # "in", "or", "me": a state only as "IN" (not all in capitals)
        return code if (tok.raw == code and not shouting) or prev in ("state", "in", "from") else None
    return code


def _longer_after_total(texts: list[str], i: int, length: int) -> bool:
    """Whether the words after "total" form a field phrase reaching past the one "total" starts."""
    for n in range(min(MAX_PHRASE, len(texts) - i - 1), length - 1, -1):
        hit = PHRASES.get(tuple(texts[i + 1 : i + 1 + n]))
        if hit is not None and hit[0] == "field":
            return True
    return False


def tag(question: str) -> Tagging:
    """Tag every token of ``question``; stop at the first unknown or forbidden word."""
    tokens = tokenize(question)
    texts = [t.text for t in tokens]
    shouting = not any(ch.islower() for ch in question)  # "HOW MANY ... IN TEXAS": capitals say nothing
    tags: list[Tagged] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        for secret in SECRET_PHRASES:
            if tuple(texts[i : i + len(secret)]) == secret:
                return Tagging(tags, " ".join(secret), "secret")
        if tok.text in SECRET_WORDS:
            return Tagging(tags, tok.text, "secret")
        if tok.text in WRITE_WORDS and (i == 0 or texts[i - 1] in _BEFORE_A_COMMAND):
            return Tagging(tags, tok.text, "write")  # "delete ...", "please update ...", "and send ..."
        if tok.text in UNSUPPORTED_MEASURES:
            return Tagging(tags, tok.text, "measure")
        matched = False
        for length in range(min(MAX_PHRASE, n - i), 0, -1):
            words = tuple(texts[i : i + length])
            hit = PHRASES.get(words)
            if hit is None:
                continue
            if length > 1 and words[0] == "total" and hit[0] == "field" and _longer_after_total(texts, i, length):
                continue  # "total tax withheld": the total of "tax withheld", not "total tax" then "withheld"
            if length == 1:
                code = _state_code(tok, texts[i - 1] if i else None, shouting)
                if code is not None and tok.raw == code and hit[0] in ("when", "or", "filler", "group"):
                    break  # "IN", "OR" written in capitals: the state
            tags.append(Tagged(hit[0], hit[1], i, i + length, " ".join(words)))
            i += length
            matched = True
            break
        if matched:
            continue
        if tok.kind in ("money", "number"):
            num = read_numeral(tok.text)
            if num is None:
                return Tagging(tags, tok.raw, "number")
            tags.append(Tagged("num", num, i, i + 1, tok.text))
            i += 1
            continue
        code = _state_code(tok, texts[i - 1] if i else None, shouting)
        if code is not None:
            tags.append(Tagged("state", code, i, i + 1, tok.text))
            i += 1
            continue
        spelled = word_number(tok.text)
        if spelled is not None:
            tags.append(Tagged("word_num", spelled, i, i + 1, tok.text))
            i += 1
            continue
        if scale_of(tok.text) is not None and tok.kind == "word":
            tags.append(Tagged("scale", scale_of(tok.text), i, i + 1, tok.text))
            i += 1
            continue
        if tok.text in FILLER_WORDS:
            tags.append(Tagged("filler", None, i, i + 1, tok.text))
            i += 1
            continue
        return Tagging(tags, tok.raw, "unknown")
    return Tagging(tags)
