"""What an allowed access discloses is declared as data (policy annotations, field marks) and checked."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from taxvault.access.disclosure import DisclosureRules
from taxvault.access.masking import MASKS, PURPOSE_NEEDS_FULL, SENSITIVE_MARK
from taxvault.access.policy import PolicyEngine, PolicyError, default_policy_dir


@pytest.fixture(scope="module")
def rules() -> DisclosureRules:
    return DisclosureRules.from_policies(PolicyEngine())


def test_every_permit_declares_what_it_discloses(rules: DisclosureRules) -> None:
    engine = PolicyEngine()
    permits = {i.id for i in engine.infos if i.effect == "permit"}
    assert permits and set(rules.disclose) == permits


@pytest.mark.parametrize(
    ("fired", "purpose", "grant", "full", "categories"),
    [
        (("caseworker-assigned-read",), "examination", frozenset(), PURPOSE_NEEDS_FULL["examination"], None),
        (("caseworker-assigned-read",), "taxpayer_assistance", frozenset(), frozenset(), None),
        (("break-glass",), "collection", frozenset(), frozenset(), None),
        # two permits fired: the more generous one applies (each alone would have allowed it)
        (
            ("break-glass", "caseworker-assigned-read"),
            "collection",
            frozenset(),
            PURPOSE_NEEDS_FULL["collection"],
            None,
        ),
        (("engineer-within-grant",), "pipeline_test", frozenset({"name"}), frozenset(), frozenset({"name"})),
        (("taxpayer-own-transcript",), "self_service", frozenset(), frozenset(), None),
        ((), "collection", frozenset(), frozenset(), None),
    ],
)
def test_plans_follow_the_declarations(
    rules: DisclosureRules,
    fired: tuple[str, ...],
    purpose: str,
    grant: frozenset[str],
    full: frozenset[str],
    categories: frozenset[str] | None,
) -> None:
    plan = rules.plan(fired, purpose, grant)
    assert plan.full == full
    assert plan.categories == categories


def test_break_glass_is_flagged_only_when_nothing_else_allowed_it(rules: DisclosureRules) -> None:
    assert rules.is_break_glass(("break-glass",))
    assert not rules.is_break_glass(("break-glass", "caseworker-assigned-read"))
    assert not rules.is_break_glass(("caseworker-assigned-read",))
    assert not rules.is_break_glass(())


def _copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), target)
    return target


def test_a_permit_without_a_disclosure_stops_the_door(tmp_path: Path) -> None:
    policies = _copy_policies(tmp_path)
    path = policies / "caseworker.cedar"
    path.write_text(path.read_text().replace('@disclose("purpose")', "", 1))
    with pytest.raises(PolicyError, match="must declare @disclose"):
        DisclosureRules.from_policies(PolicyEngine(policies))


def test_an_unknown_disclosure_stops_the_door(tmp_path: Path) -> None:
    policies = _copy_policies(tmp_path)
    path = policies / "caseworker.cedar"
    path.write_text(path.read_text().replace('@disclose("purpose")', '@disclose("everything")', 1))
    with pytest.raises(PolicyError):
        DisclosureRules.from_policies(PolicyEngine(policies))


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(schema.get("properties", {}))


def test_sensitive_fields_are_marked_on_every_response_model() -> None:
    """Any response field the masker treats as sensitive carries the mark, and every mark has a mask."""
    from taxvault.api.app import create_app
    from taxvault.store import make_engine

    app = create_app(make_engine("sqlite://"))
    schemas = app.openapi()["components"]["schemas"]
    marked: set[str] = set()
    unmarked: list[str] = []
    for model, schema in schemas.items():
        for name, prop in _properties(schema).items():
            if prop.get(SENSITIVE_MARK):
                marked.add(name)
            elif name in MASKS and not model.endswith("Request"):
                unmarked.append(f"{model}.{name}")
    assert not unmarked, f"sensitive fields without the mark: {unmarked}"
    assert marked <= set(MASKS), f"marked fields the door has no mask for: {marked - set(MASKS)}"
    assert {"tin", "birth_date", "bank_account", "payee_tin"} <= marked
