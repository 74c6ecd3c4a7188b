"""State tables: each migrating loan's quote at every state it can reach (a grade, a score tenth).

The quotes come from the compiled policy through vector's building blocks, the
code every vectorised quote runs: Monte Carlo holds no rule of its own. Its one
rule is the model's, for a state the product does not accept: the loan runs on
at the ordinary rate (adjustment 0, the policy's bounds and rounding) where a
quote would be refused. For a product priced off `base`, an accepted state is the LPR +
the adjustment, a refused one still the ordinary rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pricing_service.domain.policy import Policy
from pricing_service.simulate.montecarlo.migration import GRADES, MAX_TENTHS
from pricing_service.simulate.vector import (
    carbon_grade_adjustment_units,
    final_rate_units,
    mine_score_adjustment_units,
)

Ints = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.object_]

SCORE_STATES = MAX_TENTHS + 1  # tenths 0..1000


@dataclass(frozen=True, slots=True)
class StateRates:
    """The quote at each state (columns) in RATE_UNIT, and whether the product accepts it."""

    rate: Ints
    eligible: Bools


@dataclass(frozen=True, slots=True)
class ScoreRates:
    """Quotes by (pricing key, score tenth): loans of one product, raw ordinary rate and class
    share a key, so the table has a row per key rather than per loan."""

    rates: StateRates  # (keys, SCORE_STATES)
    key: Ints  # each loan's row of `rates`
    first: Ints  # a loan of each key


def _state_rates(policy: Policy, raw: Ints, reference: Ints, adjust: Ints, eligible: Bools) -> Ints:
    """Quotes at each state: the reference + the adjustment where the product accepts the
    state, the ordinary rate (raw ordinary + 0) where it does not (the model's rule)."""
    start = np.where(eligible, reference[:, None], raw[:, None])
    rate, _, _ = final_rate_units(start, adjust, policy)
    return rate


def grade_rates(
    policy: Policy, products: Texts, raw: Ints, reference: Ints | None = None
) -> StateRates:
    """Each carbon-account loan's quote (rows) at grades 1-5 (columns).

    `raw` is each loan's ordinary rate before rounding (vector.OrdinaryUnits.raw);
    `reference` what its product's adjustment is added to (vector.reference_units: the
    LPR for a product on `base` without spreads), `raw` when not given.
    """
    reference = raw if reference is None else reference
    grades = np.array(GRADES, dtype=np.int64)
    adjust = np.zeros((len(raw), len(GRADES)), dtype=np.int64)
    eligible = np.zeros((len(raw), len(GRADES)), dtype=np.bool_)
    for pid in np.unique(products.astype(str)):
        loans = products == pid
        adjust[loans], eligible[loans] = carbon_grade_adjustment_units(policy, str(pid), grades)
    return StateRates(_state_rates(policy, raw, reference, adjust, eligible), eligible)


def score_rates(
    policy: Policy, products: Texts, raw: Ints, classes: Ints, reference: Ints | None = None
) -> ScoreRates:
    """The mine-score loans' quotes at every score tenth 0..1000, by pricing key.

    `raw` and `reference` as in grade_rates; `classes` each loan's construction class.
    """
    reference = raw if reference is None else reference
    pids = sorted(set(products.astype(str).tolist()))
    code = np.searchsorted(np.array(pids, dtype=object), products).astype(np.int64)
    keys = np.stack([code, raw, reference, classes], axis=1)
    unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    tenths = np.arange(SCORE_STATES, dtype=np.int64)
    adjust = np.zeros((len(unique), SCORE_STATES), dtype=np.int64)
    eligible = np.zeros((len(unique), SCORE_STATES), dtype=np.bool_)
    for c, pid in enumerate(pids):
        rows = np.flatnonzero(unique[:, 0] == c)
        units, ok = mine_score_adjustment_units(
            policy, pid, np.tile(tenths, len(rows)), np.repeat(unique[rows, 3], SCORE_STATES)
        )
        adjust[rows] = units.reshape(-1, SCORE_STATES)
        eligible[rows] = ok.reshape(-1, SCORE_STATES)
    rate = _state_rates(policy, unique[:, 1], unique[:, 2], adjust, eligible)
    return ScoreRates(
        StateRates(rate, eligible),
        np.asarray(inverse.reshape(-1), dtype=np.int64),
        np.asarray(first, dtype=np.int64),
    )


def concession_steps(concession_units: Ints, step: int) -> Int32s:
    """Concessions (ordinary - quoted rate) in whole rounding steps of `step` units.

    Both rates are rounded to the step, so a remainder means a table is wrong.
    """
    steps, rest = np.divmod(concession_units, step)
    if np.any(rest):
        raise AssertionError("a concession is not a whole number of rounding steps")
    return steps.astype(np.int32)
