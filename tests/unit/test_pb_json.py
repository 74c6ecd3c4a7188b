"""`pb_json.message_to_dict` equals `json_format.MessageToDict(..., preserving_proto_field_name
=True)` on every CreateQuoteRequest: drawn field by field (unknown enum numbers, int64
extremes, any Unicode, sub-messages set but empty, every Timestamp protobuf can write),
and hands types beyond its plan to MessageToDict itself."""

from __future__ import annotations

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.api import pb_json
from pricing_service.api.pb_json import message_to_dict

MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799
INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
TEXT = st.text(max_size=12)
ENUM = st.integers(-5, 40)  # named and unnamed numbers alike


def _reference(message: Message) -> dict[str, object]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


@st.composite
def requests(draw: st.DrawFn) -> pb.CreateQuoteRequest:
    m = pb.CreateQuoteRequest(
        request_id=draw(TEXT),
        borrower_id=draw(TEXT),
        product_id=draw(TEXT),
        credit_rating=draw(TEXT),
        principal_fen=draw(INT64),
        term_months=draw(INT32),
        repayment_method=draw(ENUM),  # type: ignore[arg-type]
        upfront_fee_fen=draw(INT64),
    )
    if draw(st.booleans()):
        m.pricing_time.CopyFrom(
            Timestamp(
                seconds=draw(st.integers(MIN_SECONDS, MAX_SECONDS)),
                nanos=draw(
                    st.one_of(
                        st.sampled_from([0, 1_000, 1_000_000, 999_999_999]),
                        st.integers(0, 999_999_999),
                    )
                ),
            )
        )
    if draw(st.booleans()):
        m.carbon_grade.SetInParent()
        m.carbon_grade.grade = draw(INT32)
        m.carbon_grade.assessed_on = draw(TEXT)
    if draw(st.booleans()):
        m.carbon_emissions.SetInParent()
        m.carbon_emissions.industry = draw(ENUM)  # type: ignore[assignment]
        m.carbon_emissions.emissions_tco2 = draw(TEXT)
        m.carbon_emissions.platform_id = draw(TEXT)
    if draw(st.booleans()):
        m.mine_score.SetInParent()
        m.mine_score.score = draw(TEXT)
        m.mine_score.construction_class = draw(INT32)
        m.mine_score.mandatory_indicators_passed = draw(st.booleans())
    if draw(st.booleans()):
        m.transition_kpis.SetInParent()  # set, possibly empty: written as {}
        if draw(st.booleans()):
            m.transition_kpis.verified_on = draw(TEXT)
    return m


@settings(max_examples=500, deadline=None)
@given(requests())
def test_equals_message_to_dict_on_drawn_requests(message: pb.CreateQuoteRequest) -> None:
    assert message_to_dict(message) == _reference(message)


def test_an_empty_request_and_the_shapes_written() -> None:
    assert message_to_dict(pb.CreateQuoteRequest()) == {}
    m = pb.CreateQuoteRequest(principal_fen=-(2**63), term_months=7, repayment_method=99)  # type: ignore[arg-type]
    m.pricing_time.FromJsonString("2025-08-02T05:45:10.826610Z")
    m.transition_kpis.SetInParent()
    assert message_to_dict(m) == {
        "principal_fen": "-9223372036854775808",
        "term_months": 7,
        "repayment_method": 99,
        "pricing_time": "2025-08-02T05:45:10.826610Z",
        "transition_kpis": {},
    }


@pytest.mark.parametrize("nanos", [0, 5_000_000, 5_000, 5, 999_999_999])
def test_timestamps_as_to_json_string(nanos: int) -> None:
    for seconds in (MIN_SECONDS, -1, 0, 1_700_000_000, MAX_SECONDS):
        m = pb.CreateQuoteRequest()
        m.pricing_time.CopyFrom(Timestamp(seconds=seconds, nanos=nanos))
        assert message_to_dict(m) == _reference(m)


def test_an_invalid_timestamp_raises_as_message_to_dict_does() -> None:
    m = pb.CreateQuoteRequest()
    m.pricing_time.seconds = MAX_SECONDS + 1
    with pytest.raises(json_format.SerializeToJsonError, match="Timestamp is not valid") as ours:
        message_to_dict(m)
    with pytest.raises(json_format.SerializeToJsonError) as theirs:
        _reference(m)
    assert str(ours.value) == str(theirs.value)


def test_types_beyond_the_plan_go_to_message_to_dict() -> None:
    # Repeated fields (the simulation batch) are outside the plan: json_format writes them.
    batch = pb.SimulateQuotesRequest(loans=[pb.CreateQuoteRequest(term_months=3)])
    assert pb_json._plan(batch.DESCRIPTOR) is None
    assert message_to_dict(batch) == _reference(batch)
    assert pb_json._plan(pb.CreateQuoteRequest.DESCRIPTOR) is not None
