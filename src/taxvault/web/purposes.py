"""The purposes of use the console offers: those the policies and the masking rules know.

Why from the policies: a purpose nobody's policy mentions would only be refused; the list
follows the Cedar files (literals compared with ``context.purpose``), the case purposes the
masking rules know, and ``self_service`` (a taxpayer reading her own records).
"""

from __future__ import annotations

import re

from taxvault.access.masking import PURPOSE_NEEDS_FULL

SELF_SERVICE = "self_service"
_EQUALS = re.compile(r'context\.purpose\s*==\s*"([a-z][a-z_]{1,39})"')
_IN_LIST = re.compile(r"\[([^\]]*)\]\s*\.contains\(\s*context\.purpose\s*\)")
_LITERAL = re.compile(r'"([a-z][a-z_]{1,39})"')


def known_purposes(policy_text: str) -> tuple[str, ...]:
    """Every purpose the policies name or the masking rules know, sorted."""
    found = set(PURPOSE_NEEDS_FULL) | {SELF_SERVICE}
    found.update(_EQUALS.findall(policy_text))
    for group in _IN_LIST.findall(policy_text):
        found.update(_LITERAL.findall(group))
    return tuple(sorted(found))


def label(purpose: str) -> str:
    """``taxpayer_assistance`` -> ``Taxpayer assistance``."""
    return purpose.replace("_", " ").capitalize()
