"""Monte Carlo's state tables against the Decimal engine: every grade, a sample of score tenths.

The tables (simulate/montecarlo/tables.py) price each loan at every state it can
migrate to through the compiled policy. Here every entry is priced again by
engine.price, one request per (loan, state), under policies that reach each
rule: the default, half_up ties, a 5 bp step, and a floor and cap that bind. A
state the product does not accept is refused by the engine and must tabulate
as the standard product's quote: the model's loan runs on at the ordinary rate.

Hand-worked figures are at the 2025-06-03 fixing (1Y LPR 3.00%, 5Y+ 3.50%); an
AA loan of 36 months has the ordinary rate 3.00% + 30 bp + 10 bp = 3.40%.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pytest
from pricing_builders import PRICING_TIME, given_grade, make_request, mine, variant

from pricing_service.domain.engine import price
from pricing_service.domain.errors import IneligibleError
from pricing_service.domain.policy import Policy
from pricing_service.domain.request import QuoteRequest
from pricing_service.simulate.montecarlo import run_montecarlo
from pricing_service.simulate.montecarlo.migration import GradeTransitions, ScoreDrift
from pricing_service.simulate.montecarlo.tables import ScoreRates, grade_rates, score_rates
from pricing_service.simulate.policy_units import UnitsUnavailableError
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.results import bp_to_units
from pricing_service.simulate.vector import ordinary_units

# Half-bp adjustments: with the raw rates in whole bp every grade 3 and 4 quote is a tie.
TIE_GRADES = (
    '1 = "-200"\n2 = "-200"\n3 = "-200"',
    '1 = "-402.5"\n2 = "-200"\n3 = "-37.5"\n4 = "12.5"',
)
TIE_CLASSES = ('2 = "0"\n3 = "0"', '2 = "-12.5"\n3 = "17.5"')
POLICIES = {
    "default": variant(),
    "half_up": variant(('mode = "half_even"', 'mode = "half_up"'), TIE_GRADES, TIE_CLASSES),
    "step_5bp": variant(('step_bp = "1"', 'step_bp = "5"'), TIE_GRADES, TIE_CLASSES),
    "floor_and_cap": variant(
        ('floor = "0.80"', 'floor = "2.00"'),
        ('cap = "8.00"', 'cap = "4.50"'),
        (TIE_GRADES[0], '1 = "-300"\n2 = "-200"\n3 = "-100"\n5 = "150"'),
    ),
}
RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B")
TERMS = (6, 12, 36, 60, 61, 120, 360)
TENTHS = (0, 1, 300, 599, 600, 601, 605, 650, 699, 700, 735, 799, 800, 801, 855, 900, 999, 1000)


def _book(product: str, terms: list[tuple[str, int]], classes: tuple[int, ...] = (1,)) -> Portfolio:
    """One loan per (rating, term, class); the tables need no more than these columns."""
    rows = [(rating, term, c) for rating, term in terms for c in classes]
    p = Portfolio.empty(len(rows))
    for i, (rating, term, c) in enumerate(rows):
        p.product_id[i] = product
        p.credit_rating[i] = rating
        p.term_months[i] = term
        p.construction_class[i] = c
    return p


def _every_term() -> list[tuple[str, int]]:
    return [(rating, term) for rating in RATINGS for term in TERMS]


def _request(p: Portfolio, i: int) -> QuoteRequest:
    return make_request(
        product_id=str(p.product_id[i]),
        credit_rating=str(p.credit_rating[i]),
        term_months=int(p.term_months[i]),
        pricing_time=PRICING_TIME,
    )


def _engine_quote(req: QuoteRequest, policy: Policy) -> tuple[int, bool]:
    """(rate units, accepted): a refused state prices as the standard product."""
    try:
        return bp_to_units(price(req, policy).rate_bp), True
    except IneligibleError:
        standard = dataclasses.replace(
            req, product_id="standard", carbon_grade=None, mine_score=None
        )
        return bp_to_units(price(standard, policy).rate_bp), False


def _grade_table(policy: Policy, p: Portfolio) -> tuple[list[list[int]], list[list[bool]]]:
    table = grade_rates(policy, p.product_id, ordinary_units(p, policy, PRICING_TIME).raw)
    return table.rate.tolist(), table.eligible.tolist()


def _score_table(policy: Policy, p: Portfolio) -> ScoreRates:
    raw = ordinary_units(p, policy, PRICING_TIME).raw
    return score_rates(policy, p.product_id, raw, p.construction_class)


@pytest.mark.parametrize("name", POLICIES)
def test_grade_table_is_the_engine_quote_at_every_grade(name: str) -> None:
    policy = POLICIES[name]
    p = _book("lvtanrong", _every_term())
    rates, eligible = _grade_table(policy, p)
    expected = [
        [
            _engine_quote(dataclasses.replace(_request(p, i), carbon_grade=given_grade(g)), policy)
            for g in range(1, 6)
        ]
        for i in range(len(p))
    ]
    assert rates == [[rate for rate, _ in row] for row in expected]
    assert eligible == [[ok for _, ok in row] for row in expected]


@pytest.mark.parametrize("name", POLICIES)
def test_score_table_is_the_engine_quote_at_sampled_tenths(name: str) -> None:
    policy = POLICIES[name]
    terms = [("AAA", 12), ("AA", 36), ("BBB", 61), ("B", 360)]
    p = _book("mine_score", terms, classes=(1, 2, 3))
    table = _score_table(policy, p)
    got = (
        [[int(table.rates.rate[table.key[i], t]) for t in TENTHS] for i in range(len(p))],
        [[bool(table.rates.eligible[table.key[i], t]) for t in TENTHS] for i in range(len(p))],
    )
    expected = [
        [
            _engine_quote(
                dataclasses.replace(
                    _request(p, i),
                    mine_score=mine(f"{t // 10}.{t % 10}", int(p.construction_class[i])),
                ),
                policy,
            )
            for t in TENTHS
        ]
        for i in range(len(p))
    ]
    assert got == (
        [[rate for rate, _ in row] for row in expected],
        [[ok for _, ok in row] for row in expected],
    )


# An AA loan of 36 months at grades 1-5, by hand.
AA_36_BY_GRADE = {
    # 3.40% - 200 bp at grades 1-3; 4 and 5 are not eligible: the ordinary rate.
    "default": [1_400_000, 1_400_000, 1_400_000, 3_400_000, 3_400_000],
    # -62.5 bp is under the 0.80% floor; 302.5 and 352.5 bp tie and go up.
    "half_up": [800_000, 1_400_000, 3_030_000, 3_530_000, 3_400_000],
    # 302.5 bp is 60.5 steps of 5 bp: the even 60 (3.00%); 352.5 bp: 70 (3.50%).
    "step_5bp": [800_000, 1_400_000, 3_000_000, 3_500_000, 3_400_000],
    # 40 and 140 bp are under the 2.00% floor; 490 bp is over the 4.50% cap.
    "floor_and_cap": [2_000_000, 2_000_000, 2_400_000, 3_400_000, 4_500_000],
}


@pytest.mark.parametrize("name", POLICIES)
def test_grade_table_by_hand(name: str) -> None:
    rates, eligible = _grade_table(POLICIES[name], _book("lvtanrong", [("AA", 36)]))
    assert rates == [AA_36_BY_GRADE[name]]
    accepted = {
        "default": [True, True, True, False, False],
        "floor_and_cap": [True, True, True, False, True],
    }
    assert eligible == [accepted.get(name, [True, True, True, True, False])]


def test_score_table_by_hand() -> None:
    # Curve anchors 60.0: 0, 70.0: -30, 80.0: -80, 100.0: -200 bp; class 2 -12.5 bp.
    p = _book("mine_score", [("AA", 36)], classes=(1, 2))
    default = _score_table(POLICIES["default"], p)
    assert default.rates.rate[default.key[0], [599, 600, 800, 1000]].tolist() == [
        3_400_000,  # 59.9 is below the minimum 60.0: the ordinary rate
        3_400_000,
        2_600_000,
        1_400_000,
    ]
    half_up = _score_table(POLICIES["half_up"], p)
    # 340 - 80 - 12.5 = 247.5 bp and 340 - 30 - 12.5 = 297.5 bp: ties, up.
    assert half_up.rates.rate[half_up.key[1], [800, 700]].tolist() == [2_480_000, 2_980_000]
    step = _score_table(POLICIES["step_5bp"], p)
    # 247.5 bp is 49.5 steps of 5 bp: the even 50 (2.50%); 297.5 bp, 59.5: 60 (3.00%).
    assert step.rates.rate[step.key[1], [800, 700]].tolist() == [2_500_000, 3_000_000]


def test_loans_of_one_product_rate_and_class_share_a_row() -> None:
    p = _book("mine_score", [("AA", 36), ("AA", 24), ("AA", 36), ("A", 36)], classes=(1, 2))
    table = _score_table(POLICIES["default"], p)
    # AA 24 and 36 months have the same raw rate (both 13-36 months); A does not.
    key = table.key.tolist()
    assert key[0] == key[2] == key[4]
    assert key[1] == key[3] == key[5]
    assert len(set(key)) == 4
    assert table.rates.rate.shape == (4, 1001)
    assert [key[i] for i in table.first.tolist()] == list(range(4))


def test_a_policy_the_compiled_form_cannot_hold_is_refused() -> None:
    fine = variant(('AA = "30"', 'AA = "30.00005"'))
    p = _book("lvtanrong", [("AA", 36)])
    p.carbon_grade[0] = 2
    p.carbon_assessed_on[0] = np.datetime64("2025-05-01")
    p.principal_fen[0] = 100_000_000
    p.repayment[0] = "interest_only_bullet"
    p.upfront_fee_fen[0] = 0
    with pytest.raises(UnitsUnavailableError, match=r"finer than 0\.0001 bp"):
        run_montecarlo(
            p,
            fine,
            PRICING_TIME,
            years=2,
            paths=1,
            seed=0,
            transitions=GradeTransitions.identity(),
            score_drift=ScoreDrift.none(),
        )


def test_a_book_priced_before_any_fixing_runs_empty() -> None:
    p = _book("lvtanrong", [("AA", 36)])
    p.carbon_grade[0] = 2
    p.carbon_assessed_on[0] = np.datetime64("2019-01-01")
    p.principal_fen[0] = 100_000_000
    p.repayment[0] = "interest_only_bullet"
    p.upfront_fee_fen[0] = 0
    result = run_montecarlo(
        p,
        POLICIES["default"],
        datetime.fromisoformat("2019-06-03T10:00:00+08:00"),
        years=2,
        paths=2,
        seed=0,
        transitions=GradeTransitions.identity(),
        score_drift=ScoreDrift.none(),
    )
    assert result.priced == 0
    assert result.path_concession_fen.tolist() == [[0, 0], [0, 0]]
    assert result.path_rate_units.tolist() == [[0, 0], [0, 0]]
