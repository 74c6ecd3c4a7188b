"""Typed exceptions for every non-OK gRPC status, parsed from google.rpc rich details.

The server follows AIP-193: INVALID_ARGUMENT carries a `google.rpc.BadRequest`,
FAILED_PRECONDITION and ALREADY_EXISTS an `ErrorInfo(reason=...)`, NOT_FOUND a
`ResourceInfo`, UNAVAILABLE a `RetryInfo`. Callers branch on the exception type and
read the parsed fields instead of unpacking `Any` messages themselves.
"""

# The exception names mirror gRPC status codes (NotFound, Unavailable...), the way
# google-api-core names them; an "Error" suffix on each would only add noise.
# ruff: noqa: N818

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "PricingClientError",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_from_rpc",
    "error_from_status",
]

# Every google.rpc detail type the client knows how to unpack; others stay `Any`.
_DETAIL_TYPES: tuple[type[Message], ...] = (
    error_details_pb2.BadRequest,
    error_details_pb2.ErrorInfo,
    error_details_pb2.RetryInfo,
    error_details_pb2.ResourceInfo,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.DebugInfo,
    error_details_pb2.RequestInfo,
    error_details_pb2.Help,
    error_details_pb2.LocalizedMessage,
)


class PricingClientError(Exception):
    """Root of every error the client raises: a non-OK gRPC status with its details.

    `details` holds the unpacked google.rpc detail messages (unknown types stay
    `google.protobuf.Any`); the common ones are also parsed into attributes that
    exist on every subclass, empty when the server sent no such detail:
    `reason`, `domain`, `metadata` (ErrorInfo), `retry_delay` (RetryInfo, seconds),
    `resource_type`, `resource_name` (ResourceInfo). `attempts` says how many
    times the call was tried before giving up.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: Sequence[Message] = (),
        *,
        attempts: int = 1,
    ) -> None:
        self.code = code
        self.message = message
        self.details: tuple[Message, ...] = tuple(details)
        self.attempts = attempts
        self.reason = ""
        self.domain = ""
        self.metadata: dict[str, str] = {}
        self.retry_delay: float | None = None
        self.resource_type = ""
        self.resource_name = ""
        for detail in self.details:
            if isinstance(detail, error_details_pb2.ErrorInfo) and not self.reason:
                self.reason = detail.reason
                self.domain = detail.domain
                self.metadata = dict(detail.metadata)
            elif isinstance(detail, error_details_pb2.RetryInfo) and self.retry_delay is None:
                self.retry_delay = detail.retry_delay.ToTimedelta().total_seconds()
            elif isinstance(detail, error_details_pb2.ResourceInfo) and not self.resource_type:
                self.resource_type = detail.resource_type
                self.resource_name = detail.resource_name
        super().__init__(f"{code.name}: {message}")

    @property
    def field_violations(self) -> list[tuple[str, str]]:
        """(field, description) of every BadRequest violation, in the server's order."""
        return [
            (v.field, v.description)
            for detail in self.details
            if isinstance(detail, error_details_pb2.BadRequest)
            for v in detail.field_violations
        ]

    def describe(self) -> list[str]:
        """Human-readable lines: the status, then one line per detail and field."""
        lines = [f"{self.code.name}: {self.message}"]
        for field, description in self.field_violations:
            lines.append(f"  field {field}: {description}")
        if self.reason:
            lines.append(f"  reason {self.reason}" + (f" ({self.domain})" if self.domain else ""))
            lines.extend(f"    {key} = {value}" for key, value in sorted(self.metadata.items()))
        if self.resource_type or self.resource_name:
            lines.append(f"  resource {self.resource_type} {self.resource_name!r}")
        if self.retry_delay is not None:
            lines.append(f"  retry after {self.retry_delay:g} s")
        for detail in self.details:
            if not isinstance(
                detail,
                error_details_pb2.BadRequest
                | error_details_pb2.ErrorInfo
                | error_details_pb2.RetryInfo
                | error_details_pb2.ResourceInfo,
            ):
                text = str(detail).strip().replace("\n", "; ")
                lines.append(f"  {detail.DESCRIPTOR.full_name}: {text}")
        return lines


class InvalidArgument(PricingClientError):
    """INVALID_ARGUMENT: the request is malformed; `field_violations` lists every bad field."""


class FailedPrecondition(PricingClientError):
    """FAILED_PRECONDITION: well-formed but refused; `reason` says why (ErrorInfo).

    Reasons of the pricing service include CARBON_GRADE_INELIGIBLE,
    MANDATORY_INDICATOR_FAILED, MINE_SCORE_BELOW_MINIMUM, TRANSITION_KPI_BELOW_MINIMUM,
    EVIDENCE_TOO_OLD, NO_POLICY_IN_FORCE and NO_FIXING_IN_FORCE.
    """


class NotFound(PricingClientError):
    """NOT_FOUND: unknown product or quote; see `resource_type` and `resource_name`."""


class AlreadyExists(PricingClientError):
    """ALREADY_EXISTS: `reason` REQUEST_ID_REUSED when a request_id was reused."""


class Unavailable(PricingClientError):
    """UNAVAILABLE: server unreachable or the audit log cannot write; see `retry_delay`."""


class DeadlineExceeded(PricingClientError):
    """DEADLINE_EXCEEDED: the call's deadline passed before the reply arrived."""


class Internal(PricingClientError):
    """INTERNAL: a server bug; the server logged the details."""


class Unknown(PricingClientError):
    """UNKNOWN: a status the server did not classify."""


class Cancelled(PricingClientError):
    """CANCELLED: the call was cancelled."""


class Unauthenticated(PricingClientError):
    """UNAUTHENTICATED: missing or bad client credentials."""


class PermissionDenied(PricingClientError):
    """PERMISSION_DENIED: the caller may not do this."""


class ResourceExhausted(PricingClientError):
    """RESOURCE_EXHAUSTED: a quota or message-size limit was hit."""


class Aborted(PricingClientError):
    """ABORTED: a concurrency conflict."""


class OutOfRange(PricingClientError):
    """OUT_OF_RANGE."""


class Unimplemented(PricingClientError):
    """UNIMPLEMENTED: the server does not offer this RPC."""


class DataLoss(PricingClientError):
    """DATA_LOSS."""


_BY_CODE: Mapping[grpc.StatusCode, type[PricingClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNKNOWN: Unknown,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.DATA_LOSS: DataLoss,
}


def _unpack(detail: any_pb2.Any) -> Message:
    name = detail.TypeName()
    for cls in _DETAIL_TYPES:
        if cls.DESCRIPTOR.full_name == name:
            message = cls()
            detail.Unpack(message)
            return message
    return detail


def error_from_status(
    code: grpc.StatusCode,
    message: str,
    details: Sequence[any_pb2.Any] = (),
    *,
    attempts: int = 1,
) -> PricingClientError:
    """The typed exception for a status code, message and packed google.rpc details."""
    cls = _BY_CODE.get(code, PricingClientError)
    return cls(code, message, [_unpack(d) for d in details], attempts=attempts)


def error_from_rpc(exc: grpc.RpcError, *, attempts: int = 1) -> PricingClientError:
    """Translate a grpc.RpcError (a failed call) into the typed exception.

    The rich status travels in the `grpc-status-details-bin` trailer; when it is
    absent or inconsistent with the call's code (a proxy rewrote the status), the
    plain code and message are used.
    """
    if not isinstance(exc, grpc.Call):
        return Unknown(grpc.StatusCode.UNKNOWN, str(exc), attempts=attempts)
    code = exc.code()
    message = exc.details() or ""
    details: Sequence[any_pb2.Any] = ()
    try:
        status = rpc_status.from_call(exc)
    except ValueError:
        status = None
    if status is not None:
        message = str(status.message)
        details = list(status.details)
    return error_from_status(code, message, details, attempts=attempts)
