"""Domain errors: one root, subclasses carrying their context as fields.

The API layer maps each class to a gRPC status in one table (api/errors.py);
a test fails if a subclass here is left unmapped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: its path (proto field names) and why."""

    field: str
    description: str


class PricingError(Exception):
    """Root of every error the pricing service raises on purpose."""


class InvalidRequestError(PricingError):
    """The request is malformed; every bad field is listed."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class IneligibleError(PricingError):
    """The request is well-formed but the borrower cannot get this product."""

    def __init__(
        self, reason: str, message: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})
        super().__init__(f"{reason}: {message}")


class NoPolicyInForceError(IneligibleError):
    """No policy version is in force at the pricing instant."""

    def __init__(self, pricing_date: str) -> None:
        super().__init__(
            "NO_POLICY_IN_FORCE",
            f"no policy version is in force on {pricing_date}",
            {"pricing_date": pricing_date},
        )


class NoFixingInForceError(IneligibleError):
    """No LPR fixing had been published before the pricing instant."""

    def __init__(self, instant: str) -> None:
        super().__init__(
            "NO_FIXING_IN_FORCE",
            f"no LPR fixing was published before {instant}",
            {"pricing_time": instant},
        )


class ProductNotFoundError(PricingError):
    """The product id is not in the policy in force."""

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        super().__init__(f"product {product_id!r} is not offered by the policy in force")


class QuoteNotFoundError(PricingError):
    """No binding quote has this id."""

    def __init__(self, quote_id: str) -> None:
        self.quote_id = quote_id
        super().__init__(f"quote {quote_id!r} not found")


class RequestIdReusedError(PricingError):
    """A request_id was reused for a different request."""

    def __init__(self, request_id: str, quote_id: str) -> None:
        self.request_id = request_id
        self.quote_id = quote_id
        super().__init__(
            f"request_id {request_id!r} was already used for a different request "
            f"(quote {quote_id}); use a new request_id"
        )


class PolicyError(PricingError):
    """A policy document failed validation; every problem is listed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid policy:\n" + "\n".join(f"- {p}" for p in self.problems))
