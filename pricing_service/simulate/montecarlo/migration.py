"""The migration model: how a carbon grade moves and a mine score drifts from year to year."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.stats

from pricing_service.simulate.exact_int import round_half_even

Int16s = npt.NDArray[np.int16]

GRADES = (1, 2, 3, 4, 5)
MAX_TENTHS = 1000  # a score of 100.0
DRAW_SPAN = 1 << 32  # a grade draw is uniform on [0, 2^32)


class MigrationModelError(ValueError):
    """A migration model (transition matrix, score drift) failed validation; all problems listed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid migration model:\n" + "\n".join(f"- {p}" for p in problems))


def parse_decimal(value: Any, path: str, problems: list[str]) -> Decimal | None:
    """A decimal string (or int) of a migration file; None, with the problem noted, otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        hint = f' like "{value}"' if isinstance(value, float) else ""
        problems.append(f"{path}: must be a decimal string{hint}, got {value!r}")
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        problems.append(f"{path}: not a decimal: {value!r}")
        return None
    if not d.is_finite():
        problems.append(f"{path}: not a finite decimal: {value!r}")
        return None
    return d


@dataclass(frozen=True, slots=True)
class GradeTransitions:
    """Row g-1: the probabilities that a loan of carbon grade g has grade 1..5 a year later."""

    matrix: tuple[tuple[Decimal, ...], ...]

    def __post_init__(self) -> None:
        problems = _matrix_problems(self.matrix)
        if problems:
            raise MigrationModelError(problems)

    @classmethod
    def identity(cls) -> GradeTransitions:
        """No grade ever moves."""
        return cls(
            tuple(tuple(Decimal(int(g == h)) for h in GRADES) for g in GRADES),
        )

    @classmethod
    def from_rows(cls, rows: Any, path: str = "grade_transition.matrix") -> GradeTransitions:
        """From 5 rows of 5 decimal strings (as a TOML file holds them)."""
        problems: list[str] = []
        matrix: list[tuple[Decimal, ...]] = []
        if not isinstance(rows, list) or len(rows) != len(GRADES):
            raise MigrationModelError([f"{path}: must be 5 rows (grades 1-5) of 5 probabilities"])
        for g, row in enumerate(rows, start=1):
            where = f"{path}[{g - 1}] (from grade {g})"
            if not isinstance(row, list) or len(row) != len(GRADES):
                problems.append(f"{where}: must be 5 probabilities (to grades 1-5)")
                continue
            values = [parse_decimal(v, f"{where}[{h}]", problems) for h, v in enumerate(row)]
            matrix.append(tuple(v if v is not None else Decimal(0) for v in values))
        if problems:
            raise MigrationModelError(problems)
        return cls(tuple(matrix))

    def thresholds(self) -> tuple[tuple[int, ...], ...]:
        """Per row, the cumulative probabilities of grades 1-4 x 2^32, rounded half-even.

        A draw u uniform on [0, 2^32) moves to grade 1 + (number of thresholds <= u):
        each probability is realised to within 2^-32, and 0 and 1 exactly.
        """
        out = []
        for row in self.matrix:
            cumulative = Fraction(0)
            cuts = []
            for p in row[:-1]:
                cumulative += Fraction(p)
                cuts.append(
                    round_half_even(cumulative.numerator * DRAW_SPAN, cumulative.denominator)
                )
            out.append(tuple(cuts))
        return tuple(out)

    def to_rows(self) -> list[list[str]]:
        """The matrix as decimal strings, as a TOML file holds it."""
        return [[str(p) for p in row] for row in self.matrix]


def _matrix_problems(matrix: Sequence[Sequence[Decimal]]) -> list[str]:
    problems: list[str] = []
    if len(matrix) != len(GRADES) or any(len(row) != len(GRADES) for row in matrix):
        return ["grade_transition.matrix: must be 5 rows (grades 1-5) of 5 probabilities"]
    for g, row in enumerate(matrix, start=1):
        where = f"grade_transition.matrix[{g - 1}] (from grade {g})"
        for h, p in enumerate(row, start=1):
            if not Decimal(0) <= p <= Decimal(1):
                problems.append(f"{where}: probability to grade {h} is {p}, must be 0 to 1")
        total = sum(row, Decimal(0))
        if total != 1:
            problems.append(f"{where}: sums to {total}, must be exactly 1")
    return problems


@dataclass(frozen=True, slots=True)
class ScoreDrift:
    """Yearly change of a mine score in points: a scipy.stats continuous distribution.

    `shapes` are the distribution's shape parameters by name (e.g. ("df", 5) for
    "t"). A scale of 0 is the point mass at `loc` (no draw is made): loc 0,
    scale 0 is no drift.
    """

    distribution: str = "norm"
    loc: Decimal = Decimal(0)
    scale: Decimal = Decimal(0)
    shapes: tuple[tuple[str, Decimal], ...] = ()

    def __post_init__(self) -> None:
        problems = _drift_problems(self)
        if problems:
            raise MigrationModelError(problems)

    @classmethod
    def none(cls) -> ScoreDrift:
        """Scores never move."""
        return cls()

    @property
    def deterministic(self) -> bool:
        """Whether every draw is `loc` (scale 0)."""
        return self.scale == 0

    def draw_tenths(self, rng: np.random.Generator, size: int) -> Int16s:
        """`size` yearly changes in tenths of a point (a change is rounded half-even to 0.1)."""
        if size == 0:
            return np.zeros(0, dtype=np.int16)
        if self.deterministic:
            tenths = round_half_even(*(self.loc * 10).as_integer_ratio())
            return np.full(size, max(-MAX_TENTHS, min(MAX_TENTHS, tenths)), dtype=np.int16)
        dist = getattr(scipy.stats, self.distribution)
        by_name = dict(self.shapes)
        draws = np.asarray(
            dist.rvs(
                *(float(by_name[name]) for name in _shape_names(dist)),
                loc=float(self.loc),
                scale=float(self.scale),
                size=size,
                random_state=rng,
            ),
            dtype=np.float64,
        )
        # Any move beyond the whole scale lands on 0 or 100 anyway; clipping first
        # keeps a heavy-tailed draw from overflowing int16.
        return np.clip(np.rint(draws * 10), -MAX_TENTHS, MAX_TENTHS).astype(np.int16)

    def to_table(self) -> dict[str, str]:
        """The drift as a TOML table holds it."""
        return {
            "distribution": self.distribution,
            **{name: str(v) for name, v in self.shapes},
            "loc": str(self.loc),
            "scale": str(self.scale),
        }


def _shape_names(dist: Any) -> list[str]:
    return [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]


def _drift_problems(drift: ScoreDrift) -> list[str]:
    dist = getattr(scipy.stats, drift.distribution, None)
    if not isinstance(dist, scipy.stats.rv_continuous):
        return [
            f"score_drift.distribution: {drift.distribution!r} is not a continuous "
            "distribution of scipy.stats (e.g. norm, t, laplace, logistic)"
        ]
    problems: list[str] = []
    expected = _shape_names(dist)
    given = [name for name, _ in drift.shapes]
    if sorted(given) != sorted(expected):
        want = ", ".join(expected) if expected else "none"
        problems.append(
            f"score_drift: {drift.distribution} takes shape parameters {want}; "
            f"got {', '.join(given) or 'none'}"
        )
    if drift.scale < 0:
        problems.append(f"score_drift.scale: {drift.scale} must be >= 0")
    if not problems and not drift.deterministic:
        by_name = dict(drift.shapes)
        args = [float(by_name[name]) for name in expected]
        # support() is NaN for parameters outside the distribution's domain.
        low, high = dist.support(*args)
        if np.isnan(low) or np.isnan(high):
            problems.append(
                f"score_drift: shape parameters { {k: str(v) for k, v in drift.shapes} } "
                f"are outside the domain of {drift.distribution}"
            )
    return problems
