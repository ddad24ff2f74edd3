"""Browsing detectors (UNAX): named rules over the audit log, each with a rationale and a severity.

The rules run on columns (:mod:`.frame` parses a batch of events, :mod:`.facts` loads
what the store knows about the people in it, DuckDB evaluates every rule over the
whole batch); :mod:`taxvault.oversight.scan` drives them incrementally and raises
their findings through :mod:`taxvault.oversight.alerts`. Denied attempts count like
reads: the door refused them, but the person still looked.
"""

from __future__ import annotations

from taxvault.oversight.detect.rules import RULES, Rule, rule

__all__ = ["RULES", "Rule", "rule"]
