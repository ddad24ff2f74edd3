"""How often the generated fast paths handed a record to the plain code, and why they may.

Why: the generated encoder and decoder are optimisations that give a record to
the plain (reference) code whenever they are unsure.  Output stays correct
either way, so a fast path that always declined -- or always crashed and was
caught -- would pass every equality test while silently running at the plain
code's speed.  These counters let tests and benchmarks assert that the fast
path actually ran; the narrow :data:`ENCODER_REFUSALS` tuple is the only thing
the callers catch, so any other exception from generated code surfaces as a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RecordEncodeError


class Fallback(Exception):
    """The generated encoder is not sure: let the plain writer handle this record."""


# What the generated encoder may legitimately raise: its own "not sure" signal, or the error
# of a field it wrote through the plain writer's own value encoder (the plain writer then
# raises the same error for the record).
ENCODER_REFUSALS: tuple[type[Exception], ...] = (Fallback, RecordEncodeError)


@dataclass
class FastPathStats:
    """Process-wide counts of hand-overs to the plain code (read before and after a call)."""

    encoder_fallbacks: int = 0
    decoder_fallbacks: int = 0


STATS = FastPathStats()
