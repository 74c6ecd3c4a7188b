"""Pricing an incoming request: the binding checks, the policy in force, the engine.

The service, replay, what-if and simulation all price through these functions, so an
auditor's replay runs exactly the code path that priced the quote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pricing_service.domain.engine import beijing_date, evidence_violations, price, term_violations
from pricing_service.domain.errors import InvalidRequestError, PricingError
from pricing_service.domain.policy import Policy
from pricing_service.domain.quote import PricedQuote
from pricing_service.domain.request import QuoteRequest
from pricing_service.policy.store import PolicySet
from pricing_service.quoting.documents import dumps_canonical, quote_document, quote_id_for
from pricing_service.quoting.incoming import IncomingQuote

PolicyOn = Callable[[date], Policy]


@dataclass(frozen=True, slots=True)
class Priced:
    """A priced binding request: the domain quote, its id and its canonical document."""

    quote: PricedQuote
    quote_id: str
    document: dict[str, Any]
    policy: Policy


def parse(incoming: IncomingQuote, policy_on: PolicyOn) -> QuoteRequest:
    """The domain request; an InvalidRequestError lists the shape's and the policy's faults."""
    try:
        return incoming.to_domain()
    except InvalidRequestError as exc:
        raise _with_policy_violations(exc, incoming, policy_on) from None


def _with_policy_violations(
    exc: InvalidRequestError, incoming: IncomingQuote, policy_on: PolicyOn
) -> InvalidRequestError:
    """Add what the policy finds wrong to the shape errors, so one reply lists every bad field."""
    when = incoming.pricing_instant()
    if when is None:
        return exc
    try:
        policy = policy_on(beijing_date(when))
    except (PricingError, ValueError, OverflowError, OSError):
        return exc
    t = incoming.terms()
    more = term_violations(
        t.credit_rating, t.term_months, t.principal_fen, t.upfront_fee_fen, policy
    )
    product = policy.products.get(t.product_id)
    if product is not None:
        more += evidence_violations(product, t.evidence)
    seen = {v.field for v in exc.violations}
    added = [v for v in more if v.field not in seen]
    return InvalidRequestError([*exc.violations, *added]) if added else exc


def price_effective(
    effective: IncomingQuote,
    policies: PolicySet,
    request_document: Mapping[str, Any] | None = None,
) -> Priced:
    """Price an effective request (instant explicit) under the policy in force at its instant.

    `request_document` is `effective.document()` when the caller has it already.
    """
    domain = parse(effective, policies.in_force)
    policy = policies.in_force(beijing_date(domain.pricing_time))
    return _binding(effective, domain, policy, request_document)


def price_under(effective: IncomingQuote, policy: Policy) -> Priced:
    """Price an effective request under one given policy version (replay, what-if)."""
    domain = parse(effective, lambda _day: policy)
    return _binding(effective, domain, policy, None)


def price_indicative(effective: IncomingQuote, policy_on: PolicyOn) -> PricedQuote:
    """Price for a simulation: the binding checks and engine, and no quote id.

    `policy_on` gives the policy for the request's Beijing pricing date (the set in
    force, or a draft whatever the date). No quote id: nothing registers a simulated
    quote, so an id would name a quote GetQuote can never find.
    """
    domain = parse(effective, policy_on)
    return price(domain, policy_on(beijing_date(domain.pricing_time)))


def _binding(
    effective: IncomingQuote,
    domain: QuoteRequest,
    policy: Policy,
    request_document: Mapping[str, Any] | None,
) -> Priced:
    priced = price(domain, policy)
    document = effective.document() if request_document is None else request_document
    quote_id = quote_id_for(dumps_canonical(document), policy.digest)
    return Priced(
        priced, quote_id, quote_document(priced, quote_id=quote_id, request=document), policy
    )
