"""Typed Python client of the emissions-linked loan pricing service (ecoloan.pricing.v1).

    from ecoloan_client import PricingClient, quote_request, carbon_grade

    with PricingClient("127.0.0.1:50051") as client:
        response = client.create_quote(quote_request(...))

Errors are raised as PricingClientError subclasses (InvalidArgument, FailedPrecondition,
NotFound, AlreadyExists, Unavailable, DeadlineExceeded, Internal, ...).

`client.simulate_quotes(loans, draft_policy=...)` prices loans indicatively and returns
a Simulation: per loan, a quote or the error (the same classes) as a value.
"""

from ecoloan.pricing.v1 import pricing_service_pb2 as pb

from ecoloan_client.builders import (
    carbon_emissions,
    carbon_grade,
    cny_to_fen,
    industry,
    mine_score,
    quote_request,
    repayment_method,
    timestamp,
    transition_kpis,
)
from ecoloan_client.client import (
    DEFAULT_TARGET,
    MAX_RECEIVE_MESSAGE_BYTES,
    SERVICE_NAME,
    PricingClient,
)
from ecoloan_client.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    PricingClientError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from ecoloan_client.retry import RETRYABLE_CODES, Backoff
from ecoloan_client.simulation import LoanResult, Simulation

__all__ = [
    "DEFAULT_TARGET",
    "MAX_RECEIVE_MESSAGE_BYTES",
    "RETRYABLE_CODES",
    "SERVICE_NAME",
    "Aborted",
    "AlreadyExists",
    "Backoff",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "LoanResult",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "PricingClient",
    "PricingClientError",
    "ResourceExhausted",
    "Simulation",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "carbon_emissions",
    "carbon_grade",
    "cny_to_fen",
    "industry",
    "mine_score",
    "pb",
    "quote_request",
    "repayment_method",
    "timestamp",
    "transition_kpis",
]
