"""The vectorised portfolio engine equals the scalar reference, column by column.

The scalar reference (each loan through engine.price) defines the answer; the
property tests draw portfolios with refusals of every kind, values exactly on
grade, band and score thresholds, and values near the int64 limits, under the
default policy and variants (finer and coarser rounding steps, half_up,
binding floor and cap), and compare every column. Worked examples pin exact
figures; the exact-integer helpers are checked against Python integers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pricing_builders import default_text, edited, policy_from_text

from pricing_service.domain import schedule
from pricing_service.domain.engine import beijing_date
from pricing_service.domain.evidence import RepaymentMethod
from pricing_service.domain.policy import Policy
from pricing_service.policy.store import default_policies
from pricing_service.simulate import concession
from pricing_service.simulate.exact_int import (
    INT64_MAX,
    mul_div_round,
    product_sign,
    round_quotient,
)
from pricing_service.simulate.policy_units import UnitsUnavailableError, policy_units
from pricing_service.simulate.portfolio import ABSENT, MICRO, NAT, Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.results import LoanResults, units_to_percent
from pricing_service.simulate.vector import (
    carbon_grade_adjustment_units,
    computed_carbon_grades,
    final_rate_units,
    first_year_concession_fen,
    mine_score_adjustment_units,
    ordinary_units,
    price_portfolio,
    transition_adjustment_units,
)

BEIJING = timezone(timedelta(hours=8))
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=BEIJING)
DEFAULT = default_policies().versions[0]


def _variant(*edits: tuple[str, str]) -> Policy:
    text = default_text()
    for old, new in edits:
        text = edited(text, old, new)
    return policy_from_text(text)


# A finer step rounding half up, a floor and a cap that bind often, a class
# adjustment and a band off whole numbers.
FINE = _variant(
    ('step_bp = "1"', 'step_bp = "0.5"'),
    ('mode = "half_even"', 'mode = "half_up"'),
    ('floor = "0.80"', 'floor = "2.50"'),
    ('cap = "8.00"', 'cap = "4.00"'),
    ('3 = "0"', '3 = "12.5"'),
    ('min_reduction_pct = "5"', 'min_reduction_pct = "7.5"'),
)
# A coarse step: most raw rates fall between grid points, some exactly on a tie.
COARSE = _variant(
    ('step_bp = "1"', 'step_bp = "25"'),
    ('floor = "0.80"', 'floor = "1.00"'),
    ('cap = "8.00"', 'cap = "5.00"'),
)
# Principals up to the int64 range, a longer benchmark, evidence valid one day only.
BIG = _variant(
    ("max_principal_fen = 500000000000", "max_principal_fen = 9000000000000000000"),
    ('benchmark = "0.877"', 'benchmark = "0.87654321"'),
    ("max_age_days = 365", "max_age_days = 0"),
)
# Negative ordinary rates (a spread below the LPR), a zero floor, a step of 3 bp
# (quotients that never terminate in decimal) rounding half up.
NEGATIVE = _variant(
    ('AAA = "0"', 'AAA = "-400"'),
    ('floor = "0.80"', 'floor = "0"'),
    ('1 = "-200"', '1 = "-350"'),
    ('step_bp = "1"', 'step_bp = "3"'),
    ('cap = "8.00"', 'cap = "7.98"'),
    ('mode = "half_even"', 'mode = "half_up"'),
)
POLICIES = (DEFAULT, FINE, COARSE, BIG, NEGATIVE)

AS_OFS = (
    AS_OF,
    datetime(2026, 11, 19, 16, 0, tzinfo=UTC),  # Beijing midnight: pricing date the 20th
    datetime(2025, 5, 20, 0, 59, 59, tzinfo=UTC),  # 08:59:59 Beijing: old fixing in force
    datetime(2025, 5, 20, 1, 0, tzinfo=UTC),  # 09:00 Beijing: the new fixing
    datetime(2019, 8, 20, 1, 29, tzinfo=UTC),  # before the first fixing
)

PRODUCTS = ("standard", "lvtanrong", "mine_score", "transition", "no_such_product")
RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
REPAYMENTS = tuple(m.value for m in RepaymentMethod)
INDUSTRIES = ("power", "electrolytic_aluminium", "chemicals", "petrochemicals", "coking", "other")
ON_OUTPUT = frozenset({"power", "electrolytic_aluminium"})
BENCHMARKS = {
    "power": "0.877",
    "electrolytic_aluminium": "9.1132",
    "chemicals": "2.50",
    "petrochemicals": "1.80",
    "coking": "4.20",
    "other": "0.60",
}
K_UPPER = ("0.6", "0.8", "1.2", "2.0")
HUGE = st.sampled_from([INT64_MAX, 2**62, 2**62 - 1, 10**18, 4 * 10**18])


def assert_same(vector: LoanResults, scalar: LoanResults) -> None:
    """Every column equal, naming the first differing loan of a column that differs."""
    for name in LoanResults.column_names():
        a, b = getattr(vector, name), getattr(scalar, name)
        if not np.array_equal(a, b):
            i = int(np.flatnonzero(a != b)[0])
            raise AssertionError(
                f"{name} differs at loan {i}: vector {a[i]!r}, scalar {b[i]!r} "
                f"(scalar status {scalar.status[i]}, fields {scalar.invalid_fields[i]!r})"
            )


# --- drawing portfolios -----------------------------------------------------------------------


def mostly(common: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> Any:
    """`common` three times in four, else one of `rare`: most loans get far enough to price."""
    # sampled_from picks by index: one_of would merge the three equal branches into one.
    return st.sampled_from((common, common, common, st.one_of(*rare))).flatmap(lambda s: s)


OFFSETS = mostly(
    st.integers(-300, 0),
    st.sampled_from([1, 0, -1, -364, -365, -366]),
    st.integers(-800, 3),
    st.none(),
)


@st.composite
def carbon_evidence(draw: Any) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["grade", "grade", "emissions", "threshold", "threshold", "both", "none"])
    )
    industry = draw(st.sampled_from(INDUSTRIES))
    row: dict[str, Any] = {"industry": draw(st.sampled_from(["", industry]))}
    if kind in ("grade", "both"):
        row["carbon_grade"] = draw(
            mostly(st.integers(1, 3), st.integers(0, 6), st.sampled_from([-7, 10**6]))
        )
        row["carbon_assessed_on"] = draw(OFFSETS)
    if kind in ("emissions", "both", "threshold"):
        row["industry"] = industry
        row["emissions_period_end"] = draw(OFFSETS)
        if kind == "threshold":
            # emissions = k x benchmark x activity exactly, or one micro either side
            ratio = Fraction(Decimal(draw(st.sampled_from(K_UPPER)))) * Fraction(
                Decimal(BENCHMARKS[industry])
            )
            m = draw(st.integers(1, 10**6))
            activity = ratio.denominator * m
            emissions = ratio.numerator * m + draw(st.sampled_from([-1, 0, 1]))
        else:
            emissions = draw(mostly(st.integers(0, 10**13), HUGE, st.integers(-5, 5)))
            activity = draw(mostly(st.integers(1, 10**13), HUGE, st.integers(-2, 0)))
        row["emissions_tco2"] = emissions
        on_output = industry in ON_OUTPUT
        wrong = draw(st.booleans()) and draw(st.booleans())  # a quarter give the other field
        column = "output_quantity" if on_output != wrong else "value_added_10k_cny"
        row[column] = activity
    return row


@st.composite
def mine_evidence(draw: Any) -> dict[str, Any]:
    if not draw(st.integers(0, 2)):
        return {}
    return {
        "mine_score_tenths": draw(
            mostly(
                st.integers(600, 1000),
                st.sampled_from([0, 599, 600, 700, 800, 900, 1000]),  # the anchors, the minimum
                st.integers(0, 1000),
            )
        ),
        "construction_class": draw(mostly(st.integers(1, 3), st.sampled_from([0, 4, ABSENT]))),
        "mandatory_passed": draw(mostly(st.just(True), st.just(False))),
        "mine_accepted_on": draw(OFFSETS),
    }


@st.composite
def transition_evidence(draw: Any) -> dict[str, Any]:
    if not draw(st.integers(0, 2)):
        return {}
    if draw(st.booleans()):
        # cut exactly on a band edge (10, 7.5, 5 or 2 %), or one micro either side
        before = 1000 * draw(st.integers(1, 10**9))
        pct = draw(st.sampled_from([Fraction(10), Fraction(15, 2), Fraction(5), Fraction(2)]))
        after = before - int(before * pct / 100) + draw(st.sampled_from([-1, 0, 1]))
    else:
        before = draw(mostly(st.integers(1, 10**9), st.integers(-(10**9), -1), HUGE))
        after = draw(mostly(st.integers(0, 10**9), HUGE, HUGE.map(lambda v: -v)))
    return {
        "annual_tco2_reduced": draw(
            mostly(
                st.integers(10**10, 10**11),
                st.integers(0, 10**10),
                st.sampled_from([10**10 - 1, 10**10, 10**10 + 1]),  # the 10000 t minimum
            )
        ),
        "coal_g_per_kwh_before": before,
        "coal_g_per_kwh_after": after,
        "kpis_verified_on": draw(OFFSETS),
    }


@st.composite
def loan(draw: Any) -> dict[str, Any]:
    principal = draw(
        mostly(
            st.integers(1, 10**10),
            st.sampled_from([1, 500_000_000_000, 500_000_000_001, 2**53, 2**53 + 1, 9 * 10**18]),
            st.integers(-3, 0),
        )
    )
    fee = 0
    if principal > 0 and not draw(st.integers(0, 3)):
        fee = draw(st.sampled_from([principal - 1, principal, principal + 1, 1, 10_000]))
    row = {
        "product_id": draw(st.sampled_from(PRODUCTS)),
        "credit_rating": draw(mostly(st.sampled_from(RATINGS[:-1]), st.just(RATINGS[-1]))),
        "principal_fen": principal,
        "term_months": draw(
            mostly(
                st.integers(1, 360),
                st.sampled_from([0, 1, 2, 11, 12, 13, 36, 37, 60, 61, 360, 361]),
            )
        ),
        "repayment": draw(st.sampled_from(REPAYMENTS)),
        "upfront_fee_fen": fee,
    }
    row.update(draw(carbon_evidence()))
    row.update(draw(mine_evidence()))
    row.update(draw(transition_evidence()))
    return row


def build(rows: list[dict[str, Any]], as_of: datetime) -> Portfolio:
    """A portfolio of `rows`; date fields are day offsets from the pricing date (None = NaT)."""
    p = Portfolio.empty(len(rows))
    day = np.datetime64(beijing_date(as_of), "D")
    for i, row in enumerate(rows):
        p.loan_id[i] = f"L{i}"
        p.borrower_id[i] = "B"
        for name, value in row.items():
            column = getattr(p, name)
            if column.dtype.kind == "M":
                column[i] = NAT if value is None else day + np.timedelta64(value, "D")
            else:
                column[i] = value
    return p


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=st.lists(loan(), min_size=1, max_size=20),
    policy=st.sampled_from(POLICIES),
    as_of=mostly(st.just(AS_OF), st.sampled_from(AS_OFS)),
)
def test_vector_equals_scalar_on_drawn_portfolios(
    rows: list[dict[str, Any]], policy: Policy, as_of: datetime
) -> None:
    portfolio = build(rows, as_of)
    assert_same(
        price_portfolio(portfolio, policy, as_of), price_portfolio_scalar(portfolio, policy, as_of)
    )


def random_book(n: int, seed: int) -> Portfolio:
    """A seeded book mixing every product, priced and refused, at the default scale."""
    rng = np.random.default_rng(seed)
    p = Portfolio.empty(n)
    day = np.datetime64(AS_OF.date(), "D")

    def dates() -> Any:
        return day - rng.integers(-2, 420, n).astype("timedelta64[D]")

    p.loan_id[:] = [f"L{i}" for i in range(n)]
    p.borrower_id[:] = "B"
    p.product_id[:] = rng.choice(np.array(PRODUCTS, dtype=object), n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    p.credit_rating[:] = rng.choice(np.array(RATINGS, dtype=object), n)
    p.principal_fen[:] = np.exp(rng.uniform(np.log(1e6), np.log(6e11), n)).astype(np.int64)
    p.term_months[:] = rng.integers(0, 370, n)
    p.repayment[:] = rng.choice(np.array(REPAYMENTS, dtype=object), n)
    p.upfront_fee_fen[:] = np.where(rng.random(n) < 0.1, p.principal_fen // 100, 0)
    has_grade = rng.random(n) < 0.5
    p.carbon_grade[:] = np.where(has_grade, rng.integers(1, 6, n), ABSENT)
    p.carbon_assessed_on[:] = dates()
    p.industry[:] = rng.choice(np.array(INDUSTRIES, dtype=object), n)
    p.emissions_tco2[:] = np.where(rng.random(n) < 0.4, rng.integers(0, 10**13, n), ABSENT)
    p.output_quantity[:] = rng.integers(-10, 10**13, n)
    p.value_added_10k_cny[:] = rng.integers(-10, 10**13, n)
    p.emissions_period_end[:] = dates()
    p.mine_score_tenths[:] = np.where(rng.random(n) < 0.8, rng.integers(500, 1001, n), ABSENT)
    p.construction_class[:] = rng.integers(0, 4, n)
    p.mandatory_passed[:] = rng.random(n) < 0.95
    p.mine_accepted_on[:] = dates()
    p.annual_tco2_reduced[:] = np.where(rng.random(n) < 0.8, rng.integers(0, 10**11, n), ABSENT)
    p.coal_g_per_kwh_before[:] = rng.integers(250 * MICRO, 350 * MICRO, n)
    p.coal_g_per_kwh_after[:] = (p.coal_g_per_kwh_before * rng.uniform(0.8, 1.0, n)).astype(
        np.int64
    )
    p.kpis_verified_on[:] = dates()
    return p


@pytest.mark.parametrize("policy", POLICIES, ids=["default", "fine", "coarse", "big", "negative"])
def test_vector_equals_scalar_on_a_mixed_book(policy: Policy) -> None:
    book = random_book(1500, seed=len(policy.version) + int(policy.rounding_step_bp * 2))
    vector = price_portfolio(book, policy, AS_OF)
    assert_same(vector, price_portfolio_scalar(book, policy, AS_OF))
    assert 0.2 < np.mean(vector.priced) < 0.9  # the book exercises both sides


# --- worked examples --------------------------------------------------------------------------


def one_loan(**fields: Any) -> Portfolio:
    row = {
        "product_id": "lvtanrong",
        "credit_rating": "AA",
        "principal_fen": 100_000_000,  # 1,000,000.00 CNY
        "term_months": 12,
        "repayment": "equal_installment",
        "upfront_fee_fen": 0,
        "carbon_grade": 2,
        "carbon_assessed_on": -30,
    }
    row.update(fields)
    return build([row], AS_OF)


@pytest.mark.parametrize(
    ("repayment", "fen"),
    [
        ("equal_installment", 1_090_935),
        ("equal_principal", 1_083_333),
        ("interest_only_bullet", 2_000_000),
    ],
)
def test_lvtanrong_grade_2_worked_example(repayment: str, fen: int) -> None:
    # LPR 1Y 3.00 % + AA 30 bp = 3.30 % ordinary; grade 2 takes 200 bp off: 1.30 %.
    book = one_loan(repayment=repayment)
    r = price_portfolio(book, DEFAULT, AS_OF)
    assert_same(r, price_portfolio_scalar(book, DEFAULT, AS_OF))
    assert (r.status[0], r.tenor[0]) == ("PRICED", "1Y")
    assert r.base_units[0] == 3_000_000
    assert r.ordinary_units[0] == 3_300_000
    assert r.adjustment_units[0] == -2_000_000
    assert r.rate_units[0] == 1_300_000
    assert r.concession_units[0] == 2_000_000
    assert (r.carbon_grade[0], r.grade_computed[0]) == (2, False)
    assert r.first_year_concession_fen[0] == fen


def test_computed_grade_exactly_on_the_k_bound() -> None:
    # power: 0.6 x 0.877 = 0.5262 tCO2/MWh. 1000 MWh at exactly 526.2 t is grade 1;
    # one micro-tonne more is grade 2 (both -200 bp).
    on = {"carbon_grade": ABSENT, "industry": "power", "emissions_period_end": -10}
    at = one_loan(**on, emissions_tco2=526_200_000, output_quantity=1000 * MICRO)
    above = one_loan(**on, emissions_tco2=526_200_001, output_quantity=1000 * MICRO)
    for book, grade in ((at, 1), (above, 2)):
        r = price_portfolio(book, DEFAULT, AS_OF)
        assert_same(r, price_portfolio_scalar(book, DEFAULT, AS_OF))
        assert (r.carbon_grade[0], r.grade_computed[0], r.rate_units[0]) == (grade, True, 1_300_000)


def test_transition_band_edge_and_mine_anchor() -> None:
    rows = [
        {  # 300 -> 270 g/kWh is a cut of exactly 10 %: the -60 bp band
            "product_id": "transition",
            "credit_rating": "AAA",
            "principal_fen": 10**9,
            "term_months": 36,  # 3.00 % + 0 + 10 bp term spread = 3.10 %
            "repayment": "interest_only_bullet",
            "annual_tco2_reduced": 10_000 * MICRO,
            "coal_g_per_kwh_before": 300 * MICRO,
            "coal_g_per_kwh_after": 270 * MICRO,
            "kpis_verified_on": 0,
        },
        {  # score 80.0 is an anchor: -80 bp; AA 61 months uses the 5Y+ LPR 3.50 % + 30 + 20
            "product_id": "mine_score",
            "credit_rating": "AA",
            "principal_fen": 10**9,
            "term_months": 61,
            "repayment": "equal_principal",
            "mine_score_tenths": 800,
            "construction_class": 2,
            "mandatory_passed": True,
            "mine_accepted_on": -365,
        },
    ]
    book = build(rows, AS_OF)
    r = price_portfolio(book, DEFAULT, AS_OF)
    assert_same(r, price_portfolio_scalar(book, DEFAULT, AS_OF))
    assert list(r.rate_units) == [2_500_000, 3_200_000]
    assert list(r.tenor) == ["1Y", "5Y+"]
    # 10 million CNY for a year at 0.60 % less: 60,000.00 CNY exactly.
    assert r.first_year_concession_fen[0] == 6_000_000


def test_refusals_in_the_engine_order() -> None:
    rows: list[dict[str, Any]] = [
        {"product_id": "nope", "credit_rating": "ZZ", "term_months": 0},
        {
            "credit_rating": "ZZ",
            "term_months": 0,
            "principal_fen": 10**12,
            "upfront_fee_fen": 10**12,
        },
        {"term_months": 400, "carbon_grade": 7},  # terms first, then evidence
        {"carbon_grade": 2, "emissions_tco2": 5, "industry": "power"},
        {"carbon_grade": ABSENT},
        {"carbon_assessed_on": 1},
        {"carbon_assessed_on": -366},
        {"carbon_grade": 4},
        {
            "carbon_grade": ABSENT,
            "emissions_tco2": 5,
            "industry": "chemicals",
            "emissions_period_end": 0,
            "output_quantity": 7,  # chemicals are benchmarked on value added
        },
    ]
    defaults: dict[str, Any] = {
        "product_id": "lvtanrong",
        "credit_rating": "AA",
        "principal_fen": 10**8,
        "term_months": 12,
        "repayment": "equal_installment",
        "upfront_fee_fen": 0,
        "carbon_grade": 2,
        "carbon_assessed_on": -30,
    }
    book = build([{**defaults, **row} for row in rows], AS_OF)
    r = price_portfolio(book, DEFAULT, AS_OF)
    assert_same(r, price_portfolio_scalar(book, DEFAULT, AS_OF))
    assert list(zip(r.status, r.invalid_fields, strict=True)) == [
        ("PRODUCT_NOT_FOUND", ""),
        ("INVALID_ARGUMENT", "credit_rating,term_months,principal_fen,upfront_fee_fen"),
        ("INVALID_ARGUMENT", "term_months"),
        ("INVALID_ARGUMENT", "carbon_emissions"),
        ("INVALID_ARGUMENT", "carbon_grade"),
        ("INVALID_ARGUMENT", "carbon_grade.assessed_on"),
        ("EVIDENCE_TOO_OLD", ""),
        ("CARBON_GRADE_INELIGIBLE", ""),
        ("INVALID_ARGUMENT", "carbon_emissions.value_added_10k_cny"),
    ]


def test_no_fixing_in_force_refuses_every_well_formed_loan() -> None:
    as_of = AS_OFS[-1]
    book = build(
        [
            {
                "product_id": "standard",
                "credit_rating": "A",
                "principal_fen": 10**8,
                "term_months": 12,
                "repayment": "equal_installment",
            },
            {
                "product_id": "standard",
                "credit_rating": "Q",
                "principal_fen": 10**8,
                "term_months": 12,
                "repayment": "equal_installment",
            },
        ],
        as_of,
    )
    r = price_portfolio(book, DEFAULT, as_of)
    assert_same(r, price_portfolio_scalar(book, DEFAULT, as_of))
    assert list(r.status) == ["NO_FIXING_IN_FORCE", "INVALID_ARGUMENT"]


def test_what_the_reference_cannot_price_raises() -> None:
    book = one_loan(repayment="balloon")
    with pytest.raises(ValueError, match="RepaymentMethod"):
        price_portfolio_scalar(book, DEFAULT, AS_OF)
    with pytest.raises(ValueError, match="RepaymentMethod"):
        price_portfolio(book, DEFAULT, AS_OF)
    with pytest.raises(ValueError, match="aware"):
        price_portfolio(book, DEFAULT, datetime(2026, 11, 20))
    far = one_loan(carbon_assessed_on=3_000_000)  # past the year 9999: no Python date
    for price in (price_portfolio_scalar, price_portfolio):
        with pytest.raises(ValueError, match=r"isoformat|years 1-9999"):
            price(far, DEFAULT, AS_OF)
    # The same date on evidence the loan does not carry is never read.
    unread = one_loan(carbon_grade=ABSENT, mine_accepted_on=3_000_000)
    assert_same(
        price_portfolio(unread, DEFAULT, AS_OF), price_portfolio_scalar(unread, DEFAULT, AS_OF)
    )


def test_a_policy_finer_than_the_unit_falls_back_to_the_scalar_reference() -> None:
    fine_spread = _variant(('AA = "30"', 'AA = "30.00005"'))
    with pytest.raises(UnitsUnavailableError, match=r"finer than 0\.0001 bp"):
        policy_units(fine_spread)
    book = random_book(200, seed=3)
    assert_same(
        price_portfolio(book, fine_spread, AS_OF), price_portfolio_scalar(book, fine_spread, AS_OF)
    )


# --- the reusable building blocks ------------------------------------------------------------


def test_building_blocks_reproduce_the_portfolio_results() -> None:
    book = random_book(800, seed=11)
    r = price_portfolio(book, FINE, AS_OF)
    priced = r.priced
    ordinary = ordinary_units(book, FINE, AS_OF)
    assert np.array_equal(ordinary.rate[priced], r.ordinary_units[priced])
    assert np.array_equal(ordinary.base[priced], r.base_units[priced])
    assert not np.any(priced & ~ordinary.known)
    rate, floor, cap = final_rate_units(ordinary.raw, r.adjustment_units, FINE)
    assert np.array_equal(rate[priced], r.rate_units[priced])
    assert np.array_equal(floor[priced], r.floor_binding[priced])
    assert np.array_equal(cap[priced], r.cap_binding[priced])
    assert floor[priced].any()
    assert cap[priced].any()
    methods = np.array([list(REPAYMENTS).index(m) for m in book.repayment], dtype=np.int64)
    fen = first_year_concession_fen(
        book.principal_fen[priced],
        book.term_months[priced],
        methods[priced],
        r.ordinary_units[priced],
        r.rate_units[priced],
    )
    assert np.array_equal(fen, r.first_year_concession_fen[priced])


def test_adjustments_for_hypothetical_evidence() -> None:
    units, ok = carbon_grade_adjustment_units(DEFAULT, "lvtanrong", np.arange(0, 7))
    assert list(units) == [0, -2_000_000, -2_000_000, -2_000_000, 0, 0, 0]
    assert list(ok) == [False, True, True, True, False, False, False]
    units, ok = mine_score_adjustment_units(
        FINE,
        "mine_score",
        np.array([599, 600, 800, 1000, 1000, 1001]),
        np.array([1, 1, 2, 3, 4, 1]),
    )
    assert list(units) == [0, 0, -800_000, -2_000_000 + 125_000, 0, 0]
    assert list(ok) == [False, True, True, True, False, False]
    before = np.full(4, 300 * MICRO)
    after = np.array([270, 270 * MICRO, 270 * MICRO + 1, 299 * MICRO])
    units, ok = transition_adjustment_units(DEFAULT, "transition", before, after)
    assert list(units) == [-600_000, -600_000, -300_000, 0]
    assert list(ok) == [True, True, True, False]
    grades = computed_carbon_grades(
        DEFAULT,
        "power",
        np.array([526_200_000, 526_200_001, 5, 5]),
        np.array([1000 * MICRO, 1000 * MICRO, 0, ABSENT]),
    )
    assert list(grades) == [1, 2, -1, -1]
    with pytest.raises(ValueError, match="not a carbon product"):
        carbon_grade_adjustment_units(DEFAULT, "standard", np.arange(3))


# --- the first-year concession --------------------------------------------------------------

RATES = st.one_of(
    st.integers(0, 100_000_000),  # 0-100 % a year, in units
    st.sampled_from([0, 1, 2, 3_300_000, 1_300_000, 100_000_000, 100_000_001, 2**30]),
)


@settings(max_examples=150, deadline=None)
@given(
    loans=st.lists(
        st.tuples(
            # beyond 2**53 the float candidate is not tried
            st.one_of(st.integers(-(10**9), 10**12), st.sampled_from([2**53, 2**53 + 1])),
            st.one_of(st.integers(1, 400), st.sampled_from([1, 11, 12, 13, 360, 1832, 1833, 5000])),
            st.integers(0, 2),
            RATES,
            RATES,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_first_year_concession_equals_the_scalar_function(loans: list[tuple[int, ...]]) -> None:
    p, n, m, o, q = (np.array(c, dtype=np.int64) for c in zip(*loans, strict=True))
    expected = [
        schedule.first_year_concession_fen(
            int(p_),
            units_to_percent(int(o_)),
            units_to_percent(int(q_)),
            int(n_),
            concession.METHODS[int(m_)],
        )
        for p_, n_, m_, o_, q_ in loans
    ]
    assert list(first_year_concession_fen(p, n, m, o, q)) == expected


def test_equal_instalment_fallback_gives_the_same_fen(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a bound too wide to certify anything, every loan takes the scalar path.
    rng = np.random.default_rng(5)
    p = rng.integers(1, 10**11, 300)
    n = rng.integers(1, 361, 300)
    o = rng.integers(1, 10_000_000, 300)
    q = o - rng.integers(0, 3_000_000, 300).clip(0, o)
    m = np.zeros(300, dtype=np.int64)
    certified = first_year_concession_fen(p, n, m, o, q)
    monkeypatch.setattr(concession, "_SAFETY", 1e300)
    assert np.array_equal(first_year_concession_fen(p, n, m, o, q), certified)


def exact_first_year(principal: int, units: int, n: int) -> Decimal:
    """Interest of the first min(12, n) equal instalments at 80 digits, from the definition."""
    from decimal import Context  # noqa: PLC0415

    c = Context(prec=80)
    if units == 0:
        return Decimal(0)
    r = c.divide(Decimal(units), Decimal(1_200_000_000))
    g = c.add(1, r)
    payment = c.divide(
        c.multiply(c.multiply(principal, r), c.power(g, n)), c.subtract(c.power(g, n), 1)
    )
    balance, interest = Decimal(principal), Decimal(0)
    for _ in range(min(12, n)):
        month = c.multiply(balance, r)
        interest = c.add(interest, month)
        balance = c.subtract(balance, c.subtract(payment, month))
    return interest


@settings(max_examples=60, deadline=None)
@given(
    principal=st.one_of(st.integers(1, 10**12), st.just(2**53)),
    n=st.one_of(st.integers(1, 360), st.sampled_from([1, 12, 360, 1000])),
    o=RATES.filter(lambda u: u <= 100_000_000),
    q=RATES.filter(lambda u: u <= 100_000_000),
)
def test_equal_instalment_candidate_is_within_its_bound(
    principal: int, n: int, o: int, q: int
) -> None:
    candidate, bound = concession._annuity_candidate(
        np.array([principal]), np.array([n]), np.array([o]), np.array([q])
    )
    exact = exact_first_year(principal, o, n) - exact_first_year(principal, q, n)
    # The float part of the bound alone (before the factor 16) already covers the error.
    assert abs(Decimal(float(candidate[0])) - exact) <= Decimal(float(bound[0])) / 16 + Decimal(
        "1e-20"
    )


# --- exact integers ---------------------------------------------------------------------------

INT64 = st.one_of(
    st.integers(-(2**63), INT64_MAX), st.sampled_from([-(2**63), INT64_MAX, 0, 1, -1])
)


def half_even(x: Fraction) -> int:
    return round(x)  # Fraction rounds half to even


def half_up(x: Fraction) -> int:
    whole = int(abs(x) + Fraction(1, 2))
    return whole if x >= 0 else -whole


@settings(max_examples=300, deadline=None)
@given(num=INT64, den=st.one_of(st.integers(1, 2**62 - 1), st.sampled_from([1, 2, 10_000])))
def test_round_quotient(num: int, den: int) -> None:
    a = np.array([num], dtype=np.int64)
    assert round_quotient(a, den, "half_even")[0] == half_even(Fraction(num, den))
    assert round_quotient(a, den, "half_up")[0] == half_up(Fraction(num, den))
    both = np.array([den, den], dtype=np.int64)
    assert round_quotient(np.array([num, -num if num > -(2**63) else 0]), both, "half_up")[0] == (
        half_up(Fraction(num, den))
    )


def test_round_quotient_ties() -> None:
    ties = np.array([-25, -15, -5, 5, 15, 25], dtype=np.int64)
    assert list(round_quotient(ties, 10, "half_even")) == [-2, -2, 0, 0, 2, 2]
    assert list(round_quotient(ties, 10, "half_up")) == [-3, -2, -1, 1, 2, 3]


@settings(max_examples=300, deadline=None)
@given(
    x=INT64,
    y=INT64,
    cx=st.one_of(st.integers(-(10**6), 10**6), st.integers(-(2**80), 2**80)),
    cy=st.one_of(st.integers(-(10**6), 10**6), st.integers(-(2**80), 2**80)),
)
def test_product_sign(x: int, y: int, cx: int, cy: int) -> None:
    xs = np.array([x, 7, x], dtype=np.int64)  # mixed rows: some in int64, some not
    ys = np.array([y, 3, 0], dtype=np.int64)
    got = product_sign(xs, cx, ys, cy)
    want = [(a * cx > b * cy) - (a * cx < b * cy) for a, b in ((x, y), (7, 3), (x, 0))]
    assert list(got) == want


@settings(max_examples=300, deadline=None)
@given(
    a=INT64,
    b=st.one_of(st.integers(-(2**40), 2**40), INT64),
    c=st.integers(0, 10**5),
    den=st.one_of(st.integers(1, 2**42), st.sampled_from([1, 1_200_000_000, 2**42, 2**42 + 1])),
)
def test_mul_div_round(a: int, b: int, c: int, den: int) -> None:
    values, done = mul_div_round(
        np.array([a]), np.array([b]), np.array([c]), np.array([den]), "half_even"
    )
    exact = Fraction(a * b * c, den)
    if den <= 2**42 and abs(exact) <= 2**53:
        assert done[0]
    if done[0]:
        assert values[0] == half_even(exact)
