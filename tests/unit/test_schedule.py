"""Repayment summaries, first-year concession and the annualised rate (IRR).

Every expected value is computed here independently of the code under test:
exact rationals (`fractions.Fraction`) for the schedules, and a 60-digit decimal
bisection for the IRR, then rounded once, half-even, like the disclosure rule.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_builders import make_request

from pricing_service.domain import schedule
from pricing_service.domain.engine import price
from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import CTX

EQUAL_INSTALLMENT = RepaymentMethod.EQUAL_INSTALLMENT  # 等额本息
EQUAL_PRINCIPAL = RepaymentMethod.EQUAL_PRINCIPAL  # 等额本金
INTEREST_ONLY = RepaymentMethod.INTEREST_ONLY_BULLET  # 按月付息、到期还本

P_1_2M = 120_000_000  # 1,200,000.00 CNY in fen
P_1M = 100_000_000


def monthly(annual_percent: str) -> Fraction:
    return Fraction(Decimal(annual_percent)) / 1200


def annuity(principal: int, annual_percent: str, n: int) -> Fraction:
    """Exact 等额本息 instalment: P r g / (g - 1), g = (1 + r)^n."""
    r = monthly(annual_percent)
    if r == 0:
        return Fraction(principal, n)
    g = (1 + r) ** n
    return principal * r * g / (g - 1)


def payments(
    principal: int, annual_percent: str, n: int, method: RepaymentMethod
) -> list[Fraction]:
    """Exact monthly cash flows to the bank."""
    r = monthly(annual_percent)
    if method is EQUAL_INSTALLMENT:
        return [annuity(principal, annual_percent, n)] * n
    if method is EQUAL_PRINCIPAL:
        part = Fraction(principal, n)
        return [part + (principal - part * j) * r for j in range(n)]
    return [principal * r] * (n - 1) + [principal * r + principal]


def interest_paid(
    principal: int, annual_percent: str, n: int, method: RepaymentMethod, months: int
) -> Fraction:
    """Interest paid in the first `months` months, by walking the balance month by month."""
    r = monthly(annual_percent)
    balance, total = Fraction(principal), Fraction(0)
    for pay in payments(principal, annual_percent, n, method)[:months]:
        interest = balance * r
        total += interest
        balance -= pay - interest
    return total


def fen(x: Fraction) -> int:
    """Half-even to a whole fen (Python's round() on a Fraction is half-even)."""
    return round(x)


def irr_percent(flows: list[Fraction], received: int, decimals: int = 2) -> Decimal:
    """Monthly IRR x 1200 by 60-digit bisection, rounded half-even once."""
    with localcontext(Context(prec=60)):
        pays = [Decimal(p.numerator) / Decimal(p.denominator) for p in flows]
        lo, hi = Decimal("-0.5"), Decimal(1)
        for _ in range(190):
            mid = (lo + hi) / 2
            factor = 1 / (1 + mid)
            pv, discount = Decimal(0), Decimal(1)
            for p in pays:
                discount *= factor
                pv += p * discount
            if pv > received:
                lo = mid
            else:
                hi = mid
        annual = (lo + hi) / 2 * 1200
        return annual.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)


# --- repayment summaries ---------------------------------------------------------------------


def test_interest_only_1_2m_cny_12_months_at_3_60_pays_exactly_43200_cny_interest() -> None:
    s = schedule.summary(P_1_2M, Decimal("3.60"), 12, INTEREST_ONLY)
    assert s.total_interest_fen == 4_320_000  # 43,200.00 CNY
    assert s.total_payment_fen == 124_320_000
    assert s.first_payment_fen == 360_000  # interest only; principal at the end
    assert s.installments == 12
    assert s.method is INTEREST_ONLY


def test_interest_only_single_month_first_payment_includes_the_bullet() -> None:
    s = schedule.summary(P_1_2M, Decimal("3.60"), 1, INTEREST_ONLY)
    assert s.first_payment_fen == 120_360_000
    assert s.total_interest_fen == 360_000


def test_equal_principal_total_interest_is_p_r_n_plus_1_over_2() -> None:
    s = schedule.summary(P_1_2M, Decimal("3.60"), 12, EQUAL_PRINCIPAL)
    expected = P_1_2M * monthly("3.60") * 13 / 2
    assert expected == 2_340_000
    assert s.total_interest_fen == 2_340_000
    assert s.first_payment_fen == 10_000_000 + 360_000
    assert s.total_payment_fen == P_1_2M + 2_340_000


def test_equal_installment_totals_follow_the_annuity_formula() -> None:
    s = schedule.summary(P_1_2M, Decimal("3.60"), 12, EQUAL_INSTALLMENT)
    a = annuity(P_1_2M, "3.60", 12)
    assert s.first_payment_fen == fen(a) == 10_196_071
    # The total is rounded once, not instalment by instalment.
    assert s.total_payment_fen == fen(12 * a) == 122_352_850
    assert s.total_interest_fen == 2_352_850


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize(
    ("principal", "rate", "n"),
    [
        (P_1_2M, "3.60", 12),
        (123_456_789, "4.35", 36),
        (5_000_000, "1.30", 7),
        (99_999, "8.00", 360),
    ],
)
def test_summary_matches_exact_rational_cash_flows(
    principal: int, rate: str, n: int, method: RepaymentMethod
) -> None:
    flows = payments(principal, rate, n, method)
    s = schedule.summary(principal, Decimal(rate), n, method)
    assert s.first_payment_fen == fen(flows[0])
    assert s.total_payment_fen == fen(sum(flows, Fraction(0)))
    assert s.total_interest_fen == s.total_payment_fen - principal


def test_zero_rate_equal_installment_repays_principal_in_equal_parts() -> None:
    s = schedule.summary(1_200, Decimal(0), 12, EQUAL_INSTALLMENT)
    assert (s.first_payment_fen, s.total_payment_fen, s.total_interest_fen) == (100, 1_200, 0)


@pytest.mark.parametrize(
    ("principal", "rate", "n", "method", "first", "total"),
    [
        # 450 x 4.00%/12 = 1.5 fen exactly: the 1-month bullet pays 451.5 -> 452.
        (450, "4.00", 1, INTEREST_ONLY, 452, 452),
        # 2850 x 4.00%/12 = 9.5 fen of monthly interest -> 10.
        (2_850, "4.00", 12, INTEREST_ONLY, 10, 2_964),
        # 300 x 4.00% x 3/2400 = 1.5 fen of interest: 301.5 -> 302.
        (300, "4.00", 2, EQUAL_PRINCIPAL, 151, 302),
        # 450/3 + 450 x 4.00%/12 = 151.5 fen first payment -> 152.
        (450, "4.00", 3, EQUAL_PRINCIPAL, 152, 453),
    ],
)
def test_exact_half_fen_ties_round_half_even_although_the_monthly_rate_is_not_a_short_decimal(
    principal: int, rate: str, n: int, method: RepaymentMethod, first: int, total: int
) -> None:
    # 4.00% / 12 = 0.00333...: a monthly rate rounded to 34 digits would put
    # these exact ties a hair below .5 and round them down.
    flows = payments(principal, rate, n, method)
    assert (fen(flows[0]), fen(sum(flows, Fraction(0)))) == (first, total)
    s = schedule.summary(principal, Decimal(rate), n, method)
    assert (s.first_payment_fen, s.total_payment_fen) == (first, total)


# --- first-year concession ------------------------------------------------------------------


def test_first_year_concession_interest_only_is_principal_times_rate_cut() -> None:
    saved = schedule.first_year_concession_fen(
        P_1_2M, Decimal("3.60"), Decimal("1.60"), 36, INTEREST_ONLY
    )
    assert saved == 2_400_000  # 1,200,000.00 CNY x 2.00% = 24,000.00 CNY


def test_first_year_concession_equal_principal_12_months() -> None:
    saved = schedule.first_year_concession_fen(
        P_1_2M, Decimal("3.60"), Decimal("1.60"), 12, EQUAL_PRINCIPAL
    )
    # P x (2.00% / 12) x (n + 1) / 2 = 1,300,000 fen.
    assert saved == 1_300_000


def test_first_year_concession_of_a_6_month_loan_counts_only_6_months() -> None:
    saved = schedule.first_year_concession_fen(
        P_1_2M, Decimal("3.60"), Decimal("1.60"), 6, INTEREST_ONLY
    )
    assert saved == 1_200_000


@pytest.mark.parametrize(
    ("principal", "method", "n", "saved"),
    [
        # 125 x 2.00% = 2.5 fen exactly -> 2 (half-even), at 6.00% vs 4.00%.
        (125, INTEREST_ONLY, 24, 2),
        (21_569_955_225, INTEREST_ONLY, 273, 431_399_104),  # 431,399,104.5 fen -> even
        # 600 x 2.00%/12 x (12 - 12*11/(2*12)) = 6.5 fen -> 6
        (600, EQUAL_PRINCIPAL, 12, 6),
        (600, EQUAL_PRINCIPAL, 6, 4),  # 3.5 -> 4
        (1_200, EQUAL_PRINCIPAL, 24, 18),  # 18.5 -> 18
    ],
)
def test_first_year_concession_exact_tie_rounds_half_even(
    principal: int, method: RepaymentMethod, n: int, saved: int
) -> None:
    k = min(12, n)
    exact = interest_paid(principal, "6.00", n, method, k) - interest_paid(
        principal, "4.00", n, method, k
    )
    assert fen(exact) == saved
    got = schedule.first_year_concession_fen(principal, Decimal("6.00"), Decimal("4.00"), n, method)
    assert got == saved


@pytest.mark.parametrize(
    ("principal", "n", "ordinary", "quoted", "saved"),
    [
        # Loans of the benchmark mix (whole hundreds of CNY) whose saving is an exact
        # half fen: 3,417,900.00 CNY over 36 months at 3.70% vs 3.10% saves
        # 1,737,432.5 fen -> 1,737,432 (even); the code before this test said ...433.
        (341_790_000, 36, "3.70", "3.10", 1_737_432),
        (87_780_000, 84, "4.70", "4.08", 508_602),  # 508,601.5 -> 508,602
        (110_250_000, 360, "4.30", "2.30", 2_171_312),  # 2,171,312.5 -> 2,171,312
    ],
)
def test_equal_principal_first_year_concession_half_fen_ties_of_real_loans(
    principal: int, n: int, ordinary: str, quoted: str, saved: int
) -> None:
    exact = interest_paid(principal, ordinary, n, EQUAL_PRINCIPAL, 12) - interest_paid(
        principal, quoted, n, EQUAL_PRINCIPAL, 12
    )
    assert exact.denominator == 2
    assert fen(exact) == saved
    got = schedule.first_year_concession_fen(
        principal, Decimal(ordinary), Decimal(quoted), n, EQUAL_PRINCIPAL
    )
    assert got == saved


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize(("n", "ordinary", "quoted"), [(36, "3.60", "1.60"), (120, "4.35", "2.41")])
def test_first_year_concession_matches_a_month_by_month_balance_walk(
    method: RepaymentMethod, n: int, ordinary: str, quoted: str
) -> None:
    principal = 876_543_210
    expected = interest_paid(principal, ordinary, n, method, 12) - interest_paid(
        principal, quoted, n, method, 12
    )
    got = schedule.first_year_concession_fen(
        principal, Decimal(ordinary), Decimal(quoted), n, method
    )
    assert got == fen(expected)


@pytest.mark.parametrize("method", list(RepaymentMethod))
def test_interest_in_first_months_is_exact_to_34_digits(method: RepaymentMethod) -> None:
    # The engine's context carries 34 significant digits; 3.5 million fen leaves
    # about 1e-27 fen per operation, so 1e-22 is a loose bound that a 28-digit
    # (default-context) intermediate result would break.
    got = schedule.interest_first_months(P_1M, Decimal("3.85"), 60, method, 12)
    exact = interest_paid(P_1M, "3.85", 60, method, 12)
    assert abs(Fraction(got) - exact) < Fraction(1, 10**22)


# --- annualised rate (IRR) ------------------------------------------------------------------


def test_annualised_12_month_equal_installment_with_1_percent_fee_is_5_48() -> None:
    flows = payments(P_1M, "3.60", 12, EQUAL_INSTALLMENT)
    expected = irr_percent(flows, P_1M - 1_000_000)
    assert expected == Decimal("5.48")
    got = schedule.annualised_percent(P_1M, 1_000_000, Decimal("3.60"), 12, EQUAL_INSTALLMENT, 2)
    assert got == expected
    assert str(got) == "5.48"


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize(
    ("principal", "fee", "rate", "n", "decimals"),
    [
        (P_1M, 500_000, "3.45", 36, 2),
        (30_000_000, 1_234, "1.30", 1, 4),
        (777_777_700, 7_777_777, "6.15", 120, 3),
        (P_1M, 2_000_000, "0", 12, 2),
    ],
)
def test_annualised_rate_matches_an_independent_bisection(
    method: RepaymentMethod, principal: int, fee: int, rate: str, n: int, decimals: int
) -> None:
    expected = irr_percent(payments(principal, rate, n, method), principal - fee, decimals)
    got = schedule.annualised_percent(principal, fee, Decimal(rate), n, method, decimals)
    assert got == expected
    assert got.as_tuple().exponent == -decimals


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize("rate", ["3.45", "1.30", "0.80", "8.00"])
def test_without_a_fee_the_annualised_rate_equals_the_nominal_rate(
    method: RepaymentMethod, rate: str
) -> None:
    got = schedule.annualised_percent(P_1M, 0, Decimal(rate), 60, method, 2)
    assert str(got) == rate


def test_annualised_rate_through_the_engine_includes_the_fee(policy: Policy) -> None:
    # AA, 12 months, 2025-06: 3.30%; a 1% fee on 等额本息 -> independently 5.17%.
    quote = price(make_request(upfront_fee_fen=1_000_000), policy)
    expected = irr_percent(payments(P_1M, "3.30", 12, EQUAL_INSTALLMENT), P_1M - 1_000_000)
    assert quote.annualised_percent == expected == Decimal("5.17")
    no_fee = price(make_request(), policy)
    assert no_fee.annualised_percent == Decimal("3.30")


@settings(max_examples=40, deadline=None)
@given(
    principal=st.integers(min_value=100_000, max_value=10**11),
    fee_per_mille=st.integers(min_value=1, max_value=50),
    rate_bp=st.integers(min_value=80, max_value=800),
    n=st.sampled_from([1, 2, 6, 12, 24, 36, 60]),
    method=st.sampled_from(list(RepaymentMethod)),
)
def test_annualised_rate_agrees_with_bisection_on_random_loans(
    principal: int, fee_per_mille: int, rate_bp: int, n: int, method: RepaymentMethod
) -> None:
    rate = str(Decimal(rate_bp) / 100)
    fee = principal * fee_per_mille // 1000
    expected = irr_percent(payments(principal, rate, n, method), principal - fee)
    got = schedule.annualised_percent(principal, fee, Decimal(rate), n, method, 2)
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(
    principal=st.integers(min_value=1, max_value=500_000_000_000),
    ordinary_bp=st.integers(min_value=0, max_value=800),
    cut_bp=st.integers(min_value=0, max_value=300),
    n=st.integers(min_value=1, max_value=360),
    method=st.sampled_from(list(RepaymentMethod)),
)
def test_summary_and_first_year_concession_equal_exact_rational_arithmetic(
    principal: int, ordinary_bp: int, cut_bp: int, n: int, method: RepaymentMethod
) -> None:
    ordinary = str(Decimal(ordinary_bp) / 100)
    quoted = str(Decimal(max(ordinary_bp - cut_bp, 0)) / 100)
    flows = payments(principal, quoted, n, method)
    s = schedule.summary(principal, Decimal(quoted), n, method)
    assert s.first_payment_fen == fen(flows[0])
    assert s.total_payment_fen == fen(sum(flows, Fraction(0)))
    k = min(12, n)
    saved = interest_paid(principal, ordinary, n, method, k) - interest_paid(
        principal, quoted, n, method, k
    )
    got = schedule.first_year_concession_fen(
        principal, Decimal(ordinary), Decimal(quoted), n, method
    )
    assert got == fen(saved)


@settings(max_examples=120, deadline=None)
@given(
    principal=st.integers(min_value=1_000, max_value=500_000_000_000),
    fee_share=st.sampled_from(
        [Fraction(1, 10**6), Fraction(1, 1000), Fraction(3, 100), Fraction(1, 2), Fraction(99, 100)]
    ),
    rate_hundredths_bp=st.integers(min_value=0, max_value=3_000_00),
    n=st.integers(min_value=1, max_value=360),
    method=st.sampled_from(list(RepaymentMethod)),
    decimals=st.integers(min_value=0, max_value=6),
)
def test_fast_annualised_rate_equals_the_reference_computation(
    principal: int,
    fee_share: Fraction,
    rate_hundredths_bp: int,
    n: int,
    method: RepaymentMethod,
    decimals: int,
) -> None:
    # The float-filtered fast path must return exactly what the defining
    # computation (brentq start + Decimal certification walk) returns.
    fee = max(1, int(principal * fee_share))
    rate = Decimal(rate_hundredths_bp) / 10_000  # percent, up to 4 decimals
    quantum = Decimal(1).scaleb(-decimals)
    with localcontext(CTX):
        reference = schedule._annualised_reference(principal, fee, rate, n, method, quantum)
    assert schedule.annualised_percent(principal, fee, rate, n, method, decimals) == reference


def test_fee_of_95_percent_on_a_one_month_loan_has_an_annualised_rate() -> None:
    # IRR 1900%+ a month: above the float bracket the code used to search (ValueError).
    # One payment of 1000 x (1 + 3.30%/12) = 1002.75 fen for 50 fen received:
    # monthly IRR = 1002.75/50 - 1 = 19.055, annualised 22866.00%.
    got = schedule.annualised_percent(1_000, 950, Decimal("3.30"), 1, EQUAL_INSTALLMENT, 2)
    assert got == Decimal("22866.00")


@pytest.mark.parametrize("method", list(RepaymentMethod))
def test_a_fee_leaving_one_fen_has_an_exact_annualised_rate(method: RepaymentMethod) -> None:
    # One month, 10^15 fen lent, 1 fen received: the monthly IRR is about 10^15, beyond
    # what a double can place within 100 quanta (this raised "did not converge"/ValueError).
    # One payment A = 10^15 x (1 + 0.01%/12) for 1 fen received: monthly IRR = A - 1, and
    # 1,200 x (A - 1) = 1.2 x 10^18 + 10^13 - 1,200 exactly (10^15 x 0.01 = 10^13).
    p = 10**15
    got = schedule.annualised_percent(p, p - 1, Decimal("0.01"), 1, method, 2)
    assert got == Decimal("1200009999999998800.00")


@settings(max_examples=60, deadline=None)
@given(
    principal=st.integers(1_000, 10**10),
    fee_per_mille=st.integers(1, 999),
    rate_hundredths_bp=st.integers(0, 150_000),
    n=st.sampled_from([1, 2, 3, 12, 36, 120, 360]),
    method=st.sampled_from(list(RepaymentMethod)),
    decimals=st.integers(0, 6),
)
def test_decimal_bisection_agrees_with_the_certification_walk(
    principal: int,
    fee_per_mille: int,
    rate_hundredths_bp: int,
    n: int,
    method: RepaymentMethod,
    decimals: int,
) -> None:
    # The bisection only answers where the walk cannot; where both can, they must agree.
    fee = max(1, principal * fee_per_mille // 1000)
    rate = Decimal(rate_hundredths_bp) / 10_000
    quantum = Decimal(1).scaleb(-decimals)
    with localcontext(CTX):
        walk = schedule._annualised_reference(principal, fee, rate, n, method, quantum)
        payments = schedule._payments(Decimal(principal), rate, n, method)
        bisect = schedule._annualised_bisect(payments, Decimal(principal - fee), rate, quantum)
    assert bisect == walk
