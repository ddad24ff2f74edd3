"""Cedar policies: loaded and validated once, then a pure, memoised decision function.

Policies and their schema live as files in ``access/policies/``. :class:`PolicyEngine`
refuses to start if any policy does not validate against the schema. A decision is
a pure function of (principal, action, resource, context) facts, so identical
inputs are answered from a small cache instead of re-evaluating Cedar.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy

NAMESPACE = "TaxVault"
_ID_ANNOTATION = re.compile(r'@id\("([^"]+)"\)')
DEFAULT_DENY = "default-deny"


class PolicyError(RuntimeError):
    """The policy files do not parse or do not validate: the server must not start."""


@dataclass(frozen=True, slots=True)
class PrincipalFacts:
    """What the policies know of the caller."""

    id: str
    kind: str
    roles: frozenset[str]
    unit: str
    dollar_limit_cents: int


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """What the policies know of the record (never a TIN: ``ref`` is opaque)."""

    ref: str
    kind: str
    dataset: str
    taxpayer_data: bool
    restricted: bool = False
    employee: bool = False


@dataclass(frozen=True, slots=True)
class ContextFacts:
    """The request's context: purpose, relation, assignments, grants, break-glass."""

    purpose: str
    relation: str = "none"
    assigned_purposes: frozenset[str] = frozenset()
    grants: frozenset[tuple[str, str]] = frozenset()  # (purpose, dataset)
    break_glass: bool = False
    amount_cents: int = 0
    second_person: bool = True  # the caller is not the one who requested what she acts on
    manages_requester: bool = False  # the requester reports to the caller (principals.manager_id)


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The outcome and the ids of the policies that decided it."""

    allowed: bool
    policies: tuple[str, ...]

    @property
    def policy_text(self) -> str:
        """The deciding policy ids as one audit field."""
        return ",".join(self.policies)[:200]


def default_policy_dir() -> Path:
    """The policy files shipped with the package."""
    return Path(str(resources.files("taxvault.access") / "policies"))


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One static policy as written: its ``@id``, effect and other annotations."""

    id: str
    effect: str  # permit | forbid
    annotations: dict[str, str]


def _policy_infos(text: str) -> list[PolicyInfo]:
    """Each static policy in file order (Cedar numbers them policy0, policy1, ...)."""
    doc = json.loads(cedarpy.policies_to_json_str(text))
    static = doc.get("staticPolicies", {})
    infos: list[PolicyInfo] = []
    for n in range(len(static)):
        body = static[f"policy{n}"]
        annotations = {str(k): str(v) for k, v in (body.get("annotations") or {}).items()}
        name = annotations.get("id")
        if not name:
            raise PolicyError(f"policy {n} has no @id annotation")
        infos.append(PolicyInfo(name, str(body.get("effect", "")), annotations))
    if len({i.id for i in infos}) != len(infos):
        raise PolicyError("two policies share an @id")
    return infos


def _policy_ids(text: str) -> list[str]:
    """The ``@id`` of each static policy, in file order."""
    return [i.id for i in _policy_infos(text)]


class PolicyEngine:
    """The parsed, validated policy set and the decision function over it."""

    def __init__(self, policy_dir: Path | None = None, *, cache_size: int = 8192) -> None:
        directory = policy_dir or default_policy_dir()
        files = sorted(directory.glob("*.cedar"))
        if not files:
            raise PolicyError(f"no *.cedar policy files in {directory}")
        schema_path = directory / "schema.cedarschema"
        if not schema_path.exists():
            raise PolicyError(f"no Cedar schema at {schema_path}")
        self.text = "\n".join(f.read_text(encoding="utf-8") for f in files)
        self.schema_text = schema_path.read_text(encoding="utf-8")
        try:
            self._schema = cedarpy.Schema.from_str(self.schema_text)
            self._policies = cedarpy.PolicySet.from_str(self.text)
        except (ValueError, RuntimeError) as exc:
            raise PolicyError(f"the policies or schema do not parse: {exc}") from None
        result = cedarpy.validate_policies(self.text, self._schema)
        if not result.validation_passed:
            raise PolicyError(f"the policies do not validate against the schema: {result.errors}")
        self.infos = _policy_infos(self.text)
        self.ids = [i.id for i in self.infos]
        self.files = [f.name for f in files]
        self._cache: OrderedDict[tuple[Any, ...], PolicyDecision] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def decide(
        self, principal: PrincipalFacts, action: str, resource: ResourceFacts, context: ContextFacts
    ) -> PolicyDecision:
        """Allow or deny, with the deciding policy ids (forbid overrides permit; default deny)."""
        key = (principal, action, resource.kind, resource.dataset, resource.taxpayer_data,
               resource.restricted, resource.employee, context)  # fmt: skip
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        decision = self._evaluate(principal, action, resource, context)
        with self._lock:
            self._cache[key] = decision
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return decision

    def _evaluate(
        self, principal: PrincipalFacts, action: str, resource: ResourceFacts, context: ContextFacts
    ) -> PolicyDecision:
        p_uid = {"type": f"{NAMESPACE}::Principal", "id": principal.id}
        r_uid = {"type": f"{NAMESPACE}::Record", "id": resource.ref}
        entities = [
            {
                "uid": p_uid,
                "attrs": {
                    "kind": principal.kind,
                    "roles": sorted(principal.roles),
                    "unit": principal.unit,
                    "dollar_limit_cents": principal.dollar_limit_cents,
                },
                "parents": [],
            },
            {
                "uid": r_uid,
                "attrs": {
                    "kind": resource.kind,
                    "dataset": resource.dataset,
                    "taxpayer_data": resource.taxpayer_data,
                    "restricted": resource.restricted,
                    "employee": resource.employee,
                },
                "parents": [],
            },
        ]
        request = {
            "principal": p_uid,
            "action": {"type": f"{NAMESPACE}::Action", "id": action},
            "resource": r_uid,
            "context": {
                "purpose": context.purpose,
                "relation": context.relation,
                "assigned_purposes": sorted(context.assigned_purposes),
                "grants": [{"purpose": p, "dataset": d} for p, d in sorted(context.grants)],
                "break_glass": context.break_glass,
                "amount_cents": context.amount_cents,
                "second_person": context.second_person,
                "manages_requester": context.manages_requester,
            },
        }
        result = cedarpy.is_authorized(request, self._policies, entities, self._schema)
        reasons = tuple(sorted(self._name(r) for r in result.diagnostics.reasons))
        allowed = bool(result.allowed)
        return PolicyDecision(allowed, reasons or (() if allowed else (DEFAULT_DENY,)))

    def _name(self, cedar_id: str) -> str:
        if cedar_id.startswith("policy") and cedar_id[6:].isdigit():
            n = int(cedar_id[6:])
            if n < len(self.ids):
                return self.ids[n]
        return cedar_id


def validate_policy_dir(policy_dir: Path) -> list[str]:
    """Load and validate a policy directory; returns the policy ids (raises PolicyError)."""
    return PolicyEngine(policy_dir).ids
