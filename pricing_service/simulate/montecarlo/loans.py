"""The migrating loans, longest first, with their concession at each state: what a path sums."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pricing_service.simulate.exact_int import INT64_MAX, exact_dot, exact_row_dots
from pricing_service.simulate.montecarlo.migration import GRADES, MAX_TENTHS
from pricing_service.simulate.montecarlo.weights import Weights, concession_fen, nonnegative_fen

Ints = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]
Int16s = npt.NDArray[np.int16]
Int8s = npt.NDArray[np.int8]
Order = npt.NDArray[np.intp]


def _prefix_counts(months: Ints) -> list[int]:
    """Loans outstanding in each year (a prefix: loans are sorted longest first)."""
    return [int(np.count_nonzero(row)) for row in months]


def _check_products(largest: Ints, q: Ints, r: Ints, what: str) -> None:
    """The hot loop's m x r, m x q and a year's sum over loans must fit int64."""
    if not largest.size:
        return
    m = int(largest.max())
    if m * int(r.max()) > INT64_MAX:
        raise OverflowError(f"{what}: a loan-year's concession exceeds the int64 range")
    year_bound = (q.max(axis=1).astype(object) + 1) * m * largest.size
    if any(int(v) > INT64_MAX for v in year_bound):
        raise OverflowError(f"{what}: a year's concession could exceed the int64 range")


@dataclass(frozen=True, slots=True)
class CarbonLoans:
    """The carbon-account loans, longest first, with their concession at each grade.

    Tables are loan-major (loan x 5 + grade index) so that a state array indexes
    them with one addition.
    """

    grade0: Int8s  # initial grade index, 0-4
    steps: Int32s  # concession in rounding steps per (loan, grade)
    fen: list[Ints]  # per year: the loan-year's concession in fen per (loan, grade)
    volume: Ints  # (years, loans) fen-months
    active: list[int]
    dot_bound: list[int]  # per year: sum of max |steps| x volume

    @classmethod
    def build(
        cls, steps: Int32s, grade0: Int8s, w: Weights, order: Order, years: int
    ) -> CarbonLoans:
        """The loans `order` (columns of `w`) with their steps per grade (rows of `steps`)."""
        steps64 = steps.astype(np.int64)
        largest = np.abs(steps64).max(axis=1, initial=0)
        q, r, den = w.q[:, order], w.r[:, order], w.den[order]
        _check_products(largest, q, r, "carbon-account loans")
        fen = [
            concession_fen(steps64, q[t][:, None], r[t][:, None], den[:, None]).reshape(-1)
            for t in range(years)
        ]
        for f in fen:
            if int(np.abs(f).max(initial=0)) * len(order) > INT64_MAX:
                raise OverflowError("carbon-account loans: a year's concession exceeds int64")
        volume = w.volume[:, order]
        return cls(
            grade0=grade0,
            steps=steps.reshape(-1),
            fen=fen,
            volume=volume,
            active=_prefix_counts(w.months[:, order]),
            dot_bound=[exact_dot(largest, v) for v in volume],
        )

    def year(self, t: int, grades: Int8s) -> tuple[list[int], list[int]]:
        """Per path (rows of `grades`): the year's concession in fen and sum(steps x volume)."""
        n = grades.shape[1]
        cell = np.arange(0, n * len(GRADES), len(GRADES), dtype=np.int64) + grades
        fen = np.take(self.fen[t], cell).sum(axis=1)
        steps_volume = exact_row_dots(
            np.take(self.steps, cell), self.volume[t, :n], self.dot_bound[t]
        )
        return [int(v) for v in fen], steps_volume


@dataclass(frozen=True, slots=True)
class MineLoans:
    """The mine-score loans, longest first, with their concession per score tenth."""

    score0: Int16s
    table: Int32s  # concession steps per (pricing key, tenth), flat
    offset: Ints  # each loan's row start in `table`
    nonnegative: bool  # no state raises a rate above the ordinary one
    q: Ints  # (years, loans)
    r: Ints
    den: Ints
    volume: Ints
    active: list[int]
    dot_bound: list[int]

    @classmethod
    def build(
        cls, table: Int32s, offset: Ints, score0: Int16s, w: Weights, order: Order
    ) -> MineLoans:
        """The loans `order` (columns of `w`); loan i's steps by tenth start at offset[i]."""
        rows = offset // (MAX_TENTHS + 1)
        largest = np.abs(table.astype(np.int64)).max(axis=1, initial=0)[rows]
        q, r, den = w.q[:, order], w.r[:, order], w.den[order]
        _check_products(largest, q, r, "mine-score loans")
        volume = w.volume[:, order]
        return cls(
            score0=score0,
            table=table.reshape(-1),
            offset=offset,
            nonnegative=bool(table.size == 0 or table.min() >= 0),
            q=q,
            r=r,
            den=den,
            volume=volume,
            active=_prefix_counts(w.months[:, order]),
            dot_bound=[exact_dot(largest, v) for v in volume],
        )

    def year(self, t: int, scores: Int16s) -> tuple[list[int], list[int]]:
        """Per path (rows of `scores`): the year's concession in fen and sum(steps x volume)."""
        n = scores.shape[1]
        steps = np.take(self.table, self.offset[:n] + scores)
        q, r, den = self.q[t, :n], self.r[t, :n], self.den[:n]
        if self.nonnegative:
            fen = nonnegative_fen(steps, q, r, den).sum(axis=1)
        else:
            fen = concession_fen(steps, q, r, den).sum(axis=1)
        steps_volume = exact_row_dots(steps, self.volume[t, :n], self.dot_bound[t])
        return [int(v) for v in fen], steps_volume
