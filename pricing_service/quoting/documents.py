"""The canonical documents of a binding quote: what the audit log records and hashes.

The request is recorded as the bank sent it, in the API's canonical JSON (the protobuf
JSON mapping with proto field names), which the adapter that received it makes. The
quote is built here from the domain values that priced it, in that same mapping, so
writing, reading, verifying and replaying the log needs no transport. The enum names
below are the log's vocabulary; tests/unit/test_quote_document.py holds them and the
whole mapping to protobuf's json_format over many quotes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

import orjson

from pricing_service.domain.errors import FieldViolation, InvalidRequestError
from pricing_service.domain.evidence import ProductKind, Reference, RepaymentMethod, Tenor
from pricing_service.domain.quote import PricedQuote, Step
from pricing_service.domain.rates import fmt_decimal, fmt_percent

QUOTE_ID_PREFIX: Final = "q_"
STEP_RENDERINGS: Final = 2048  # breakdown steps kept rendered, per form and table
R = TypeVar("R")
KIND_NAMES: Final = {
    ProductKind.STANDARD: "PRODUCT_KIND_STANDARD",
    ProductKind.CARBON_ACCOUNT: "PRODUCT_KIND_CARBON_ACCOUNT",
    ProductKind.MINE_SCORE: "PRODUCT_KIND_MINE_SCORE",
    ProductKind.TRANSITION: "PRODUCT_KIND_TRANSITION",
}
# The ordinary reference is the enum's zero value: never written (proto3 JSON omits it),
# so a quote priced off the ordinary rate has the document it had before the field.
REFERENCE_NAMES: Final = {Reference.ORDINARY: "", Reference.BASE: "PRICING_REFERENCE_BASE"}
TENOR_NAMES: Final = {Tenor.ONE_YEAR: "TENOR_1Y", Tenor.FIVE_YEAR_PLUS: "TENOR_5Y_PLUS"}
REPAYMENT_NAMES: Final = {
    RepaymentMethod.EQUAL_INSTALLMENT: "REPAYMENT_METHOD_EQUAL_INSTALLMENT",
    RepaymentMethod.EQUAL_PRINCIPAL: "REPAYMENT_METHOD_EQUAL_PRINCIPAL",
    RepaymentMethod.INTEREST_ONLY_BULLET: "REPAYMENT_METHOD_INTEREST_ONLY_BULLET",
}


def dumps_canonical(value: Mapping[str, Any]) -> bytes:
    """Sorted-key compact UTF-8 JSON: the same document, the same bytes."""
    if type(value) is dict:
        try:
            # The stdlib's bytes exactly, for the JSON values a document holds (no floats:
            # tests/unit/test_canonical_bytes.py), at C speed.
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # beyond orjson (ints past 64 bits, lone surrogates): as the stdlib says
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def quote_id_for(effective_request_bytes: bytes, policy_digest: str) -> str:
    """Quote ids derive from the effective request and the policy, so replay re-derives them."""
    h = hashlib.sha256(effective_request_bytes + b"\n" + policy_digest.encode())
    return QUOTE_ID_PREFIX + h.hexdigest()[:32]


def require_quote_id(quote_id: str) -> None:
    """Raise INVALID_ARGUMENT's error unless `quote_id` has the shape of a quote id."""
    if not valid_quote_id(quote_id):
        raise InvalidRequestError(
            [FieldViolation("quote_id", "must look like q_ followed by 32 hex digits")]
        )


def valid_quote_id(quote_id: str) -> bool:
    """Whether `quote_id` has the shape of a quote id."""
    rest = quote_id[len(QUOTE_ID_PREFIX) :]
    return (
        quote_id.startswith(QUOTE_ID_PREFIX)
        and len(rest) == 32
        and all(c in "0123456789abcdef" for c in rest)
    )


def timestamp_json(when: datetime) -> str:
    """An instant as the protobuf JSON mapping writes a Timestamp: UTC, "Z", and 0, 3 or 6
    fraction digits (a datetime has microseconds; protobuf would use 9 only for nanos)."""
    utc = when.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micros = utc.microsecond
    if micros == 0:
        return text + "Z"
    if micros % 1000 == 0:
        return f"{text}.{micros // 1000:03d}Z"
    return f"{text}.{micros:06d}Z"


def _put(out: dict[str, Any], key: str, value: object) -> None:
    # proto3 JSON omits fields at their default value; so must the log.
    if value:
        out[key] = value


def _fen(out: dict[str, Any], key: str, fen: int) -> None:
    # int64 travels as a JSON string in the protobuf mapping.
    if fen:
        out[key] = str(fen)


def _repayment(q: PricedQuote) -> dict[str, Any]:
    r = q.repayment
    out: dict[str, Any] = {"method": REPAYMENT_NAMES[r.method]}
    _put(out, "installments", r.installments)
    _fen(out, "first_payment_fen", r.first_payment_fen)
    _fen(out, "total_payment_fen", r.total_payment_fen)
    _fen(out, "total_interest_fen", r.total_interest_fen)
    return out


class StepCache(Generic[R]):
    """A rendering of each breakdown step, made once per distinct step.

    The engine memoizes most steps per policy (a step is a function of a handful of keys:
    rating, term band, grade, fixing...), so the same objects come back quote after quote
    and are found by identity: a dict probe, where hashing and comparing the five strings
    of a step cost more than rendering it. A step made afresh for one quote (a computed
    grade's) is found by value, so equal steps share one rendering. Both tables empty
    when full: memory stays bounded (an identity entry holds its step, so an id is never
    reused while cached). Renderings are shared: nothing mutates one once made.
    """

    def __init__(self, render: Callable[[Step], R], limit: int = STEP_RENDERINGS) -> None:
        self._render = render
        self._limit = limit
        self._by_id: dict[int, tuple[Step, R]] = {}
        self._by_value: dict[Step, R] = {}

    def __call__(self, step: Step) -> R:
        """The rendering of `step`."""
        kept = self._by_id.get(id(step))
        if kept is not None and kept[0] is step:
            return kept[1]
        made = self._by_value.get(step)
        if made is None:
            made = self._render(step)
            if len(self._by_value) >= self._limit:
                self._by_value.clear()
            self._by_value[step] = made
        if len(self._by_id) >= self._limit:
            self._by_id.clear()
        self._by_id[id(step)] = (step, made)
        return made


def step_document(s: Step) -> dict[str, Any]:
    """A breakdown step's document (a field at its default left out)."""
    step: dict[str, Any] = {}
    _put(step, "code", s.code)
    _put(step, "value", s.value)
    _put(step, "unit", s.unit)
    _put(step, "reason_zh", s.reason_zh)
    _put(step, "reason_en", s.reason_en)
    return step


_step = StepCache(step_document)


def _steps(q: PricedQuote) -> list[dict[str, Any]]:
    return [_step(s) for s in q.steps]


def quote_document(q: PricedQuote, *, quote_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """The quote's canonical document, from the domain quote and the effective request's
    document (the ids, the amount, the term and the instant, which the quote echoes as
    the bank sent them: a pricing_time with nanoseconds keeps them)."""
    return document_of(
        q, quote_id=quote_id, request=request, base_rate=base_rate_document(q), steps=_steps(q)
    )


def base_rate_document(q: PricedQuote) -> dict[str, Any]:
    """The fixing that priced the quote, as the document holds it."""
    return {
        "tenor": TENOR_NAMES[q.tenor],
        "rate": fmt_percent(q.base_bp),
        "published_at": timestamp_json(q.base_published_at),
    }


def document_of(
    q: PricedQuote, *, quote_id: str, request: Mapping[str, Any], base_rate: object, steps: object
) -> dict[str, Any]:
    """The quote's document with its base rate and steps given already rendered: as
    documents (`quote_document`), or as JSON fragments (replay's `quote_bytes`). The one
    place the quote's mapping is written."""
    out: dict[str, Any] = {}
    _put(out, "quote_id", quote_id)
    for key in ("request_id", "borrower_id"):
        _put(out, key, request.get(key, ""))
    _put(out, "product_id", q.product_id)
    out["product_kind"] = KIND_NAMES[q.product_kind]
    _put(out, "pricing_time", request.get("pricing_time", ""))
    out["pricing_date"] = q.pricing_date.isoformat()
    out["valid_until"] = timestamp_json(q.valid_until)
    out["annual_rate"] = fmt_percent(q.rate_bp)
    out["ordinary_rate"] = fmt_percent(q.ordinary_bp)
    out["base_rate"] = base_rate
    _put(out, "concession_bp", fmt_decimal(q.concession_bp))
    _fen(out, "first_year_concession_fen", q.first_year_concession_fen)
    _put(out, "annualised_rate", fmt_decimal(q.annualised_percent))
    out["repayment"] = _repayment(q)
    _put(out, "floor_binding", q.floor_binding)
    _put(out, "cap_binding", q.cap_binding)
    _put(out, "steps", steps)
    _put(out, "policy_version", q.policy_version)
    _put(out, "policy_digest", q.policy_digest)
    if q.carbon is not None:
        carbon: dict[str, Any] = {}
        _put(carbon, "grade", q.carbon.grade)
        _put(carbon, "source", q.carbon.source)
        _put(carbon, "efficiency_k", q.carbon.efficiency_k)
        _put(carbon, "level", q.carbon.level)
        out["carbon"] = carbon
    _put(out, "principal_fen", request.get("principal_fen", ""))
    _put(out, "term_months", request.get("term_months", 0))
    _put(out, "pricing_reference", REFERENCE_NAMES[q.reference])
    return out
