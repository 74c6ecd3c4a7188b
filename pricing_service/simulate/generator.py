"""A SYNTHETIC loan book shaped like the Changji pilot: realistic in form, invented in every number.

No row describes a real borrower, loan or mine. The shapes follow the pilot
(../shared/DOMAIN.md, the default policy); the parameters below are choices
made to exercise every path of the pricing engine with plausible proportions,
not statistics of any bank's book. The same (n, seed, as_of) always gives the
same portfolio with the same numpy version (numpy.random.Generator over
PCG64; numpy may change a stream between versions, see NEP 19).

Floats appear only as random draws; every draw becomes an integer (fen,
millionths, tenths, days) before it is a value of the book, and everything
derived from those integers is integer arithmetic.

Distributions (all synthetic):

- Products, exact quotas by largest remainder then shuffled: 40% ``standard``;
  30% ``lvtanrong`` (绿碳融) with a grade given by the carbon-account platform;
  10% ``lvtanrong`` with emissions, the grade computed by the engine (output
  basis for power and electrolytic aluminium, value-added basis for the
  others); 15% ``mine_score``; 5% ``transition``.
- Borrowers: n // 3 of them (at least 20), kinds by quota: 12% coal mines
  (industry ``other``: coal mining has no carbon-account accounting method),
  and of the carbon-account industries power 19.4%, electrolytic aluminium 7%,
  chemicals 19.4%, petrochemicals 8.8%, coking 8.8%, other 24.6%. A loan's
  borrower is drawn uniformly among those its product admits: mine-score loans
  only coal mines, transition loans only power, 绿碳融 only carbon-account
  borrowers (not mines), standard loans anyone. A borrower's rating and
  evidence are shared by all its loans.
- Credit ratings per borrower: AAA 5%, AA 15%, A 30%, BBB 30%, BB 15%, B 5%.
- Carbon efficiency K (intensity / industry benchmark) per borrower:
  log-normal with median 1.0 and sigma 0.45, clipped to 0.3-4.0, kept to 4
  decimals. Against the policy's K bands (0.6 / 0.8 / 1.2 / 2.0) this gives
  grades of about 1: 13%, 2: 18%, 3: 35%, 4: 28%, 5: 6%: skewed toward 2-4,
  with grades 4-5 ineligible for 绿碳融. A given grade is the grade of K; for
  computed loans the emissions are K x benchmark x activity, so the engine's
  grade matches up to the rounding of the emissions.
- Activity per borrower: power 200,000-8,000,000 MWh and aluminium
  50,000-800,000 t of output (log-uniform, whole units); the value-added
  industries 5,000-500,000 万元 of value added (log-uniform, 2 decimals).
  Emissions are rounded to 0.001 tCO2.
- Amounts: log-normal, sigma 1.0, median ¥20m (standard), ¥30m (绿碳融),
  ¥50m (mine score), ¥150m (transition); clipped to ¥1m-¥500m and rounded to
  two significant figures (¥23m, ¥1.3m, ¥340m), in fen.
- Terms (months): 6: 10%, 12: 35%, 24: 20%, 36: 15%, 60: 12%, 120: 8%;
  transition projects 36: 20%, 60: 40%, 120: 40%.
- Repayment: equal_installment 40%, equal_principal 30%,
  interest_only_bullet 30%.
- Upfront fee: 25% of loans, 10-100 bp of principal in 5 bp steps, whole yuan.
- Evidence dates (carbon grade assessment, emissions period end, mine
  acceptance, KPI verification): 95% within 0-330 days before as_of, 5% stale
  at 366-730 days (older than the policy's 365 days). Emissions periods end
  on a month end (the month end before the drawn day).
- Mine scores per mine: 90% normal(81, 7.5) clipped to 60.0-99.5, 10%
  uniform 45.0-59.9 (below the policy minimum of 60); one decimal.
  Mandatory indicator failed for 6% of mines. Construction class 1: 50%,
  2: 35%, 3: 15%.
- Transition KPIs per loan: annual tCO2 reduced log-normal, median 80,000 t,
  sigma 1.1, clipped to 2,000-1,500,000 (about 3% under the policy minimum of
  10,000); net coal consumption before 290.0-335.0 g/kWh, cut by 2-15% (85%)
  or by 0.5-2% (15%, mostly under the lowest band), one decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing_service.domain.evidence import Industry, RepaymentMethod
from pricing_service.simulate.portfolio import ABSENT, MICRO, Ints, Portfolio

# The default policy's benchmarks (tCO2 per MWh, per t, or per 万元 value added),
# in millionths; a test holds them equal to the policy.
BENCHMARK_MICRO: dict[Industry, int] = {
    Industry.POWER: 877_000,
    Industry.ELECTROLYTIC_ALUMINIUM: 9_113_200,
    Industry.CHEMICALS: 2_500_000,
    Industry.PETROCHEMICALS: 1_800_000,
    Industry.COKING: 4_200_000,
    Industry.OTHER: 600_000,
}
OUTPUT_BASIS = frozenset({Industry.POWER, Industry.ELECTROLYTIC_ALUMINIUM})

# Loan segments: (name, product_id, per-mille share, median amount in yuan).
SEGMENTS: tuple[tuple[str, str, int, int], ...] = (
    ("standard", "standard", 400, 20_000_000),
    ("carbon_given", "lvtanrong", 300, 30_000_000),
    ("carbon_computed", "lvtanrong", 100, 30_000_000),
    ("mine", "mine_score", 150, 50_000_000),
    ("transition", "transition", 50, 150_000_000),
)
STANDARD, CARBON_GIVEN, CARBON_COMPUTED, MINE, TRANSITION = range(5)

# Borrower kinds: industries of the carbon account, then coal mines (per mille).
KINDS: tuple[tuple[Industry, int], ...] = (
    (Industry.POWER, 194),
    (Industry.ELECTROLYTIC_ALUMINIUM, 70),
    (Industry.CHEMICALS, 194),
    (Industry.PETROCHEMICALS, 88),
    (Industry.COKING, 88),
    (Industry.OTHER, 246),
    (Industry.OTHER, 120),  # coal mines
)
COAL_MINE = len(KINDS) - 1
POWER_KIND = 0

RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B")
RATING_P = (0.05, 0.15, 0.30, 0.30, 0.15, 0.05)
TERMS = (6, 12, 24, 36, 60, 120)
TERM_P = (0.10, 0.35, 0.20, 0.15, 0.12, 0.08)
TRANSITION_TERMS = (36, 60, 120)
TRANSITION_TERM_P = (0.2, 0.4, 0.4)
REPAYMENTS = tuple(r.value for r in RepaymentMethod)
REPAYMENT_P = (0.4, 0.3, 0.3)

K_SIGMA = 0.45
K_MIN, K_MAX = 0.3, 4.0
K_UNIT = 10_000  # K kept to 4 decimals
K_UPPER = (6_000, 8_000, 12_000, 20_000)  # the policy's grade bands, in K_UNIT
AMOUNT_SIGMA = 1.0
MIN_YUAN, MAX_YUAN = 1_000_000, 500_000_000
FEE_SHARE = 0.25
STALE_SHARE = 0.05
FRESH_MAX_DAYS = 330
STALE_DAYS = (366, 730)
MINE_BELOW_MIN_SHARE = 0.10
MINE_FAILED_SHARE = 0.06
CLASS_P = (0.50, 0.35, 0.15)
TRANSITION_WEAK_CUT_SHARE = 0.15

_POW10 = 10 ** np.arange(19, dtype=np.int64)


def quotas(n: int, per_mille: Sequence[int]) -> list[int]:
    """n split by per-mille shares, exactly: floors, then the largest remainders get one more."""
    total = sum(per_mille)
    counts = [n * s // total for s in per_mille]
    order = sorted(range(len(per_mille)), key=lambda i: (-(n * per_mille[i] % total), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _shuffled_labels(rng: np.random.Generator, n: int, per_mille: Sequence[int]) -> Ints:
    labels = np.repeat(np.arange(len(per_mille), dtype=np.int64), quotas(n, per_mille))
    return rng.permutation(labels)


def _ages(rng: np.random.Generator, size: int) -> Ints:
    stale = rng.random(size) < STALE_SHARE
    fresh = rng.integers(0, FRESH_MAX_DAYS + 1, size)
    old = rng.integers(STALE_DAYS[0], STALE_DAYS[1] + 1, size)
    return np.where(stale, old, fresh).astype(np.int64)


def _log_uniform_int(rng: np.random.Generator, low: int, high: int, size: int) -> Ints:
    draws = np.exp(rng.uniform(np.log(low), np.log(high), size))
    return np.clip(np.rint(draws).astype(np.int64), low, high)


def _round_amounts(yuan: Ints) -> Ints:
    """Amounts to two significant figures (half up), in integers: 23_456_789 -> 23_000_000."""
    digits = np.searchsorted(_POW10, yuan, side="right")
    step = _POW10[np.maximum(digits - 2, 0)]
    rounded: Ints = np.clip((yuan + step // 2) // step * step, MIN_YUAN, MAX_YUAN)
    return rounded


def _grades(k_units: Ints) -> Ints:
    """The policy's grade of each K: 1 when K <= 0.6, ..., 5 when K > 2.0."""
    upper = np.asarray(K_UPPER, dtype=np.int64)
    return np.searchsorted(upper, k_units, side="left").astype(np.int64) + 1


def _ids(prefix: str, count: int, width: int) -> npt.NDArray[np.object_]:
    out = np.empty(count, dtype=object)
    out[:] = [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]
    return out


def _pick(rng: np.random.Generator, labels: Sequence[str], p: Sequence[float], size: int) -> Any:
    out = np.empty(size, dtype=object)
    out[:] = np.asarray(labels, dtype=object)[rng.choice(len(labels), size=size, p=p)]
    return out


def generate_portfolio(n: int, seed: int, as_of: date) -> Portfolio:
    """n synthetic loans of the Changji pilot's shape, evidence dated relative to `as_of`."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.Generator(np.random.PCG64(seed))
    today = np.datetime64(as_of.isoformat(), "D")

    # Borrowers, with the evidence a borrower holds whatever its loan.
    nb = max(20, n // 3)
    kind = _shuffled_labels(rng, nb, [share for _, share in KINDS])
    industry_of_kind = np.asarray([i.value for i, _ in KINDS], dtype=object)
    b_industry = industry_of_kind[kind]
    b_rating = np.asarray(RATINGS, dtype=object)[rng.choice(len(RATINGS), nb, p=RATING_P)]
    k_draw = np.clip(rng.lognormal(0.0, K_SIGMA, nb), K_MIN, K_MAX)
    b_k = np.rint(k_draw * K_UNIT).astype(np.int64)
    b_grade = _grades(b_k)
    b_assessed = today - _ages(rng, nb)

    benchmark = np.asarray([BENCHMARK_MICRO[i] for i, _ in KINDS], dtype=np.int64)[kind]
    output_basis = np.isin(kind, [k for k, (i, _) in enumerate(KINDS) if i in OUTPUT_BASIS])
    power_units = _log_uniform_int(rng, 200_000, 8_000_000, nb)
    aluminium_units = _log_uniform_int(rng, 50_000, 800_000, nb)
    value_added_cents = _log_uniform_int(rng, 500_000, 50_000_000, nb)  # 0.01 万元
    output_units = np.where(kind == POWER_KIND, power_units, aluminium_units)
    intensity_micro = b_k * benchmark // K_UNIT
    emissions_raw = np.where(
        output_basis, intensity_micro * output_units, intensity_micro * value_added_cents // 100
    )
    b_emissions = (emissions_raw + 500) // 1000 * 1000  # to 0.001 t
    b_output = np.where(output_basis, output_units * MICRO, ABSENT)
    b_value_added = np.where(output_basis, ABSENT, value_added_cents * (MICRO // 100))
    drawn = today - _ages(rng, nb)
    b_period_end = drawn.astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D")

    weak = rng.random(nb) < MINE_BELOW_MIN_SHARE
    good_score = np.clip(rng.normal(81.0, 7.5, nb), 60.0, 99.5)
    low_score = rng.uniform(45.0, 59.9, nb)
    b_score = np.rint(np.where(weak, low_score, good_score) * 10).astype(np.int64)
    b_passed = rng.random(nb) >= MINE_FAILED_SHARE
    b_class = rng.choice(np.arange(1, 4, dtype=np.int64), nb, p=CLASS_P)
    b_accepted = today - _ages(rng, nb)

    # Loans.
    segment = _shuffled_labels(rng, n, [share for _, _, share, _ in SEGMENTS])
    mine_pool = np.flatnonzero(kind == COAL_MINE)
    pools = (
        np.arange(nb),
        np.flatnonzero(kind != COAL_MINE),
        np.flatnonzero(kind != COAL_MINE),
        mine_pool,
        np.flatnonzero(kind == POWER_KIND),
    )
    borrower = np.zeros(n, dtype=np.int64)
    for s, pool in enumerate(pools):
        rows = np.flatnonzero(segment == s)
        borrower[rows] = pool[rng.integers(0, len(pool), len(rows))]

    products = np.asarray([product for _, product, _, _ in SEGMENTS], dtype=object)
    medians = np.asarray([median for _, _, _, median in SEGMENTS], dtype=np.float64)
    amount_draw = rng.lognormal(np.log(medians[segment]), AMOUNT_SIGMA)
    raw_yuan = np.rint(np.clip(amount_draw, MIN_YUAN, MAX_YUAN)).astype(np.int64)
    principal = _round_amounts(raw_yuan) * 100

    term = np.asarray(TERMS, dtype=np.int64)[rng.choice(len(TERMS), n, p=TERM_P)]
    transition_term = np.asarray(TRANSITION_TERMS, dtype=np.int64)[
        rng.choice(len(TRANSITION_TERMS), n, p=TRANSITION_TERM_P)
    ]
    term = np.where(segment == TRANSITION, transition_term, term)
    repayment = _pick(rng, REPAYMENTS, REPAYMENT_P, n)
    has_fee = rng.random(n) < FEE_SHARE
    fee_bp = rng.integers(2, 21, n) * 5
    fee = np.where(has_fee, principal * fee_bp // 10_000 // 100 * 100, 0)

    reduced = np.clip(rng.lognormal(np.log(80_000.0), 1.1, n), 2_000, 1_500_000)
    reduced_micro = np.rint(reduced).astype(np.int64) * MICRO
    before_tenths = rng.integers(2_900, 3_351, n)
    weak_cut = rng.random(n) < TRANSITION_WEAK_CUT_SHARE
    cut_units = np.where(weak_cut, rng.integers(50, 200, n), rng.integers(200, 1_501, n))
    after_tenths = before_tenths - (before_tenths * cut_units + 5_000) // 10_000
    verified = today - _ages(rng, n)

    p = Portfolio.empty(n)
    width = max(7, len(str(n)))
    p.loan_id[:] = _ids("L", n, width)
    p.borrower_id[:] = _ids("B", nb, max(6, len(str(nb))))[borrower]
    p.product_id[:] = products[segment]
    p.credit_rating[:] = b_rating[borrower]
    p.industry[:] = b_industry[borrower]
    p.principal_fen[:] = principal
    p.term_months[:] = term
    p.repayment[:] = repayment
    p.upfront_fee_fen[:] = fee

    given = segment == CARBON_GIVEN
    p.carbon_grade[given] = b_grade[borrower[given]]
    p.carbon_assessed_on[given] = b_assessed[borrower[given]]

    computed = segment == CARBON_COMPUTED
    cb = borrower[computed]
    p.emissions_tco2[computed] = b_emissions[cb]
    p.output_quantity[computed] = b_output[cb]
    p.value_added_10k_cny[computed] = b_value_added[cb]
    p.emissions_period_end[computed] = b_period_end[cb]

    mine = segment == MINE
    mb = borrower[mine]
    p.mine_score_tenths[mine] = b_score[mb]
    p.construction_class[mine] = b_class[mb]
    p.mandatory_passed[mine] = b_passed[mb]
    p.mine_accepted_on[mine] = b_accepted[mb]

    transition = segment == TRANSITION
    p.annual_tco2_reduced[transition] = reduced_micro[transition]
    p.coal_g_per_kwh_before[transition] = before_tenths[transition] * (MICRO // 10)
    p.coal_g_per_kwh_after[transition] = after_tenths[transition] * (MICRO // 10)
    p.kpis_verified_on[transition] = verified[transition]
    return p


__all__ = ["BENCHMARK_MICRO", "generate_portfolio", "quotas"]
