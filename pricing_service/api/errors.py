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
    ProductNotFoundError,
    QuoteNotFoundError,
    RequestIdReusedError,
)
from pricing_service.quoting.access import AccessError, PermissionDeniedError, UnauthenticatedError
from pricing_service.quoting.limits import OverloadedError
from pricing_service.quoting.refusals import (
    CODES,
    DeadlinePassedError,
    SimulationUnavailableError,
    mapped_class,
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


def _access(exc: BaseException) -> list[any_pb2.Any]:
    assert isinstance(exc, AccessError)
    metadata = {"caller": exc.caller, "method": exc.method}
    return [_pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=metadata))]


def _overloaded(exc: BaseException) -> list[any_pb2.Any]:
    assert isinstance(exc, OverloadedError)
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(max(1, round(exc.retry_after_s * 1000)))
    return [
        _pack(error_details_pb2.RetryInfo(retry_delay=delay)),
        _pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN)),
    ]


def _worker_lost(_: BaseException) -> list[any_pb2.Any]:
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(round(SimulationUnavailableError.retry_after_s * 1000))
    return [
        _pack(error_details_pb2.RetryInfo(retry_delay=delay)),
        _pack(error_details_pb2.ErrorInfo(reason="SIMULATION_WORKER_LOST", domain=DOMAIN)),
    ]


def _no_details(_: BaseException) -> list[any_pb2.Any]:
    return []


Details = Callable[[BaseException], list[any_pb2.Any]]

# The details each refusal carries; its status code is quoting.refusals.CODES's, so the
# two cannot disagree (a class missing here fails at import).
_DETAILS: dict[type[BaseException], Details] = {
    InvalidRequestError: _invalid,
    NoPolicyInForceError: _ineligible,
    NoFixingInForceError: _ineligible,
    IneligibleError: _ineligible,
    ProductNotFoundError: _not_found,
    QuoteNotFoundError: _not_found,
    RequestIdReusedError: _reused,
    PolicyError: _policy,
    AuditUnavailableError: _unavailable,
    UnauthenticatedError: _access,
    PermissionDeniedError: _access,
    OverloadedError: _overloaded,
    DeadlinePassedError: _no_details,
    SimulationUnavailableError: _worker_lost,
}
ERROR_TABLE: dict[type[BaseException], tuple[grpc.StatusCode, Details]] = {
    cls: (grpc.StatusCode[code], _DETAILS[cls]) for cls, code in CODES.items()
}


def status_for(exc: BaseException) -> grpc.Status:
    """The gRPC status (with details) for an exception; unexpected ones become INTERNAL."""
    return rpc_status.to_status(status_proto(exc))


def status_proto(exc: BaseException) -> status_pb2.Status:
    """`status_for` as a google.rpc.Status message: a simulation's per-loan error."""
    cls = mapped_class(exc)
    if cls is None:
        return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see server log")
    code, details = ERROR_TABLE[cls]
    return status_pb2.Status(code=code.value[0], message=str(exc), details=details(exc))
