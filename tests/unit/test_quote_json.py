"""The audit hot path's Quote-to-JSON mapping equals protobuf's json_format, field for field."""

from __future__ import annotations

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.api import convert
from pricing_service.api.quoting import price_effective
from pricing_service.policy.store import default_policies

POLICIES = default_policies()


def _request(
    product: str, rating: str, term: int, method: int, fee: int, evidence: int
) -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        borrower_id="B-1",
        product_id=product,
        credit_rating=rating,
        principal_fen=123_456_789,
        term_months=term,
        repayment_method=method,
        upfront_fee_fen=fee,
    )
    req.pricing_time.FromJsonString("2026-03-01T08:30:00.5Z")
    if product == "lvtanrong":
        if evidence % 2:
            req.carbon_grade.CopyFrom(
                pb.CarbonGrade(grade=1 + evidence % 3, assessed_on="2026-01-15", platform_id="p")
            )
        else:
            req.carbon_emissions.CopyFrom(
                pb.CarbonEmissions(
                    industry=pb.INDUSTRY_CHEMICALS,
                    emissions_tco2=str(500 + evidence * 6),
                    value_added_10k_cny="1000",
                    period_end="2025-12-31",
                    platform_id="p",
                )
            )
    elif product == "mine_score":
        req.mine_score.CopyFrom(
            pb.MineScore(
                score=f"{60 + evidence % 41}.{evidence % 10}" if evidence % 41 < 40 else "100",
                construction_class=1 + evidence % 3,
                mandatory_indicators_passed=True,
                accepted_on="2026-02-01",
            )
        )
    elif product == "transition":
        req.transition_kpis.CopyFrom(
            pb.TransitionKpis(
                annual_tco2_reduced="786800",
                coal_g_per_kwh_before="310",
                coal_g_per_kwh_after=str(300 - evidence % 30),
                verified_on="2026-01-10",
            )
        )
    return req


@settings(max_examples=300, deadline=None)
@given(
    product=st.sampled_from(["standard", "lvtanrong", "mine_score", "transition"]),
    rating=st.sampled_from(["AAA", "AA", "A", "BBB", "BB", "B"]),
    term=st.integers(1, 360),
    method=st.sampled_from([1, 2, 3]),
    fee=st.sampled_from([0, 0, 1, 250_000, 5_000_000]),
    evidence=st.integers(0, 400),
)
def test_quote_json_matches_json_format(
    product: str, rating: str, term: int, method: int, fee: int, evidence: int
) -> None:
    quote, _ = price_effective(_request(product, rating, term, method, fee, evidence), POLICIES)
    assert convert.quote_json(quote) == json_format.MessageToDict(
        quote, preserving_proto_field_name=True
    )


def test_quote_json_of_an_empty_quote_is_empty() -> None:
    assert convert.quote_json(pb.Quote()) == {}


def test_quote_json_keeps_binding_flags_and_nested_defaults() -> None:
    quote = pb.Quote(floor_binding=True, cap_binding=True, carbon=pb.CarbonAssessment())
    quote.base_rate.SetInParent()
    quote.repayment.SetInParent()
    assert convert.quote_json(quote) == json_format.MessageToDict(
        quote, preserving_proto_field_name=True
    )
