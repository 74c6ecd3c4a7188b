"""quote_bytes renders the canonical bytes of quote_document, over drawn quotes of every
product, method, fee and term (the requests of test_replay_fast), and a policy whose
rates carry other exponents."""

from __future__ import annotations

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from hypothesis import given, settings
from test_replay_fast import requests

from pricing_service.api.incoming import PbIncoming
from pricing_service.audit.record import canonical_json
from pricing_service.domain.engine import price
from pricing_service.domain.errors import PricingError
from pricing_service.domain.policy import Policy
from pricing_service.policy.store import default_policy_bytes, load_policy_bytes
from pricing_service.quoting.documents import quote_document
from pricing_service.quoting.quote_bytes import quote_bytes

POLICY, _ = load_policy_bytes(default_policy_bytes())
# The same policy with a 0.5 bp rounding step (rates of another exponent), and floor and
# cap that bind.
FINE, _ = load_policy_bytes(
    default_policy_bytes()
    .replace(b'step_bp = "1"', b'step_bp = "0.5"')
    .replace(b'floor = "0.80"', b'floor = "2.50"')
    .replace(b'cap = "8.00"', b'cap = "5.00"')
)


def _same(req: pb.CreateQuoteRequest, policy: Policy) -> bool | None:
    incoming = PbIncoming(req)
    try:
        q = price(incoming.to_domain(), policy)
    except PricingError:
        return None
    document = incoming.document()
    expected = canonical_json(quote_document(q, quote_id="q_0123", request=document))
    return quote_bytes(q, quote_id="q_0123", request=document) == expected


@settings(max_examples=400, deadline=None)
@given(requests())
def test_quote_bytes_are_the_documents_canonical_bytes(req: pb.CreateQuoteRequest) -> None:
    assert _same(req, POLICY) is not False
    assert _same(req, FINE) is not False
