"""Request bodies that do not parse, and instants past the calendar, are INVALID_ARGUMENT on
every method and in both server modes; grpcio's own deserializer would answer INTERNAL
("Exception deserializing request!") and log nothing, so the servicer decodes itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from live_support import server_in_mode

from pricing_service.api.servicers import METHODS, SERVICE

BODIES = {
    "not protobuf": b"\xff",
    "truncated varint": b"\x08\xff",
    "length past the end": b"\x0a\x05ab",
    "invalid UTF-8 in a string field": b"\x0a\x01\xff",
    "wire type 7": b"\x0f",
}


@pytest.fixture(params=["sync", "aio"], scope="module")
def channel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[grpc.Channel]:
    directory: Path = tmp_path_factory.mktemp(f"audit-{request.param}")
    with server_in_mode(directory, request.param) as target, grpc.insecure_channel(target) as ch:
        yield ch


def _call(channel: grpc.Channel, method: str, body: bytes) -> grpc.RpcError:
    call = channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=None, response_deserializer=None
    )  # bytes in, bytes out
    with pytest.raises(grpc.RpcError) as info:
        call(body, timeout=10)
    assert isinstance(info.value, grpc.Call)
    return info.value


# ReloadPolicyRequest has no fields: a string field's bytes are an unknown field there,
# which proto3 keeps unread, so that one body is valid for it.
CASES = [
    pytest.param(m.name, body, id=f"{m.name}-{what}")
    for m in METHODS
    for what, body in BODIES.items()
    if not (m.name == "ReloadPolicy" and what == "invalid UTF-8 in a string field")
]


@pytest.mark.parametrize(("method", "body"), CASES)
def test_undecodable_body_is_invalid_argument(
    channel: grpc.Channel, method: str, body: bytes
) -> None:
    error = _call(channel, method, body)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    request_type = next(m.request_type for m in METHODS if m.name == method)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("request", f"malformed request: not a {request_type.__name__}")
    ]


@pytest.mark.parametrize("method", ["ListProducts", "DescribePolicy"])
@pytest.mark.parametrize("seconds", [253402300800 - 8 * 3600, 253402300799, 10**15, -(10**15)])
def test_as_of_past_the_calendar_is_invalid_argument(
    channel: grpc.Channel, method: str, seconds: int
) -> None:
    # 9999-12-31T16:00:00Z is already year 10000 in Beijing: past what a date can hold.
    request = pb.ListProductsRequest() if method == "ListProducts" else pb.DescribePolicyRequest()
    request.as_of.seconds = seconds
    error = _call(channel, method, request.SerializeToString())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "as_of: not a valid timestamp"
