"""Money in the ledger is integer cents: no float literal, no float() call, no true division of cents.

A scan of the source rather than of values: a float that only appears on some
path would slip past any finite set of examples. Division is allowed only inside
``Decimal``/``Fraction`` arithmetic, which the accruals module confines to
documented rounding points, so ``/`` is checked to have a Decimal on one side
there and to be absent elsewhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import taxvault.ledger

LEDGER = Path(taxvault.ledger.__file__).parent


def _sources() -> list[Path]:
    return sorted(LEDGER.glob("*.py"))


def test_no_float_anywhere_in_the_ledger() -> None:
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), f"{path.name}:{node.lineno}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "float", f"{path.name}:{node.lineno}"


def test_true_division_only_in_decimal_arithmetic() -> None:
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        divisions = [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
        if path.name != "accruals.py":
            assert not divisions, f"{path.name} divides"
            continue
        for d in divisions:
            text = ast.unparse(d)
            assert "Decimal" in text, f"accruals.py:{d.lineno}: {text}"
