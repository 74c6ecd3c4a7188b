"""The gRPC side of `IncomingQuote`: a CreateQuoteRequest as the use cases read it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf import json_format

from pricing_service.api import convert
from pricing_service.domain.request import QuoteRequest
from pricing_service.quoting.incoming import IncomingQuote, RequestDecodeError, RequestTerms

_EVIDENCE_FIELDS: tuple[
    Literal["carbon_grade", "carbon_emissions", "mine_score", "transition_kpis"], ...
] = ("carbon_grade", "carbon_emissions", "mine_score", "transition_kpis")


class PbIncoming:
    """A CreateQuoteRequest behind the IncomingQuote port (documents and prints memoised:
    the service asks for each more than once on the binding path)."""

    __slots__ = ("_document", "_fingerprint", "message")

    def __init__(self, message: pb.CreateQuoteRequest) -> None:
        self.message = message
        self._document: dict[str, Any] | None = None
        self._fingerprint: str | None = None

    @property
    def request_id(self) -> str:
        return self.message.request_id

    @property
    def has_pricing_time(self) -> bool:
        return self.message.HasField("pricing_time")

    def check_pricing_time(self) -> None:
        convert.check_pricing_time(self.message)

    def with_pricing_time(self, when: datetime) -> IncomingQuote:
        effective = pb.CreateQuoteRequest()
        effective.CopyFrom(self.message)
        effective.pricing_time.CopyFrom(convert.to_timestamp(when))
        return PbIncoming(effective)

    def without_pricing_time(self) -> IncomingQuote:
        bare = pb.CreateQuoteRequest()
        bare.CopyFrom(self.message)
        bare.ClearField("pricing_time")
        return PbIncoming(bare)

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = convert.canonical_json(self.message)
        return self._document

    def to_domain(self) -> QuoteRequest:
        return convert.request_to_domain(self.message)

    def pricing_instant(self) -> datetime | None:
        try:
            return convert.to_datetime(self.message.pricing_time)
        except (ValueError, OverflowError, OSError):
            return None

    def terms(self) -> RequestTerms:
        m = self.message
        return RequestTerms(
            product_id=m.product_id,
            credit_rating=m.credit_rating,
            term_months=m.term_months,
            principal_fen=m.principal_fen,
            upfront_fee_fen=m.upfront_fee_fen,
            evidence=frozenset(f for f in _EVIDENCE_FIELDS if m.HasField(f)),
        )

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = convert.fingerprint(self.message)
        return self._fingerprint


def decode_document(document: Mapping[str, Any]) -> IncomingQuote:
    """A recorded request document read back (replay, what-if, start-up restore)."""
    message = pb.CreateQuoteRequest()
    try:
        json_format.ParseDict(dict(document), message)
    except json_format.ParseError as exc:
        raise RequestDecodeError(str(exc)) from exc
    return PbIncoming(message)
