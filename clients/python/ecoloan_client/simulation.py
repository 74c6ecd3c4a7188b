"""Typed results of SimulateQuotes: per loan, an indicative quote or the error CreateQuote raises.

A simulation never raises for one bad loan: its error comes back as a value, the same
PricingClientError subclass (InvalidArgument, FailedPrecondition, NotFound) with the
same `reason`, `metadata` and `field_violations` a binding CreateQuote would raise.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from ecoloan.pricing.v1 import pricing_service_pb2 as pb

from ecoloan_client.errors import PricingClientError, error_from_status

__all__ = ["LoanResult", "Simulation", "simulation_from_pb"]

_CODES = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True, slots=True)
class LoanResult:
    """One loan of a simulation, by its position in the request.

    Exactly one of `quote` and `error` is set. The quote is INDICATIVE: it has no
    quote_id, nothing was logged, and the bank is not bound by it.
    """

    index: int
    quote: pb.Quote | None
    error: PricingClientError | None

    @property
    def ok(self) -> bool:
        """Whether the loan was priced."""
        return self.quote is not None


@dataclass(frozen=True, slots=True)
class Simulation:
    """The answer of one SimulateQuotes call."""

    results: tuple[LoanResult, ...]
    """One per loan, in the order the loans were given."""
    indicative: bool
    """Always True: simulated quotes never bind."""
    draft_policy_version: str
    """The draft's version when a draft priced the batch; "" under the live policy."""
    draft_policy_digest: str
    """The draft's digest (hex SHA-256 of its canonical form), or ""."""

    @property
    def quotes(self) -> list[pb.Quote]:
        """The quotes of the loans that were priced, in order."""
        return [r.quote for r in self.results if r.quote is not None]

    @property
    def errors(self) -> list[LoanResult]:
        """The loans that were not priced, in order."""
        return [r for r in self.results if r.error is not None]


def _loan_result(index: int, result: pb.SimulatedQuote) -> LoanResult:
    kind = result.WhichOneof("result")
    if kind == "quote":
        return LoanResult(index, result.quote, None)
    error = result.error
    code = _CODES.get(error.code, grpc.StatusCode.UNKNOWN)
    if kind is None or code is grpc.StatusCode.OK:
        # Neither a quote nor a real error (a newer server's result kind, say): still
        # an error, never a silent gap in the results.
        code = grpc.StatusCode.UNKNOWN
    return LoanResult(index, None, error_from_status(code, error.message, list(error.details)))


def simulation_from_pb(response: pb.SimulateQuotesResponse) -> Simulation:
    """The typed form of a SimulateQuotesResponse."""
    return Simulation(
        results=tuple(_loan_result(i, r) for i, r in enumerate(response.results)),
        indicative=response.indicative,
        draft_policy_version=response.draft_policy_version,
        draft_policy_digest=response.draft_policy_digest,
    )
