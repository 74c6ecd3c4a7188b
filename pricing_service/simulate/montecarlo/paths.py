"""Running the paths: price the book once, then each year migrate states and sum the loan-years."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.evidence import ProductKind
from pricing_service.domain.policy import Policy
from pricing_service.simulate.exact_int import exact_dot, exact_sum, round_half_even
from pricing_service.simulate.montecarlo.draws import (
    migrate_grades,
    stream,
    transition_table,
    year_draws,
)
from pricing_service.simulate.montecarlo.loans import CarbonLoans, MineLoans
from pricing_service.simulate.montecarlo.migration import MAX_TENTHS, GradeTransitions, ScoreDrift
from pricing_service.simulate.montecarlo.result import MonteCarloResult
from pricing_service.simulate.montecarlo.tables import (
    concession_steps,
    grade_rates,
    score_rates,
)
from pricing_service.simulate.montecarlo.weights import Weights, concession_fen, loan_year_weights
from pricing_service.simulate.policy_units import policy_units
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.vector import ordinary_units, price_portfolio, reference_units

Ints = npt.NDArray[np.int64]
Progress = Callable[[int, int], None]

_CHUNK_CELLS = 1 << 21  # paths x migrating loans per chunk: a few MB per state array


@dataclass(frozen=True, slots=True)
class _Book:
    """The loans priced at as_of, as every path starts from them (columns: priced loans)."""

    loans: int
    priced: int
    steps: Ints  # concession in rounding steps at the loan's own state
    ordinary: Ints
    first_year_fen: Ints  # the quotes' own first-year concession
    step: int
    w: Weights
    carbon_rows: npt.NDArray[np.intp]  # positions among the priced loans, longest first
    mine_rows: npt.NDArray[np.intp]
    carbon: CarbonLoans
    mine: MineLoans


def _check_state(tabulated: npt.NDArray[Any], priced: Ints, what: str) -> None:
    # The tables re-derive each quote from the policy: at the loan's own state they
    # must give what the pricer gave, or the tables (not the pricer) are wrong.
    if not np.array_equal(tabulated.astype(np.int64), priced):
        raise AssertionError(f"the {what} table does not reproduce the pricer's concessions")


def _book(portfolio: Portfolio, policy: Policy, as_of: datetime, years: int) -> _Book:
    # The state tables need the compiled policy: a policy it cannot hold exactly
    # (which price_portfolio alone would price with the scalar engine) is refused.
    step = policy_units(policy).step
    results = price_portfolio(portfolio, policy, as_of)
    rows = np.flatnonzero(results.priced)
    res = results.take(rows)
    raw = reference = np.zeros(0, dtype=np.int64)
    if len(rows):  # none priced may mean no fixing in force, where ordinary_units raises
        raw = ordinary_units(portfolio, policy, as_of).raw[rows]
        reference = reference_units(portfolio, policy, as_of)[rows]
    ordinary = res.ordinary_units
    kind_of = {pid: product.kind for pid, product in policy.products.items()}
    kinds = np.array([kind_of[str(p)] for p in portfolio.product_id[rows]], dtype=object)
    steps0 = concession_steps(res.concession_units, step).astype(np.int64)
    w = loan_year_weights(
        portfolio.principal_fen[rows],
        portfolio.term_months[rows],
        portfolio.repayment[rows],
        ordinary,
        years,
        step,
    )
    lifetime = w.months.sum(axis=0)

    def longest_first(kind: ProductKind) -> npt.NDArray[np.intp]:
        members = np.flatnonzero(kinds == kind)
        return members[np.argsort(-lifetime[members], kind="stable")]

    co = longest_first(ProductKind.CARBON_ACCOUNT)
    by_grade = grade_rates(policy, portfolio.product_id[rows[co]], raw[co], reference[co])
    grade_steps = concession_steps(ordinary[co][:, None] - by_grade.rate, step)
    grade0 = (res.carbon_grade[co] - 1).astype(np.int8)
    _check_state(grade_steps[np.arange(len(co)), grade0], steps0[co], "grade")

    mo = longest_first(ProductKind.MINE_SCORE)
    by_score = score_rates(
        policy,
        portfolio.product_id[rows[mo]],
        raw[mo],
        portfolio.construction_class[rows[mo]],
        reference[mo],
    )
    score_steps = concession_steps(
        ordinary[mo][by_score.first][:, None] - by_score.rates.rate, step
    )
    offset = by_score.key * (MAX_TENTHS + 1)
    score0 = portfolio.mine_score_tenths[rows[mo]].astype(np.int16)
    _check_state(score_steps.reshape(-1)[offset + score0], steps0[mo], "score")
    return _Book(
        loans=len(portfolio),
        priced=len(rows),
        steps=steps0,
        ordinary=ordinary,
        first_year_fen=res.first_year_concession_fen,
        step=step,
        w=w,
        carbon_rows=co,
        mine_rows=mo,
        carbon=CarbonLoans.build(grade_steps, grade0, w, co, years),
        mine=MineLoans.build(score_steps, offset, score0, w, mo),
    )


@dataclass(frozen=True, slots=True)
class _Years:
    """Per year: the book's sums without migration, and the part of them no state changes."""

    concession: list[int]  # fen; year 1 is the quotes' own first-year figure
    volume: list[int]  # fen-months
    ordinary_volume: list[int]  # sum(ordinary rate x volume)
    steps_volume: list[int]  # sum(steps x volume)
    fixed_fen: list[int]  # concession of the loans that do not migrate
    fixed_steps_volume: list[int]
    step: int

    @classmethod
    def of(cls, book: _Book, years: int) -> _Years:
        """The sums of `book` over `years` years."""
        w, steps0 = book.w, book.steps
        carbon, mine = book.carbon, book.mine
        baseline = [exact_sum(book.first_year_fen)] + [
            exact_sum(concession_fen(steps0, w.q[t], w.r[t], w.den)) for t in range(1, years)
        ]
        steps_volume = [exact_dot(steps0, w.volume[t]) for t in range(years)]
        # A path's year = the baseline with the migrating loans' baseline share replaced.
        fixed_fen = [baseline[0]] + [
            baseline[t]
            - carbon.year(t, carbon.grade0[None, : carbon.active[t]])[0][0]
            - mine.year(t, mine.score0[None, : mine.active[t]])[0][0]
            for t in range(1, years)
        ]
        fixed_steps_volume = [
            steps_volume[t]
            - exact_dot(steps0[book.carbon_rows], carbon.volume[t])
            - exact_dot(steps0[book.mine_rows], mine.volume[t])
            for t in range(years)
        ]
        return cls(
            concession=baseline,
            volume=[exact_sum(w.volume[t]) for t in range(years)],
            ordinary_volume=[exact_dot(book.ordinary, w.volume[t]) for t in range(years)],
            steps_volume=steps_volume,
            fixed_fen=fixed_fen,
            fixed_steps_volume=fixed_steps_volume,
            step=book.step,
        )

    def average_rate(self, t: int, steps_volume: int) -> int:
        """Volume-weighted average rate of year t, given the year's sum(steps x volume)."""
        # sum(rate x volume) / sum(volume), with rate = ordinary - steps x step.
        if self.volume[t] == 0:
            return 0
        return round_half_even(self.ordinary_volume[t] - self.step * steps_volume, self.volume[t])


@dataclass(frozen=True, slots=True)
class _Migration:
    """What moves the states: the model, the seed, and the grade draw's lookup tables."""

    seed: int
    drift: ScoreDrift
    table: npt.NDArray[np.int8]
    cuts: Ints

    @classmethod
    def of(cls, transitions: GradeTransitions, drift: ScoreDrift, seed: int) -> _Migration:
        """The migration of a run."""
        cuts = transitions.thresholds()
        return cls(seed, drift, transition_table(cuts), np.array(cuts, dtype=np.int64))


def _run_chunk(
    book: _Book, sums: _Years, migration: _Migration, start: int, stop: int, out: tuple[Ints, Ints]
) -> None:
    """Paths start..stop-1, years 2 on, written into the rows of `out` (concession, rate)."""
    conc, rate = out
    carbon, mine = book.carbon, book.mine
    streams = [stream(migration.seed, p) for p in range(start, stop)]
    grades = np.tile(carbon.grade0, (len(streams), 1))
    scores = np.tile(mine.score0, (len(streams), 1))
    for t in range(1, len(sums.volume)):
        ac, am = carbon.active[t], mine.active[t]
        draws, drift = year_draws(streams, ac, am, migration.drift)
        grades[:, :ac] = migrate_grades(grades[:, :ac], draws, migration.table, migration.cuts)
        s = scores[:, :am]
        s += drift
        np.clip(s, 0, MAX_TENTHS, out=s)
        carbon_fen, carbon_sv = carbon.year(t, grades[:, :ac])
        mine_fen, mine_sv = mine.year(t, s)
        for j in range(len(streams)):
            conc[start + j, t] = sums.fixed_fen[t] + carbon_fen[j] + mine_fen[j]
            rate[start + j, t] = sums.average_rate(
                t, sums.fixed_steps_volume[t] + carbon_sv[j] + mine_sv[j]
            )


def run_montecarlo(
    portfolio: Portfolio,
    policy: Policy,
    as_of: datetime,
    *,
    years: int,
    paths: int,
    seed: int,
    transitions: GradeTransitions,
    score_drift: ScoreDrift,
    progress: Progress | None = None,
    chunk_paths: int | None = None,
) -> MonteCarloResult:
    """Simulate `paths` paths of `years` annual resets of every loan priced at `as_of`.

    `progress(done, paths)` is called after each chunk of paths. `chunk_paths`
    (default: a few MB of state per chunk) changes speed and memory, never the result.
    """
    if years < 1 or paths < 1:
        raise ValueError("years and paths must be at least 1")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    book = _book(portfolio, policy, as_of, years)
    sums = _Years.of(book, years)
    baseline_rate = [sums.average_rate(t, sums.steps_volume[t]) for t in range(years)]
    conc = np.tile(np.array(sums.concession, dtype=np.int64), (paths, 1))
    rate = np.tile(np.array(baseline_rate, dtype=np.int64), (paths, 1))
    migration = _Migration.of(transitions, score_drift, seed)
    moving = len(book.carbon_rows) + len(book.mine_rows)
    chunk = chunk_paths or max(1, _CHUNK_CELLS // max(1, moving))
    for start in range(0, paths if moving and years > 1 else 0, chunk):
        stop = min(paths, start + chunk)
        _run_chunk(book, sums, migration, start, stop, (conc, rate))
        if progress is not None:
            progress(stop, paths)
    if progress is not None and not (moving and years > 1):
        progress(paths, paths)
    return MonteCarloResult(
        as_of=as_of,
        policy_version=policy.version,
        policy_digest=policy.digest,
        years=years,
        paths=paths,
        seed=seed,
        transitions=transitions,
        score_drift=score_drift,
        loans=book.loans,
        priced=book.priced,
        migrating_grade=len(book.carbon_rows),
        migrating_score=len(book.mine_rows),
        outstanding=np.count_nonzero(book.w.months, axis=1).astype(np.int64),
        volume_fen_months=tuple(sums.volume),
        path_concession_fen=conc,
        path_rate_units=rate,
        baseline_concession_fen=np.array(sums.concession, dtype=np.int64),
        baseline_rate_units=np.array(baseline_rate, dtype=np.int64),
    )
