"""[bounds] and [rounding]: the floor and cap of the rate, and its one rounding at the end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pricing_service.domain.rates import CTX, ROUNDING_MODES, percent_to_bp
from pricing_service.policy.checker import MAX_RATE_PERCENT, MAX_STEP_BP, Checker, show


@dataclass(frozen=True, slots=True)
class Bounds:
    """Floor and cap in percent; None where a bound was bad (and a problem recorded)."""

    floor: Decimal | None
    cap: Decimal | None


@dataclass(frozen=True, slots=True)
class Rounding:
    """The section's fields; None where a field was bad (and a problem recorded)."""

    step_bp: Decimal | None
    mode: str | None
    annualised_decimals: int | None


def build_bounds(c: Checker, document: Mapping[str, Any]) -> Bounds:
    """Floor and cap, each from 0 to MAX_RATE_PERCENT, the floor below the cap."""
    bounds = c.table(document, "bounds", "")
    floor, cap = (
        c.within(
            c.decimal(c.get(bounds, name, "bounds"), f"bounds.{name}"),
            f"bounds.{name}",
            Decimal(0),
            MAX_RATE_PERCENT,
            " (percent)",
        )
        for name in ("floor", "cap")
    )
    if floor is not None and cap is not None and not Decimal(0) <= floor < cap:
        c.problem("bounds", f"need 0 <= floor < cap, got floor {floor} and cap {cap}")
    return Bounds(floor, cap)


def build_rounding(c: Checker, document: Mapping[str, Any], bounds: Bounds) -> Rounding:
    """The step (with the bounds on its grid), the mode, the annualised rate's decimals."""
    rounding = c.table(document, "rounding", "")
    step = c.decimal(c.get(rounding, "step_bp", "rounding"), "rounding.step_bp")
    if step is not None and step <= 0:
        c.problem("rounding.step_bp", "must be > 0")
    elif step is not None and step > MAX_STEP_BP:
        c.problem("rounding.step_bp", f"must be at most {MAX_STEP_BP} bp, got {step}")
        step = None
    if step is not None and step > 0:
        _bounds_on_grid(c, bounds, step)
    mode = c.typed(c.get(rounding, "mode", "rounding"), "rounding.mode", str, "a string")
    if mode is not None and mode not in ROUNDING_MODES:
        c.problem("rounding.mode", f"must be one of {', '.join(ROUNDING_MODES)}, got {show(mode)}")
    ann_dec = c.typed(
        c.get(rounding, "annualised_decimals", "rounding"),
        "rounding.annualised_decimals",
        int,
        "an integer",
    )
    if ann_dec is not None and not 0 <= ann_dec <= 6:
        c.problem("rounding.annualised_decimals", "must be 0 to 6")
    return Rounding(step, mode, ann_dec)


def _bounds_on_grid(c: Checker, bounds: Bounds, step: Decimal) -> None:
    if bounds.floor is None or bounds.cap is None:
        return
    # Rounding comes after the bounds: a bound off the rounding grid would be
    # crossed by the rounded rate (floor 102 bp, step 5 -> 100 bp).
    for name, bound in (("floor", bounds.floor), ("cap", bounds.cap)):
        try:
            on_grid = CTX.remainder(percent_to_bp(bound), step) == 0
        except InvalidOperation:  # more than 34 digits of steps
            on_grid = False
        if not on_grid:
            c.problem(
                f"bounds.{name}",
                f"{bound}% must be a multiple of rounding.step_bp ({step} bp)",
            )
