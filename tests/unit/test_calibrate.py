"""Calibration of one policy parameter to a first-year concession budget.

Hand-worked cases use the default policy at the 2025-06-03 fixing: an AA loan
of 36 months has the ordinary rate 3.40% (340 bp); rates round to 1 bp,
half-even. An interest-only loan of 1,000,000.00 CNY saves 10,000 fen a year
per bp of concession.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_builders import PRICING_TIME, default_text

from pricing_service.policy.document import (
    build_policy,
    canonical_bytes,
    load_policy_file,
    parse_document,
)
from pricing_service.simulate.calibrate import (
    CalibrationError,
    Parameter,
    calibrate,
    first_year_cost,
)
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.reference import price_portfolio_scalar

GRADES = "products.lvtanrong.grade_adjust_bp"
SCALE = "products.mine_score.curve_scale"


def document() -> dict[str, Any]:
    return parse_document(default_text().encode())


def book(*loans: dict[str, Any]) -> Portfolio:
    p = Portfolio.empty(len(loans))
    for i, row in enumerate(loans):
        p.loan_id[i] = f"L{i}"
        p.borrower_id[i] = f"B{i}"
        full = {
            "product_id": "standard",
            "credit_rating": "AA",
            "principal_fen": 100_000_000,
            "term_months": 36,
            "repayment": "interest_only_bullet",
            "upfront_fee_fen": 0,
            **row,
        }
        for name, value in full.items():
            getattr(p, name)[i] = value
    return p


def carbon(grade: int, **columns: Any) -> dict[str, Any]:
    return {
        "product_id": "lvtanrong",
        "carbon_grade": grade,
        "carbon_assessed_on": np.datetime64("2025-05-01"),
        **columns,
    }


def mine(tenths: int, **columns: Any) -> dict[str, Any]:
    return {
        "product_id": "mine_score",
        "mine_score_tenths": tenths,
        "construction_class": 1,
        "mandatory_passed": True,
        "mine_accepted_on": np.datetime64("2025-01-10"),
        **columns,
    }


def transition(after: int, **columns: Any) -> dict[str, Any]:
    return {
        "product_id": "transition",
        "annual_tco2_reduced": 20_000 * 10**6,
        "coal_g_per_kwh_before": 300 * 10**6,
        "coal_g_per_kwh_after": after * 10**6,
        "kpis_verified_on": np.datetime64("2025-02-01"),
        **columns,
    }


def scalar_cost(portfolio: Portfolio, doc: dict[str, Any]) -> int:
    """The first-year cost by the scalar reference: the definition, independently."""
    results = price_portfolio_scalar(portfolio, build_policy(doc), PRICING_TIME)
    return int(results.first_year_concession_fen.sum())


def mixed_book() -> Portfolio:
    methods = ("interest_only_bullet", "equal_principal", "equal_installment")
    ratings = ("AAA", "AA", "A", "BBB", "BB", "B")
    loans = []
    for i in range(24):
        common = {
            "repayment": methods[i % 3],
            "credit_rating": ratings[i % 6],
            "term_months": (6, 12, 24, 36, 60, 120)[(i // 2) % 6],
            "principal_fen": 3_000_000 * (i + 1) + 4_321 * i,
        }
        loans.append(carbon(1 + i % 3, **common))
        loans.append(mine(620 + 15 * i, **common))
        if i % 4 == 0:
            loans.append({"product_id": "standard", **common})
            loans.append(transition(285 - i, **common))
    return book(*loans)


def assert_step(portfolio: Portfolio, doc: dict[str, Any], param: str, target: int) -> None:
    """The defining property, re-checked with the scalar pricer on the two documents."""
    result = calibrate(portfolio, doc, param, target, PRICING_TIME)
    parameter = Parameter.parse(param, doc)
    at = scalar_cost(portfolio, parameter.apply(doc, result.value))
    beyond = scalar_cost(portfolio, parameter.apply(doc, result.next_value))
    assert at == result.cost_fen <= target < beyond == result.next_cost_fen
    assert result.next_value - result.value == parameter.generous * parameter.grid
    assert result.gap_fen == target - at
    for value, cost in result.evaluated[:: max(len(result.evaluated) // 4, 1)]:
        assert scalar_cost(portfolio, parameter.apply(doc, value)) == cost  # as charted
    if result.same_cost_from is None:  # a scale: monotone only up to rounding
        assert parameter.kind == "curve_scale"
        return
    plateau = scalar_cost(portfolio, parameter.apply(doc, result.same_cost_from))
    assert plateau == at
    if result.same_cost_from != result.bracket[0 if parameter.generous > 0 else 1]:
        less = result.same_cost_from - parameter.generous * parameter.grid
        assert scalar_cost(portfolio, parameter.apply(doc, less)) < at


# --- hand-worked cases -------------------------------------------------------------------


def test_grade_discount_for_a_budget_by_hand() -> None:
    # Budget 1,234,567 fen: at most 123 bp of concession (1,230,000 fen). The rate must
    # stay at 217 bp: 340 + x rounds to 217 for x in (-123.5, -122.5) (216.5 and 217.5
    # both round to the even neighbour), so the most generous grid value is -123.49;
    # -123.50 rounds to 216 bp, 124 bp of concession.
    result = calibrate(book(carbon(3)), document(), GRADES, 1_234_567, PRICING_TIME)
    assert result.to_json() | {"evaluations": 0, "evaluated": [], "draft_digest": ""} == {
        "param": GRADES,
        "rule": "the most generous grid value whose first-year cost is at most the budget",
        "value": "-123.49",
        "same_cost_from": "-122.51",
        "target_fen": 1_234_567,
        "cost_fen": 1_230_000,
        "gap_fen": 4_567,
        "next_value": "-123.50",
        "next_cost_fen": 1_240_000,
        "original_value": "-200",
        "original_cost_fen": 2_000_000,
        "bracket": ["-800.00", "0.00"],
        "bracket_cost_fen": [2_600_000, 0],  # 3.40% down to the 0.80% floor
        "evaluations": 0,
        "evaluated": [],
        "draft_version": "2026.1-default-calibrated",
        "draft_digest": "",
        "warnings": [],
    }
    table = result.document["products"]["lvtanrong"]["grade_adjust_bp"]
    assert table == {"1": "-123.49", "2": "-123.49", "3": "-123.49"}
    # The search as priced, by value: the bracket's ends, the answer and the next step.
    evaluated = dict(result.evaluated)
    assert [evaluated[Decimal(v)] for v in ("-800.00", "-123.50", "-123.49", "0.00")] == [
        2_600_000,
        1_240_000,
        1_230_000,
        0,
    ]
    assert list(result.evaluated) == sorted(result.evaluated)
    assert len(result.evaluated) == result.evaluations


def test_curve_scale_for_a_budget_by_hand() -> None:
    # Score 80.0 sits on the -80 bp anchor; the anchor becomes round(-80 s, 0.01 bp).
    # Budget 500,000 fen = 50 bp: the rate must round to 290 bp, i.e. the anchor at
    # most 50.50 bp deep (289.50 rounds to the even 290). 80 x 0.6313 = 50.504 -> 50.50;
    # 80 x 0.6314 = 50.512 -> 50.51 -> 289.49 -> 289 bp, 51 bp of concession.
    result = calibrate(book(mine(800)), document(), SCALE, 500_000, PRICING_TIME)
    assert (result.value, result.cost_fen) == (Decimal("0.6313"), 500_000)
    assert (result.next_value, result.next_cost_fen) == (Decimal("0.6314"), 510_000)
    assert result.same_cost_from is None  # a scale is monotone only up to rounding
    assert result.document["products"]["mine_score"]["anchors"] == [
        ["60.0", "0"],
        ["70.0", "-18.94"],  # 30 x 0.6313 = 18.939
        ["80.0", "-50.50"],
        ["90.0", "-94.70"],  # 150 x 0.6313 = 94.695, half-even
        ["100.0", "-126.26"],
    ]
    assert result.bracket == (Decimal("0.0000"), Decimal("4.0000"))  # 800 bp / 200 bp


def test_one_grade_changes_only_that_grade() -> None:
    p = book(carbon(1), carbon(2), carbon(3))
    result = calibrate(p, document(), f"{GRADES}.2", 5_000_000, PRICING_TIME)
    # Grades 1 and 3 keep 200 bp each (4,000,000 fen); grade 2 gets 100 bp at most.
    assert (result.value, result.cost_fen, result.next_cost_fen) == (
        Decimal("-100.50"),
        5_000_000,
        5_010_000,
    )
    table = result.document["products"]["lvtanrong"]["grade_adjust_bp"]
    assert table == {"1": "-200", "2": "-100.50", "3": "-200"}
    assert result.warnings == (
        "lvtanrong: grade 2 gets -100.50 bp, less than grade 3's -200 bp: "
        "a better grade would be discounted less",
    )


def test_transition_band_adjustment() -> None:
    # after 280 of 300 g/kWh is a 6.67% cut: the 5% band (index 1, -30 bp). Budget 20 bp.
    p = book(transition(280))
    result = calibrate(
        p, document(), "products.transition.bands.1.adjust_bp", 200_000, PRICING_TIME
    )
    assert (result.value, result.cost_fen, result.next_cost_fen) == (
        Decimal("-20.50"),
        200_000,
        210_000,
    )
    bands = result.document["products"]["transition"]["bands"]
    assert [b["adjust_bp"] for b in bands] == ["-60", "-20.50", "-10"]
    assert result.warnings == ()  # still ordered: -60, -20.50, -10


def test_a_band_calibrated_past_its_neighbour_is_flagged() -> None:
    # The 10% band (index 0) solved for a 20 bp budget on a 10%+ cut: -20.50 bp, less
    # generous than the 5% band's -30 bp. The draft is valid; the warning says what is odd.
    p = book(transition(270))
    result = calibrate(
        p, document(), "products.transition.bands.0.adjust_bp", 200_000, PRICING_TIME
    )
    assert result.value == Decimal("-20.50")
    assert result.warnings == (
        "transition: the >=10% band gets -20.50 bp, less than the >=5% band's -30 bp: "
        "a deeper cut would be discounted less",
    )
    assert result.to_json()["warnings"] == list(result.warnings)


def test_other_products_count_but_do_not_move() -> None:
    # The standard loan costs nothing; the mine loan's 800,000 fen is fixed.
    p = book(carbon(3), mine(800), {"product_id": "standard"})
    result = calibrate(p, document(), GRADES, 2_034_567, PRICING_TIME)
    assert (result.value, result.cost_fen) == (Decimal("-123.49"), 2_030_000)
    assert result.original_cost_fen == 2_800_000


# --- the defining property -------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "target"),
    [
        (GRADES, 20_000_000),
        (f"{GRADES}.3", 25_000_000),
        (SCALE, 20_000_000),
        ("products.transition.bands.0.adjust_bp", 25_500_000),
    ],
)
def test_cost_at_value_within_budget_and_next_step_beyond(param: str, target: int) -> None:
    assert_step(mixed_book(), document(), param, target)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([GRADES, SCALE]))
def test_any_reachable_budget_is_met_within_one_step(per_mille: int, param: str) -> None:
    p = mixed_book()
    doc = document()
    parameter = Parameter.parse(param, doc)
    low, high = parameter.default_bracket(doc, build_policy(doc))
    stingy, generous = (low, high) if parameter.generous > 0 else (high, low)
    cheapest = scalar_cost(p, parameter.apply(doc, stingy))
    dearest = scalar_cost(p, parameter.apply(doc, generous))
    target = cheapest + (dearest - cheapest) * per_mille // 10_001
    assert_step(p, doc, param, target)


# --- budgets out of reach --------------------------------------------------------------


def test_an_unreachable_budget_names_the_achievable_range() -> None:
    p = book(carbon(3))
    with pytest.raises(CalibrationError) as info:
        calibrate(p, document(), GRADES, 2_600_000, PRICING_TIME)
    assert str(info.value) == (
        f"budget 2600000 fen is outside the achievable range: over {GRADES} in "
        f"[-800.00, 0.00] the first-year cost runs from 0 fen ({GRADES} = 0.00) to 2600000 "
        f"fen ({GRADES} = -800.00); the budget must be at least the first and below the "
        "second (widen the bracket with lo/hi to reach further)"
    )
    with pytest.raises(CalibrationError, match="from 1000000 fen"):
        calibrate(p, document(), GRADES, 999_999, PRICING_TIME, lo=-300, hi=-100)
    with pytest.raises(CalibrationError, match="outside the achievable range"):
        calibrate(p, document(), GRADES, -1, PRICING_TIME)


def test_a_narrower_bracket() -> None:
    result = calibrate(
        book(carbon(3)), document(), GRADES, 1_234_567, PRICING_TIME, lo="-130", hi="-120"
    )
    assert result.value == Decimal("-123.49")
    assert result.bracket == (Decimal("-130.00"), Decimal("-120.00"))
    with pytest.raises(CalibrationError, match="empty bracket"):
        calibrate(book(carbon(3)), document(), GRADES, 1, PRICING_TIME, lo="1", hi="1.001")


# --- the draft policy ------------------------------------------------------------------


def test_the_written_draft_loads_and_reprices_to_the_reported_cost(tmp_path: Path) -> None:
    p = mixed_book()
    result = calibrate(p, document(), SCALE, 20_000_000, PRICING_TIME)
    path = tmp_path / "draft.toml"
    result.write_draft(path)
    policy, canonical = load_policy_file(path)
    assert policy.version == "2026.1-default-calibrated"
    assert canonical == canonical_bytes(result.document)
    assert first_year_cost(p, policy, PRICING_TIME) == result.cost_fen
    assert scalar_cost(p, parse_document(path.read_bytes())) == result.cost_fen


def test_the_draft_differs_from_the_input_only_in_the_parameter_and_version() -> None:
    doc = document()
    result = calibrate(book(carbon(3)), doc, GRADES, 1_234_567, PRICING_TIME)
    draft = parse_document(result.draft_toml())
    draft["version"] = doc["version"]
    draft["products"]["lvtanrong"]["grade_adjust_bp"] = doc["products"]["lvtanrong"][
        "grade_adjust_bp"
    ]
    assert canonical_bytes(draft) == canonical_bytes(doc)
    assert doc["products"]["lvtanrong"]["grade_adjust_bp"]["1"] == "-200"  # input untouched


@pytest.mark.parametrize(
    "param", [GRADES, f"{GRADES}.1", SCALE, "products.transition.bands.2.adjust_bp"]
)
def test_an_unchanged_parameter_gives_the_same_canonical_bytes(param: str) -> None:
    doc = document()
    parameter = Parameter.parse(param, doc)
    current = parameter.current(doc)
    assert current is not None
    same = parameter.apply(doc, current)
    assert canonical_bytes(same) == canonical_bytes(doc)
    # Through TOML and back (tomli_w writes dates, instants and strings as they were read).
    assert canonical_bytes(parse_document(tomli_w.dumps(same).encode())) == canonical_bytes(doc)


def test_grades_that_differ_have_no_single_current_value() -> None:
    doc = document()
    doc["products"]["lvtanrong"]["grade_adjust_bp"]["1"] = "-250"
    assert Parameter.parse(GRADES, doc).current(doc) is None
    assert Parameter.parse(f"{GRADES}.1", doc).current(doc) == Decimal(-250)


# --- parameter paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("spreads.AA", "unknown parameter 'spreads.AA'; expected one of products.<id>."),
        ("products.nope.curve_scale", "no product 'nope' in the policy (products: lvtanrong,"),
        ("products.standard.curve_scale", "the product is 'standard', not mine_score"),
        ("products.mine_score.grade_adjust_bp", "the product is 'mine_score', not carbon_acc"),
        (f"{GRADES}.4", "grade '4' is not listed by lvtanrong (listed: 1, 2, 3); calibration"),
        ("products.transition.bands.3.adjust_bp", "band '3' does not exist; transition has"),
        ("products.transition.bands.x.adjust_bp", "band 'x' does not exist"),
        ("products.lvtanrong.grade_adjust_bp.1.2", "unknown parameter"),
    ],
)
def test_bad_parameter_paths_are_explained(param: str, message: str) -> None:
    with pytest.raises(CalibrationError) as info:
        calibrate(book(carbon(3)), document(), param, 1, PRICING_TIME)
    assert message in str(info.value)


def test_a_curve_with_surcharges_cannot_be_scaled() -> None:
    doc = document()
    doc["products"]["mine_score"]["anchors"][0] = ["60.0", "20"]
    with pytest.raises(CalibrationError, match=r"anchors above 0 bp \(20\)"):
        calibrate(book(mine(800)), doc, SCALE, 1, PRICING_TIME)
    doc["products"]["mine_score"]["anchors"] = [["60.0", "0"], ["100.0", "0"]]
    with pytest.raises(CalibrationError, match="the curve is 0 everywhere"):
        calibrate(book(mine(800)), doc, SCALE, 1, PRICING_TIME)
