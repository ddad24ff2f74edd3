"""``taxvault stats ...``: differentially private counts and sums, and the privacy budget.

Every command acts as ``--as`` for ``--purpose`` through the door (analysts, for
research or statistics); every answer shows the epsilon it spent and the budget left.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from taxvault.access.door import Door, Session, new_request_id
from taxvault.access.local import local_door
from taxvault.errors import TaxvaultError
from taxvault.stats import service
from taxvault.stats.shapes import Shape
from taxvault.store import make_engine
from taxvault.terminal import fail

app = typer.Typer(
    help="Differentially private counts and sums (analysts), and the privacy budget.", no_args_is_help=True
)
console = Console()

_AS = typer.Option(..., "--as", help="The principal acting (an analyst; the door decides).")
_PURPOSE = typer.Option("research", "--purpose", help="Purpose of use (research or statistics).")
_BY = typer.Option([], "--by", help="Group by state, year, form or filing_status (up to two).")
_DATASET = typer.Option("returns", "--dataset", help="returns or information_returns.")
_YEAR = typer.Option(None, "--year", help="Only this tax year (less noise: one record per taxpayer).")
_FORM = typer.Option(None, "--form", help="Only this form (e.g. W-2).")
_STATE = typer.Option(None, "--state", help="Only this state (two letters).")
_EPSILON = typer.Option(0.5, "--epsilon", help="Privacy budget this answer spends.")
_MECHANISM = typer.Option("laplace", "--mechanism", help="laplace, or gaussian (spends delta too).")
_DELTA = typer.Option(0.0, "--delta", help="Delta the Gaussian mechanism spends (e.g. 1e-6).")
_K = typer.Option(10, "--k", help="Minimum cell size (at least 10).")
_JSON = typer.Option(False, "--json", help="Print the answer as JSON.")


def _session(door: Door, who: str, purpose: str) -> Session:
    rid = new_request_id("cli")
    return door.session(door.caller(who, request_id=rid), purpose, channel="cli", request_id=rid)


def _run(who: str, purpose: str, shape_args: dict[str, Any], as_json: bool) -> None:
    try:
        shape = Shape.model_validate(shape_args)
    except ValidationError as exc:
        raise fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()[:3])) from None
    try:
        with local_door(make_engine()) as door:
            out = service.answer(door, _session(door, who, purpose), shape)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    if as_json:
        console.print_json(json.dumps(out))
        return
    money = shape.measure == "sum"
    table = Table(*shape.by, "value", "± (95%)", title=f"{shape.measure} of {shape.field or shape.dataset}")
    for g in out["groups"]:
        keys = [str(g[d]) for d in shape.by]
        if g["suppressed"]:
            table.add_row(*keys, f"suppressed (< {out['k']})", "")
        else:
            value, ci = g["value"], out["ci95"]
            table.add_row(*keys, _dollars(value) if money else f"{value:,}", _dollars(ci) if money else f"{ci:,}")
    console.print(table)
    b = out["budget"]
    console.print(
        f"spent epsilon {out['epsilon']:g}"
        + (f", delta {out['delta']:g}" if out["delta"] else "")
        + f" ({out['mechanism']}, noise scale {out['noise_scale']:,.6g}); "
        f"budget left: epsilon {b['epsilon_left']:g} of {b['epsilon_limit']:g}, delta {b['delta_left']:g}",
        highlight=False,
    )


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.0f}"


def _bounds(text: str) -> tuple[int, int]:
    try:
        lo, hi = (float(p) for p in text.split(":"))
    except ValueError:
        raise typer.BadParameter("give the bounds in dollars as LOW:HIGH, e.g. 0:250000") from None
    return round(lo * 100), round(hi * 100)


def _common(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


@app.command("count")
def count(
    who: str = _AS, purpose: str = _PURPOSE, by: list[str] = _BY, dataset: str = _DATASET,
    year: int | None = _YEAR, form: str | None = _FORM, state: str | None = _STATE,
    epsilon: float = _EPSILON, mechanism: str = _MECHANISM, delta: float = _DELTA, k: int = _K, as_json: bool = _JSON,
) -> None:  # fmt: skip
    """A noisy count of records per group."""
    args = _common(measure="count", dataset=dataset, by=tuple(by), year=year, form=form, state=state)
    _run(who, purpose, {**args, "epsilon": epsilon, "mechanism": mechanism, "delta": delta, "k": k}, as_json)


@app.command("sum")
def sum_(
    field: str = typer.Argument(..., help="The money field to add, e.g. wages_cents."),
    bounds: str = typer.Option(..., "--bounds", help="Least and greatest dollars one record adds: LOW:HIGH."),
    who: str = _AS, purpose: str = _PURPOSE, by: list[str] = _BY, dataset: str = _DATASET,
    year: int | None = _YEAR, form: str | None = _FORM, state: str | None = _STATE,
    epsilon: float = _EPSILON, mechanism: str = _MECHANISM, delta: float = _DELTA, k: int = _K, as_json: bool = _JSON,
) -> None:  # fmt: skip
    """A noisy sum of a money field per group, each record clamped to the bounds."""
    args = _common(measure="sum", field=field, dataset=dataset, by=tuple(by), year=year, form=form, state=state)
    args |= {"bounds_cents": _bounds(bounds), "epsilon": epsilon, "mechanism": mechanism, "delta": delta, "k": k}
    _run(who, purpose, args, as_json)


@app.command("budget")
def budget(who: str = _AS, purpose: str = _PURPOSE, as_json: bool = _JSON) -> None:
    """The privacy budget: limits, spent, left."""
    try:
        with local_door(make_engine()) as door:
            out = service.budget_left(door, _session(door, who, purpose))
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    if as_json:
        console.print_json(json.dumps(out))
        return
    console.print(
        f"{out['principal']}: epsilon {out['epsilon_left']:g} left of {out['epsilon_limit']:g} "
        f"(spent {out['epsilon_spent']:g}); delta {out['delta_left']:g} left of {out['delta_limit']:g}",
        highlight=False,
    )


@app.command("set-budget")
def set_budget(
    analyst: str = typer.Argument(..., help="The analyst whose limits are set."),
    epsilon: float = typer.Option(..., "--epsilon", help="Epsilon limit."),
    delta: float = typer.Option(1e-5, "--delta", help="Delta limit."),
    who: str = typer.Option(..., "--as", help="The privacy officer acting."),
    purpose: str = typer.Option("oversight_review", "--purpose", help="Purpose of use."),
) -> None:
    """Set an analyst's privacy budget (the privacy officer; never below what she has spent)."""
    try:
        with local_door(make_engine()) as door:
            out = service.set_budget(door, _session(door, who, purpose), analyst, epsilon=epsilon, delta=delta)
    except TaxvaultError as exc:
        raise fail(str(exc)) from None
    limits = f"epsilon limit {out['epsilon_limit']:g}, delta limit {out['delta_limit']:g}"
    console.print(f"{analyst}: {limits}", highlight=False)
