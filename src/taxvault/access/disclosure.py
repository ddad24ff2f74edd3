"""What an allowed access discloses, declared next to the policy that allows it.

Every ``permit`` policy carries a ``@disclose`` annotation (checked when the policies
load: a permit without one, or with an unknown value, stops the door from opening):

- ``purpose``: sensitive fields the declared purpose needs in full (:data:`PURPOSE_NEEDS_FULL`),
  every other sensitive field masked (caseworkers on an assigned case);
- ``grant``: only the field categories the caller's grant names, the rest withheld (engineers);
- ``masked``: every sensitive field masked;
- ``none``: the resource holds no taxpayer fields (my cases, the audit log).

When several permits allow one request, the most generous one applies: each alone
would have allowed it. A ``@review("break_glass")`` permit flags the access for
review when it is the only kind of permit that allowed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from taxvault.access.masking import PURPOSE_NEEDS_FULL, MaskPlan
from taxvault.access.policy import PolicyEngine, PolicyError

DISCLOSE = ("purpose", "masked", "none", "grant")
"""The kinds, most generous first."""
_RANK = {kind: n for n, kind in enumerate(DISCLOSE)}


@dataclass(frozen=True, slots=True)
class DisclosureRules:
    """Policy id -> what it discloses, and which policies flag an access for review."""

    disclose: dict[str, str]
    review: frozenset[str]

    @classmethod
    def from_policies(cls, policies: PolicyEngine) -> DisclosureRules:
        """Read the annotations of the loaded policies (PolicyError when one is missing or unknown)."""
        disclose: dict[str, str] = {}
        review: set[str] = set()
        for info in policies.infos:
            kind = info.annotations.get("disclose")
            if info.effect == "forbid":
                if kind is not None:
                    raise PolicyError(f"forbid policy {info.id} must not declare @disclose")
                continue
            if kind not in _RANK:
                raise PolicyError(f"permit policy {info.id} must declare @disclose as one of {', '.join(DISCLOSE)}")
            disclose[info.id] = kind
            flag = info.annotations.get("review")
            if flag is not None:
                if flag != "break_glass":
                    raise PolicyError(f"policy {info.id}: unknown @review {flag!r}")
                review.add(info.id)
        return cls(disclose, frozenset(review))

    def kind(self, policy_ids: Iterable[str]) -> str:
        """The most generous disclosure among the permits that allowed a request."""
        kinds = [self.disclose[p] for p in policy_ids if p in self.disclose]
        return min(kinds, key=_RANK.__getitem__) if kinds else "masked"

    def plan(self, policy_ids: Iterable[str], purpose: str, grant_categories: frozenset[str]) -> MaskPlan:
        """How to mask the answer to a request these permits allowed."""
        kind = self.kind(policy_ids)
        if kind == "purpose":
            return MaskPlan(full=PURPOSE_NEEDS_FULL.get(purpose, frozenset()))
        if kind == "grant":
            return MaskPlan(categories=grant_categories, line_items_are_amounts=True)
        return MaskPlan()

    def is_break_glass(self, policy_ids: Iterable[str]) -> bool:
        """True when only review-flagged permits allowed the access."""
        fired = [p for p in policy_ids if p in self.disclose]
        return bool(fired) and all(p in self.review for p in fired)
