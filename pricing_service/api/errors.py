"""One table from domain errors to gRPC statuses with google.rpc details (AIP-193)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.domain.errors import (
    IneligibleError,
    InvalidRequestError,
    NoFixingInForceError,
    NoPolicyInForceError,
    PolicyError,
    PricingError,
    ProductNotFoundError,
    QuoteNotFoundError,
    RequestIdReusedError,
)

DOMAIN = "pricing.ecoloan.example"
RETRY_AFTER_SECONDS = 1


def _pack(detail: object) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(detail)  # type: ignore[arg-type]
    return out


def _invalid(exc: BaseException) -> list[any_pb2.Any]:
    assert isinstance(exc, InvalidRequestError)
    return [
        _pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in exc.violations
                ]
            )
        )
    ]


def _ineligible(exc: BaseException) -> list[any_pb2.Any]:
    assert isinstance(exc, IneligibleError)
    return [
        _pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=exc.metadata))
    ]


def _not_found(exc: BaseException) -> list[any_pb2.Any]:
    if isinstance(exc, ProductNotFoundError):
        kind, name = "product", exc.product_id
    else:
        assert isinstance(exc, QuoteNotFoundError)
        kind, name = "quote", exc.quote_id
    return [
        _pack(
            error_details_pb2.ResourceInfo(
                resource_type=kind, resource_name=name, description=str(exc)
            )
        )
    ]


def _reused(exc: BaseException) -> list[any_pb2.Any]:
    assert isinstance(exc, RequestIdReusedError)
    return [
        _pack(
            error_details_pb2.ErrorInfo(
                reason="REQUEST_ID_REUSED",
                domain=DOMAIN,
                metadata={"request_id": exc.request_id, "quote_id": exc.quote_id},
            )
        )
    ]


def _policy(exc: BaseException) -> list[any_pb2.Any]:
    assert isinstance(exc, PolicyError)
    return [_pack(error_details_pb2.ErrorInfo(reason="POLICY_INVALID", domain=DOMAIN))]


def _unavailable(_: BaseException) -> list[any_pb2.Any]:
    return [
        _pack(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=RETRY_AFTER_SECONDS)
            )
        ),
        _pack(error_details_pb2.ErrorInfo(reason="AUDIT_LOG_UNAVAILABLE", domain=DOMAIN)),
    ]


Details = Callable[[BaseException], list[any_pb2.Any]]

# Every PricingError subclass must appear here (tests/unit/test_error_mapping.py
# fails otherwise); subclasses are listed before their bases.
ERROR_TABLE: dict[type[BaseException], tuple[grpc.StatusCode, Details]] = {
    InvalidRequestError: (grpc.StatusCode.INVALID_ARGUMENT, _invalid),
    NoPolicyInForceError: (grpc.StatusCode.FAILED_PRECONDITION, _ineligible),
    NoFixingInForceError: (grpc.StatusCode.FAILED_PRECONDITION, _ineligible),
    IneligibleError: (grpc.StatusCode.FAILED_PRECONDITION, _ineligible),
    ProductNotFoundError: (grpc.StatusCode.NOT_FOUND, _not_found),
    QuoteNotFoundError: (grpc.StatusCode.NOT_FOUND, _not_found),
    RequestIdReusedError: (grpc.StatusCode.ALREADY_EXISTS, _reused),
    PolicyError: (grpc.StatusCode.FAILED_PRECONDITION, _policy),
    AuditUnavailableError: (grpc.StatusCode.UNAVAILABLE, _unavailable),
}
MAPPED_BASES = (PricingError, AuditUnavailableError)


def status_for(exc: BaseException) -> grpc.Status:
    """The gRPC status (with details) for an exception; unexpected ones become INTERNAL."""
    return rpc_status.to_status(status_proto(exc))


def status_proto(exc: BaseException) -> status_pb2.Status:
    """`status_for` as a google.rpc.Status message: a simulation's per-loan error."""
    entry = ERROR_TABLE.get(type(exc))
    if entry is None:
        # A subclass not listed itself falls back to its nearest mapped base.
        for cls in type(exc).__mro__:
            if cls in ERROR_TABLE:
                entry = ERROR_TABLE[cls]
                break
    if entry is None:
        return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see server log")
    code, details = entry
    return status_pb2.Status(code=code.value[0], message=str(exc), details=details(exc))


def error_record(exc: BaseException) -> dict[str, object]:
    """The refusal's error as the audit log records it."""
    status = status_for(exc)
    record: dict[str, object] = {"code": status.code.name, "message": str(exc)}
    if isinstance(exc, IneligibleError):
        record["reason"] = exc.reason
    if isinstance(exc, InvalidRequestError):
        record["field_violations"] = [
            {"field": v.field, "description": v.description} for v in exc.violations
        ]
    return record
