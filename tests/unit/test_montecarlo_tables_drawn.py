"""Monte Carlo's state tables equal the Decimal engine under drawn policies.

The fixed-policy cases are in test_montecarlo_tables.py; here the policy itself is drawn
(policy_strategies.py: spreads, term bands, bounds, rounding, grade tables, curve
anchors, construction classes) and, for a few loans of each carbon-account and
mine-score product, every grade and a sample of score tenths is priced again by
engine.price. A state the product refuses must tabulate as the ordinary rate under the
policy's bounds and rounding: the standard product's quote (added when the drawn policy
has none, or has one priced off the LPR, so the engine can say what that is). A drawn
product on `base` tabulates its accepted states off the LPR (vector.reference_units).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from policy_strategies import DEFAULT_DOCUMENT, policy_documents
from pricing_builders import PRICING_TIME, given_grade, make_request, mine
from test_montecarlo_tables import TENTHS, _engine_quote

from pricing_service.domain.evidence import ProductKind
from pricing_service.domain.policy import Policy
from pricing_service.policy.document import build_policy
from pricing_service.simulate.montecarlo.tables import grade_rates, score_rates
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.vector import ordinary_units, reference_units


def _with_standard(doc: dict[str, Any]) -> Policy:
    doc = copy.deepcopy(doc)
    standard = doc["products"].get("standard")
    # The model's rule is the ordinary rate: a drawn standard product priced off the LPR
    # (reference "base" without spreads) would not say what that is.
    if standard is None or (
        standard.get("reference") == "base" and not standard.get("with_spreads")
    ):
        doc["products"]["standard"] = copy.deepcopy(DEFAULT_DOCUMENT["products"]["standard"])
    return build_policy(doc)


def _book(policy: Policy, kind: ProductKind, draw: st.DrawFn) -> Portfolio:
    products = sorted(
        p.product_id
        for p in policy.products.values()
        # A mine product with no class table can book no loan: nothing to tabulate.
        if p.kind is kind and (kind is not ProductKind.MINE_SCORE or p.class_adjust_bp)
    )
    ratings = sorted(policy.spreads_bp)
    terms = st.integers(policy.min_term_months, policy.max_term_months)
    # A class the product's table lacks is refused at origination: never booked, so never
    # migrated; the tables only need the classes a booked loan can have.
    rows = [
        (product, draw(st.sampled_from(ratings)), draw(terms), draw(_classes(policy, product)))
        for product in products
        for _ in range(2)
    ]
    p = Portfolio.empty(len(rows))
    for i, (product, rating, term, klass) in enumerate(rows):
        p.product_id[i], p.credit_rating[i] = product, rating
        p.term_months[i], p.construction_class[i] = term, klass
    return p


def _classes(policy: Policy, product_id: str) -> st.SearchStrategy[int]:
    listed = sorted(policy.products[product_id].class_adjust_bp)
    return st.sampled_from(listed) if listed else st.just(1)  # carbon: the class is unused


def _request(policy: Policy, p: Portfolio, i: int) -> Any:
    return make_request(
        product_id=str(p.product_id[i]),
        credit_rating=str(p.credit_rating[i]),
        term_months=int(p.term_months[i]),
        principal_fen=min(100_000_000, policy.max_principal_fen),
        pricing_time=PRICING_TIME,
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=policy_documents(), data=st.data())
def test_tables_are_the_engine_quote_under_drawn_policies(doc: dict[str, Any], data: Any) -> None:
    policy = _with_standard(doc)
    carbon = _book(policy, ProductKind.CARBON_ACCOUNT, data.draw)
    assert len(carbon) >= 2  # every drawn policy has a carbon-account product
    table = grade_rates(
        policy,
        carbon.product_id,
        ordinary_units(carbon, policy, PRICING_TIME).raw,
        reference_units(carbon, policy, PRICING_TIME),
    )
    expected = [
        [
            _engine_quote(
                dataclasses.replace(_request(policy, carbon, i), carbon_grade=given_grade(g)),
                policy,
            )
            for g in range(1, 6)
        ]
        for i in range(len(carbon))
    ]
    assert table.rate.tolist() == [[rate for rate, _ in row] for row in expected]
    assert table.eligible.tolist() == [[ok for _, ok in row] for row in expected]

    mines = _book(policy, ProductKind.MINE_SCORE, data.draw)
    event(f"mine loans: {len(mines)}")
    raw = ordinary_units(mines, policy, PRICING_TIME).raw
    reference = reference_units(mines, policy, PRICING_TIME)
    scores = score_rates(policy, mines.product_id, raw, mines.construction_class, reference)
    got = [
        [
            (
                int(scores.rates.rate[scores.key[i], t]),
                bool(scores.rates.eligible[scores.key[i], t]),
            )
            for t in TENTHS
        ]
        for i in range(len(mines))
    ]
    assert got == [
        [
            _engine_quote(
                dataclasses.replace(
                    _request(policy, mines, i),
                    mine_score=mine(f"{t // 10}.{t % 10}", int(mines.construction_class[i])),
                ),
                policy,
            )
            for t in TENTHS
        ]
        for i in range(len(mines))
    ]
