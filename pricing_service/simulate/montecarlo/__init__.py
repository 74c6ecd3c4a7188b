"""Monte Carlo of carbon-grade and mine-score migration, with an annual re-pricing.

The model (docs/fragments/montecarlo.md says the same for the README):

* Year 1 is the loan as priced at `as_of` by `price_portfolio`; its concession
  is the quote's own first-year concession (the schedule's exact figure).
* At each anniversary (years 2, 3, ...) the loan re-prices like the margin
  ratchet of a sustainability-linked loan. Its ordinary rate does not change:
  the LPR is held at the fixing in force at `as_of`, and the rating, term and
  tenor are the contract's. Only the product adjustment follows the evidence of
  the year: a carbon-account loan's grade moves by the transition matrix (a grade
  computed from emissions moves like a given one), a mine-score loan's score by
  the drift distribution (rounded to one decimal, kept within 0-100). Bounds and
  rounding are the policy's. A grade or score the product does not accept that
  year loses the concession for that year only: the loan continues at the
  ordinary rate (adjustment 0, bounds and rounding applied, what the standard
  product would quote), it is not called. Standard and transition loans do not
  migrate (transition KPIs are fixed at origination). Evidence is re-assessed at
  each reset, so its age limit does not bite.
* Loans that price as refused at `as_of` (ineligible, invalid, unknown product)
  are never booked and stay out of every figure.
* Concession of a loan-year t >= 2, in whole fen: the interest saved in the
  months of year t (12, fewer in the last year, none after maturity) at the
  year's concession d (ordinary minus quoted rate) on the month's outstanding
  principal, rounded once, half-even, per loan-year. Outstanding principal by
  repayment method: interest-only with bullet, the principal; equal principal,
  the straight line (both exactly the schedule's first-year formula moved to
  year t); equal instalments, the balance of the annuity at the ordinary rate,
  summed over the year's months and rounded to the fen-month. That is first
  order in the concession: it leaves out that the cheaper annuity amortises
  faster, so it is below the schedule's exact re-amortised saving, by 0.3-0.6%
  of the saving at 200 bp off (measured: 0.26-0.36% a year for 5 years at
  3.70% vs 1.70%, 0.45-0.61% for 3 years at 5.00% vs 3.00%). Linear in the
  concession, it makes each loan-year an exact integer function of the state.
* Volume-weighted average rate of a year: sum(rate x fen-months) / sum(fen-months)
  over the loans outstanding that year (fen-months: the balances above summed
  over the year's months, rounded half-even), rounded half-even to the rate
  unit (0.0001 bp); 0 for a year with no loan outstanding.

Randomness: path p draws from its own PCG64 stream, SeedSequence(seed,
spawn_key=(p,)), year by year: first the grade draws of the carbon-account loans
outstanding that year, then the score draws of the mine-score loans. A path is
therefore the same whatever the number of paths or the chunking, and a run is
reproducible by seed (for the same numpy and scipy versions). A grade draw is a
uniform 32-bit integer and each transition probability is realised to 2^-32
(cumulative probabilities x 2^32, rounded half-even): probabilities 0 and 1 are
exact. Draws are floats where they choose a scenario; no float reaches a rate or
an amount.

Speed: the pricer runs once. Each loan's quoted rate is then a function of its
state alone (a grade, or a score in tenths), tabulated exactly in integers
(the policy's rounding on the policy's bounds) by the compiled policy and
vector.py's building blocks, the code of every vectorised quote (tables.py),
and paths run in chunks over int8/int16 state arrays.
"""

from pricing_service.simulate.montecarlo.migration import (
    GRADES,
    MAX_TENTHS,
    GradeTransitions,
    MigrationModelError,
    ScoreDrift,
)
from pricing_service.simulate.montecarlo.migration_file import (
    default_migration,
    default_migration_bytes,
    load_migration,
    migration_from_document,
    parse_migration,
)
from pricing_service.simulate.montecarlo.paths import Progress, run_montecarlo
from pricing_service.simulate.montecarlo.result import (
    BANDS,
    DEFAULT_LEVEL,
    MonteCarloResult,
    fen_to_cny,
    percentile,
)
from pricing_service.simulate.montecarlo.weights import concession_fen

__all__ = [
    "BANDS",
    "DEFAULT_LEVEL",
    "GRADES",
    "MAX_TENTHS",
    "GradeTransitions",
    "MigrationModelError",
    "MonteCarloResult",
    "Progress",
    "ScoreDrift",
    "concession_fen",
    "default_migration",
    "default_migration_bytes",
    "fen_to_cny",
    "load_migration",
    "migration_from_document",
    "parse_migration",
    "percentile",
    "run_montecarlo",
]
