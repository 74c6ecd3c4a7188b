"""What a Monte Carlo run gives: every path's concession and average rate by year, and its
summary (exact means and percentiles, an estimated interval)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.stats

from pricing_service.domain.rates import CTX
from pricing_service.simulate.exact_int import exact_sum, round_half_even
from pricing_service.simulate.montecarlo.migration import GradeTransitions, ScoreDrift
from pricing_service.simulate.results import units_to_percent

Ints = npt.NDArray[np.int64]

DEFAULT_LEVEL = Decimal("0.95")
BANDS = (5, 25, 50, 75, 95)  # percentiles of the fan chart
_FEN = Decimal("0.01")


def fen_to_cny(fen: int | Fraction) -> Decimal:
    """Fen (an integer or an exact ratio) as CNY, rounded half-even to the fen."""
    f = Fraction(fen)
    return Decimal(round_half_even(f.numerator, f.denominator)).scaleb(-2)


def percentile(sorted_values: Sequence[int], percent: Fraction) -> Fraction:
    """The percentile of sorted integers, exactly, by linear interpolation between order
    statistics (numpy's default, Hyndman-Fan type 7)."""
    n = len(sorted_values)
    h = (n - 1) * percent / 100
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _bands(column: Ints) -> dict[str, int]:
    ordered = np.sort(column).tolist()
    out = {}
    for p in BANDS:
        f = percentile(ordered, Fraction(p))
        out[f"p{p}"] = round_half_even(f.numerator, f.denominator)
    return out


def _fraction_text(value: Fraction) -> str:
    with localcontext(CTX):
        return format(Decimal(value.numerator) / Decimal(value.denominator), "f")


@dataclass(frozen=True, slots=True)
class MonteCarloResult:
    """Every path's concession and average rate by year, and the no-migration baseline.

    Arrays are (paths, years) int64: concession in whole fen, rates in RATE_UNIT
    (0.0001 bp). Year y is column y - 1.
    """

    as_of: datetime
    policy_version: str
    policy_digest: str
    years: int
    paths: int
    seed: int
    transitions: GradeTransitions
    score_drift: ScoreDrift
    loans: int
    priced: int
    migrating_grade: int
    migrating_score: int
    outstanding: Ints  # (years,) priced loans with months left in the year
    volume_fen_months: tuple[int, ...]
    path_concession_fen: Ints
    path_rate_units: Ints
    baseline_concession_fen: Ints
    baseline_rate_units: Ints

    @property
    def path_total_fen(self) -> Ints:
        """Lifetime concession of each path (sum over the years), fen."""
        return np.asarray(self.path_concession_fen.sum(axis=1), dtype=np.int64)

    @property
    def baseline_total_fen(self) -> int:
        """Lifetime concession without migration, fen."""
        return int(self.baseline_concession_fen.sum())

    def expected_total_fen(self) -> Fraction:
        """Mean lifetime concession over the paths, exact."""
        return Fraction(exact_sum(self.path_total_fen), self.paths)

    def sd_total_fen(self) -> Decimal | None:
        """Sample standard deviation of the path totals (34 digits; None for one path)."""
        if self.paths < 2:
            return None
        totals = [int(v) for v in self.path_total_fen.tolist()]
        n, s = len(totals), sum(totals)
        var = Fraction(n * sum(v * v for v in totals) - s * s, n * (n - 1))
        with localcontext(CTX):
            return (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()

    def confidence_interval(self, level: Decimal = DEFAULT_LEVEL) -> tuple[Decimal, Decimal] | None:
        """Mean ± z·sd/√paths of the lifetime concession, CNY rounded to the fen (an estimate).

        sd is the sample standard deviation of the path totals; z the normal
        quantile of (1 + level) / 2 (scipy, a float). None with a single path.
        """
        sd = self.sd_total_fen()
        if sd is None:
            return None
        z = Decimal(repr(float(scipy.stats.norm.ppf((1 + float(level)) / 2))))
        mean = self.expected_total_fen()
        with localcontext(CTX):
            half = z * sd / Decimal(self.paths).sqrt()
            centre = Decimal(mean.numerator) / Decimal(mean.denominator)
            low, high = (centre - half) / 100, (centre + half) / 100
        return low.quantize(_FEN, context=CTX), high.quantize(_FEN, context=CTX)

    def summary(self, level: Decimal = DEFAULT_LEVEL) -> dict[str, Any]:
        """Everything a report needs, as JSON-ready exact integers and decimal strings.

        Percentiles interpolate linearly between order statistics (numpy's
        default), exactly, then round half-even to the fen or rate unit. The
        interval and sd are estimates (a float normal quantile, a square root);
        the means and percentiles are exact.
        """
        return {
            "as_of": self.as_of.isoformat(),
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
            "years": self.years,
            "paths": self.paths,
            "seed": self.seed,
            "loans": {
                "total": self.loans,
                "priced": self.priced,
                "excluded_refused": self.loans - self.priced,
                "migrating_grade": self.migrating_grade,
                "migrating_score": self.migrating_score,
            },
            "migration": {
                "grade_transition": self.transitions.to_rows(),
                "score_drift": self.score_drift.to_table(),
            },
            "lifetime_concession": self._lifetime(level),
            "per_year": [self._year(y) for y in range(self.years)],
        }

    def _lifetime(self, level: Decimal) -> dict[str, Any]:
        totals = np.sort(self.path_total_fen).tolist()
        tail = (1 - Fraction(level)) * 50  # percent in each tail: 2.5 for 95%
        ci = self.confidence_interval(level)
        sd = self.sd_total_fen()
        return {
            "expected_cny": str(fen_to_cny(self.expected_total_fen())),
            "baseline_cny": str(fen_to_cny(self.baseline_total_fen)),
            "sd_cny_estimate": None if sd is None else str((sd / 100).quantize(_FEN, context=CTX)),
            "confidence_level": str(level),
            "ci_cny_estimate": None if ci is None else [str(ci[0]), str(ci[1])],
            "empirical_percentiles": [_fraction_text(tail), _fraction_text(100 - tail)],
            "empirical_cny": [
                str(fen_to_cny(percentile(totals, tail))),
                str(fen_to_cny(percentile(totals, 100 - tail))),
            ],
        }

    def _year(self, y: int) -> dict[str, Any]:
        conc = self.path_concession_fen[:, y]
        rate = self.path_rate_units[:, y]
        rate_bands = _bands(rate)
        mean_rate = Fraction(exact_sum(rate), self.paths)
        baseline_rate = int(self.baseline_rate_units[y])
        return {
            "year": y + 1,
            "loans_outstanding": int(self.outstanding[y]),
            "volume_fen_months": self.volume_fen_months[y],
            "expected_concession_cny": str(fen_to_cny(Fraction(exact_sum(conc), self.paths))),
            "baseline_concession_cny": str(fen_to_cny(int(self.baseline_concession_fen[y]))),
            "concession_fen": _bands(conc),
            "expected_rate_units": round_half_even(mean_rate.numerator, mean_rate.denominator),
            "baseline_rate_units": baseline_rate,
            "rate_units": rate_bands,
            "baseline_rate_percent": str(units_to_percent(baseline_rate)),
            "rate_percent": {k: str(units_to_percent(v)) for k, v in rate_bands.items()},
        }
