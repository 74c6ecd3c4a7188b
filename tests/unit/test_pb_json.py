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
from pricing_service.api.pb_json import dict_to_message, message_to_dict

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


# -- dict_to_message: a logged quote document back into its message (GetQuote of a quote
# priced by an earlier run), = ParseDict on every document the service writes.


def _quote_documents() -> list[dict[str, object]]:
    from bench import workload  # noqa: PLC0415
    from pricing_service.api.incoming import PbIncoming  # noqa: PLC0415
    from pricing_service.policy.store import default_policies  # noqa: PLC0415
    from pricing_service.quoting.pricing import price_effective  # noqa: PLC0415

    policies = default_policies()
    return [price_effective(PbIncoming(r), policies).document for r in workload.build(600).requests]


def test_quote_documents_parse_as_parse_dict_does() -> None:
    documents = _quote_documents()
    assert {d["product_kind"] for d in documents} >= {
        "PRODUCT_KIND_STANDARD",
        "PRODUCT_KIND_CARBON_ACCOUNT",
        "PRODUCT_KIND_MINE_SCORE",
        "PRODUCT_KIND_TRANSITION",
    }
    for document in documents:
        ours = dict_to_message(document, pb.Quote())
        assert ours == json_format.ParseDict(document, pb.Quote())
        assert message_to_dict(ours) == document  # and back, field for field


@settings(max_examples=300, deadline=None)
@given(requests())
def test_request_documents_round_trip(message: pb.CreateQuoteRequest) -> None:
    document = _reference(message)
    try:
        expected = json_format.ParseDict(document, pb.CreateQuoteRequest())
    except json_format.ParseError:
        # Unnamed enum numbers are written as numbers, which ParseDict reads back too;
        # whatever ParseDict refuses, ours refuses alike.
        with pytest.raises(json_format.ParseError):
            dict_to_message(document, pb.CreateQuoteRequest())
        return
    assert dict_to_message(document, pb.CreateQuoteRequest()) == expected


@pytest.mark.parametrize(
    "document",
    [
        {"quote_id": "q_1", "no_such_field": 1},
        {"principal_fen": "1e3"},
        {"principal_fen": 12.0},
        {"term_months": "12"},
        {"product_kind": "NO_SUCH_KIND"},
        {"steps": [{"code": "X", "value": 1.5}]},
        {"pricing_time": "2025-13-40T00:00:00Z"},
    ],
)
def test_forms_beyond_the_plan_are_parse_dicts_to_judge(document: dict[str, object]) -> None:
    try:
        expected: pb.Quote | type[Exception] = json_format.ParseDict(document, pb.Quote())
    except json_format.ParseError:
        expected = json_format.ParseError
    if expected is json_format.ParseError:
        with pytest.raises(json_format.ParseError):
            dict_to_message(document, pb.Quote())
    else:
        assert dict_to_message(document, pb.Quote()) == expected
