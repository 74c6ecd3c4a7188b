"""The mine-score curve: monotone PCHIP through policy anchors, tabulated exactly.

scipy evaluates the curve in binary floating point once, when the policy loads;
each value is then rounded to 0.01 bp and frozen in a table indexed by the
score in tenths. Quotes read the table, so they never depend on float noise,
and rounding a monotone sequence by one rule keeps it monotone.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
from scipy.interpolate import PchipInterpolator

from pricing_service.domain.rates import CTX

SCORE_STEP = Decimal("0.1")
VALUE_STEP = Decimal("0.01")
MAX_SCORE = Decimal(100)


class ScoreCurve:
    """Adjustment in bp for each score 0.0-100.0, non-increasing in the score."""

    __slots__ = ("anchors", "table")

    def __init__(self, anchors: Sequence[tuple[Decimal, Decimal]]) -> None:
        self.anchors = tuple(anchors)
        xs = np.array([float(s) for s, _ in self.anchors])
        ys = np.array([float(v) for _, v in self.anchors])
        interp = PchipInterpolator(xs, ys, extrapolate=False)
        lo, hi = self.anchors[0], self.anchors[-1]
        table: list[Decimal] = []
        for tenth in range(1001):
            score = CTX.multiply(Decimal(tenth), SCORE_STEP)
            if score <= lo[0]:
                table.append(lo[1])
            elif score >= hi[0]:
                table.append(hi[1])
            else:
                raw = float(interp(tenth / 10))
                # repr() is the shortest round-trip string of the double: the
                # same double always gives the same Decimal.
                table.append(
                    Decimal(repr(raw)).quantize(VALUE_STEP, rounding=ROUND_HALF_EVEN, context=CTX)
                )
        # Anchors are exact: the table goes through them whatever the float did.
        for s, v in self.anchors:
            table[int(CTX.divide(s, SCORE_STEP))] = v
        self.table = tuple(table)

    def __eq__(self, other: object) -> bool:
        # By value of the anchors: the table is a function of their values alone.
        if not isinstance(other, ScoreCurve):
            return NotImplemented
        return self.anchors == other.anchors

    def __hash__(self) -> int:
        return hash(self.anchors)

    def __repr__(self) -> str:
        return f"ScoreCurve({list(self.anchors)!r})"

    def adjustment_bp(self, score: Decimal) -> Decimal:
        """The curve's value at `score` (0-100, at most one decimal)."""
        return self.table[int(CTX.divide(score, SCORE_STEP))]
