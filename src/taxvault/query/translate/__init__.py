"""Translators from a question to a typed plan, and what they share.

A translator is a function ``translate(question, *, today) -> Plan | Unsupported``:
the offline parser (``offline.py``) or a language model behind an OpenAI-compatible
endpoint (``llm.py``). It proposes; it never runs anything. A question it cannot
express gets :class:`Unsupported` ("I can't express that", with the nearest supported
forms), never a guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from taxvault.query.plan import Plan

CANNOT_EXPRESS = "I can't express that"


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A question the translator cannot turn into a plan: why, and the nearest forms it supports.

    ``message`` is what the person asking sees: "I can't express that: <reason>." (The
    offline translator's own class has the same shape; the query service reads only
    ``message`` and ``nearest``.)
    """

    reason: str
    nearest: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return f"{CANNOT_EXPRESS}: {self.reason}."


class Translator(Protocol):
    """What every translator is."""

    def __call__(self, question: str, *, today: dt.date) -> Plan | Unsupported: ...


__all__ = ["CANNOT_EXPRESS", "Translator", "Unsupported"]
