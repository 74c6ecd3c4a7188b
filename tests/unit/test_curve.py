"""The mine-score curve: monotone, bounded by its anchors, exactly through them.

Plus the engine's refusals for the mine-score-linked product (mandatory indicator
failed, score under the policy minimum) and the curve's use in a quote.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_builders import PRICING_DATE, make_request, mine

from pricing_service.domain.curve import ScoreCurve
from pricing_service.domain.engine import price
from pricing_service.domain.errors import IneligibleError, InvalidRequestError
from pricing_service.domain.policy import Policy
from pricing_service.domain.request import QuoteRequest

DEFAULT_ANCHORS = [
    ("60.0", "0"),
    ("70.0", "-30"),
    ("80.0", "-80"),
    ("90.0", "-150"),
    ("100.0", "-200"),
]
CENT = Decimal("0.01")


def curve_of(pairs: list[tuple[str, str]]) -> ScoreCurve:
    return ScoreCurve([(Decimal(s), Decimal(v)) for s, v in pairs])


def tenths(curve: ScoreCurve) -> list[Decimal]:
    return [curve.adjustment_bp(Decimal(t) / 10) for t in range(1001)]


def test_default_curve_passes_exactly_through_its_anchors(policy: Policy) -> None:
    curve = policy.products["mine_score"].curve
    assert curve is not None
    for score, bp in DEFAULT_ANCHORS:
        assert curve.adjustment_bp(Decimal(score)) == Decimal(bp)


def test_default_curve_is_flat_outside_its_anchors(policy: Policy) -> None:
    curve = policy.products["mine_score"].curve
    assert curve is not None
    assert curve.adjustment_bp(Decimal("0.0")) == Decimal(0)
    assert curve.adjustment_bp(Decimal("59.9")) == Decimal(0)


def test_default_curve_midpoint_75_is_the_hand_computed_pchip_value(policy: Policy) -> None:
    # PCHIP (Fritsch-Carlson, as scipy): on equal 10-point spacing the slope at an
    # interior anchor is the harmonic mean of the secants. Secants: -3, -5, -7 bp
    # per point, so d(70) = 2/(1/-3 + 1/-5) = -15/4 and d(80) = 2/(1/-5 + 1/-7) = -35/6.
    # The cubic Hermite midpoint of [70, 80] is (y0 + y1)/2 + h (d0 - d1)/8.
    d70, d80 = Fraction(-15, 4), Fraction(-35, 6)
    mid = Fraction(-30 + -80, 2) + 10 * (d70 - d80) / 8
    expected = Decimal(mid.numerator) / Decimal(mid.denominator)
    curve = policy.products["mine_score"].curve
    assert curve is not None
    assert curve.adjustment_bp(Decimal("75.0")) == expected.quantize(CENT)
    assert curve.adjustment_bp(Decimal("75.0")) == Decimal("-52.40")


def test_default_curve_is_non_increasing_and_within_its_anchor_bounds(policy: Policy) -> None:
    curve = policy.products["mine_score"].curve
    assert curve is not None
    values = tenths(curve)
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert min(values) == Decimal(-200)
    assert max(values) == Decimal(0)


@given(score=st.integers(min_value=0, max_value=1000))
def test_default_curve_value_is_between_its_neighbouring_anchors(
    policy: Policy, score: int
) -> None:
    curve = policy.products["mine_score"].curve
    assert curve is not None
    s = Decimal(score) / 10
    value = curve.adjustment_bp(s)
    assert value == value.quantize(CENT)
    anchors = [(Decimal(a), Decimal(b)) for a, b in DEFAULT_ANCHORS]
    for (x0, y0), (x1, y1) in itertools.pairwise(anchors):
        if x0 <= s <= x1:
            assert y1 <= value <= y0


@given(a=st.integers(min_value=0, max_value=1000), b=st.integers(min_value=0, max_value=1000))
def test_a_higher_score_never_prices_higher_on_the_default_curve(
    policy: Policy, a: int, b: int
) -> None:
    curve = policy.products["mine_score"].curve
    assert curve is not None
    lo, hi = sorted((a, b))
    assert curve.adjustment_bp(Decimal(hi) / 10) <= curve.adjustment_bp(Decimal(lo) / 10)


@st.composite
def anchor_sets(draw: st.DrawFn) -> list[tuple[Decimal, Decimal]]:
    """Valid policy anchors: strictly increasing tenths, non-increasing bp with 2 decimals."""
    n = draw(st.integers(min_value=2, max_value=7))
    xs = sorted(draw(st.sets(st.integers(0, 1000), min_size=n, max_size=n)))
    ys = sorted(draw(st.lists(st.integers(-50_000, 20_000), min_size=n, max_size=n)), reverse=True)
    return [(Decimal(x) / 10, Decimal(y) / 100) for x, y in zip(xs, ys, strict=True)]


@settings(max_examples=60, deadline=None)
@given(anchors=anchor_sets())
def test_any_valid_anchor_set_gives_a_monotone_bounded_curve_through_its_anchors(
    anchors: list[tuple[Decimal, Decimal]],
) -> None:
    curve = ScoreCurve(anchors)
    values = tenths(curve)
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert all(v == v.quantize(CENT) for v in values)
    for score, bp in anchors:
        assert curve.adjustment_bp(score) == bp
    for (x0, y0), (x1, y1) in itertools.pairwise(anchors):
        for t in range(int(x0 * 10), int(x1 * 10) + 1):
            assert y1 <= values[t] <= y0
    first, last = anchors[0], anchors[-1]
    assert all(v == first[1] for v in values[: int(first[0] * 10) + 1])
    assert all(v == last[1] for v in values[int(last[0] * 10) :])


def test_flat_anchor_segment_stays_exactly_flat() -> None:
    curve = curve_of([("50.0", "-10"), ("60.0", "-10"), ("70.0", "-40")])
    assert {curve.adjustment_bp(Decimal(t) / 10) for t in range(500, 601)} == {Decimal(-10)}


# --- the mine-score-linked product in the engine --------------------------------------------


def mine_request(
    score: str, construction_class: int = 1, passed: bool = True, accepted_on: date = PRICING_DATE
) -> QuoteRequest:
    ev = mine(score, construction_class, passed, accepted_on)
    return make_request(product_id="mine_score", mine_score=ev)


def test_mine_quote_is_ordinary_rate_plus_the_curve_value(policy: Policy) -> None:
    # AA, 12 months, 2025-06: ordinary = 300 + 30 = 330 bp; curve(75.0) = -52.40.
    quote = price(mine_request("75.0"), policy)
    assert quote.ordinary_bp == Decimal(330)
    assert quote.rate_bp == Decimal(278)  # 277.60 rounded half-even to 1 bp
    assert [s.code for s in quote.steps] == [
        "BASE_RATE",
        "STANDARD_SPREAD",
        "ORDINARY_RATE",
        "MINE_SCORE_ADJUSTMENT",
        "ROUNDING",
        "CONCESSION",
    ]
    assert quote.steps[3].value == "-52.40"
    assert quote.concession_bp == Decimal(52)


def test_mine_score_100_gets_the_full_200_bp(policy: Policy) -> None:
    quote = price(mine_request("100.0"), policy)
    assert quote.rate_bp == Decimal(130)


def test_failed_mandatory_indicator_is_refused_whatever_the_score(policy: Policy) -> None:
    with pytest.raises(IneligibleError) as info:
        price(mine_request("98.5", passed=False), policy)
    assert info.value.reason == "MANDATORY_INDICATOR_FAILED"
    assert info.value.metadata == {"score": "98.5"}


def test_score_below_the_policy_minimum_is_refused(policy: Policy) -> None:
    with pytest.raises(IneligibleError) as info:
        price(mine_request("59.9"), policy)
    assert info.value.reason == "MINE_SCORE_BELOW_MINIMUM"
    assert info.value.metadata == {"score": "59.9", "min_score": "60.0"}


def test_score_exactly_at_the_policy_minimum_is_accepted_with_no_adjustment(
    policy: Policy,
) -> None:
    quote = price(mine_request("60.0"), policy)
    assert quote.rate_bp == Decimal(330)
    assert quote.concession_bp == Decimal(0)


def test_mine_product_without_a_score_is_an_invalid_request(policy: Policy) -> None:
    with pytest.raises(InvalidRequestError) as info:
        price(make_request(product_id="mine_score"), policy)
    assert [v.field for v in info.value.violations] == ["mine_score"]


def test_unknown_construction_class_is_an_invalid_request(policy: Policy) -> None:
    with pytest.raises(InvalidRequestError) as info:
        price(mine_request("80.0", construction_class=4), policy)
    assert [v.field for v in info.value.violations] == ["mine_score.construction_class"]


def test_mine_acceptance_dated_after_pricing_is_an_invalid_request(policy: Policy) -> None:
    tomorrow = date.fromordinal(PRICING_DATE.toordinal() + 1)
    with pytest.raises(InvalidRequestError):
        price(mine_request("80.0", accepted_on=tomorrow), policy)
