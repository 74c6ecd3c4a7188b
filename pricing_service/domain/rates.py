"""Exact decimal arithmetic for rates and money: one context, no binary floats."""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import ParamSpec, TypeVar

# A fixed context so that every division and power rounds identically on every
# machine, years later: replay depends on it.
CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def exact(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `fn` under CTX, whatever decimal context the caller's thread has.

    Decimal operators (+, -, *, /) and quantize() without a context use the
    thread's current context (28 digits by default, or whatever a notebook or
    library set): without this, a quote would depend on the caller.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(CTX):
            return fn(*args, **kwargs)

    return wrapper


ZERO = Decimal(0)
ONE = Decimal(1)
BP_PER_PERCENT = Decimal(100)
FEN = Decimal(1)

ROUNDING_MODES = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP}
# CTX with each policy rounding mode, for quantizing to a step.
_ROUNDERS = {name: Context(prec=34, rounding=mode) for name, mode in ROUNDING_MODES.items()}


def bp_to_percent(bp: Decimal) -> Decimal:
    """300 bp -> 3.00 (percent), exact."""
    return CTX.divide(bp, BP_PER_PERCENT)


def percent_to_bp(percent: Decimal) -> Decimal:
    """3.00 (percent) -> 300 bp, exact."""
    return CTX.multiply(percent, BP_PER_PERCENT)


def fmt_percent(bp: Decimal) -> str:
    """A rate in bp as a percent string with at least two decimals: 330 -> "3.30"."""
    pct = bp_to_percent(bp)
    exponent = pct.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        pct = pct.quantize(Decimal("0.01"), context=CTX)
    return format(pct, "f")


def fmt_decimal(value: Decimal) -> str:
    """Plain notation, no exponent, trailing zeros kept as computed."""
    return format(value, "f")


def round_to_step(value: Decimal, step: Decimal, mode: str) -> Decimal:
    """Round `value` to a multiple of `step` by the named mode ("half_even", "half_up")."""
    units = _ROUNDERS[mode].quantize(CTX.divide(value, step), ONE)
    return CTX.multiply(units, step)


def round_fen(amount: Decimal) -> int:
    """An exact amount in fen rounded half-even to a whole fen."""
    return int(CTX.quantize(amount, FEN))  # CTX rounds half-even
