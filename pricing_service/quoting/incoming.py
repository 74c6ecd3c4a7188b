"""A binding request as the use cases see it: the port each transport adapter implements.

The quoting layer never reads a wire message. An adapter (gRPC today) wraps what it
received in an `IncomingQuote`: the request's canonical document (logged and hashed as
received), its domain form (or every field that is wrong with it), the terms a policy
checks even on a malformed request, and an idempotency fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pricing_service.domain.request import QuoteRequest


class RequestDecodeError(ValueError):
    """A recorded request document that no adapter can read back (a damaged log)."""


@dataclass(frozen=True, slots=True)
class RequestTerms:
    """What a policy checks of a request even when its shape is wrong, so that one reply
    lists every bad field: the rating, the amounts, the term and the evidence given."""

    product_id: str
    credit_rating: str
    term_months: int
    principal_fen: int
    upfront_fee_fen: int
    evidence: frozenset[str]  # which of the evidence fields the request carries


class IncomingQuote(Protocol):
    """One binding (or simulated) quote request, whatever carried it."""

    @property
    def request_id(self) -> str:
        """The idempotency key ("" when the caller gave none)."""

    @property
    def has_pricing_time(self) -> bool:
        """Whether the request names its pricing instant (else the server clock does)."""

    def check_pricing_time(self) -> None:
        """Raise InvalidRequestError for a pricing instant out of range."""

    def with_pricing_time(self, when: datetime) -> IncomingQuote:
        """The effective request: this one with its pricing instant made explicit."""

    def without_pricing_time(self) -> IncomingQuote:
        """This request with no pricing instant (a retry may leave it out)."""

    def document(self) -> dict[str, Any]:
        """The canonical JSON document of the request, as the audit log records it."""

    def to_domain(self) -> QuoteRequest:
        """The domain request; raises InvalidRequestError naming every bad field."""

    def pricing_instant(self) -> datetime | None:
        """The pricing instant as a datetime whenever it can be one, even out of the range
        `check_pricing_time` accepts (a policy is still looked up for it); else None."""

    def terms(self) -> RequestTerms:
        """The terms a policy checks (see RequestTerms)."""

    def fingerprint(self) -> str:
        """Equal requests, equal prints (compared within one process only)."""
