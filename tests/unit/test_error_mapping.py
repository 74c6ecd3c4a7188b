"""Every domain error maps to a gRPC status with details; nothing reaches callers as UNKNOWN."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from pricing_service.api.errors import ERROR_TABLE, status_for
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.domain import errors as domain_errors
from pricing_service.domain.errors import (
    FieldViolation,
    IneligibleError,
    InvalidRequestError,
    NoFixingInForceError,
    NoPolicyInForceError,
    PolicyError,
    ProductNotFoundError,
    QuoteNotFoundError,
    RequestIdReusedError,
)
from pricing_service.quoting.refusals import MAPPED_BASES


def _all_subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        out.add(sub)
        out |= _all_subclasses(sub)
    return out


def test_every_domain_error_class_is_in_the_table() -> None:
    classes = set()
    for base in MAPPED_BASES:
        classes |= _all_subclasses(base)
    # Also catch classes defined in the errors module but not yet subclassed anywhere else.
    classes |= {
        v
        for v in vars(domain_errors).values()
        if isinstance(v, type) and issubclass(v, domain_errors.PricingError)
    }
    classes.discard(domain_errors.PricingError)
    unmapped = sorted(c.__name__ for c in classes if c not in ERROR_TABLE)
    assert unmapped == []


def _details(exc: BaseException) -> tuple[grpc.StatusCode, str, list[object]]:
    status = status_for(exc)
    raw = dict(status.trailing_metadata)["grpc-status-details-bin"]
    parsed = status_pb2.Status.FromString(raw)
    out: list[object] = []
    for any_ in parsed.details:
        for cls in (
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
            error_details_pb2.ResourceInfo,
            error_details_pb2.RetryInfo,
        ):
            if any_.Is(cls.DESCRIPTOR):
                msg = cls()
                any_.Unpack(msg)
                out.append(msg)
    return status.code, parsed.message, out


def test_invalid_request_lists_one_violation_per_field() -> None:
    code, _, details = _details(
        InvalidRequestError(
            [FieldViolation("principal_fen", "must be > 0"), FieldViolation("term_months", "x")]
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("principal_fen", "must be > 0"),
        ("term_months", "x"),
    ]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            IneligibleError("CARBON_GRADE_INELIGIBLE", "grade 5", {"grade": "5"}),
            "CARBON_GRADE_INELIGIBLE",
        ),
        (NoPolicyInForceError("2001-01-01"), "NO_POLICY_IN_FORCE"),
        (NoFixingInForceError("2001-01-01T00:00:00+00:00"), "NO_FIXING_IN_FORCE"),
        (PolicyError(["x: missing"]), "POLICY_INVALID"),
    ],
)
def test_ineligible_errors_are_failed_precondition_with_reason(
    exc: BaseException, reason: str
) -> None:
    code, _, details = _details(exc)
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    (info,) = details
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == reason


def test_not_found_names_the_resource() -> None:
    code, _, (info,) = _details(ProductNotFoundError("gold"))
    assert code is grpc.StatusCode.NOT_FOUND
    assert isinstance(info, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("product", "gold")
    code, _, (info,) = _details(QuoteNotFoundError("q_" + "0" * 32))
    assert code is grpc.StatusCode.NOT_FOUND
    assert isinstance(info, error_details_pb2.ResourceInfo)
    assert info.resource_type == "quote"


def test_request_id_reuse_is_already_exists() -> None:
    code, _, (info,) = _details(RequestIdReusedError("r-1", "q_abc"))
    assert code is grpc.StatusCode.ALREADY_EXISTS
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "REQUEST_ID_REUSED"
    assert dict(info.metadata) == {"request_id": "r-1", "quote_id": "q_abc"}


def test_audit_unavailable_is_unavailable_with_retry_info() -> None:
    code, _, details = _details(AuditUnavailableError("disk full"))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert isinstance(details[0], error_details_pb2.RetryInfo)
    assert details[0].retry_delay.seconds == 1


def test_unexpected_errors_are_internal_never_unknown_and_hide_the_message() -> None:
    status = status_for(ZeroDivisionError("secret detail"))
    assert status.code is grpc.StatusCode.INTERNAL
    assert "secret" not in status.details
