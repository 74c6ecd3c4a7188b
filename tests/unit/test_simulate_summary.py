"""Exact aggregates of a simulation and of a policy diff over a small hand-built book.

Every expected value is worked out by hand from the default policy at the
2025-06-03 fixing (1Y LPR 3.00%): ordinary rate = 3.00% + rating spread + term
spread; 绿碳融 grades 1-3 take -200 bp; mine score 80.0 (an anchor) takes -80 bp.
Loans are interest-only, so the first-year concession is principal x concession.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_builders import PRICING_TIME, variant

from pricing_service.domain.policy import Policy
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.results import LoanResults
from pricing_service.simulate.summary import (
    DiffSummary,
    LoanChange,
    Summary,
    _group_dot,
    _group_sums,
    change_row,
    diff_summary,
    rounded,
    score_band_labels,
    summarise,
)

# loan_id, product, rating, term, principal fen, industry, grade, mine score tenths
LOANS: list[tuple[str, str, str, int, int, str, int, int]] = [
    ("C1", "lvtanrong", "AA", 12, 100_000_000, "power", 1, -1),  # 3.30 -> 1.30
    ("C2", "lvtanrong", "A", 24, 200_000_000, "chemicals", 2, -1),  # 3.70 -> 1.70
    ("C3", "lvtanrong", "AAA", 36, 300_000_000, "power", 3, -1),  # 3.10 -> 1.10
    ("S1", "standard", "BBB", 12, 50_000_000, "", -1, -1),  # 4.00
    ("C4", "lvtanrong", "AA", 12, 80_000_000, "coking", 4, -1),  # grade 4: refused
    ("M1", "mine_score", "AA", 12, 100_000_000, "", -1, 800),  # 3.30 - 0.80 = 2.50
    ("M2", "mine_score", "AA", 12, 40_000_000, "", -1, 550),  # below 60: refused
]


def build(loans: list[tuple[str, str, str, int, int, str, int, int]]) -> Portfolio:
    p = Portfolio.empty(len(loans))
    for i, (loan_id, product, rating, term, principal, industry, grade, score) in enumerate(loans):
        p.loan_id[i] = loan_id
        p.borrower_id[i] = f"B-{loan_id}"
        p.product_id[i] = product
        p.credit_rating[i] = rating
        p.term_months[i] = term
        p.principal_fen[i] = principal
        p.industry[i] = industry
        p.repayment[i] = "interest_only_bullet"
        p.upfront_fee_fen[i] = 0
        if grade > 0:
            p.carbon_grade[i] = grade
            p.carbon_assessed_on[i] = np.datetime64("2025-05-01")
        if score >= 0:
            p.mine_score_tenths[i] = score
            p.construction_class[i] = 1
            p.mandatory_passed[i] = True
            p.mine_accepted_on[i] = np.datetime64("2025-05-01")
    return p


@pytest.fixture(scope="module")
def book() -> Portfolio:
    return build(LOANS)


@pytest.fixture(scope="module")
def results(book: Portfolio, policy: Policy) -> LoanResults:
    return price_portfolio_scalar(book, policy, PRICING_TIME)


@pytest.fixture(scope="module")
def summary(book: Portfolio, results: LoanResults, policy: Policy) -> Summary:
    return summarise(
        book,
        results,
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=PRICING_TIME,
    )


def no_floats(value: Any, path: str = "$") -> None:
    """Fail on any float anywhere in a JSON-ready structure."""
    assert not isinstance(value, float), f"float at {path}: {value!r}"
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"non-string key at {path}"
            no_floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            no_floats(v, f"{path}[{i}]")
    else:
        assert value is None or isinstance(value, (str, int, bool)), f"{type(value)} at {path}"


# --- rounding -------------------------------------------------------------------


def test_rounded_is_half_even_on_exact_ties() -> None:
    assert rounded(1, 8, 2) == Decimal("0.12")  # 0.125 -> even
    assert rounded(3, 8, 2) == Decimal("0.38")  # 0.375 -> even
    assert rounded(-1, 8, 2) == Decimal("-0.12")
    assert rounded(-3, 8, 2) == Decimal("-0.38")
    assert rounded(2, 3, 4) == Decimal("0.6667")
    assert str(rounded(5, 1, 4)) == "5.0000"


def test_rounded_refuses_a_non_positive_denominator() -> None:
    with pytest.raises(ValueError, match="positive"):
        rounded(1, 0, 2)


# --- one simulation --------------------------------------------------------------


def test_the_reference_prices_the_book_as_worked_out_by_hand(results: LoanResults) -> None:
    assert results.status.tolist() == [
        "PRICED",
        "PRICED",
        "PRICED",
        "PRICED",
        "CARBON_GRADE_INELIGIBLE",
        "PRICED",
        "MINE_SCORE_BELOW_MINIMUM",
    ]
    assert results.rate_units.tolist() == [
        1_300_000,
        1_700_000,
        1_100_000,
        4_000_000,
        0,
        2_500_000,
        0,
    ]
    assert results.first_year_concession_fen.tolist() == [
        2_000_000,
        4_000_000,
        6_000_000,
        0,
        0,
        800_000,
        0,
    ]


def test_overall_aggregates_are_exact(summary: Summary) -> None:
    s = summary.overall
    assert (s.loans, s.priced, s.refused_total) == (7, 5, 2)
    assert dict(s.refused) == {"CARBON_GRADE_INELIGIBLE": 1, "MINE_SCORE_BELOW_MINIMUM": 1}
    assert s.volume_fen == 870_000_000
    assert s.priced_volume_fen == 750_000_000
    # (1.30 + 1.70 + 1.10 + 4.00 + 2.50) / 5
    assert str(s.avg_rate_percent) == "2.1200"
    # (1 x 1.30 + 2 x 1.70 + 3 x 1.10 + 0.5 x 4.00 + 1 x 2.50) / 7.5 = 1.6666...
    assert str(s.weighted_avg_rate_percent) == "1.6667"
    assert s.rate_volume_sum == 1_250_000_000 * 1_000_000
    # (200 + 200 + 200 + 0 + 80) / 5 and 1280 / 7.5 = 170.666...
    assert str(s.avg_concession_bp) == "136.00"
    assert str(s.weighted_avg_concession_bp) == "170.67"
    assert s.first_year_concession_fen == 12_800_000
    assert (s.floor_binding, s.cap_binding) == (0, 0)


def test_groups_by_product_are_exact_and_sorted(summary: Summary) -> None:
    assert list(summary.by_product) == ["lvtanrong", "mine_score", "standard"]
    green = summary.by_product["lvtanrong"]
    assert (green.loans, green.priced, dict(green.refused)) == (
        4,
        3,
        {"CARBON_GRADE_INELIGIBLE": 1},
    )
    assert green.volume_fen == 680_000_000
    assert str(green.avg_rate_percent) == "1.3667"  # 4.10 / 3
    assert str(green.weighted_avg_rate_percent) == "1.3333"  # 8.00 / 6
    assert str(green.avg_concession_bp) == "200.00"
    assert green.first_year_concession_fen == 12_000_000
    standard = summary.by_product["standard"]
    assert (standard.loans, str(standard.avg_rate_percent), str(standard.avg_concession_bp)) == (
        1,
        "4.0000",
        "0.00",
    )


def test_groups_by_grade_hold_priced_carbon_loans_and_all_five_grades(summary: Summary) -> None:
    assert list(summary.by_grade) == ["1", "2", "3", "4", "5"]
    assert [s.loans for s in summary.by_grade.values()] == [1, 1, 1, 0, 0]
    assert [str(s.avg_rate_percent) for s in list(summary.by_grade.values())[:3]] == [
        "1.3000",
        "1.7000",
        "1.1000",
    ]
    assert summary.by_grade["4"].avg_rate_percent is None
    assert summary.by_grade["3"].first_year_concession_fen == 6_000_000


def test_groups_by_default_score_band(summary: Summary) -> None:
    assert list(summary.by_score_band) == ["<60", "60-70", "70-80", "80-90", ">=90"]
    low, high = summary.by_score_band["<60"], summary.by_score_band["80-90"]
    assert (low.loans, low.priced, dict(low.refused)) == (1, 0, {"MINE_SCORE_BELOW_MINIMUM": 1})
    assert (high.loans, high.priced, str(high.avg_concession_bp)) == (1, 1, "80.00")
    assert high.first_year_concession_fen == 800_000
    assert sum(s.loans for s in summary.by_score_band.values()) == 2


def test_score_band_edges_are_a_parameter_and_include_their_lower_edge(
    book: Portfolio, results: LoanResults
) -> None:
    s = summarise(
        book,
        results,
        policy_version="v",
        policy_digest="d",
        as_of=PRICING_TIME,
        score_bands=(Decimal(55), Decimal(80)),
    )
    assert {k: v.loans for k, v in s.by_score_band.items()} == {"<55": 0, "55-80": 1, ">=80": 1}
    assert score_band_labels([Decimal("62.5")]) == ["<62.5", ">=62.5"]
    with pytest.raises(ValueError, match="increasing"):
        summarise(
            book,
            results,
            policy_version="v",
            policy_digest="d",
            as_of=PRICING_TIME,
            score_bands=(Decimal(80), Decimal(60)),
        )
    with pytest.raises(ValueError, match="finer"):
        summarise(
            book,
            results,
            policy_version="v",
            policy_digest="d",
            as_of=PRICING_TIME,
            score_bands=(Decimal("60.05"),),
        )


def test_groups_by_industry_and_rating(summary: Summary) -> None:
    assert list(summary.by_industry) == ["(none)", "chemicals", "coking", "power"]
    power = summary.by_industry["power"]
    assert (power.loans, str(power.avg_rate_percent), str(power.weighted_avg_rate_percent)) == (
        2,
        "1.2000",
        "1.1500",  # (1 x 1.30 + 3 x 1.10) / 4
    )
    assert summary.by_industry["coking"].priced == 0
    assert list(summary.by_credit_rating) == ["A", "AA", "AAA", "BBB"]
    aa = summary.by_credit_rating["AA"]
    assert (aa.loans, aa.priced, aa.volume_fen, str(aa.avg_rate_percent)) == (
        4,
        2,
        320_000_000,
        "1.9000",
    )


def test_json_has_no_floats_fixed_keys_and_exact_strings(summary: Summary) -> None:
    doc = summary.to_json()
    no_floats(doc)
    assert list(doc) == [
        "policy_version",
        "policy_digest",
        "as_of",
        "rounding",
        "rate_decimals",
        "bp_decimals",
        "score_bands",
        "overall",
        "by_product",
        "by_carbon_grade",
        "by_mine_score_band",
        "by_industry",
        "by_credit_rating",
    ]
    overall = doc["overall"]
    assert overall["volume_cny"] == "8700000.00"
    assert overall["weighted_avg_rate_percent"] == "1.6667"
    assert overall["first_year_concession_cny"] == "128000.00"
    assert doc["by_carbon_grade"]["5"]["avg_rate_percent"] is None
    assert doc["as_of"] == "2025-06-03T02:00:00+00:00"
    # Dumps without a custom encoder, and the same twice.
    assert json.dumps(doc) == json.dumps(summary.to_json())


def test_text_rendering_shows_the_exact_figures(summary: Summary) -> None:
    text = summary.to_text()
    assert "8,700,000.00" in text
    assert "1.6667" in text
    assert "128,000.00" in text
    assert "CARBON_GRADE_INELIGIBLE" in text
    assert "\x1b[" not in text  # no terminal control codes in a file


def test_int64_overflowing_sums_stay_exact(policy: Policy) -> None:
    # Six loans at the policy's 5-billion-CNY maximum: sum(principal x rate)
    # is 9.9e18, past int64.
    loans = [(f"S{i}", "standard", "AA", 12, 500_000_000_000, "", -1, -1) for i in range(6)]
    book = build(loans)
    results = price_portfolio_scalar(book, policy, PRICING_TIME)
    s = summarise(book, results, policy_version="v", policy_digest="d", as_of=PRICING_TIME)
    assert s.overall.rate_volume_sum == 6 * 500_000_000_000 * 3_300_000
    assert s.overall.rate_volume_sum > 2**63
    assert str(s.overall.weighted_avg_rate_percent) == "3.3000"
    # A principal x rate product that itself overflows int64 (hand-made results).
    fake = LoanResults.empty(2)
    fake.status[:] = "PRICED"
    fake.rate_units[:] = [10**10, 10**10 + 1]
    two = book.take(np.arange(2))
    s = summarise(two, fake, policy_version="v", policy_digest="d", as_of=PRICING_TIME)
    assert s.overall.rate_volume_sum == 500_000_000_000 * (2 * 10**10 + 1)
    assert s.overall.rate_units_sum == 2 * 10**10 + 1


def test_results_of_another_length_are_refused(book: Portfolio, results: LoanResults) -> None:
    with pytest.raises(ValueError, match="6 results for a portfolio of 7"):
        summarise(
            book,
            results.take(np.arange(6)),
            policy_version="v",
            policy_digest="d",
            as_of=PRICING_TIME,
        )


# --- policy diff -----------------------------------------------------------------


def diff_of(book: Portfolio, base: LoanResults, draft: LoanResults) -> DiffSummary:
    return diff_summary(
        book,
        base,
        draft,
        base_version="base",
        base_digest="b" * 64,
        draft_version="draft",
        draft_digest="d" * 64,
        as_of=PRICING_TIME,
    )


def test_a_diff_of_results_against_themselves_is_empty(
    book: Portfolio, results: LoanResults
) -> None:
    d = diff_of(book, results, results)
    assert d.is_empty
    o = d.overall
    assert (o.loans, o.changed, o.rate_changed, o.rate_up, o.rate_down) == (7, 0, 0, 0, 0)
    assert (o.first_year_delta_fen, o.status_changed, o.to_refused, o.to_priced) == (0, 0, 0, 0)
    assert str(o.avg_rate_delta_bp) == "0.00"
    assert dict(d.to_refused) == {}
    assert dict(d.to_priced) == {}
    assert list(d.changes()) == []
    assert not d.changed.any()
    doc = d.to_json()
    no_floats(doc)
    assert doc["changed_loans"] == []
    assert doc["changed_loans_truncated"] is False


def test_a_draft_changing_one_loan_shows_exactly_that_loan(
    book: Portfolio, results: LoanResults
) -> None:
    draft_policy = variant(('3 = "-200"', '3 = "-150"'))  # grade 3 only: loan C3
    draft = price_portfolio_scalar(book, draft_policy, PRICING_TIME)
    d = diff_of(book, results, draft)
    assert list(d.changes()) == [
        LoanChange(
            row=2,
            loan_id="C3",
            product_id="lvtanrong",
            base_status="PRICED",
            draft_status="PRICED",
            base_rate_units=1_100_000,
            draft_rate_units=1_600_000,
            rate_delta_units=500_000,
            concession_delta_units=-500_000,
            first_year_delta_fen=-1_500_000,  # 3,000,000.00 CNY x 0.50%
        )
    ]
    o = d.overall
    assert (o.changed, o.both_priced, o.rate_changed, o.rate_up, o.rate_down) == (1, 5, 1, 1, 0)
    assert str(o.avg_rate_delta_bp) == "10.00"  # 50 bp over 5 loans priced under both
    assert o.first_year_delta_fen == -1_500_000
    assert d.by_grade["3"].changed == 1
    assert sum(s.changed for s in d.by_product.values()) == 1
    [change] = d.to_json()["changed_loans"]
    assert change == {
        "index": 2,
        "loan_id": "C3",
        "product_id": "lvtanrong",
        "base_status": "PRICED",
        "draft_status": "PRICED",
        "base_rate_percent": "1.10",
        "draft_rate_percent": "1.60",
        "rate_delta_bp": "50",
        "concession_delta_bp": "-50",
        "first_year_delta_fen": -1_500_000,
    }


def test_eligibility_flips_are_counted_by_product_and_reason(
    book: Portfolio, results: LoanResults
) -> None:
    draft_policy = variant(
        ('3 = "-200"', '3 = "-150"\n4 = "-100"'),  # C3 dearer; grade 4 (C4) now eligible
        ('min_score = "60.0"', 'min_score = "85.0"'),  # M1 (80.0) now refused
    )
    draft = price_portfolio_scalar(book, draft_policy, PRICING_TIME)
    d = diff_of(book, results, draft)
    assert [c.loan_id for c in d.changes()] == ["C3", "C4", "M1"]
    assert {p: dict(r) for p, r in d.to_refused.items()} == {
        "mine_score": {"MINE_SCORE_BELOW_MINIMUM": 1}
    }
    assert {p: dict(r) for p, r in d.to_priced.items()} == {
        "lvtanrong": {"CARBON_GRADE_INELIGIBLE": 1}
    }
    o = d.overall
    assert (o.changed, o.status_changed, o.to_refused, o.to_priced) == (3, 2, 1, 1)
    assert (o.both_priced, o.rate_up, o.rate_down) == (4, 1, 0)
    # C3 -1,500,000; C4 +800,000 (0.8 M CNY x 1.00%); M1 -800,000 (no longer granted)
    assert o.first_year_delta_fen == -1_500_000
    assert d.by_product["mine_score"].first_year_delta_fen == -800_000
    assert d.by_product["lvtanrong"].first_year_delta_fen == -700_000
    assert (d.by_grade["4"].loans, d.by_grade["4"].to_priced) == (1, 1)
    assert d.by_score_band["80-90"].to_refused == 1
    c4 = next(c for c in d.changes() if c.loan_id == "C4")
    assert (c4.base_rate_units, c4.draft_rate_units, c4.rate_delta_units) == (None, 2_300_000, 0)
    # A flip has no rate or concession change (nothing to compare with), not a change of 0.
    assert (c4.to_json()["rate_delta_bp"], c4.to_json()["concession_delta_bp"]) == (None, None)
    assert change_row(c4)[6:] == ["-", "-", "8,000.00"]
    assert d.flip_rows() == [
        ["PRICED→refused", "mine_score", "MINE_SCORE_BELOW_MINIMUM", "1"],
        ["refused→PRICED", "lvtanrong", "CARBON_GRADE_INELIGIBLE", "1"],
    ]
    doc = d.to_json(loan_limit=2)
    no_floats(doc)
    assert [c["loan_id"] for c in doc["changed_loans"]] == ["C3", "C4"]
    assert doc["changed_loans_truncated"] is True
    assert doc["overall"]["first_year_delta_cny"] == "-15000.00"
    text = d.to_text()
    assert "PRICED→refused" in text
    assert "-15,000.00" in text


def test_diff_refuses_results_of_another_length(book: Portfolio, results: LoanResults) -> None:
    with pytest.raises(ValueError, match="same number"):
        diff_of(book, results, results.take(np.arange(3)))


# --- exact group sums --------------------------------------------------------------

int64s = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), int64s, int64s), max_size=40))
def test_group_sums_are_exact_whatever_the_magnitudes(
    rows: list[tuple[int, int, int]],
) -> None:
    codes = np.array([g for g, _, _ in rows], dtype=np.intp)
    a = np.array([x for _, x, _ in rows], dtype=np.int64)
    b = np.array([y for _, _, y in rows], dtype=np.int64)
    expected_sums = [sum(x for g, x, _ in rows if g == k) for k in range(4)]
    expected_dots = [sum(x * y for g, x, y in rows if g == k) for k in range(4)]
    assert _group_sums(codes, 4, a) == expected_sums
    assert _group_dot(codes, 4, a, b) == expected_dots
    small = b >> 40  # |b| < 2^23: products fit int64, their sums need not
    assert _group_dot(codes, 4, a >> 24, small) == [
        sum((x >> 24) * (y >> 40) for g, x, y in rows if g == k) for k in range(4)
    ]
