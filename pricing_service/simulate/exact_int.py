"""Exact integer arithmetic over int64 columns: rounding, scaled comparisons, thresholds.

numpy's int64 wraps silently on overflow. Every function here either bounds its
inputs so that no intermediate can leave int64 and works there, or computes
the rows it cannot bound with Python integers (object arrays), which do not
overflow. No binary float decides anything here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

INT64_MAX = 2**63 - 1

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]

HALF_EVEN = "half_even"
HALF_UP = "half_up"


def fits(x: Ints, bound: int) -> Bools:
    """Rows with |x| <= bound (written as two comparisons: abs(INT64_MIN) wraps)."""
    return np.asarray((x >= -bound) & (x <= bound), dtype=np.bool_)


def round_quotient(num: Ints, den: int | Ints, mode: str) -> Ints:
    """num / den rounded to an integer by `mode`, exactly.

    "half_even" is banker's rounding; "half_up" sends ties away from zero, as
    Decimal's ROUND_HALF_UP does. `den` is one int or one per row, each in
    1..2**62-1 (so that twice a remainder stays in int64); any int64 numerator.
    """
    if isinstance(den, int):
        if not 0 < den < 2**62:
            raise ValueError(f"denominator {den} outside 1..2**62-1")
        if den == 1:
            return num.astype(np.int64, copy=True)
        divisor: np.int64 | Ints = np.int64(den)
    else:
        if len(den) and not (den.min() > 0 and den.max() < 2**62):
            raise ValueError("a denominator is outside 1..2**62-1")
        divisor = den
    q, r = np.divmod(num, divisor)  # floor quotient, 0 <= r < den
    twice = r * 2
    if mode == HALF_EVEN:
        tie_up = (q & 1) == 1
    elif mode == HALF_UP:
        # A tie is q + 1/2, positive exactly when q >= 0: away from zero is up there.
        tie_up = q >= 0
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    up = (twice > divisor) | ((twice == divisor) & tie_up)
    return np.asarray(q + up, dtype=np.int64)


# mul_div_round: quotients up to this size, denominators up to this size.
MUL_DIV_LIMIT = 2.0**54
MUL_DIV_MAX_DEN = 2**42


def mul_div_round(a: Ints, b: Ints, c: Ints, den: Ints, mode: str) -> tuple[Ints, Bools]:
    """a x b x c / den rounded by `mode`, exactly, where the product may overflow int64.

    Returns (values, done): rows with 0 < den <= 2**42 and a quotient of at
    most 2**54 in magnitude are done; the others are 0 and left to the caller.

    A float64 quotient q' is only a candidate: its relative error is at most
    7u (u = 2^-53: three conversions, two products, one division), so within
    2**54 it is less than 17 from the true quotient, and the true remainder
    R = a b c - floor(q') den lies in (-18 den, 18 den), inside int64. R is
    computed in uint64, whose arithmetic is exact modulo 2^64 whatever the
    products overflow to, and read back as int64: that is R itself. Then
    q = floor(q') + R // den and r = R mod den are the exact floor quotient and
    remainder, and the rounding is decided on r alone.
    """
    usable = (den > 0) & (den <= MUL_DIV_MAX_DEN)
    divisor = np.where(usable, den, 1)
    estimate = a.astype(np.float64) * b.astype(np.float64) * c.astype(np.float64) / divisor
    done = usable & (np.abs(estimate) <= MUL_DIV_LIMIT)
    guess = np.where(done, np.floor(np.where(done, estimate, 0.0)), 0.0).astype(np.int64)
    u64 = np.uint64
    exact_mod = a.astype(u64) * b.astype(u64) * c.astype(u64) - guess.astype(u64) * den.astype(u64)
    remainder = np.where(done, exact_mod.view(np.int64), 0)
    q = guess + remainder // divisor
    r = remainder % divisor
    twice = r * 2
    if mode not in (HALF_EVEN, HALF_UP):
        raise ValueError(f"unknown rounding mode {mode!r}")
    # A tie is q + 1/2, positive exactly when q >= 0 (half_up: away from zero).
    tie_up = (q & 1) == 1 if mode == HALF_EVEN else q >= 0
    up = (twice > divisor) | ((twice == divisor) & tie_up)
    return np.asarray(np.where(done, q + up, 0), dtype=np.int64), np.asarray(done)


def round_to_step(values: Ints, step: int, mode: str) -> Ints:
    """values rounded to a multiple of `step` by `mode` (|values| well inside int64)."""
    if step == 1:
        return values.astype(np.int64, copy=True)
    return np.asarray(round_quotient(values, step, mode) * step, dtype=np.int64)


def round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half-even, in Python integers."""
    q, r = divmod(numerator, denominator)  # floors: r / denominator in [0, 1)
    if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
        q += 1
    return q


def round_half_even_objects(num: Objects, den: Objects | int) -> Objects:
    """Elementwise round_half_even over arrays of Python integers, which have no int64 limit."""
    q = num // den
    twice = 2 * (num - q * den)
    up = (twice > den) | ((twice == den) & (q % 2 == 1))
    return np.asarray(np.where(up, q + 1, q), dtype=object)


def exact_sum(values: npt.NDArray[np.integer[Any]] | Objects) -> int:
    """Exact sum of integers (int64 when the bound allows, else Python integers)."""
    if not len(values):
        return 0
    if values.dtype != object and int(np.abs(values).max()) * len(values) <= INT64_MAX:
        return int(values.sum())
    return int(values.astype(object).sum())


def exact_dot(a: npt.NDArray[np.integer[Any]], b: npt.NDArray[np.integer[Any]]) -> int:
    """Exact sum of a x b (Python integers: no overflow whatever the values)."""
    return int(np.dot(a.astype(object), b.astype(object))) if len(a) else 0


def exact_row_dots(x: npt.NDArray[np.integer[Any]], w: Ints, bound: int) -> list[int]:
    """Exact sum over columns of x[p, i] x w[i] for each row p (w >= 0).

    `bound` (>= sum of max|x_i| x w_i) decides: in int64 when it cannot overflow,
    otherwise w is split in 31-bit limbs whose sums cannot.
    """
    if bound <= INT64_MAX:
        return [int(v) for v in np.einsum("pi,i->p", x, w, dtype=np.int64)]
    high = np.einsum("pi,i->p", x, w >> 31, dtype=np.int64)
    low = np.einsum("pi,i->p", x, w & ((1 << 31) - 1), dtype=np.int64)
    return [(int(h) << 31) + int(lo) for h, lo in zip(high, low, strict=True)]


def _as_python(x: Ints | Objects) -> Objects:
    return np.asarray(x, dtype=object)


def product_sign(x: Ints | Objects, cx: int, y: Ints | Objects, cy: int) -> Ints:
    """sign(x * cx - y * cy) per row, exactly: -1, 0 or 1.

    x and y are int64 columns (or object columns of Python ints, for values
    that do not fit int64); cx and cy are Python ints of any size. Rows whose
    two products provably fit int64 are compared there, and the two products
    are compared directly (their difference could overflow); the other rows
    in Python integers.
    """
    out = np.zeros(len(x), dtype=np.int64)
    if np.object_ in (x.dtype, y.dtype) or max(abs(cx), abs(cy)) > INT64_MAX:
        safe = np.zeros(len(x), dtype=np.bool_)
    else:
        bx = INT64_MAX // abs(cx) if cx else INT64_MAX
        by = INT64_MAX // abs(cy) if cy else INT64_MAX
        safe = fits(x, bx) & fits(y, by)  # type: ignore[arg-type]
    if safe.all():
        lx = x * np.int64(cx)
        ly = y * np.int64(cy)
        return np.asarray((lx > ly).astype(np.int64) - (lx < ly), dtype=np.int64)
    if safe.any():
        lx = x[safe] * np.int64(cx)
        ly = y[safe] * np.int64(cy)
        out[safe] = (lx > ly).astype(np.int64) - (lx < ly)
    rest = ~safe
    px = _as_python(x[rest]) * cx
    py = _as_python(y[rest]) * cy
    out[rest] = (px > py).astype(np.int64) - (px < py).astype(np.int64)
    return out


def less_than(x: Ints, threshold: int) -> Bools:
    """x < threshold for a Python int threshold of any size."""
    if threshold > INT64_MAX:
        return np.ones(len(x), dtype=np.bool_)
    if threshold <= -INT64_MAX - 1:
        return np.zeros(len(x), dtype=np.bool_)
    return np.asarray(x < threshold, dtype=np.bool_)


def scaled_ceiling(value: Decimal, scale: int) -> int:
    """The least integer >= value x scale, exactly (value finite)."""
    p, q = value.as_integer_ratio()
    return -((-p * scale) // q)


def scaled_exact(value: Decimal, scale: int) -> int | None:
    """value x scale as an int when that is a whole number, else None."""
    p, q = value.as_integer_ratio()
    whole, rest = divmod(p * scale, q)
    return None if rest else whole


__all__ = [
    "HALF_EVEN",
    "HALF_UP",
    "INT64_MAX",
    "exact_dot",
    "exact_row_dots",
    "exact_sum",
    "fits",
    "less_than",
    "mul_div_round",
    "product_sign",
    "round_half_even",
    "round_half_even_objects",
    "round_quotient",
    "round_to_step",
    "scaled_ceiling",
    "scaled_exact",
]
