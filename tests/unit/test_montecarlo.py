"""Monte Carlo of grade and score migration: the model, its exactness and its reproducibility.

Hand-worked figures use the default policy at the 2025-06-03 fixing (1Y LPR
3.00%): ordinary rate = 3.00% + rating spread + term spread (AA: +30 bp; terms
13-36 months +10 bp, 37-360 months +20 bp); 绿碳融 grades 1-3 take -200 bp; the
mine curve passes through its anchors (80.0: -80 bp, 70.0: -30 bp, 60.0: 0).
One rate unit is 0.0001 bp, so 3.40% is 3_400_000 units.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_builders import PRICING_TIME, default_text, edited, policy_from_text

from pricing_service.domain import schedule
from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import CTX, round_to_step
from pricing_service.simulate import montecarlo as mc
from pricing_service.simulate.exact_int import round_half_even
from pricing_service.simulate.exact_int import round_to_step as round_units
from pricing_service.simulate.montecarlo import (
    GradeTransitions,
    MigrationModelError,
    MonteCarloResult,
    ScoreDrift,
    concession_fen,
    default_migration,
    load_migration,
    parse_migration,
    percentile,
    run_montecarlo,
)
from pricing_service.simulate.montecarlo.draws import migrate_grades, transition_table
from pricing_service.simulate.montecarlo.tables import grade_rates, score_rates
from pricing_service.simulate.montecarlo.weights import nonnegative_fen
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.vector import ordinary_units

NO_DRIFT = ScoreDrift.none()
STAY = GradeTransitions.identity()


def loan(**columns: Any) -> dict[str, Any]:
    """An AA standard bullet loan of 1,000,000.00 CNY over 36 months, with overrides."""
    return {
        "product_id": "standard",
        "credit_rating": "AA",
        "principal_fen": 100_000_000,
        "term_months": 36,
        "repayment": "interest_only_bullet",
        "upfront_fee_fen": 0,
        **columns,
    }


def carbon(grade: int, **columns: Any) -> dict[str, Any]:
    """A 绿碳融 loan with a platform-given grade."""
    return loan(
        product_id="lvtanrong",
        carbon_grade=grade,
        carbon_assessed_on=np.datetime64("2025-05-01"),
        **columns,
    )


def mine(tenths: int, construction_class: int = 1, **columns: Any) -> dict[str, Any]:
    """A mine-score loan (mandatory indicators passed)."""
    return loan(
        product_id="mine_score",
        mine_score_tenths=tenths,
        construction_class=construction_class,
        mandatory_passed=True,
        mine_accepted_on=np.datetime64("2025-01-10"),
        **columns,
    )


def book(*loans: dict[str, Any]) -> Portfolio:
    p = Portfolio.empty(len(loans))
    for i, row in enumerate(loans):
        p.loan_id[i] = f"L{i}"
        p.borrower_id[i] = f"B{i}"
        for name, value in row.items():
            getattr(p, name)[i] = value
    return p


def moving_to(row: int, to: int) -> GradeTransitions:
    """Identity, except that grade `row` moves to grade `to` with probability 1."""
    return GradeTransitions(
        tuple(
            tuple(Decimal(int(h == (to if g == row else g))) for h in range(1, 6))
            for g in range(1, 6)
        )
    )


def simulate(portfolio: Portfolio, policy: Policy, **kwargs: Any) -> MonteCarloResult:
    options: dict[str, Any] = {
        "years": 5,
        "paths": 3,
        "seed": 11,
        "transitions": STAY,
        "score_drift": NO_DRIFT,
        **kwargs,
    }
    return run_montecarlo(portfolio, policy, PRICING_TIME, **options)


def every_path(result: MonteCarloResult, values: list[int], what: str = "concession") -> None:
    array = result.path_concession_fen if what == "concession" else result.path_rate_units
    assert array.tolist() == [values] * result.paths


def assert_same(a: MonteCarloResult, b: MonteCarloResult) -> None:
    assert np.array_equal(a.path_concession_fen, b.path_concession_fen)
    assert np.array_equal(a.path_rate_units, b.path_rate_units)
    assert np.array_equal(a.baseline_concession_fen, b.baseline_concession_fen)
    assert np.array_equal(a.baseline_rate_units, b.baseline_rate_units)
    assert np.array_equal(a.outstanding, b.outstanding)
    assert a.volume_fen_months == b.volume_fen_months
    assert a.summary() == b.summary()


def mixed_book() -> Portfolio:
    """Every product and repayment method, some loans maturing inside the horizon."""
    loans = []
    methods = ("interest_only_bullet", "equal_principal", "equal_installment")
    for i in range(36):
        how = methods[i % 3]
        term = (6, 12, 18, 30, 60, 84)[i % 6]
        principal = 10_000_000 * (i + 1) + 37 * i
        rating = ("AAA", "AA", "A", "BBB", "BB", "B")[(i // 3) % 6]
        common = {"repayment": how, "term_months": term, "principal_fen": principal}
        common["credit_rating"] = rating
        kind = i % 4
        if kind == 0:
            loans.append(carbon(1 + i % 3, **common))
        elif kind == 1:
            loans.append(mine(600 + 11 * i, construction_class=1 + i % 3, **common))
        elif kind == 2:
            loans.append(loan(**common))
        else:
            loans.append(
                loan(
                    product_id="transition",
                    annual_tco2_reduced=20_000 * 10**6,
                    coal_g_per_kwh_before=300 * 10**6,
                    coal_g_per_kwh_after=(270 + i % 20) * 10**6,
                    kpis_verified_on=np.datetime64("2025-02-01"),
                    **common,
                )
            )
    loans.append(carbon(4))  # refused at origination: never booked
    return book(*loans)


# --- hand-worked cases -------------------------------------------------------------------


def test_grade_3_moving_to_4_loses_the_concession_from_year_2_and_pays_the_ordinary_rate(
    policy: Policy,
) -> None:
    # AA, 36 months: 3.40% ordinary, 1.40% at grade 3. Interest-only on 1,000,000.00 CNY:
    # 200 bp for 12 months is 20,000.00 CNY. Grade 4 is not eligible from year 2: the
    # loan continues at 3.40%, no concession. It matures after year 3.
    result = simulate(book(carbon(3)), policy, transitions=moving_to(3, 4))
    every_path(result, [2_000_000, 0, 0, 0, 0])
    every_path(result, [1_400_000, 3_400_000, 3_400_000, 0, 0], "rate")
    assert result.baseline_concession_fen.tolist() == [2_000_000, 2_000_000, 2_000_000, 0, 0]
    assert result.baseline_rate_units.tolist() == [1_400_000] * 3 + [0, 0]
    assert result.outstanding.tolist() == [1, 1, 1, 0, 0]
    assert result.volume_fen_months == (1_200_000_000,) * 3 + (0, 0)
    summary = result.summary()
    assert summary["lifetime_concession"]["expected_cny"] == "20000.00"
    assert summary["lifetime_concession"]["baseline_cny"] == "60000.00"
    assert summary["lifetime_concession"]["ci_cny_estimate"] == ["20000.00", "20000.00"]


def test_grade_4_moving_back_to_3_regains_the_concession(policy: Policy) -> None:
    # Refused at origination (grade 4): never booked, whatever its grade later.
    result = simulate(book(carbon(4), carbon(2)), policy, transitions=moving_to(2, 4))
    assert result.priced == 1
    every_path(result, [2_000_000, 0, 0, 0, 0])
    # Grade 2 -> 4 -> (4 -> 3 with probability 1) -> 3: the concession returns in year 3.
    there_and_back = GradeTransitions(
        (
            (Decimal(1), Decimal(0), Decimal(0), Decimal(0), Decimal(0)),
            (Decimal(0), Decimal(0), Decimal(0), Decimal(1), Decimal(0)),
            (Decimal(0), Decimal(0), Decimal(1), Decimal(0), Decimal(0)),
            (Decimal(0), Decimal(0), Decimal(1), Decimal(0), Decimal(0)),
            (Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(1)),
        )
    )
    result = simulate(book(carbon(2)), policy, transitions=there_and_back)
    every_path(result, [2_000_000, 0, 2_000_000, 0, 0])
    every_path(result, [1_400_000, 3_400_000, 1_400_000, 0, 0], "rate")


def test_mine_score_falling_ten_points_a_year_walks_down_the_curve(policy: Policy) -> None:
    # AA, 60 months: 3.00% + 30 + 20 bp = 3.50%. Scores 80.0, 70.0, 60.0, 50.0, 40.0:
    # -80 bp, -30 bp, 0, then below the minimum 60.0 (ordinary rate, not refused).
    falling = ScoreDrift("norm", Decimal(-10), Decimal(0))
    result = simulate(book(mine(800, term_months=60)), policy, score_drift=falling)
    every_path(result, [800_000, 300_000, 0, 0, 0])
    every_path(result, [2_700_000, 3_200_000, 3_500_000, 3_500_000, 3_500_000], "rate")


def test_scores_stay_within_0_and_100(policy: Policy) -> None:
    # +15 points a year from 90.0: 100.0 from year 2 on (-200 bp), never above.
    rising = ScoreDrift("norm", Decimal(15), Decimal(0))
    result = simulate(book(mine(900, term_months=60)), policy, score_drift=rising)
    every_path(result, [1_500_000, 2_000_000, 2_000_000, 2_000_000, 2_000_000])
    dropping = ScoreDrift("norm", Decimal(-150), Decimal(0))
    result = simulate(book(mine(900, term_months=60)), policy, score_drift=dropping, years=3)
    every_path(result, [1_500_000, 0, 0])


def test_equal_principal_loan_maturing_mid_year(policy: Policy) -> None:
    # 1,800,000.00 CNY over 18 months, equal principal: 100,000.00 CNY a month. AA, 18
    # months: 3.40% ordinary, 1.40% at grade 1. Year 1 balances sum to (18 + ... + 7)
    # x 100,000.00 = 150 x 10^7 fen-months; 2% of that over 12 months is 2,500,000 fen.
    # Year 2 has 6 months: (6 + ... + 1) = 21 x 10^7 fen-months, 350,000 fen.
    ep = carbon(1, repayment="equal_principal", term_months=18, principal_fen=180_000_000)
    result = simulate(book(ep), policy, years=3)
    every_path(result, [2_500_000, 350_000, 0])
    assert result.volume_fen_months == (1_500_000_000, 210_000_000, 0)
    assert result.outstanding.tolist() == [1, 1, 0]


def test_short_loan_is_only_in_year_1(policy: Policy) -> None:
    # 6 months, interest-only: 6 months of 200 bp on 1,000,000.00 CNY.
    result = simulate(book(carbon(1, term_months=6)), policy)
    every_path(result, [1_000_000, 0, 0, 0, 0])
    assert result.outstanding.tolist() == [1, 0, 0, 0, 0]


def test_year_1_is_the_quotes_own_first_year_concession(policy: Policy) -> None:
    p = mixed_book()
    priced = price_portfolio_scalar(p, policy, PRICING_TIME)
    result = simulate(p, policy, transitions=default_migration()[0], paths=4)
    first_year = int(priced.first_year_concession_fen.sum())
    assert result.path_concession_fen[:, 0].tolist() == [first_year] * 4
    assert result.baseline_concession_fen[0] == first_year
    assert result.priced == int(priced.priced.sum()) == 36
    assert result.loans == 37


# --- the loan-year concession against the schedule ---------------------------------------


def _interest(p: int, percent: Decimal, n: int, how: RepaymentMethod, a: int, k: int) -> Decimal:
    return schedule.interest_first_months(
        p, percent, n, how, a + k
    ) - schedule.interest_first_months(p, percent, n, how, a)


@pytest.mark.parametrize("how", ["interest_only_bullet", "equal_principal"])
@pytest.mark.parametrize("term", [7, 12, 29, 60, 121])
def test_linear_methods_save_exactly_the_schedules_interest_of_each_year(
    policy: Policy, how: str, term: int
) -> None:
    principal = 123_456_789
    p = book(carbon(2, repayment=how, term_months=term, principal_fen=principal))
    quote = price_portfolio_scalar(p, policy, PRICING_TIME)
    ordinary = Decimal(int(quote.ordinary_units[0])).scaleb(-6)
    quoted = Decimal(int(quote.rate_units[0])).scaleb(-6)
    result = simulate(p, policy, years=11, paths=1)
    method = RepaymentMethod(how)
    expected = []
    for t in range(11):
        a, k = 12 * t, max(0, min(12, term - 12 * t))
        saved = _interest(principal, ordinary, term, method, a, k) - _interest(
            principal, quoted, term, method, a, k
        )
        expected.append(int(saved.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)))
    assert result.baseline_concession_fen.tolist() == expected


@pytest.mark.parametrize(("term", "grade"), [(24, 1), (60, 3), (120, 2)])
def test_equal_instalments_save_the_interest_of_the_ordinary_balance(
    policy: Policy, term: int, grade: int
) -> None:
    # Years 2 on: concession x (the ordinary-rate annuity's balance summed over the
    # year's months, rounded to the fen-month), month by month here.
    principal = 98_765_432
    p = book(
        carbon(grade, repayment="equal_installment", term_months=term, principal_fen=principal)
    )
    quote = price_portfolio_scalar(p, policy, PRICING_TIME)
    ordinary_units = int(quote.ordinary_units[0])
    concession_units = int(quote.concession_units[0])
    result = simulate(p, policy, years=10, paths=1)
    with localcontext(CTX):
        r = Decimal(ordinary_units) / 1_200_000_000
        growth = (1 + r) ** term
        payment = principal * r * growth / (growth - 1)
        balance = Decimal(principal)
        sums = [Decimal(0)] * 10
        for month in range(term):
            sums[month // 12] += balance
            balance = balance * (1 + r) - payment
    volume = [int(s.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)) for s in sums]
    assert list(result.volume_fen_months) == volume
    expected = [int(quote.first_year_concession_fen[0])] + [
        round_half_even(concession_units * v, 1_200_000_000) for v in volume[1:]
    ]
    assert result.baseline_concession_fen.tolist() == expected


# --- the rate tables against the scalar pricer -------------------------------------------

RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B")
TERMS = (6, 12, 24, 36, 60, 61, 120, 360)


def _policy_with(*edits: tuple[str, str]) -> Policy:
    text = default_text()
    for old, new in edits:
        text = edited(text, old, new)
    return policy_from_text(text)


EVERY_GRADE = (
    '1 = "-200"\n2 = "-200"\n3 = "-200"',
    # Grade 1 hits the floor for cheap loans, 3 rounds a half bp, 5 hits the cap for B.
    '1 = "-400"\n2 = "-200"\n3 = "-37.5"\n4 = "0"\n5 = "520"',
)
COARSE = (('step_bp = "1"', 'step_bp = "5"'), ('mode = "half_even"', 'mode = "half_up"'))


@pytest.mark.parametrize("coarse", [False, True])
def test_grade_table_matches_the_scalar_pricer_for_every_grade(coarse: bool) -> None:
    policy = _policy_with(EVERY_GRADE, *(COARSE if coarse else ()))
    loans = [
        carbon(g, credit_rating=rating, term_months=term)
        for rating in RATINGS
        for term in TERMS
        for g in range(1, 6)
    ]
    p = book(*loans)
    priced = price_portfolio_scalar(p, policy, PRICING_TIME)
    assert priced.priced.all()
    table = grade_rates(policy, p.product_id, ordinary_units(p, policy, PRICING_TIME).raw)
    rows = np.arange(len(p))
    grade = p.carbon_grade - 1
    assert table.rate[rows, grade].tolist() == priced.rate_units.tolist()
    assert table.eligible[rows, grade].all()


def test_an_ineligible_grade_prices_as_the_standard_product() -> None:
    policy = _policy_with(*COARSE)
    loans = [loan(credit_rating=rating, term_months=term) for rating in RATINGS for term in TERMS]
    p = book(*loans)
    standard = price_portfolio_scalar(p, policy, PRICING_TIME)
    products = np.full(len(p), "lvtanrong", dtype=object)
    table = grade_rates(policy, products, ordinary_units(p, policy, PRICING_TIME).raw)
    for g in (3, 4):  # grades 4 and 5 (indexes 3, 4) are not eligible for 绿碳融
        assert table.rate[:, g].tolist() == standard.rate_units.tolist()
        assert not table.eligible[:, g].any()


@pytest.mark.parametrize("coarse", [False, True])
def test_score_table_matches_the_scalar_pricer_for_every_score(coarse: bool) -> None:
    edits: list[tuple[str, str]] = [
        ('2 = "0"\n3 = "0"', '2 = "-12.5"\n3 = "15"'),  # class adjustments
        ('min_score = "60.0"', 'min_score = "60.05"'),  # 60.0 is then below it
    ]
    policy = _policy_with(*edits, *(COARSE if coarse else ()))
    combos = [("AAA", 12, 1), ("A", 36, 2), ("B", 120, 3), ("BB", 60, 2)]
    loans = [
        mine(tenths, construction_class=cls, credit_rating=rating, term_months=term)
        for rating, term, cls in combos
        for tenths in range(1001)
    ]
    p = book(*loans)
    priced = price_portfolio_scalar(p, policy, PRICING_TIME)
    # Below the minimum the pricer refuses; the table then holds the standard rate.
    standard = price_portfolio_scalar(
        book(*(loan(credit_rating=r, term_months=t) for r, t, _ in combos)), policy, PRICING_TIME
    )
    raw = ordinary_units(p, policy, PRICING_TIME).raw
    table = score_rates(policy, p.product_id, raw, p.construction_class)
    got = table.rates.rate[table.key, p.mine_score_tenths]
    eligible = priced.priced
    assert eligible.sum() == 4 * 400  # 60.1-100.0
    assert got[eligible].tolist() == priced.rate_units[eligible].tolist()
    assert got[~eligible].tolist() == np.repeat(standard.rate_units, 601).tolist()
    assert table.rates.eligible[table.key, p.mine_score_tenths].tolist() == eligible.tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=20),
    st.sampled_from([1, 3, 5, 50, 10_000, 50_000, 125_000]),
    st.sampled_from(["half_even", "half_up"]),
)
def test_round_units_is_round_to_step(values: list[int], step: int, mode: str) -> None:
    got = round_units(np.array(values, dtype=np.int64), step, mode)
    step_dec = Decimal(step)
    expected = [int(round_to_step(Decimal(v), step_dec, mode)) for v in values]
    assert got.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-20_000, 20_000),
            st.integers(0, 10**14),
            st.integers(1, 10**9),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_concession_fen_rounds_the_exact_ratio_half_even(
    rows: list[tuple[int, int, int]],
) -> None:
    m = np.array([r[0] for r in rows], dtype=np.int64)
    num = [r[1] for r in rows]
    den = np.array([r[2] for r in rows], dtype=np.int64)
    q = np.array([a // b for a, b in zip(num, den.tolist(), strict=True)], dtype=np.int64)
    r = np.array([a % b for a, b in zip(num, den.tolist(), strict=True)], dtype=np.int64)
    expected = [
        int(
            (Decimal(k) * Decimal(a) / Decimal(b)).quantize(
                Decimal(1), rounding=ROUND_HALF_EVEN, context=CTX
            )
        )
        for k, a, b in zip(m.tolist(), num, den.tolist(), strict=True)
    ]
    assert concession_fen(m, q, r, den).tolist() == expected
    if (m >= 0).all():
        assert nonnegative_fen(m.astype(np.int32), q, r, den).tolist() == expected


def test_half_fen_ties_round_to_even() -> None:
    # 1 step x 5/2 = 2.5 -> 2; 3 steps x 1/2 = 1.5 -> 2; -1 x 5/2 = -2.5 -> -2.
    m = np.array([1, 3, -1, 1], dtype=np.int64)
    q = np.array([2, 0, 2, 3], dtype=np.int64)
    r = np.array([1, 1, 1, 1], dtype=np.int64)
    den = np.array([2, 2, 2, 2], dtype=np.int64)
    assert concession_fen(m, q, r, den).tolist() == [2, 2, -2, 4]
    # The hot loop's version on a (paths x loans) array: 2.5 -> 2, 3.6 -> 4; 7.5 -> 8, 1.2 -> 1.
    steps = np.array([[1, 3], [1, 3]], dtype=np.int32)
    q2, r2, den2 = (np.array(v, dtype=np.int64) for v in ([2, 1], [1, 1], [2, 5]))
    assert nonnegative_fen(steps, q2, r2, den2).tolist() == [[2, 4], [2, 4]]
    steps[1] = [3, 1]
    assert nonnegative_fen(steps, q2, r2, den2).tolist() == [[2, 4], [8, 1]]


# --- reproducibility -----------------------------------------------------------------------


def test_identity_and_no_drift_give_the_deterministic_result_on_every_path(
    policy: Policy,
) -> None:
    result = simulate(mixed_book(), policy, paths=7, years=8)
    assert result.migrating_grade == 9
    assert result.migrating_score == 9
    for y in range(8):
        assert set(result.path_concession_fen[:, y].tolist()) == {
            int(result.baseline_concession_fen[y])
        }
        assert set(result.path_rate_units[:, y].tolist()) == {int(result.baseline_rate_units[y])}


def test_same_seed_same_result_different_seed_different_result(policy: Policy) -> None:
    transitions, drift = default_migration()
    p = mixed_book()
    first = simulate(p, policy, paths=40, seed=5, transitions=transitions, score_drift=drift)
    again = simulate(p, policy, paths=40, seed=5, transitions=transitions, score_drift=drift)
    other = simulate(p, policy, paths=40, seed=6, transitions=transitions, score_drift=drift)
    assert_same(first, again)
    assert not np.array_equal(first.path_concession_fen, other.path_concession_fen)
    assert np.array_equal(first.baseline_concession_fen, other.baseline_concession_fen)


def test_a_path_does_not_depend_on_chunks_or_on_the_number_of_paths(policy: Policy) -> None:
    transitions, drift = default_migration()
    p = mixed_book()
    common = {"seed": 99, "transitions": transitions, "score_drift": drift}
    whole = simulate(p, policy, paths=12, **common)
    one_by_one = simulate(p, policy, paths=12, chunk_paths=1, **common)
    fewer = simulate(p, policy, paths=5, chunk_paths=2, **common)
    assert_same(whole, one_by_one)
    assert np.array_equal(fewer.path_concession_fen, whole.path_concession_fen[:5])
    assert np.array_equal(fewer.path_rate_units, whole.path_rate_units[:5])


def test_progress_reports_each_chunk(policy: Policy) -> None:
    seen: list[tuple[int, int]] = []
    simulate(
        mixed_book(), policy, paths=5, chunk_paths=2, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 4), min_size=4, max_size=4),
        min_size=5,
        max_size=5,
    ),
    st.integers(0, 2**32),
    st.sampled_from(["-1.5", "0", "0.7"]),
)
def test_any_migration_keeps_year_1_and_the_bounds(
    policy: Policy, cuts: list[list[int]], seed: int, loc: str
) -> None:
    # Rows of quarters summing to exactly 1, from 4 sorted cut points.
    rows = []
    for c in cuts:
        edges = [0, *sorted(c), 4]
        rows.append(tuple(Decimal(b - a) / 4 for a, b in pairwise(edges)))
    transitions = GradeTransitions(tuple(rows))
    drift = ScoreDrift("t", Decimal(loc), Decimal(4), (("df", Decimal(3)),))
    result = simulate(
        mixed_book(), policy, paths=6, seed=seed, transitions=transitions, score_drift=drift
    )
    assert set(result.path_concession_fen[:, 0].tolist()) == {
        int(result.baseline_concession_fen[0])
    }
    floor, cap = 800_000, 8_000_000
    live = result.outstanding > 0
    assert (
        (result.path_rate_units[:, live] >= floor) & (result.path_rate_units[:, live] <= cap)
    ).all()
    assert (result.path_rate_units[:, ~live] == 0).all()


# --- the migration model -------------------------------------------------------------------


def test_default_migration_is_the_shipped_synthetic_file() -> None:
    transitions, drift = default_migration()
    assert transitions.to_rows()[2] == ["0.02", "0.10", "0.78", "0.08", "0.02"]
    assert drift == ScoreDrift("norm", Decimal("0.5"), Decimal("3.0"))


def test_transition_thresholds_are_the_cumulative_probabilities_times_2_to_32() -> None:
    transitions = GradeTransitions(
        (
            (Decimal("0.5"), Decimal("0.5"), Decimal(0), Decimal(0), Decimal(0)),
            (Decimal(0), Decimal(1), Decimal(0), Decimal(0), Decimal(0)),
            (Decimal("0.1"), Decimal("0.2"), Decimal("0.3"), Decimal("0.3"), Decimal("0.1")),
            (Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(1)),
            (Decimal("0.00001"), Decimal("0.00001"), Decimal(0), Decimal(0), Decimal("0.99998")),
        )
    )
    assert transitions.thresholds() == (
        (2**31, 2**32, 2**32, 2**32),
        (0, 2**32, 2**32, 2**32),
        (429_496_730, 1_288_490_189, 2_576_980_378, 3_865_470_566),
        (0, 0, 0, 0),
        (42_950, 85_899, 85_899, 85_899),
    )
    assert GradeTransitions.identity().thresholds()[2] == (0, 0, 2**32, 2**32)


def test_grade_draws_on_either_side_of_each_threshold() -> None:
    transitions = GradeTransitions(
        (
            (Decimal("0.1"), Decimal("0.2"), Decimal("0.3"), Decimal("0.3"), Decimal("0.1")),
            (Decimal("0.00001"), Decimal("0.00001"), Decimal(0), Decimal(0), Decimal("0.99998")),
            (Decimal(0), Decimal(0), Decimal(1), Decimal(0), Decimal(0)),
            (Decimal(0), Decimal(0), Decimal(0), Decimal(1), Decimal(0)),
            (Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(1)),
        )
    )
    cuts = transitions.thresholds()
    table = transition_table(cuts)
    # (current grade index, draw, next grade index)
    cases = [
        (0, 0, 0),
        (0, 429_496_729, 0),
        (0, 429_496_730, 1),
        (0, 1_288_490_188, 1),
        (0, 1_288_490_189, 2),
        (0, 2_576_980_377, 2),
        (0, 2_576_980_378, 3),
        (0, 3_865_470_565, 3),
        (0, 3_865_470_566, 4),
        (0, 2**32 - 1, 4),
        (1, 42_949, 0),
        (1, 42_950, 1),
        (1, 85_898, 1),
        (1, 85_899, 4),
        (1, 2**32 - 1, 4),
        (2, 0, 2),
        (2, 2**32 - 1, 2),
        (3, 2**31, 3),
        (4, 0, 4),
    ]
    got = migrate_grades(
        np.array([[g for g, _, _ in cases]], dtype=np.int8),
        np.array([[u for _, u, _ in cases]], dtype=np.uint32),
        table,
        np.array(cuts, dtype=np.int64),
    )
    assert got.tolist() == [[to for _, _, to in cases]]
    # A bin of 2^16 draws that a threshold cuts defers to the thresholds themselves.
    by_bin = table.reshape(-1, 5)
    assert by_bin[0, 1] == -1  # 42_950 is in bin 0
    assert by_bin[1, 1] == -1  # 85_899 in bin 1
    assert by_bin[2, 1] == 4


def test_transition_frequencies_follow_the_matrix() -> None:
    transitions, _ = default_migration()
    cuts = transitions.thresholds()
    rng = np.random.Generator(np.random.PCG64(3))
    draws = rng.integers(0, 2**32, size=(1, 400_000), dtype=np.uint32)
    grades = np.full((1, 400_000), 2, dtype=np.int8)
    got = migrate_grades(grades, draws, transition_table(cuts), np.array(cuts))
    shares = np.bincount(got.reshape(-1), minlength=5) / 400_000
    assert np.allclose(shares, [0.02, 0.10, 0.78, 0.08, 0.02], atol=0.003)


def test_score_drift_draws_are_rounded_tenths_reproducible_by_generator() -> None:
    drift = ScoreDrift("norm", Decimal("0.5"), Decimal("3.0"))
    a = drift.draw_tenths(np.random.Generator(np.random.PCG64(1)), 10)
    b = drift.draw_tenths(np.random.Generator(np.random.PCG64(1)), 10)
    assert a.dtype == np.int16
    assert a.tolist() == b.tolist()
    point = ScoreDrift("norm", Decimal("-0.25"), Decimal(0))  # -2.5 tenths, half-even
    assert point.draw_tenths(np.random.Generator(np.random.PCG64(1)), 3).tolist() == [-2, -2, -2]


def test_shape_parameters_reach_scipy_in_its_own_order() -> None:
    # genhyperbolic takes (p, a, b): not the alphabetical order a file may list them in.
    shapes = (("a", Decimal("1.5")), ("b", Decimal("0.5")), ("p", Decimal("0.5")))
    drift = ScoreDrift("genhyperbolic", Decimal(1), Decimal(2), shapes)
    got = drift.draw_tenths(np.random.Generator(np.random.PCG64(4)), 6)
    direct = scipy.stats.genhyperbolic.rvs(
        0.5,
        1.5,
        0.5,
        loc=1.0,
        scale=2.0,
        size=6,
        random_state=np.random.Generator(np.random.PCG64(4)),
    )
    assert got.tolist() == np.rint(direct * 10).astype(int).tolist()


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(MigrationModelError) as info:
        parse_migration(text.encode())
    return info.value.problems


GOOD_ROWS = """[
  ["1", "0", "0", "0", "0"],
  ["0", "1", "0", "0", "0"],
  ["0", "0", "1", "0", "0"],
  ["0", "0", "0", "1", "0"],
  ["0", "0", "0", "0", "1"],
]"""
DRIFT = '[score_drift]\ndistribution = "norm"\nloc = "0"\nscale = "1"\n'


def test_a_valid_file_parses() -> None:
    transitions, drift = parse_migration(
        f"[grade_transition]\nmatrix = {GOOD_ROWS}\n{DRIFT}".encode()
    )
    assert transitions == GradeTransitions.identity()
    assert drift == ScoreDrift("norm", Decimal(0), Decimal(1))


def test_rows_must_sum_to_exactly_1_and_hold_probabilities() -> None:
    rows = GOOD_ROWS.replace('["1", "0", "0", "0", "0"]', '["0.8", "0.15", "0.04", "0", "0"]')
    rows = rows.replace('["0", "0", "1", "0", "0"]', '["0", "-0.5", "1.5", "0", "0"]')
    assert _problems(f"[grade_transition]\nmatrix = {rows}\n{DRIFT}") == (
        "grade_transition.matrix[0] (from grade 1): sums to 0.99, must be exactly 1",
        "grade_transition.matrix[2] (from grade 3): probability to grade 2 is -0.5, must be 0 to 1",
        "grade_transition.matrix[2] (from grade 3): probability to grade 3 is 1.5, must be 0 to 1",
    )


def test_probabilities_must_be_decimal_strings() -> None:
    rows = GOOD_ROWS.replace('["0", "1", "0", "0", "0"]', '[0.0, 1.0, "x", "0", "0"]')
    row = "grade_transition.matrix[1] (from grade 2)"
    assert _problems(f"[grade_transition]\nmatrix = {rows}\n{DRIFT}") == (
        f'{row}[0]: must be a decimal string like "0.0", got 0.0',
        f'{row}[1]: must be a decimal string like "1.0", got 1.0',
        f"{row}[2]: not a decimal: 'x'",
    )


def test_the_matrix_must_be_5_by_5() -> None:
    assert _problems(f'[grade_transition]\nmatrix = [["1"]]\n{DRIFT}') == (
        "grade_transition.matrix: must be 5 rows (grades 1-5) of 5 probabilities",
    )
    rows = GOOD_ROWS.replace('["0", "0", "0", "0", "1"]', '["0", "1"]')
    assert _problems(f"[grade_transition]\nmatrix = {rows}\n{DRIFT}") == (
        "grade_transition.matrix[4] (from grade 5): must be 5 probabilities (to grades 1-5)",
    )


def test_sections_and_the_drift_are_checked() -> None:
    assert _problems("[grade_transitions]\nmatrix = []\n") == (
        "grade_transitions: unknown section; expected grade_transition, score_drift",
        "grade_transition.matrix: missing (5 rows of 5 decimal strings)",
        "score_drift: missing (distribution, loc, scale)",
    )
    head = f"[grade_transition]\nmatrix = {GOOD_ROWS}\n[score_drift]\n"
    assert _problems(head + 'distribution = "gauss"\nloc = "0"\nscale = "1"\n') == (
        "score_drift.distribution: 'gauss' is not a continuous distribution of scipy.stats "
        "(e.g. norm, t, laplace, logistic)",
    )
    assert _problems(head + 'distribution = "t"\nloc = "0"\nscale = "-1"\n') == (
        "score_drift: t takes shape parameters df; got none",
        "score_drift.scale: -1 must be >= 0",
    )
    assert _problems(head + 'distribution = "t"\ndf = "-2"\nloc = "0"\nscale = "1"\n') == (
        "score_drift: shape parameters {'df': '-2'} are outside the domain of t",
    )
    assert _problems(head + 'distribution = "norm"\nscale = 1.5\n') == (
        'score_drift.scale: must be a decimal string like "1.5", got 1.5',
        "score_drift.loc: missing",
    )
    assert _problems("matrix = [")[0].startswith("not valid TOML: ")


def test_a_transitions_file_is_named_in_its_errors(tmp_path: Any) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[score_drift]\n", encoding="utf-8")
    with pytest.raises(MigrationModelError) as info:
        load_migration(path)
    assert info.value.problems[0] == (
        f"{path}: grade_transition.matrix: missing (5 rows of 5 decimal strings)"
    )
    with pytest.raises(MigrationModelError, match="No such file"):
        load_migration(tmp_path / "absent.toml")


# --- statistics ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=50),
    st.integers(0, 1000),
)
def test_percentile_is_numpys_linear_interpolation_exactly(values: list[int], tenths: int) -> None:
    ordered = sorted(values)
    got = percentile(ordered, Fraction(tenths, 10))
    assert float(got) == pytest.approx(
        float(np.percentile(values, tenths / 10)), rel=1e-12, abs=1e-3
    )
    assert ordered[0] <= got <= ordered[-1]


def test_summary_of_a_known_distribution(policy: Policy) -> None:
    # Grade 3 moves to 4 (loses 2,000,000 fen a year) or stays, half and half; 3 years.
    half = GradeTransitions(
        tuple(
            (
                (Decimal(0), Decimal(0), Decimal("0.5"), Decimal("0.5"), Decimal(0))
                if g == 3
                else tuple(Decimal(int(h == g)) for h in range(1, 6))
            )
            for g in range(1, 6)
        )
    )
    result = simulate(book(carbon(3)), policy, paths=200, years=3, transitions=half)
    totals = result.path_total_fen.tolist()
    assert set(totals) <= {2_000_000, 4_000_000, 6_000_000}
    summary = result.summary()
    life = summary["lifetime_concession"]
    mean = Fraction(sum(totals), 200)
    assert life["expected_cny"] == str(mc.fen_to_cny(mean))
    assert life["baseline_cny"] == "60000.00"
    low, high = (Decimal(x) for x in life["ci_cny_estimate"])
    assert low < Decimal(mean.numerator) / mean.denominator / 100 < high
    sd = np.std(totals, ddof=1) / 100
    assert float(high - low) == pytest.approx(2 * 1.959964 * sd / np.sqrt(200), abs=0.02)
    year2 = summary["per_year"][1]
    assert set(year2["concession_fen"].values()) <= {0, 1_000_000, 2_000_000}
    assert year2["rate_units"]["p50"] in (1_400_000, 2_400_000, 3_400_000)
    assert year2["baseline_rate_percent"] == "1.4"


def test_a_single_path_has_no_interval(policy: Policy) -> None:
    result = simulate(book(carbon(3)), policy, paths=1)
    assert result.confidence_interval() is None
    assert result.summary()["lifetime_concession"]["ci_cny_estimate"] is None


def test_arguments_are_checked(policy: Policy) -> None:
    with pytest.raises(ValueError, match="years and paths"):
        simulate(book(carbon(3)), policy, years=0)
    with pytest.raises(ValueError, match="seed"):
        simulate(book(carbon(3)), policy, seed=-1)
