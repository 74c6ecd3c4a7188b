"""The domain side of the error table: which status each refusal is, and its record.

Status names are google.rpc codes, a vocabulary of the API and of the audit log alike;
api/errors.py adds the gRPC details (field violations, ErrorInfo, RetryInfo) to the
same codes, so a refusal's status is decided here once.
"""

from __future__ import annotations

from typing import Final

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
from pricing_service.quoting.access import AccessError, PermissionDeniedError, UnauthenticatedError
from pricing_service.quoting.limits import OverloadedError

INTERNAL: Final = "INTERNAL"


class DeadlinePassedError(Exception):
    """The caller's deadline passed before the work began: it is not done (not priced,
    not logged), so a client that saw the timeout knows no quote was made for it."""


class SimulationUnavailableError(Exception):
    """A simulation worker died under the batch (killed, out of memory): the batch is not
    answered, a fresh worker takes the next one, and the caller may retry at once."""

    retry_after_s: Final = 1.0


# Every PricingError subclass must appear here (tests/unit/test_error_mapping.py fails
# otherwise); subclasses are listed before their bases.
CODES: Final[dict[type[BaseException], str]] = {
    InvalidRequestError: "INVALID_ARGUMENT",
    NoPolicyInForceError: "FAILED_PRECONDITION",
    NoFixingInForceError: "FAILED_PRECONDITION",
    IneligibleError: "FAILED_PRECONDITION",
    ProductNotFoundError: "NOT_FOUND",
    QuoteNotFoundError: "NOT_FOUND",
    RequestIdReusedError: "ALREADY_EXISTS",
    PolicyError: "FAILED_PRECONDITION",
    AuditUnavailableError: "UNAVAILABLE",
    UnauthenticatedError: "UNAUTHENTICATED",
    PermissionDeniedError: "PERMISSION_DENIED",
    OverloadedError: "RESOURCE_EXHAUSTED",
    DeadlinePassedError: "DEADLINE_EXCEEDED",
    SimulationUnavailableError: "UNAVAILABLE",
}
MAPPED_BASES: Final = (
    PricingError,
    AuditUnavailableError,
    AccessError,
    OverloadedError,
    DeadlinePassedError,
    SimulationUnavailableError,
)


def mapped_class(exc: BaseException) -> type[BaseException] | None:
    """The table's entry for `exc`: its class, else its nearest mapped base, else None."""
    for cls in type(exc).__mro__:
        if cls in CODES:
            return cls
    return None


def code_of(exc: BaseException) -> str:
    """The status name of a refusal; anything unexpected is INTERNAL."""
    cls = mapped_class(exc)
    return INTERNAL if cls is None else CODES[cls]


def error_record(exc: BaseException) -> dict[str, object]:
    """The refusal's error as the audit log records it."""
    record: dict[str, object] = {"code": code_of(exc), "message": str(exc)}
    if isinstance(exc, IneligibleError | AccessError):
        record["reason"] = exc.reason
    if isinstance(exc, InvalidRequestError):
        record["field_violations"] = [
            {"field": v.field, "description": v.description} for v in exc.violations
        ]
    return record
