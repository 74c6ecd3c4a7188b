"""The client library without a server: error translation, backoff, request builders."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import grpc
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    AlreadyExists,
    Backoff,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PricingClient,
    PricingClientError,
    Unavailable,
    cny_to_fen,
    quote_request,
    repayment_method,
    timestamp,
)
from ecoloan_client.errors import error_from_rpc, error_from_status
from ecoloan_client.retry import call_with_retry
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2

from pricing_service.api.errors import status_for
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.domain.errors import (
    FieldViolation,
    IneligibleError,
    InvalidRequestError,
    ProductNotFoundError,
    RequestIdReusedError,
)


@dataclass
class PlainStatus:
    """A status as a proxy would send it: code and message, no rich details."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...] = ()


class FakeCall(grpc.RpcError, grpc.Call):
    """A failed call as grpcio raises it, carrying the server's trailing metadata."""

    def __init__(self, status: grpc.Status | PlainStatus) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self) -> Any:
        return self._status.trailing_metadata

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    # grpc answers None when the call has no deadline; grpc-stubs say float.
    def time_remaining(self) -> float | None:  # type: ignore[override]
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def translated(exc: BaseException) -> PricingClientError:
    """What the client raises for the status the server maps `exc` to."""
    return error_from_rpc(FakeCall(status_for(exc)))


# -- error translation: the server's table, read back by the client -------------------


def test_invalid_argument_keeps_every_field_violation_in_order() -> None:
    error = translated(
        InvalidRequestError(
            [FieldViolation("borrower_id", "required"), FieldViolation("term_months", "1-360")]
        )
    )
    assert isinstance(error, InvalidArgument)
    assert error.field_violations == [("borrower_id", "required"), ("term_months", "1-360")]
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT


def test_failed_precondition_exposes_reason_and_metadata() -> None:
    error = translated(IneligibleError("EVIDENCE_TOO_OLD", "too old", {"age_days": "400"}))
    assert isinstance(error, FailedPrecondition)
    assert (error.reason, error.metadata) == ("EVIDENCE_TOO_OLD", {"age_days": "400"})
    assert error.message == "EVIDENCE_TOO_OLD: too old"


def test_not_found_and_already_exists() -> None:
    missing = translated(ProductNotFoundError("green-bond"))
    assert isinstance(missing, NotFound)
    assert (missing.resource_type, missing.resource_name) == ("product", "green-bond")
    reused = translated(RequestIdReusedError("r-1", "q_" + "a" * 32))
    assert isinstance(reused, AlreadyExists)
    assert reused.reason == "REQUEST_ID_REUSED"
    assert reused.metadata == {"request_id": "r-1", "quote_id": "q_" + "a" * 32}


def test_unavailable_carries_the_retry_delay() -> None:
    error = translated(AuditUnavailableError("disk full"))
    assert isinstance(error, Unavailable)
    assert error.retry_delay == 1.0
    assert error.reason == "AUDIT_LOG_UNAVAILABLE"


def test_unexpected_server_error_is_internal() -> None:
    error = translated(ZeroDivisionError("boom"))
    assert isinstance(error, Internal)
    assert error.message == "internal error; see server log"


def test_status_without_rich_details_still_maps_by_code() -> None:
    error = error_from_rpc(FakeCall(PlainStatus(grpc.StatusCode.UNAVAILABLE, "failed to connect")))
    assert isinstance(error, Unavailable)
    assert (error.message, error.details, error.retry_delay) == ("failed to connect", (), None)


def test_unknown_detail_types_are_kept_packed_and_described() -> None:
    other = any_pb2.Any()
    other.Pack(duration_pb2.Duration(seconds=3))
    help_detail = any_pb2.Any()
    help_detail.Pack(error_details_pb2.Help(links=[error_details_pb2.Help.Link(url="u")]))
    error = error_from_status(grpc.StatusCode.INTERNAL, "x", [other, help_detail])
    assert isinstance(error.details[0], any_pb2.Any)
    assert isinstance(error.details[1], error_details_pb2.Help)
    assert error.describe()[0] == "INTERNAL: x"


def test_describe_lists_fields_reason_and_metadata() -> None:
    bad = any_pb2.Any()
    bad.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="f", description="d")
            ]
        )
    )
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="R", domain="dom", metadata={"k": "v"}))
    error = error_from_status(grpc.StatusCode.FAILED_PRECONDITION, "m", [bad, info])
    assert error.describe() == [
        "FAILED_PRECONDITION: m",
        "  field f: d",
        "  reason R (dom)",
        "    k = v",
    ]
    assert str(error) == "FAILED_PRECONDITION: m"


# -- retry loop ------------------------------------------------------------------------


def _failing(codes: list[grpc.StatusCode]) -> tuple[list[int], Any]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= len(codes):
            raise FakeCall(PlainStatus(codes[len(calls) - 1], "x"))
        return "ok"

    return calls, attempt


def test_call_with_retry_retries_only_retryable_codes_when_idempotent() -> None:
    sleeps: list[float] = []
    kwargs: dict[str, Any] = {
        "max_attempts": 4,
        "backoff": Backoff(0.1, 2.0, 1.0),
        "sleep": sleeps.append,
        "rng": random.Random(1),
    }
    calls, attempt = _failing([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
    assert call_with_retry(attempt, idempotent=True, **kwargs) == "ok"
    assert len(calls) == 3
    assert len(sleeps) == 2

    calls, attempt = _failing([grpc.StatusCode.UNAVAILABLE])
    with pytest.raises(Unavailable):
        call_with_retry(attempt, idempotent=False, **kwargs)
    assert len(calls) == 1

    calls, attempt = _failing([grpc.StatusCode.INTERNAL])
    with pytest.raises(Internal) as info:
        call_with_retry(attempt, idempotent=True, **kwargs)
    assert (len(calls), info.value.attempts) == (1, 1)


def test_backoff_caps_grow_exponentially_to_the_maximum() -> None:
    backoff = Backoff(initial=0.1, multiplier=2.0, maximum=0.5)
    assert [backoff.cap(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    rng = random.Random(42)
    for n in range(1, 6):
        assert 0 <= backoff.delay(n, rng) <= backoff.cap(n)
    assert backoff.delay(1, rng, server_hint=0.3) >= 0.3
    assert backoff.delay(1, rng, server_hint=60) == 0.5
    with pytest.raises(ValueError, match="multiplier"):
        Backoff(multiplier=0.5)


def test_client_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        PricingClient("127.0.0.1:1", max_attempts=0)
    with pytest.raises(ValueError, match="default_timeout"):
        PricingClient("127.0.0.1:1", default_timeout=0)


# -- builders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        ("1000000", 100_000_000),
        ("1000000.00", 100_000_000),
        ("12.34", 1234),
        ("0.01", 1),
        ("1.230", 123),
        (Decimal("5.5"), 550),
        (7, 700),
        ("1e3", 100_000),
        ("92233720368547758.07", 2**63 - 1),
    ],
)
def test_cny_to_fen_is_exact(amount: Any, fen: int) -> None:
    assert cny_to_fen(amount) == fen


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("1.234", "at most 2 decimals"),
        ("0.001", "at most 2 decimals"),
        ("1e-70", "at most 2 decimals"),
        ("abc", "not a decimal number"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("92233720368547758.08", "too large"),
        ("1e30", "too large"),
    ],
)
def test_cny_to_fen_refuses_inexact_amounts(amount: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        cny_to_fen(amount)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        cny_to_fen(0.1)  # type: ignore[arg-type]  # the mistake under test


def test_timestamps_need_an_offset() -> None:
    assert timestamp("2026-11-20T10:00:00+08:00").ToDatetime(UTC) == datetime(
        2026, 11, 20, 2, tzinfo=UTC
    )
    beijing = timezone(timedelta(hours=8))
    assert (
        timestamp(datetime(2026, 11, 20, 10, tzinfo=beijing)).seconds
        == timestamp("2026-11-20T02:00:00Z").seconds
    )
    with pytest.raises(ValueError, match="offset"):
        timestamp(datetime(2026, 11, 20, 10))  # naive: the case under test
    with pytest.raises(ValueError, match="RFC 3339"):
        timestamp("2026-11-20 10:00")


def test_repayment_names() -> None:
    assert repayment_method("equal-installment") == pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT
    assert repayment_method("等额本金") == pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL
    assert repayment_method("interest_only") == pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET
    assert repayment_method("REPAYMENT_METHOD_EQUAL_PRINCIPAL") == 2
    assert repayment_method(3) == pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET
    with pytest.raises(ValueError, match="unknown repayment method"):
        repayment_method("balloon")


def test_quote_request_builds_the_message() -> None:
    request = quote_request(
        product_id="standard",
        borrower_id="B",
        credit_rating="AA",
        principal_cny="1000.50",
        upfront_fee_cny="10",
        term_months=6,
        repayment="equal-principal",
        request_id="r",
        pricing_time="2026-11-20T10:00:00+08:00",
    )
    assert (request.principal_fen, request.upfront_fee_fen) == (100_050, 1000)
    assert request.repayment_method == pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL
    assert request.HasField("pricing_time")
    assert not request.HasField("carbon_grade")
    with pytest.raises(ValueError, match="exactly one"):
        quote_request(
            product_id="standard",
            borrower_id="B",
            credit_rating="AA",
            term_months=6,
            repayment="equal-principal",
        )
