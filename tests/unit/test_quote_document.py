"""The quote's canonical document, built from domain values (quoting/documents.py), is
protobuf's JSON mapping of the Quote the API returns, field for field, and the two ways the
adapter makes that Quote (from the domain quote, or from the logged document) agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.api import convert
from pricing_service.api.incoming import PbIncoming
from pricing_service.audit.sink import AuditPosition
from pricing_service.domain.evidence import ProductKind, Reference, RepaymentMethod, Tenor
from pricing_service.policy.store import (
    PolicySet,
    default_policies,
    default_policy_bytes,
    load_policy_bytes,
)
from pricing_service.quoting.documents import (
    KIND_NAMES,
    REFERENCE_NAMES,
    REPAYMENT_NAMES,
    TENOR_NAMES,
    timestamp_json,
)
from pricing_service.quoting.pricing import price_effective
from pricing_service.quoting.service import StoredQuote

POLICIES = default_policies()


def _on_base(spreads: str) -> PolicySet:
    """The default policy with every product priced off the LPR (`spreads`: extra lines)."""
    lines = []
    for line in default_policy_bytes().decode().splitlines():
        lines.append(line)
        if line.startswith("name_en = "):
            lines.append('reference = "base"' + spreads)
    return PolicySet([load_policy_bytes("\n".join(lines).encode())])


# The default (every product on the ordinary rate), every product on the LPR, and on
# the LPR plus spreads: the document and the Quote agree on the reference too.
POLICY_SETS = (POLICIES, _on_base(""), _on_base("\nwith_spreads = true"))


def _request(
    product: str, rating: str, term: int, method: int, fee: int, evidence: int
) -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        borrower_id="B-1",
        product_id=product,
        credit_rating=rating,
        principal_fen=123_456_789,
        term_months=term,
        repayment_method=pb.RepaymentMethod.ValueType(method),
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


POSITION = AuditPosition("test.example/log", 7, "ab" * 32)


@settings(max_examples=300, deadline=None)
@given(
    product=st.sampled_from(["standard", "lvtanrong", "mine_score", "transition"]),
    rating=st.sampled_from(["AAA", "AA", "A", "BBB", "BB", "B"]),
    term=st.integers(1, 360),
    method=st.sampled_from([1, 2, 3]),
    fee=st.sampled_from([0, 0, 1, 250_000, 5_000_000]),
    evidence=st.integers(0, 400),
    nanos=st.sampled_from([0, 500_000_000, 123_000_000, 123_456_000, 123_456_789]),
    policies=st.sampled_from(POLICY_SETS),
)
def test_quote_document_is_the_json_mapping_of_the_api_quote(
    product: str,
    rating: str,
    term: int,
    method: int,
    fee: int,
    evidence: int,
    nanos: int,
    policies: PolicySet,
) -> None:
    request = _request(product, rating, term, method, fee, evidence)
    request.pricing_time.nanos = nanos
    incoming = PbIncoming(request)
    priced = price_effective(incoming, policies)
    on_base = policies is not POLICIES
    assert ("pricing_reference" in priced.document) is on_base
    assert priced.quote.reference is (Reference.BASE if on_base else Reference.ORDINARY)
    fast = convert.quote_pb(StoredQuote(priced.document, POSITION, priced.quote))
    assert priced.document == json_format.MessageToDict(fast, preserving_proto_field_name=True)
    assert convert.quote_pb(StoredQuote(priced.document, POSITION)) == fast  # read back from a log
    # The quote echoes the instant as sent, nanoseconds and all.
    assert fast.pricing_time == request.pricing_time


def test_the_logs_enum_names_are_the_protos() -> None:
    assert {k: pb.ProductKind.Name(convert.KIND_TO_PB[k]) for k in ProductKind} == KIND_NAMES
    assert {t: pb.Tenor.Name(convert.TENOR_TO_PB[t]) for t in Tenor} == TENOR_NAMES
    assert {
        m: pb.RepaymentMethod.Name(convert.REPAYMENT_TO_PB[m]) for m in RepaymentMethod
    } == REPAYMENT_NAMES
    # The ordinary reference is the zero value: proto3 JSON (and the log) omit it.
    assert {r: pb.PricingReference.Name(convert.REFERENCE_TO_PB[r]) for r in Reference} == {
        **REFERENCE_NAMES,
        Reference.ORDINARY: "PRICING_REFERENCE_UNSPECIFIED",
    }
    assert convert.REFERENCE_TO_PB[Reference.ORDINARY] == 0


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2199, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]),
    )
)
def test_timestamp_json_is_protobufs(when: datetime) -> None:
    assert timestamp_json(when) == convert.to_timestamp(when).ToJsonString()


def test_timestamp_json_fraction_digits() -> None:
    base = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert [timestamp_json(base.replace(microsecond=us)) for us in (0, 5000, 123456)] == [
        "2026-11-20T02:00:00Z",
        "2026-11-20T02:00:00.005Z",
        "2026-11-20T02:00:00.123456Z",
    ]
