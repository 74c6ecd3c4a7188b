"""The vectorised pricer equals the scalar engine under drawn policies, column by column.

test_simulate_vector.py proves vector == scalar over drawn portfolios under
five fixed policies; here the policy is drawn too (policy_strategies.py): every
pricing number of the document, each drawn valid, and each product's reference (the
ordinary rate, by default or written out, or the LPR with or without the spreads).
The loans are drawn against the drawn policy as well as blind to it: its ratings and
products, terms on its limits and tenor ends, evidence aged exactly its limit, raw rates
exactly on its floor, its cap or a rounding tie, emissions exactly on its K bound x
benchmark, scores on its minimum and anchors, coal cuts exactly on its band edges,
reductions on its minimum (each one unit either side). A generated book of the pilot's
shape is priced under drawn policies too. Policies the compiled units cannot hold must
give the same answer through the scalar fallback.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from policy_strategies import (
    EXTRA_CARBON,
    EXTRA_MINE,
    EXTRA_TRANSITION,
    MANY_RATINGS,
    RATING_POOL,
    REPORTED_AS_IS,
    UNHELD_EDITS,
    often,
    policies,
    policy_documents,
    product_ids,
    unheld_policy_documents,
)
from test_simulate_vector import AS_OF, AS_OFS, OFFSETS, PRODUCTS, assert_same, build, loan, mostly

from pricing_service.domain.engine import beijing_date
from pricing_service.domain.evidence import Industry, ProductKind
from pricing_service.domain.policy import Policy
from pricing_service.policy.document import build_policy
from pricing_service.simulate.exact_int import scaled_ceiling
from pricing_service.simulate.generator import generate_portfolio
from pricing_service.simulate.policy_units import UnitsUnavailableError, policy_units
from pricing_service.simulate.portfolio import MICRO, Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.results import LoanResults
from pricing_service.simulate.vector import price_portfolio

SAFE = 2**62  # a drawn micro value stays within int64 with room for +-1
DATE_FIELDS = ("carbon_assessed_on", "emissions_period_end", "mine_accepted_on", "kpis_verified_on")
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
# Hypothesis warns when it writes out a huge example (a policy of thousands of ratings),
# which it does for an example find() returns and for a failing one: not a problem here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


def _edges(*values: int) -> list[int]:
    return sorted({v + d for v in values for d in (-1, 0, 1)})


def _terms(policy: Policy) -> st.SearchStrategy[int]:
    """Terms in the policy's range, or on its limits, its tenor split and its band ends."""
    ends = [band.max_months for band in policy.tenor_spreads]
    edges = _edges(policy.min_term_months, policy.max_term_months, policy.tenor_split_months, *ends)
    in_range = st.integers(policy.min_term_months, policy.max_term_months)
    return often(in_range, st.sampled_from([e for e in edges if e >= 0]))


def _fresh(draw: st.DrawFn, policy: Policy) -> Any:
    """An evidence date (day offset) mostly within the policy's age limit, else any of OFFSETS."""
    return draw(mostly(st.integers(-policy.evidence_max_age_days, 0), OFFSETS))


def _on_k_bound(draw: st.DrawFn, policy: Policy, row: dict[str, Any]) -> None:
    """Emissions exactly on (or one micro-tonne either side of) a K bound x benchmark."""
    industry = draw(st.sampled_from(list(Industry)))
    bench = policy.industries[industry]
    upper = draw(st.sampled_from(policy.grade_k_upper))
    ratio = Fraction(upper) * Fraction(bench.benchmark)
    most = SAFE // max(ratio.numerator, ratio.denominator)
    if most < 1:
        return
    m = draw(st.integers(1, min(most, 10**6)))
    row.pop("carbon_grade", None)
    row["industry"] = industry.value
    row["emissions_tco2"] = ratio.numerator * m + draw(st.sampled_from([-1, 0, 1]))
    column = "output_quantity" if bench.basis == "output" else "value_added_10k_cny"
    row[column] = ratio.denominator * m
    row["emissions_period_end"] = _fresh(draw, policy)


def _given_grade(draw: st.DrawFn, policy: Policy, row: dict[str, Any]) -> None:
    """A given grade, eligible or not (the policy lists some of 1-5)."""
    row.pop("emissions_tco2", None)
    row["carbon_grade"] = draw(st.integers(0, 6))
    row["carbon_assessed_on"] = _fresh(draw, policy)


def _on_score_edge(draw: st.DrawFn, policy: Policy, row: dict[str, Any]) -> None:
    """A score on a mine product's minimum or anchors (one tenth either side)."""
    pids = product_ids(policy, ProductKind.MINE_SCORE)
    pid = draw(st.sampled_from(pids))
    product = policy.products[pid]
    assert product.curve is not None
    minimum = [t for t in _edges(scaled_ceiling(product.min_score, 10)) if 0 <= t <= 1000]
    anchors = _edges(*(int(score * 10) for score, _ in product.curve.anchors))
    row["product_id"] = pid
    row["mine_score_tenths"] = draw(
        mostly(st.sampled_from(minimum), st.sampled_from([t for t in anchors if 0 <= t <= 1000]))
    )
    row["construction_class"] = draw(mostly(st.integers(1, 3), st.sampled_from([0, 4])))
    row["mandatory_passed"] = draw(mostly(st.just(True), st.just(False)))
    row["mine_accepted_on"] = _fresh(draw, policy)


def _on_band_edge(draw: st.DrawFn, policy: Policy, row: dict[str, Any]) -> None:
    """A coal cut exactly on a band's edge and a reduction on the minimum (+-1 micro)."""
    pids = product_ids(policy, ProductKind.TRANSITION)
    pid = draw(st.sampled_from(pids))
    product = policy.products[pid]
    row["product_id"] = pid
    if product.bands:
        pct = Fraction(draw(st.sampled_from(product.bands)).min_reduction_pct)
        # cut / before = pct / 100 exactly: before = 100 q k, cut = p k.
        most = SAFE // (100 * pct.denominator)
        if most >= 1:
            k = draw(st.integers(1, min(most, 10**6)))
            before = 100 * pct.denominator * k
            row["coal_g_per_kwh_before"] = before
            row["coal_g_per_kwh_after"] = (
                before - pct.numerator * k + draw(st.sampled_from([-1, 0, 1]))
            )
    minimum = scaled_ceiling(product.min_annual_tco2_reduced, MICRO)
    row["annual_tco2_reduced"] = draw(
        mostly(
            st.sampled_from([v for v in _edges(minimum) if v >= 0]),
            st.integers(minimum, max(minimum, 10**17)),
        )
    )
    row["kpis_verified_on"] = _fresh(draw, policy)
    row.setdefault("coal_g_per_kwh_before", 300 * MICRO)
    row.setdefault("coal_g_per_kwh_after", 270 * MICRO)


def _aged(draw: st.DrawFn, policy: Policy, row: dict[str, Any]) -> None:
    """Every evidence date of the loan on the policy's age limit, or one day either side."""
    limit = policy.evidence_max_age_days
    for name in DATE_FIELDS:
        if name in row:
            row[name] = draw(st.sampled_from([-limit - 1, -limit - 1, -limit, -limit, 0, 1]))


def _on_a_point(draw: st.DrawFn, policy: Policy, row: dict[str, Any]) -> None:
    """A standard loan whose raw rate at the latest fixing is the floor, the cap or a tie."""
    standard = product_ids(policy, ProductKind.STANDARD)
    low, high = policy.min_term_months, policy.max_term_months
    ends = [b.max_months for b in policy.tenor_spreads[:1]] + [policy.tenor_split_months]
    terms = sorted({low, *(min(max(t, low), high) for t in ends)})
    latest = policy.fixings.fixings[-1]
    step = Fraction(policy.rounding_step_bp)

    def on_a_point(raw: Decimal) -> bool:
        return raw in (policy.floor_bp, policy.cap_bp) or (Fraction(raw) / step).denominator == 2

    hits = [
        (rating, term)
        for term in terms
        for rating, spread in policy.spreads_bp.items()
        if on_a_point(
            latest.rate_bp(policy.tenor_for(term)) + spread + policy.tenor_spread_bp(term)
        )
    ]
    if standard and hits:
        row["product_id"] = draw(st.sampled_from(standard))
        row["credit_rating"], row["term_months"] = draw(st.sampled_from(hits))


@st.composite
def policy_loan(draw: st.DrawFn, policy: Policy) -> dict[str, Any]:
    """A loan of test_simulate_vector's kinds, moved onto the drawn policy's edges."""
    row: dict[str, Any] = draw(loan())
    ratings = list(policy.spreads_bp)
    row["product_id"] = draw(
        mostly(
            st.sampled_from(list(policy.products)), st.sampled_from([*PRODUCTS, "no_such_product"])
        )
    )
    row["credit_rating"] = draw(
        mostly(st.sampled_from(ratings), st.sampled_from([*RATING_POOL, "ZZ"]))
    )
    row["term_months"] = draw(_terms(policy))
    edge = draw(
        st.sampled_from(["none", "k_bound", "grade", "score", "band", "age", "age", "point"])
    )
    if edge == "k_bound":
        _on_k_bound(draw, policy, row)
    elif edge == "grade":
        _given_grade(draw, policy, row)
    elif edge == "score":
        _on_score_edge(draw, policy, row)
    elif edge == "band":
        _on_band_edge(draw, policy, row)
    elif edge == "age":
        _aged(draw, policy, row)
    elif edge == "point":
        _on_a_point(draw, policy, row)
    if edge in ("k_bound", "grade"):
        carbon = product_ids(policy, ProductKind.CARBON_ACCOUNT)
        row["product_id"] = draw(st.sampled_from(carbon))
    return row


@st.composite
def policy_and_book(draw: st.DrawFn) -> tuple[Policy, list[dict[str, Any]]]:
    policy = draw(policies())
    return policy, draw(st.lists(policy_loan(policy), min_size=1, max_size=25))


def assert_same_outcome(book: Portfolio, policy: Policy, as_of: datetime) -> None:
    """Every column equal; or, for a concession past the int64 fen column, one OverflowError.

    A valid policy can quote 200 % over the LPR on a principal near 2**63 fen: the
    first-year concession then overflows the results column on both paths alike.
    """
    try:
        scalar = price_portfolio_scalar(book, policy, as_of)
    except OverflowError as exc:
        with pytest.raises(OverflowError, match=re.escape(str(exc))):
            price_portfolio(book, policy, as_of)
        return
    assert_same(price_portfolio(book, policy, as_of), scalar)


def assert_held(policy: Policy) -> None:
    """The compiled units hold the policy: the vector path, not its scalar fallback, is tested."""
    policy_units(policy)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW)
@given(drawn=policy_and_book(), as_of=mostly(st.just(AS_OF), st.sampled_from(AS_OFS)))
def test_vector_equals_scalar_under_drawn_policies(
    drawn: tuple[Policy, list[dict[str, Any]]], as_of: datetime
) -> None:
    policy, rows = drawn
    assert_held(policy)
    assert_same_outcome(build(rows, as_of), policy, as_of)


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(
    policy=policies(),
    n=st.integers(40, 80),
    seed=st.integers(0, 2**32 - 1),
    as_of=mostly(st.just(AS_OF), st.sampled_from(AS_OFS[:4])),
)
def test_a_generated_book_prices_the_same_under_drawn_policies(
    policy: Policy, n: int, seed: int, as_of: datetime
) -> None:
    assert_held(policy)
    assert_same_outcome(generate_portfolio(n, seed, beijing_date(as_of)), policy, as_of)


def _outcome(price: Any, book: Portfolio, policy: Policy) -> LoanResults | tuple[str, str]:
    try:
        results: LoanResults = price(book, policy, AS_OF)
    except (ValueError, OverflowError) as exc:
        return type(exc).__name__, str(exc)
    return results


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(drawn=unheld_policy_documents(), data=st.data())
def test_policies_the_units_cannot_hold_price_the_same_through_the_fallback(
    drawn: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    edit, document = drawn
    policy = build_policy(document)
    with pytest.raises(UnitsUnavailableError):
        policy_units(policy)
    book = build(data.draw(st.lists(policy_loan(policy), min_size=1, max_size=15)), AS_OF)
    vector = _outcome(price_portfolio, book, policy)
    scalar = _outcome(price_portfolio_scalar, book, policy)
    if isinstance(scalar, LoanResults):
        assert isinstance(vector, LoanResults)
        assert_same(vector, scalar)
    else:
        # A priced loan reporting a number finer than the results' unit raises on both
        # paths with one message (see REPORTED_AS_IS), as does a concession past int64.
        assert vector == scalar
        assert scalar[0] == "OverflowError" or (
            edit in REPORTED_AS_IS and "finer than 0.0001 bp" in scalar[1]
        )


# --- the strategies reach what they claim ------------------------------------------------------


def _mine(doc: dict[str, Any]) -> dict[str, Any]:
    mine: dict[str, Any] = doc["products"]["mine_score"]
    return mine


def _anchor_values(doc: dict[str, Any]) -> list[str]:
    return [str(v) for _, v in _mine(doc)["anchors"]]


REACHES: dict[str, Any] = {
    "a carbon product priced off the LPR": lambda d: any(
        t["kind"] == "carbon_account" and t.get("reference") == "base" and not t.get("with_spreads")
        for t in d["products"].values()
    ),
    "a mine product priced off the LPR": lambda d: any(
        t["kind"] == "mine_score" and t.get("reference") == "base" and not t.get("with_spreads")
        for t in d["products"].values()
    ),
    "a product on the LPR plus spreads": lambda d: any(
        t.get("with_spreads") is True for t in d["products"].values()
    ),
    "a product on an explicit ordinary": lambda d: any(
        t.get("reference") == "ordinary" for t in d["products"].values()
    ),
    "half_up rounding": lambda d: d["rounding"]["mode"] == "half_up",
    "a step other than 1 bp": lambda d: d["rounding"]["step_bp"] not in ("1", "1.0000"),
    "a step under 1 bp": lambda d: float(d["rounding"]["step_bp"]) < 1,
    "a floor over 1.5 %": lambda d: float(d["bounds"]["floor"]) > 1.5,
    "a cap under 4 %": lambda d: float(d["bounds"]["cap"]) < 4,
    "a rating the default lacks": lambda d: "CCC" in d["spreads"] or "次级" in d["spreads"],
    "a default rating missing": lambda d: "AA" not in d["spreads"],
    "thousands of ratings": lambda d: len(d["spreads"]) > MANY_RATINGS,
    "no term bands": lambda d: not d["spreads"]["tenor"],
    "four term bands": lambda d: len(d["spreads"]["tenor"]) == 4,
    "tenor split 0": lambda d: d["base_rate"]["tenor_split_months"] == 0,
    "a spread as a TOML integer": lambda d: any(
        isinstance(v, int) for k, v in d["spreads"].items() if k != "tenor"
    ),
    "a spread off whole bp": lambda d: any(
        "." in str(v) and str(v).rstrip("0").rstrip(".") != str(v).split(".")[0]
        for k, v in d["spreads"].items()
        if k != "tenor"
    ),
    "evidence valid for 0 days": lambda d: d["evidence"]["max_age_days"] == 0,
    "a minimum term over 1": lambda d: d["quote"]["min_term_months"] > 1,
    "drawn K bounds": lambda d: d["carbon"]["grade_k_upper"] != ["0.6", "0.8", "1.2", "2.0"],
    "a K bound over 100": lambda d: float(d["carbon"]["grade_k_upper"][-1]) > 100,
    "a benchmark under 1e-6": lambda d: any(
        float(t["benchmark"]) < 1e-6 for t in d["carbon"]["industries"].values()
    ),
    "a benchmark on the other basis": lambda d: (
        d["carbon"]["industries"]["power"]["basis"] == "value_added"
    ),
    "grades 4-5 eligible": lambda d: (
        {"4", "5"} <= set(d["products"]["lvtanrong"]["grade_adjust_bp"])
    ),
    "grade 1 ineligible": lambda d: "1" not in d["products"]["lvtanrong"]["grade_adjust_bp"],
    "a flat run of anchors": lambda d: len(set(_anchor_values(d))) < len(_anchor_values(d)),
    "six anchors": lambda d: len(_mine(d)["anchors"]) == 6,
    "a first anchor over the minimum": lambda d: (
        float(_mine(d)["anchors"][0][0]) > float(_mine(d)["min_score"])
    ),
    "a minimum score between tenths": lambda d: len(_mine(d)["min_score"].partition(".")[2]) > 1,
    "a construction class missing": lambda d: len(_mine(d)["class_adjust_bp"]) < 3,
    "no transition bands": lambda d: not d["products"]["transition"]["bands"],
    "a band edge with 12 decimals": lambda d: any(
        len(b["min_reduction_pct"].partition(".")[2]) > 6
        for b in d["products"]["transition"]["bands"]
    ),
    "no standard product": lambda d: "standard" not in d["products"],
    "second products of every kind": lambda d: (
        {EXTRA_CARBON, EXTRA_MINE, EXTRA_TRANSITION} <= set(d["products"])
    ),
    "LPR rates drawn": lambda d: d["base_rate"]["fixings"][-1]["lpr_1y"] != "3.00",
    "ordinary rates per loan (no table)": lambda d: (
        (len(d["spreads"]) - 1) * (d["quote"]["max_term_months"] + 1) > 2**20
    ),
    "a rating exactly on a bound": lambda d: any(  # of the 1Y rate, ignoring split 0
        Decimal(d["base_rate"]["fixings"][-1]["lpr_1y"]) * 100
        + Decimal(v)
        + (Decimal(d["spreads"]["tenor"][0]["add_bp"]) if d["spreads"]["tenor"] else 0)
        in (Decimal(d["bounds"]["floor"]) * 100, Decimal(d["bounds"]["cap"]) * 100)
        for r, v in d["spreads"].items()
        if r != "tenor"
    ),
    "a rating on a rounding tie": lambda d: any(
        (
            Fraction(Decimal(d["base_rate"]["fixings"][-1]["lpr_1y"]) * 100 + Decimal(v))
            / Fraction(Decimal(d["rounding"]["step_bp"]))
        ).denominator
        == 2
        for r, v in d["spreads"].items()
        if r != "tenor"
    ),
    "products reordered": lambda d: next(iter(d["products"])) not in ("standard", "lvtanrong"),
}

GENERATE_ONLY = settings(
    max_examples=2000, phases=[Phase.generate], database=None, suppress_health_check=SLOW
)


def test_the_policy_strategy_reaches_every_feature_it_claims() -> None:
    seen: set[str] = set()

    def record(doc: dict[str, Any]) -> bool:
        seen.update(what for what, holds in REACHES.items() if holds(doc))
        return len(seen) == len(REACHES)

    with contextlib.suppress(NoSuchExample):
        find(policy_documents(), record, settings=GENERATE_ONLY)
    assert sorted(set(REACHES) - seen) == []


def test_the_unheld_strategy_draws_every_edit_and_the_units_refuse_each() -> None:
    seen: set[str] = set()

    def record(drawn: tuple[str, dict[str, Any]]) -> bool:
        edit, document = drawn
        with pytest.raises(UnitsUnavailableError):
            policy_units(build_policy(document))
        seen.add(edit)
        return len(seen) == len(UNHELD_EDITS)

    with contextlib.suppress(NoSuchExample):
        find(unheld_policy_documents(), record, settings=GENERATE_ONLY)
    assert sorted(set(UNHELD_EDITS) - seen) == []


STATUSES = {
    "PRICED",
    "PRODUCT_NOT_FOUND",
    "INVALID_ARGUMENT",
    "EVIDENCE_TOO_OLD",
    "CARBON_GRADE_INELIGIBLE",
    "MANDATORY_INDICATOR_FAILED",
    "MINE_SCORE_BELOW_MINIMUM",
    "TRANSITION_KPI_BELOW_MINIMUM",
}


def test_drawn_books_reach_every_refusal_and_both_bounds() -> None:
    # Over a few drawn (policy, book) pairs every refusal and both binding bounds occur:
    # the property above compares loans of every kind, not only the easy ones.
    seen: set[str] = set()

    def record(drawn: tuple[Policy, list[dict[str, Any]]]) -> bool:
        policy, rows = drawn
        try:
            r = price_portfolio(build(rows, AS_OF), policy, AS_OF)
        except OverflowError:  # see assert_same_outcome
            return False
        seen.update(str(s) for s in r.status)
        seen.update(name for name in ("floor", "cap") if np.any(getattr(r, f"{name}_binding")))
        return (STATUSES | {"floor", "cap"}) <= seen

    with contextlib.suppress(NoSuchExample):
        find(policy_and_book(), record, settings=GENERATE_ONLY)
    assert sorted((STATUSES | {"floor", "cap"}) - seen) == []
